"""Start records, in-doubt tasks, idempotency keys and the one-run-per-checkpoint hold.

A run that is killed while a body runs leaves that attempt's start record with no
outcome: the task is *in doubt* on resume. These tests kill real processes (a body that
calls ``os._exit``, a holder killed with SIGKILL) and resume in the test process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest
from pyworkflowy import (
    CheckpointError,
    InDoubtError,
    TaskRunner,
    TaskStatus,
    current_task,
    task,
)
from pyworkflowy.events import TaskInDoubt, TaskSubmitted
from pyworkflowy.persist import JSONCheckpointer, SQLiteCheckpointer

# The first run of a workflow whose `charge` body is killed (os._exit) after it has taken
# effect: it appends its idempotency key to EFFECTS, as a payment service would keep it.
CRASHING_RUN = textwrap.dedent(
    """
    import os, sys
    from pyworkflowy import TaskRunner, current_task, task

    checkpoint, effects, idempotent = sys.argv[1], sys.argv[2], sys.argv[3] == "yes"

    @task(name="charge", idempotent=idempotent)
    def charge(amount: int) -> int:
        with open(effects, "a") as f:
            f.write(current_task().idempotency_key + "\\n")
        os._exit(3)  # killed after the effect, before the outcome is recorded

    with TaskRunner(checkpoint_path=checkpoint) as runner:
        runner.submit(charge, 100)
        runner.run()
    """
)


@task(name="prepare")
def prepare() -> int:
    return 41


def crash_in_charge(tmp_path: Path, *, idempotent: bool = True) -> tuple[Path, Path]:
    """Run CRASHING_RUN to its crash; return the checkpoint and the effects file."""
    checkpoint, effects = tmp_path / "state.db", tmp_path / "effects.txt"
    flag = "yes" if idempotent else "no"
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_RUN, str(checkpoint), str(effects), flag],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3, done.stderr
    return checkpoint, effects


def charge_task(effects: Path, idempotent: bool = True) -> Any:
    @task(name="charge", idempotent=idempotent)
    def charge(amount: int) -> int:
        with open(effects, "a") as f:
            f.write(key() + "\n")
        return amount

    return charge


def rebuild(runner: TaskRunner, effects: Path, idempotent: bool = True) -> Any:
    return runner.submit(charge_task(effects, idempotent), 100)


def key() -> str:
    """The running task's idempotency key."""
    context = current_task()
    assert context is not None
    return context.idempotency_key


# -- in doubt --------------------------------------------------------------------------------


def test_a_task_killed_after_its_start_was_recorded_runs_again_with_a_warning(
    tmp_path: Path,
) -> None:
    checkpoint, effects = crash_in_charge(tmp_path)
    with TaskRunner.resume(checkpoint) as runner:
        with pytest.warns(RuntimeWarning, match=r"'charge#0' \(task 'charge': attempt 1 started"):
            handle = rebuild(runner, effects)
        runner.run()
    assert handle.result() == 100
    assert len(effects.read_text().splitlines()) == 2  # it ran twice: once per run


def test_an_in_doubt_task_keeps_its_idempotency_key_across_the_resume(tmp_path: Path) -> None:
    checkpoint, effects = crash_in_charge(tmp_path)
    with TaskRunner.resume(checkpoint) as runner, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rebuild(runner, effects)
        runner.run()
    before, after = effects.read_text().splitlines()
    assert before == after
    assert after.endswith(":charge#0")


def test_resuming_an_in_doubt_task_emits_task_in_doubt_after_its_submission(
    tmp_path: Path,
) -> None:
    checkpoint, effects = crash_in_charge(tmp_path)
    seen: list[Any] = []
    with TaskRunner.resume(checkpoint) as runner, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        runner.subscribe(seen.append)
        handle = rebuild(runner, effects)
    [event] = [e for e in seen if isinstance(e, TaskInDoubt)]
    assert (event.handle, event.attempt) == (handle, 1)
    assert isinstance(event.started_at, float)
    submitted = [e.handle for e in seen if isinstance(e, TaskSubmitted)]
    assert seen.index(event) == seen.index(next(e for e in seen if e.handle is handle)) + 1
    assert handle in submitted


def test_a_non_idempotent_task_in_doubt_stops_the_resume_naming_it(tmp_path: Path) -> None:
    checkpoint, effects = crash_in_charge(tmp_path, idempotent=False)
    with pytest.raises(InDoubtError, match=r"'charge#0'") as caught:
        TaskRunner.resume(checkpoint)
    assert list(caught.value.in_doubt) == ["charge#0"]
    assert isinstance(caught.value, CheckpointError)
    assert "rerun_in_doubt" in str(caught.value)
    assert len(effects.read_text().splitlines()) == 1  # nothing ran again


@pytest.mark.parametrize("allowed", [True, ["charge#0"]], ids=["all", "by-id"])
def test_rerun_in_doubt_lets_a_non_idempotent_task_run_again(tmp_path: Path, allowed: Any) -> None:
    checkpoint, effects = crash_in_charge(tmp_path, idempotent=False)
    with TaskRunner.resume(checkpoint, rerun_in_doubt=allowed) as runner:
        with pytest.warns(RuntimeWarning, match="in doubt"):
            handle = rebuild(runner, effects, idempotent=False)
        runner.run()
    assert handle.result() == 100
    before, after = effects.read_text().splitlines()
    assert before == after


def test_rerun_in_doubt_naming_other_ids_still_stops_the_resume(tmp_path: Path) -> None:
    checkpoint, _ = crash_in_charge(tmp_path, idempotent=False)
    with pytest.raises(InDoubtError, match="charge#0"):
        TaskRunner.resume(checkpoint, rerun_in_doubt=["other#0"])


def test_rerun_in_doubt_refuses_a_string(tmp_path: Path) -> None:
    checkpoint, _ = crash_in_charge(tmp_path, idempotent=False)
    with pytest.raises(TypeError, match="rerun_in_doubt"):
        TaskRunner.resume(checkpoint, rerun_in_doubt="charge#0")


def test_a_completed_run_leaves_no_start_record(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with TaskRunner(checkpoint_path=path) as runner:
        runner.submit(prepare)
        runner.run()
    assert {r["status"] for r in SQLiteCheckpointer(path).load().values()} == {"completed"}


# -- when starts are recorded ------------------------------------------------------------------


class Saves(JSONCheckpointer):
    """A JSON checkpointer that notes the statuses of every save."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.statuses: list[str] = []

    def save(self, records: Any, removed: Any = ()) -> None:
        self.statuses.extend(r["status"] for r in records.values())
        super().save(records, removed)


@pytest.mark.parametrize(
    ("options", "recorded"),
    [
        ({"checkpoint_interval": 0}, True),
        ({"checkpoint_interval": 5}, False),
        ({"checkpoint_interval": 5, "record_starts": True}, True),
        ({"checkpoint_interval": 0, "record_starts": False}, False),
    ],
    ids=["interval-0", "interval-5", "asked", "refused"],
)
def test_starts_are_recorded_at_interval_zero_or_when_asked(
    tmp_path: Path, options: dict[str, Any], recorded: bool
) -> None:
    store = Saves(tmp_path / "state.json")
    with TaskRunner(checkpointer=store, **options) as runner:
        runner.submit(prepare)
        runner.run()
    assert ("started" in store.statuses) is recorded
    assert store.statuses[-1] == "completed"


def test_a_non_idempotent_task_records_its_start_at_any_interval(tmp_path: Path) -> None:
    store = Saves(tmp_path / "state.json")

    @task(name="send", idempotent=False)
    def send() -> str:
        return "sent"

    with TaskRunner(checkpointer=store, checkpoint_interval=3600) as runner:
        runner.submit(send)
        runner.run()
    assert store.statuses == ["started-once", "completed"]


def test_a_start_that_cannot_be_recorded_fails_its_task_without_running_it(
    tmp_path: Path,
) -> None:
    ran: list[str] = []

    class NoStarts(JSONCheckpointer):
        def save(self, records: Any, removed: Any = ()) -> None:
            if any(r["status"] == "started" for r in records.values()):
                raise CheckpointError("disk full")
            super().save(records, removed)

    @task(name="effect")
    def effect() -> None:
        ran.append("effect")

    with TaskRunner(
        checkpointer=NoStarts(tmp_path / "s.json"), checkpoint_interval=0, on_task_error="continue"
    ) as runner:
        handle = runner.submit(effect)
        runner.run()
    assert handle.status is TaskStatus.FAILED
    with pytest.raises(CheckpointError, match=r"did not start: its start could not be recorded"):
        handle.result()
    assert ran == []


def test_record_starts_must_be_a_bool_or_none(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="record_starts"):
        TaskRunner(checkpoint_path=tmp_path / "s.json", record_starts="yes")  # type: ignore[arg-type]


def test_idempotent_must_be_a_bool() -> None:
    with pytest.raises(ValueError, match="idempotent must be True or False"):

        @task(idempotent="no")  # type: ignore[call-overload]
        def send() -> None: ...


# -- idempotency keys -------------------------------------------------------------------------


def test_every_attempt_of_a_handle_sees_the_same_key(tmp_path: Path) -> None:
    keys: list[str] = []

    @task(name="flaky", retries=2)
    def flaky() -> str:
        keys.append(key())
        if len(keys) < 3:
            raise ConnectionError("try again")
        return "ok"

    with TaskRunner(checkpoint_path=tmp_path / "s.db") as runner:
        handle = runner.submit(flaky)
        other = runner.submit(prepare)
        runner.run()
    assert handle.attempts == 3
    assert len(set(keys)) == 1
    run_id, hid = keys[0].rsplit(":", 1)
    assert hid == handle.id
    assert run_id
    assert other.id != handle.id


def test_a_runner_without_a_checkpoint_gives_keys_too() -> None:
    @task(name="keyed")
    def keyed() -> str:
        return key()

    with TaskRunner() as runner:
        first, second = runner.submit(keyed), runner.submit(keyed)
        runner.run()
    assert first.result().split(":")[0] == second.result().split(":")[0]
    assert first.result() != second.result()


def test_reading_the_key_when_starts_are_not_recorded_warns_once(tmp_path: Path) -> None:
    @task(name="keyed")
    def keyed() -> str:
        return key()

    with TaskRunner(checkpoint_path=tmp_path / "s.json", checkpoint_interval=5) as runner:
        runner.submit(keyed)
        runner.submit(keyed)
        with pytest.warns(RuntimeWarning, match="would make another key") as caught:
            runner.run()
    assert len([w for w in caught if "idempotency_key" in str(w.message)]) == 1


def test_a_process_task_sees_the_key_of_its_handle(tmp_path: Path) -> None:
    pytest.importorskip("pyworkflowy.process")
    with TaskRunner(checkpoint_path=tmp_path / "s.db", max_workers=1) as runner:
        remote = runner.submit(current_key_remote)
        local = runner.submit(current_key)
        runner.run()
    assert remote.result().endswith(":" + remote.id)
    assert remote.result().split(":")[0] == local.result().split(":")[0]


@task(name="current_key")
def current_key() -> str:
    return key()


@task(name="current_key_remote", backend="process")
def current_key_remote() -> str:
    return key()


# -- one run at a time per checkpoint ---------------------------------------------------------

HOLDER = textwrap.dedent(
    """
    import sys
    from pyworkflowy import TaskRunner

    runner = TaskRunner(checkpoint_path=sys.argv[1])
    print("holding", flush=True)
    sys.stdin.read()  # until the test closes it (or kills this process)
    runner.shutdown()
    """
)


def start_holder(path: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline() == "holding\n"
    return holder


@pytest.mark.parametrize("suffix", [".db", ".json", ".pkl"])
def test_a_checkpoint_a_live_run_holds_is_refused_naming_its_pid(
    tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"state{suffix}"
    holder = start_holder(path)
    try:
        with pytest.raises(CheckpointError, match=rf"in use by a live run \(pid {holder.pid}\)"):
            TaskRunner.resume(path)
        with pytest.raises(CheckpointError, match=rf"pid {holder.pid}"):
            TaskRunner(checkpoint_path=path)  # a fresh run would overwrite its records
    finally:
        assert holder.stdin is not None
        assert holder.stdout is not None
        holder.stdin.close()
        holder.stdout.close()
        assert holder.wait(timeout=60) == 0
    with TaskRunner.resume(path) as runner:  # given back when that run ended
        runner.submit(prepare)
        runner.run()


def test_the_hold_of_a_killed_run_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    holder = start_holder(path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=60)
    assert holder.stdin is not None
    assert holder.stdout is not None
    holder.stdin.close()
    holder.stdout.close()
    assert Path(f"{path}.lock").exists()  # left behind: nobody locks it any more
    with TaskRunner.resume(path) as runner:
        handle = runner.submit(prepare)
        runner.run()
    assert handle.result() == 41
    assert not Path(f"{path}.lock").exists()  # removed when given back


def test_runners_of_one_process_share_its_hold(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with TaskRunner(checkpoint_path=path) as first:
        first.submit(prepare)
        first.run()
        with TaskRunner.resume(path) as second:
            handle = second.submit(prepare)
            second.run()
    assert handle.result() == 41

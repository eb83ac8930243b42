"""Checkpointing from the runner's side: what is written when, and what a resume re-runs.

Each test runs for the JSON, pickle and SQLite checkpointers (the ``path`` fixture).
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from pyworkflowy import (
    CheckpointError,
    DependencyFailedError,
    TaskHandle,
    TaskRunner,
    TaskStatus,
    task,
)
from pyworkflowy.persist import JSONCheckpointer, checkpointer_for_path

STARTED = frozenset({"started", "started-once"})  # the statuses of start records

ran: list[str] = []  # what the tasks below executed, in order


@pytest.fixture(autouse=True)
def _clear_ran() -> None:
    ran.clear()


@task(name="square")
def square(x: int) -> int:
    ran.append(f"square({x})")
    return x * x


@task(name="maybe_fail")
def maybe_fail(fail: bool) -> str:
    ran.append("maybe_fail")
    if fail:
        raise ValueError("failed on purpose")
    return "ok"


@task(name="asquare")
async def asquare(x: int) -> int:
    ran.append(f"asquare({x})")
    return x * x


@task(name="after")
def after() -> str:
    ran.append("after")
    return "after"


def stored(path: Path) -> dict[str, dict[str, Any]]:
    """The records of finished tasks that the checkpoint at ``path`` holds now, read by a
    new checkpointer (start records left out)."""
    checkpointer = checkpointer_for_path(path)
    try:
        records = checkpointer.load()
    finally:
        checkpointer.close()
    return {hid: r for hid, r in records.items() if r["status"] not in STARTED}


def first_run(path: Path, xs: tuple[int, ...] = (1, 2, 3)) -> None:
    with TaskRunner(checkpoint_path=str(path)) as runner:
        for x in xs:
            runner.submit(square, x)
        runner.run()
    ran.clear()


# -- priming ------------------------------------------------------------------------------


def test_completed_handles_are_primed_and_do_not_run_again(path: Path) -> None:
    first_run(path)
    with TaskRunner.resume(path) as runner:
        handles = [runner.submit(square, x) for x in (1, 2, 3)]
        runner.run()
    assert ran == []
    assert [h.result() for h in handles] == [1, 4, 9]


def test_primed_handles_are_completed_as_soon_as_they_are_submitted(path: Path) -> None:
    first_run(path)
    with TaskRunner.resume(path) as runner:
        handle = runner.submit(square, 1)
        assert (handle.status, handle.done(), handle.result()) == (TaskStatus.COMPLETED, True, 1)


def test_primed_handles_keep_their_recorded_attempts_and_times(path: Path) -> None:
    first_run(path)
    record = stored(path)["square#0"]
    with TaskRunner.resume(path) as runner:
        result = runner.submit(square, 1).get_result()
    assert (result.attempts, result.started_at, result.finished_at) == (
        record["attempts"],
        record["started_at"],
        record["finished_at"],
    )


def test_run_returns_primed_handles_with_the_others(path: Path) -> None:
    first_run(path, (1, 2))
    with TaskRunner.resume(path) as runner:
        for x in (1, 2, 3):
            runner.submit(square, x)
        results = runner.run()
    assert {hid: r.value for hid, r in results.items()} == {
        "square#0": 1,
        "square#1": 4,
        "square#2": 9,
    }
    assert ran == ["square(3)"]


def test_resume_matches_keys_whatever_the_submission_order(path: Path) -> None:
    with TaskRunner(checkpoint_path=str(path)) as runner:
        runner.submit(square, 1, key="one")
        runner.submit(square, 2, key="two")
        runner.run()
    ran.clear()
    with TaskRunner.resume(path) as runner:
        two = runner.submit(square, 2, key="two")
        one = runner.submit(square, 1, key="one")
        runner.run()
    assert (ran, one.result(), two.result()) == ([], 1, 4)


def test_failed_handles_run_again(path: Path) -> None:
    with TaskRunner(checkpoint_path=str(path), on_task_error="continue") as runner:
        runner.submit(maybe_fail, True)
        runner.run()
    ran.clear()
    # the same arguments, but a failure is never reused: it runs (and here fails) again
    with TaskRunner.resume(path, on_task_error="continue") as runner:
        handle = runner.submit(maybe_fail, True)
        runner.run()
    assert ran == ["maybe_fail"]
    assert handle.status is TaskStatus.FAILED


def test_a_failed_handle_that_succeeds_on_resume_is_recorded_as_completed(path: Path) -> None:
    with TaskRunner(checkpoint_path=str(path), on_task_error="continue") as runner:
        runner.submit(maybe_fail, True, key="job")
        runner.run()
    assert stored(path)["job"]["status"] == "failed"
    with TaskRunner.resume(path) as runner:
        runner.submit(maybe_fail, False, key="job")
        runner.run()
    assert (stored(path)["job"]["status"], stored(path)["job"]["value"]) == ("completed", "ok")


def test_cancelled_handles_run_again(path: Path) -> None:
    with TaskRunner(checkpoint_path=str(path)) as runner:
        runner.submit(square, 5).cancel()
        runner.run()
    assert stored(path)["square#0"]["status"] == "cancelled"
    with TaskRunner.resume(path) as runner:
        handle = runner.submit(square, 5)
        runner.run()
    assert (ran, handle.result()) == (["square(5)"], 25)


def test_skipped_handles_run_again(path: Path) -> None:
    skippable = task(name="skippable", on_dep_failure="skip")(after.fn)
    with TaskRunner(checkpoint_path=str(path), on_task_error="continue") as runner:
        dep = runner.submit(maybe_fail, True)
        runner.submit(skippable, depends_on=[dep])
        runner.run()
    assert stored(path)["skippable#0"]["status"] == "skipped"
    ran.clear()
    with TaskRunner.resume(path) as runner:
        dep = runner.submit(maybe_fail, False)
        handle = runner.submit(skippable, depends_on=[dep])
        runner.run()
    assert ran == ["maybe_fail", "after"]
    assert handle.status is TaskStatus.COMPLETED


def test_dependents_of_primed_handles_run(path: Path) -> None:
    with TaskRunner(checkpoint_path=str(path), on_task_error="continue") as runner:
        dep = runner.submit(square, 4)
        failing = runner.submit(maybe_fail, True, depends_on=[dep])
        runner.submit(after, depends_on=[failing])
        runner.run()
    ran.clear()
    with TaskRunner.resume(path) as runner:
        dep = runner.submit(square, 4)
        fixed = runner.submit(maybe_fail, False, depends_on=[dep])
        last = runner.submit(after, depends_on=[fixed])
        runner.run()
    assert ran == ["maybe_fail", "after"]
    assert last.result() == "after"


def test_a_dependency_failure_recorded_before_runs_again_on_resume(path: Path) -> None:
    with TaskRunner(checkpoint_path=str(path), on_task_error="continue") as runner:
        dep = runner.submit(maybe_fail, True)
        runner.submit(after, depends_on=[dep])
        runner.run()
    assert stored(path)["after#0"]["error"].startswith(DependencyFailedError.__name__)
    with TaskRunner.resume(path) as runner:
        dep = runner.submit(maybe_fail, False)
        last = runner.submit(after, depends_on=[dep])
        runner.run()
    assert last.result() == "after"


# -- changed arguments --------------------------------------------------------------------


def test_a_handle_whose_arguments_changed_runs_again(path: Path) -> None:
    first_run(path)
    runner = TaskRunner.resume(path)
    runner.submit(square, 1)
    with pytest.warns(RuntimeWarning, match="changed"):
        changed = runner.submit(square, 20)
    runner.run()
    with pytest.warns(RuntimeWarning, match="not claimed"):  # square#2 was not submitted
        runner.shutdown()
    assert (ran, changed.result()) == (["square(20)"], 400)


def test_a_warning_says_which_handle_runs_again_and_why(path: Path) -> None:
    first_run(path)
    message = (
        "task 'square#0' runs again: its arguments or its code (closure values, defaults) "
        "changed since the checkpointed run"
    )
    with pytest.warns(RuntimeWarning, match=re.escape(message)), TaskRunner.resume(path) as r:
        r.submit(square, 10)


def test_keyword_arguments_count_as_arguments(path: Path) -> None:
    with TaskRunner(checkpoint_path=str(path)) as runner:
        runner.submit(square, x=3)
        runner.run()
    ran.clear()
    with TaskRunner.resume(path) as runner:
        same = runner.submit(square, x=3)
    with TaskRunner.resume(path) as runner:
        with pytest.warns(RuntimeWarning):
            other = runner.submit(square, x=4)
        runner.run()
    assert (same.result(), other.result(), ran) == (9, 16, ["square(4)"])


def test_the_new_result_of_a_changed_handle_replaces_the_old_one(path: Path) -> None:
    first_run(path, (1,))
    with TaskRunner.resume(path) as runner:
        with pytest.warns(RuntimeWarning):
            runner.submit(square, 7)
        runner.run()
    assert stored(path)["square#0"]["value"] == 49


# -- what the checkpoint holds afterwards -------------------------------------------------


def test_after_a_resumed_run_the_checkpoint_holds_every_handle(path: Path) -> None:
    first_run(path, (1, 2))
    with TaskRunner.resume(path) as runner:
        for x in (1, 2, 3):
            runner.submit(square, x)
        runner.run()
    assert {hid: r["value"] for hid, r in stored(path).items()} == {
        "square#0": 1,
        "square#1": 4,
        "square#2": 9,
    }


def test_records_nothing_claims_are_dropped_at_shutdown_with_a_warning(path: Path) -> None:
    first_run(path)
    unclaimed = "2 record(s) of the resumed checkpoint were not claimed by any submission"
    runner = TaskRunner.resume(path)
    runner.submit(square, 1)
    runner.run()
    with pytest.warns(RuntimeWarning, match=re.escape(unclaimed) + ".*'square#1', 'square#2'"):
        runner.shutdown()
    assert list(stored(path)) == ["square#0"]


def test_a_fresh_runner_starts_from_an_empty_checkpoint(path: Path) -> None:
    first_run(path)
    with TaskRunner(checkpoint_path=str(path)) as runner:
        runner.submit(after)
        runner.run()
    assert list(stored(path)) == ["after#0"]
    assert ran == ["after"]


def test_resume_from_a_path_with_no_checkpoint_runs_everything(path: Path) -> None:
    with TaskRunner.resume(path) as runner:
        handle = runner.submit(square, 3)
        runner.run()
    assert (ran, handle.result()) == (["square(3)"], 9)


def test_resume_twice_in_a_row_reuses_the_results_both_times(path: Path) -> None:
    first_run(path)
    for _ in range(2):
        with TaskRunner.resume(path) as runner:
            handles = [runner.submit(square, x) for x in (1, 2, 3)]
            runner.run()
        assert [h.result() for h in handles] == [1, 4, 9]
    assert ran == []


def test_a_resumed_runner_left_by_an_exception_before_running_keeps_the_checkpoint(
    path: Path,
) -> None:
    first_run(path)

    def rebuild_and_get_interrupted() -> None:
        with TaskRunner.resume(path) as runner:
            runner.submit(square, 1)
            raise KeyboardInterrupt  # Ctrl-C while the graph is being re-built

    with pytest.raises(KeyboardInterrupt):
        rebuild_and_get_interrupted()
    assert sorted(stored(path)) == ["square#0", "square#1", "square#2"]


# -- when the runner writes ---------------------------------------------------------------


def test_with_interval_zero_each_completion_is_written_before_its_dependent_starts(
    path: Path,
) -> None:
    seen: list[list[str]] = []

    @task(name="look")
    async def look() -> None:
        seen.append(sorted(stored(path)))

    with TaskRunner(checkpoint_path=str(path), checkpoint_interval=0) as runner:
        first = runner.submit(asquare, 2)
        second = runner.submit(look, depends_on=[first])
        runner.submit(look, depends_on=[second])
        runner.run()
    assert seen == [["asquare#0"], ["asquare#0", "look#0"]]


def test_writes_are_rate_limited_by_checkpoint_interval(path: Path) -> None:
    seen: list[list[str]] = []

    @task(name="look")
    async def look() -> None:
        seen.append(sorted(stored(path)))

    # (record_starts=False: a durable checkpoint such as SQLite writes at every start)
    with TaskRunner(
        checkpoint_path=str(path), checkpoint_interval=3600, record_starts=False
    ) as runner:
        first = runner.submit(asquare, 2)  # its completion is the first write
        second = runner.submit(asquare, 3, depends_on=[first])  # held back by the interval
        runner.submit(look, depends_on=[second])
        runner.run()
    assert seen == [["asquare#0"]]


def test_everything_is_written_when_run_ends(path: Path) -> None:
    with TaskRunner(checkpoint_path=str(path), checkpoint_interval=3600) as runner:
        previous = None
        for x in range(5):
            previous = runner.submit(square, x, depends_on=[previous] if previous else [])
        runner.run()
        assert len(stored(path)) == 5


def test_everything_is_written_when_run_raises(path: Path) -> None:
    with TaskRunner(checkpoint_path=str(path), checkpoint_interval=3600) as runner:
        runner.submit(square, 1)
        runner.submit(maybe_fail, True)
        with pytest.raises(ValueError, match="failed on purpose"):
            runner.run()
        assert stored(path)["maybe_fail#0"]["status"] == "failed"


def test_shutdown_writes_what_run_did_not(path: Path) -> None:
    first_run(path)
    runner = TaskRunner.resume(path)
    runner.submit(square, 1)
    runner.run()
    assert len(stored(path)) == 3  # run() flushed; unclaimed records go at shutdown
    with pytest.warns(RuntimeWarning, match="not claimed"):
        runner.shutdown()
    assert list(stored(path)) == ["square#0"]


def test_a_runner_without_tasks_writes_an_empty_checkpoint(path: Path) -> None:
    first_run(path)
    with TaskRunner(checkpoint_path=str(path)) as runner:
        runner.run()
    assert stored(path) == {}


def test_arun_writes_the_checkpoint_too(path: Path) -> None:
    async def main() -> None:
        with TaskRunner(checkpoint_path=str(path), checkpoint_interval=3600) as runner:
            runner.submit(square, 6)
            await runner.arun()
            assert stored(path)["square#0"]["value"] == 36

    asyncio.run(main())


# -- constructing ---------------------------------------------------------------------------


def test_checkpoint_path_and_checkpointer_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        TaskRunner(
            checkpoint_path=str(tmp_path / "a.json"),
            checkpointer=JSONCheckpointer(tmp_path / "b.json"),
        )


def test_checkpoint_path_without_pyworkflowy_persist_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyworkflowy.persist", None)  # import now fails
    with pytest.raises(ImportError, match=re.escape("pip install 'pyworkflowy-core[persist]'")):
        TaskRunner(checkpoint_path=str(tmp_path / "state.json"))


def test_resume_accepts_a_checkpointer(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    first_run(path)
    with TaskRunner.resume(JSONCheckpointer(path)) as runner:
        handle = runner.submit(square, 1)
    assert (handle.result(), ran) == (1, [])


def test_resume_passes_other_arguments_to_the_runner(path: Path) -> None:
    with TaskRunner.resume(path, max_workers=3, checkpoint_interval=0) as runner:
        assert (runner.max_workers, runner.checkpoint_interval) == (3, 0.0)


def test_resume_of_an_unreadable_checkpoint_raises_checkpoint_error(path: Path) -> None:
    path.write_bytes(b"\x00garbage\xff" * 10)
    with pytest.raises(CheckpointError, match=re.escape(str(path))):
        TaskRunner.resume(path)


@task(name="first")
def first() -> int:
    ran.append("first")
    return 1


@task(name="plus")
def plus(upstream: TaskHandle, others: list[TaskHandle]) -> int:
    ran.append("plus")
    return upstream.result() + sum(h.result() for h in others)


def test_handles_passed_as_arguments_are_checkpointed_by_id_and_resumed(path: Path) -> None:
    with TaskRunner(checkpoint_path=path) as runner:
        up = first.submit()
        down = plus.submit(up, [up], depends_on=[up])
        runner.run()
    assert down.result() == 2
    with TaskRunner.resume(path) as runner:
        up = first.submit()
        down = plus.submit(up, [up], depends_on=[up])
        runner.run()
    assert down.result() == 2
    assert ran == ["first", "plus"]  # nothing ran again

"""A run killed with SIGKILL resumes without redoing checkpointed work.

The workflow (tests/persist/checkpointed_workflow.py) runs in a child process with
``checkpoint_interval=0``; every step logs its id (fsync'd) as it begins and writes one
byte to a pipe, and the last task never finishes, so the parent's SIGKILL always lands
mid-run: the parent kills the child once KILL_AFTER steps have begun, reads what the
checkpoint held at that moment, resumes, and compares.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pyworkflowy import TaskRunner, TaskStatus, task
from pyworkflowy.persist import JSONCheckpointer, checkpointer_for_path

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")

WORKFLOW = Path(__file__).with_name("checkpointed_workflow.py")
TASKS, WORKERS, KILL_AFTER = 120, 4, 45
STEPS = {f"step#{i}" for i in range(TASKS)}


@dataclass
class Crash:
    returncode: int  # of the killed run
    checkpointed: set[str]  # ids the checkpoint held as completed at the kill
    began_before: list[str]  # ids whose bodies began before the kill
    began_after: list[str]  # ids whose bodies began in the resumed run
    results: dict[str, list[Any]]  # of the resumed run
    clean: dict[str, list[Any]]  # of an uninterrupted run


def command(folder: Path, checkpoint: Path, name: str, mode: str, *options: str) -> list[str]:
    log, results = folder / f"{name}.log", folder / f"{name}.json"
    script = [sys.executable, str(WORKFLOW), str(checkpoint), str(log), str(results), mode]
    return [*script, "--tasks", str(TASKS), "--workers", str(WORKERS), *options]


def run_to_end(folder: Path, checkpoint: Path, name: str, mode: str) -> dict[str, list[Any]]:
    done = subprocess.run(
        command(folder, checkpoint, name, mode), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads((folder / f"{name}.json").read_text())


def run_and_kill(folder: Path, checkpoint: Path) -> int:
    """Start the workflow, SIGKILL it once KILL_AFTER steps have begun; its return code."""
    child = subprocess.Popen(
        command(folder, checkpoint, "killed", "fresh", "--signal", "--hang"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None
    fd, seen = child.stdout.fileno(), 0
    try:
        while seen < KILL_AFTER:
            ready, _, _ = select.select([fd], [], [], 30)
            chunk = os.read(fd, 4096) if ready else b""
            assert chunk, f"the workflow stopped signalling after {seen} steps"
            seen += len(chunk)
        child.send_signal(signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        _, stderr = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, stderr.decode()
    return child.returncode


@pytest.fixture(scope="module", params=["state.json", "state.db"])
def crash(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Crash:
    folder = tmp_path_factory.mktemp("crash")
    checkpoint = folder / request.param
    returncode = run_and_kill(folder, checkpoint)
    reader = checkpointer_for_path(checkpoint)
    stored = reader.load()
    reader.close()
    checkpointed = {hid for hid, r in stored.items() if r["status"] == "completed"}
    began_before = (folder / "killed.log").read_text().splitlines()
    results = run_to_end(folder, checkpoint, "resumed", "resume")
    resumed_log = folder / "resumed.log"
    began_after = resumed_log.read_text().splitlines() if resumed_log.exists() else []
    clean = run_to_end(folder, folder / f"clean-{request.param}", "clean", "fresh")
    return Crash(returncode, checkpointed, began_before, began_after, results, clean)


def test_the_kill_lands_mid_run(crash: Crash) -> None:
    assert crash.returncode == -signal.SIGKILL
    assert len(crash.began_before) >= KILL_AFTER
    assert "total#0" not in crash.checkpointed


def test_only_tasks_that_began_can_be_checkpointed(crash: Crash) -> None:
    assert crash.checkpointed <= set(crash.began_before)


def test_no_task_whose_completion_was_checkpointed_runs_again(crash: Crash) -> None:
    assert crash.checkpointed.isdisjoint(crash.began_after)


def test_the_resumed_run_runs_exactly_what_the_checkpoint_lacks(crash: Crash) -> None:
    assert sorted(crash.began_after) == sorted((STEPS | {"total#0"}) - crash.checkpointed)


def test_tasks_run_again_are_at_most_the_tasks_in_flight(crash: Crash) -> None:
    again = set(crash.began_before) & set(crash.began_after) - {"total#0"}
    assert len(again) <= WORKERS


def test_the_resumed_results_equal_an_uninterrupted_run(crash: Crash) -> None:
    assert crash.results == crash.clean


def test_every_task_completes_after_the_resume(crash: Crash) -> None:
    assert {status for status, _ in crash.results.values()} == {"completed"}
    assert set(crash.results) == STEPS | {"total#0"}


# -- the same bound for tasks on worker threads ---------------------------------------------


def test_with_interval_zero_a_thread_task_starts_after_the_completion_before_it_is_saved(
    tmp_path: Path,
) -> None:
    second_began = threading.Event()
    began_before_first_was_saved: list[bool] = []
    handles: dict[str, Any] = {}

    class Watching(JSONCheckpointer):
        def save(self, records: Any, removed: Any = ()) -> None:
            if "first#0" in records and records["first#0"]["status"] == "completed":
                if handles["second"].status is TaskStatus.RUNNING:
                    second_began.wait(10)  # it was handed to a worker: let its body begin
                began_before_first_was_saved.append(second_began.is_set())
            super().save(records, removed)

    @task(name="first", backend="thread")
    def first() -> int:
        return 1

    @task(name="second", backend="thread")
    def second() -> int:
        second_began.set()
        return 2

    with TaskRunner(
        max_workers=1, checkpointer=Watching(tmp_path / "s.json"), checkpoint_interval=0
    ) as runner:
        runner.submit(first)
        handles["second"] = runner.submit(second)
        runner.run()
    assert began_before_first_was_saved == [False]

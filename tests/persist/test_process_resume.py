"""Resume across processes: the same program run again picks up where the last run stopped.

Each test runs tests/persist/checkpointed_workflow.py in fresh interpreters, so handle ids,
argument fingerprints and stored values have to survive a process boundary.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

WORKFLOW = Path(__file__).with_name("checkpointed_workflow.py")
TASKS, WORKERS = 12, 3
STEPS = [f"step#{i}" for i in range(TASKS)]
CLEAN: dict[str, list[Any]] = {f"step#{i}": ["completed", i * i] for i in range(TASKS)}
CLEAN["total#0"] = ["completed", sum(i * i for i in range(TASKS))]


@dataclass
class Run:
    log: list[str]
    results: dict[str, list[Any]]
    stderr: str


class Workflow:
    """Runs the workflow script against one checkpoint, one process per run."""

    def __init__(self, folder: Path, checkpoint_name: str) -> None:
        self.folder = folder
        self.checkpoint = folder / checkpoint_name
        self.runs = 0

    def run(self, mode: str, *options: str) -> Run:
        self.runs += 1
        log = self.folder / f"log{self.runs}.txt"
        results = self.folder / f"results{self.runs}.json"
        script = [sys.executable, str(WORKFLOW), str(self.checkpoint), str(log), str(results)]
        done = subprocess.run(
            [*script, mode, "--tasks", str(TASKS), "--workers", str(WORKERS), *options],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        lines = log.read_text().splitlines() if log.exists() else []
        return Run(lines, json.loads(results.read_text()), done.stderr)


@pytest.fixture(params=["state.json", "state.db", "state.pkl"])
def workflow(request: pytest.FixtureRequest, tmp_path: Path) -> Workflow:
    return Workflow(tmp_path, request.param)


def test_a_rerun_with_resume_runs_nothing_that_completed(workflow: Workflow) -> None:
    first = workflow.run("fresh")
    second = workflow.run("resume")
    assert sorted(first.log) == sorted([*STEPS, "total#0"])
    assert second.log == []
    assert second.results == CLEAN


def test_a_resumed_process_runs_only_the_failed_task_and_what_depends_on_it(
    workflow: Workflow,
) -> None:
    first = workflow.run("fresh", "--fail", "step#4")
    broken = ["step#4", "step#7", "step#10"]  # step#4 and its chain (every WORKERS-th step)
    assert [first.results[hid][0] for hid in broken] == ["failed"] * 3
    second = workflow.run("resume")
    assert sorted(second.log) == sorted([*broken, "total#0"])
    assert second.results == CLEAN


def test_a_resumed_process_runs_a_task_whose_argument_changed_and_warns(
    workflow: Workflow,
) -> None:
    workflow.run("fresh")
    second = workflow.run("resume", "--bump", "step#2")
    assert second.log == ["step#2"]  # its dependents' own arguments did not change
    assert second.results["step#2"] == ["completed", 1002 * 1002]
    assert "RuntimeWarning: task 'step#2' runs again: its arguments or its code" in second.stderr


def test_a_fresh_process_on_an_old_checkpoint_runs_everything(workflow: Workflow) -> None:
    workflow.run("fresh")
    second = workflow.run("fresh")
    assert sorted(second.log) == sorted([*STEPS, "total#0"])
    assert second.results == CLEAN


SET_SCRIPT = """
import sys
from pyworkflowy import TaskRunner, task

@task(name="count")
def count(labels):
    print("ran")
    return len(labels)

path, mode = sys.argv[1], sys.argv[2]
runner = TaskRunner(checkpoint_path=path) if mode == "fresh" else TaskRunner.resume(path)
with runner:
    runner.submit(count, {"alpha", "beta", "gamma", "delta"})
    runner.run()
"""
TAGS_IN_ORDER = 'print(list({"alpha", "beta", "gamma", "delta"}))'


def run_with_hash_seed(seed: int, *args: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_set_argument_is_recognised_as_unchanged_in_a_new_process(tmp_path: Path) -> None:
    # the two processes iterate the same set in different orders
    assert run_with_hash_seed(1, "-c", TAGS_IN_ORDER) != run_with_hash_seed(2, "-c", TAGS_IN_ORDER)
    script, path = tmp_path / "tags.py", str(tmp_path / "state.pkl")
    script.write_text(SET_SCRIPT)
    assert run_with_hash_seed(1, str(script), path, "fresh") == "ran\n"
    assert run_with_hash_seed(2, str(script), path, "resume") == ""

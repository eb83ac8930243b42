"""Upstream handles as arguments of process tasks: they travel finished, with their outcome.

The DAG idiom of every backend (hand the upstream handle to the task, read ``.result()``
inside) works on worker processes too: when the attempt starts, each handle argument has
finished and goes to the worker as a read-only copy of its outcome.
"""

from __future__ import annotations

import os
import threading

import pytest
from pyworkflowy import TaskHandle, TaskRunner, TaskStatus, task
from pyworkflowy.process import SerializationError


@task
def load() -> list[int]:
    return [3, 1, 2]


@task
async def failing_load() -> list[int]:
    raise LookupError("source is gone")


def total(rows: TaskHandle) -> tuple[int, int]:
    return sum(rows.result()), os.getpid()


def describe(rows: TaskHandle, *, scale: int = 1) -> dict[str, object]:
    return {
        "id": rows.id,
        "name": rows.name,
        "status": rows.status.value,
        "ok": rows.get_result().ok and rows.exception() is None,
        "done": rows.done(),
        "attempts": rows.attempts,
        "value": [v * scale for v in rows.result()],
    }


def recover(rows: TaskHandle) -> str:
    try:
        rows.result()
    except LookupError as exc:  # the original type, as raised upstream
        return f"recovered from {type(exc).__name__}: {exc}"
    return "no error"


def test_a_process_task_reads_its_upstream_handles_result_in_a_worker() -> None:
    with TaskRunner(max_workers=1) as runner:
        rows = load.submit()
        summed = runner.submit(task(backend="process")(total), rows, depends_on=[rows])
        runner.run()
    value, pid = summed.result()
    assert value == 6
    assert pid != os.getpid()


def test_the_finished_copy_has_the_handles_id_status_and_attempts() -> None:
    with TaskRunner() as runner:
        rows = load.submit(key="rows")
        described = runner.submit(
            task(backend="process")(describe), rows, scale=10, depends_on=[rows]
        )
        runner.run()
    assert described.result() == {
        "id": "rows",
        "name": load.name,
        "status": "completed",
        "ok": True,
        "done": True,
        "attempts": 1,
        "value": [30, 10, 20],
    }


def test_a_chain_of_process_tasks_passes_values_down_as_handles() -> None:
    @task(backend="process")
    def step(previous: TaskHandle | None, n: int) -> int:
        return (0 if previous is None else previous.result()) + n

    with TaskRunner(max_workers=2) as runner:
        handle = step.submit(None, 1)
        for n in range(2, 6):
            handle = step.submit(handle, n, depends_on=[handle])
        runner.run()
    assert handle.result() == 15


def test_under_run_anyway_the_upstream_failure_is_raised_in_the_worker_with_its_type() -> None:
    with TaskRunner(on_task_error="continue") as runner:
        rows = failing_load.submit()
        fixed = runner.submit(
            task(backend="process", on_dep_failure="run-anyway")(recover), rows, depends_on=[rows]
        )
        runner.run()
    assert rows.status is TaskStatus.FAILED
    assert fixed.result() == "recovered from LookupError: source is gone"


def test_a_handle_the_task_does_not_depend_on_is_refused_at_submit() -> None:
    release = threading.Event()

    @task(backend="thread")
    def slow() -> list[int]:
        release.wait(10)
        return [1]

    with TaskRunner() as runner:
        rows = slow.submit(key="rows")
        with pytest.raises(SerializationError) as info:
            runner.submit(task(backend="process")(total), rows, key="sum")
        release.set()
        runner.run()
    message = str(info.value)
    assert "argument 0 is the handle 'rows'" in message
    assert "depends_on=" in message
    assert [h.id for h in runner.handles()] == ["rows"]  # nothing registered


def test_a_handle_that_finished_in_an_earlier_run_needs_no_dependency() -> None:
    with TaskRunner() as runner:
        rows = load.submit()
        runner.run()
        summed = runner.submit(task(backend="process")(total), rows)
        runner.run()
    assert summed.result()[0] == 6


def test_a_handle_inside_another_value_is_refused_at_submit_naming_where() -> None:
    with TaskRunner() as runner:
        rows = load.submit()
        with pytest.raises(SerializationError) as info:
            runner.submit(task(backend="process")(len), [1, rows], depends_on=[rows])
        runner.run()
    message = str(info.value)
    assert "argument 0 (at args[0][1])" in message
    assert "only as an argument of its own" in message


def test_the_other_arguments_are_still_checked_at_submit() -> None:
    with TaskRunner() as runner:
        rows = load.submit()
        with pytest.raises(SerializationError, match=r"argument 1: cannot pickle '_thread.lock'"):
            runner.submit(
                task(backend="process")(describe), rows, threading.Lock(), depends_on=[rows]
            )
        runner.run()


def test_an_upstream_result_that_cannot_travel_fails_only_the_process_task_at_once() -> None:
    @task
    def make_lock() -> threading.Lock:
        return threading.Lock()

    with TaskRunner(on_task_error="continue") as runner:
        lock = make_lock.submit()
        used = runner.submit(task(backend="process", retries=2)(repr), lock, depends_on=[lock])
        rows = load.submit()
        after = runner.submit(task(backend="process")(total), rows, depends_on=[rows])
        runner.run()
    error = used.exception()
    assert isinstance(error, SerializationError)
    assert "argument 0 (at args[0].result()): cannot pickle '_thread.lock'" in str(error)
    assert used.attempts == 1  # not retried: the same value would fail again
    assert lock.status is TaskStatus.COMPLETED
    assert after.status is TaskStatus.COMPLETED

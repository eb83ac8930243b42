"""``handle.output`` on the process backend: the worker's body gets the value, never the
reference (top level, nested, keyword arguments), and a dynamic map runs its items in
worker processes."""

from __future__ import annotations

import os
import threading
from typing import Any, NamedTuple

import pytest
from pyworkflowy import DependencyFailedError, TaskHandle, TaskRunner, TaskStatus, task
from pyworkflowy.process import SerializationError


class Point(NamedTuple):
    x: Any
    y: Any


@task
def load() -> list[int]:
    return [3, 1, 2]


@task
def letters() -> str:
    return "abcd"


@task(backend="process")
def load_in_worker() -> list[int]:
    return [5, 6]


@task
async def broken() -> list[int]:
    raise LookupError("source is gone")


def describe(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """What the body received, with the worker's pid."""
    return {"args": args, "kwargs": kwargs, "pid": os.getpid()}


@task(backend="process")
def total(xs: list[int]) -> tuple[int, str, int]:
    return sum(xs), type(xs).__name__, os.getpid()


@task(backend="process")
def square(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


@task(backend="process")
def plain_square(x: int) -> int:
    return x * x


@task(backend="process")
def times(x: int, factor: int) -> int:
    return x * factor


@task(backend="process", on_dep_failure="run-anyway")
def stubborn(xs: list[int]) -> int:
    return len(xs)


def test_a_process_body_gets_the_value_of_a_top_level_output() -> None:
    with TaskRunner(max_workers=1) as runner:
        rows = load.submit()
        summed = total.submit(rows.output)
        runner.run()
    value, kind, pid = summed.result()
    assert (value, kind) == (6, "list")
    assert pid != os.getpid()


def test_a_process_body_gets_the_values_of_nested_outputs_and_keywords() -> None:
    with TaskRunner(max_workers=1) as runner:
        rows, word = load.submit(), letters.submit()
        got = runner.submit(
            task(backend="process")(describe),
            [rows.output, (word.output, {"deep": [Point(rows.output, (word.output,))]})],
            named={"w": word.output},
        )
        runner.run()
    received = got.result()
    assert received["pid"] != os.getpid()
    assert received["args"] == ([[3, 1, 2], ("abcd", {"deep": [Point([3, 1, 2], ("abcd",))]})],)
    assert type(received["args"][0][1][1]["deep"][0]) is Point
    assert received["kwargs"] == {"named": {"w": "abcd"}}


def test_a_runner_defaulting_to_process_passes_values_between_workers() -> None:
    with TaskRunner(max_workers=2, backend="process") as runner:
        rows = runner.submit(load_in_worker)
        got = runner.submit(describe, rows.output, k=[rows.output])
        runner.run()
    received = got.result()
    assert received["args"] == ([5, 6],)
    assert received["kwargs"] == {"k": [[5, 6]]}
    assert received["pid"] != os.getpid()


def test_a_handle_and_its_output_together_reach_a_worker() -> None:
    def both(rows: TaskHandle, xs: list[int]) -> tuple[int, list[int]]:
        return sum(rows.result()), xs

    with TaskRunner(max_workers=1) as runner:
        rows = load.submit()
        got = runner.submit(task(backend="process")(both), rows, rows.output)
        runner.run()
    assert got.result() == (6, [3, 1, 2])


def test_run_anyway_on_a_failed_output_fails_with_dependency_failed_error() -> None:
    with TaskRunner(max_workers=1, on_task_error="continue") as runner:
        up = broken.submit()
        down = stubborn.submit(up.output)
        runner.run()
    assert down.status is TaskStatus.FAILED
    error = down.exception()
    assert isinstance(error, DependencyFailedError)
    assert error.failed_ids == (up.id,)
    assert error.__cause__ is up.exception()


def test_an_output_inside_a_set_is_refused_at_submit() -> None:
    with TaskRunner(max_workers=1) as runner:
        rows = load.submit()
        with pytest.raises(TypeError, match="inside a set is not replaced"):
            runner.submit(task(backend="process")(describe), {rows.output})


def test_the_other_arguments_are_checked_at_submit() -> None:
    with TaskRunner(max_workers=1) as runner:
        rows = load.submit()
        with pytest.raises(SerializationError):
            runner.submit(task(backend="process")(describe), rows.output, threading.Lock())


def test_a_dynamic_map_runs_its_items_in_worker_processes() -> None:
    with TaskRunner(max_workers=2) as runner:
        rows = load.submit()
        mapped = square.map(rows.output)
        assert isinstance(mapped, TaskHandle)
        runner.run()
    results = mapped.result()
    assert [value for value, _ in results] == [9, 1, 4]
    assert all(pid != os.getpid() for _, pid in results)
    items = [h for h in runner.handles() if h.id.startswith(f"{mapped.id}[")]
    assert [h.id for h in items] == [f"{mapped.id}[{i}]" for i in range(3)]
    assert all(h.backend == "process" for h in items)


def test_a_dynamic_map_on_a_process_runner_feeds_a_downstream_task() -> None:
    with TaskRunner(max_workers=2, backend="process") as runner:
        rows = runner.submit(load_in_worker)
        products = runner.map(times, rows.output, [10, 20, 30])  # the shortest wins
        nested = runner.map(plain_square, products.output)
        summed = runner.submit(describe, products.output, nested.output)
        runner.run()
    assert products.result() == [50, 120]
    assert nested.result() == [2500, 14400]
    received = summed.result()
    assert received["args"] == ([50, 120], [2500, 14400])
    assert received["pid"] != os.getpid()

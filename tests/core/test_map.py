"""runner.map / Task.map: one submission per item, in order, with shared dependencies."""

from __future__ import annotations

import gc
import threading

import pytest
from pyworkflowy import TaskRunner, TaskStatus, task


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def square(x: int) -> int:
    return x * x


def test_map_submits_one_task_per_item_in_order() -> None:
    with TaskRunner() as runner:
        handles = runner.map(square, range(5))
        runner.run()
    assert [h.result() for h in handles] == [0, 1, 4, 9, 16]
    assert [h.id for h in handles] == [f"{square.name}#{i}" for i in range(5)]


def test_map_zips_several_iterables_and_stops_at_the_shortest() -> None:
    with TaskRunner() as runner:
        handles = runner.map(add, [1, 2, 3], [10, 20])
        runner.run()
    assert [h.result() for h in handles] == [11, 22]


def test_task_map_uses_the_runner_of_the_with_block() -> None:
    with TaskRunner() as runner:
        handles = square.map([3, 4])
        runner.run()
    assert [h.result() for h in handles] == [9, 16]


def test_map_handles_wait_for_depends_on() -> None:
    order: list[str] = []

    @task
    def first() -> None:
        order.append("first")

    @task
    def each(i: int) -> None:
        order.append(f"each {i}")

    with TaskRunner() as runner:
        gate = runner.submit(first)
        runner.map(each, range(3), depends_on=[gate])
        runner.run()
    assert order[0] == "first"
    assert sorted(order[1:]) == ["each 0", "each 1", "each 2"]


def test_map_accepts_plain_callables() -> None:
    with TaskRunner() as runner:
        handles = runner.map(str.upper, ["a", "b"])
        runner.run()
    assert [h.result() for h in handles] == ["A", "B"]


def test_map_without_iterables_is_a_type_error() -> None:
    with TaskRunner() as runner, pytest.raises(TypeError, match="at least one iterable"):
        runner.map(square)


def test_map_restores_the_garbage_collector() -> None:
    with TaskRunner() as runner:
        assert gc.isenabled()
        runner.map(square, range(3))
        assert gc.isenabled()
        gc.disable()
        try:
            runner.map(square, range(3))
            assert not gc.isenabled()  # left as the caller had it
        finally:
            gc.enable()


def test_a_refused_item_leaves_the_earlier_handles_submitted() -> None:
    def items():
        yield 1
        yield 2
        raise ValueError("bad input at item 3")

    with TaskRunner() as runner:
        with pytest.raises(ValueError, match="item 3"):
            runner.map(square, items())
        assert gc.isenabled()
        runner.run()
        assert [h.result() for h in runner.handles()] == [1, 4]


def test_map_from_another_thread_while_serving() -> None:
    with TaskRunner() as runner:
        runner.start()
        result: list = []
        thread = threading.Thread(target=lambda: result.extend(runner.map(square, range(4))))
        thread.start()
        thread.join(10)
        values = [h.result(timeout=10) for h in result]
        runner.stop()
    assert values == [0, 1, 4, 9]
    assert all(h.status is TaskStatus.COMPLETED for h in result)

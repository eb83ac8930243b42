"""Outputs as arguments (``handle.output``) and the dynamic map over an upstream's value.

``runner.submit(f, h.output)`` makes the task depend on ``h`` and gives its body ``h``'s
value (at the top level, inside lists, tuples, named tuples and dict values, in keyword
arguments); ``task.map(h.output)`` is one handle that becomes one task per item of
``h``'s value once ``h`` has completed, and completes with their values as a list.

The process backend's side is in tests/process/test_outputs.py.
"""

from __future__ import annotations

import asyncio
import pickle
import threading
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from pyworkflowy import (
    CheckpointError,
    DependencyFailedError,
    TaskHandle,
    TaskRunner,
    TaskStatus,
    task,
)
from pyworkflowy.events import TaskFinished, TaskStarted, TaskSubmitted

EVENT_WAIT = 10.0  # seconds: only reached if the library hangs

COMPLETED = TaskStatus.COMPLETED
FAILED = TaskStatus.FAILED
SKIPPED = TaskStatus.SKIPPED


class Boom(Exception):
    """The failure the tests' tasks raise."""


class Point(NamedTuple):
    x: Any
    y: Any


ran: list[str] = []  # what the tasks below executed, in order
fail_items: set[int] = set()  # the values `fragile` raises for


@pytest.fixture(autouse=True)
def _clear_module_state() -> None:
    ran.clear()
    fail_items.clear()


@task
def load() -> list[int]:
    ran.append("load")
    return [3, 1, 2]


@task
def letters() -> str:
    ran.append("letters")
    return "abcd"


@task
def nothing() -> list[int]:
    return []


@task
def scalar() -> int:
    return 7


@task
async def broken() -> list[int]:
    ran.append("broken")
    raise Boom("upstream broke")


@task
def square(x: int) -> int:
    ran.append(f"square({x})")
    return x * x


@task
def add(x: Any, y: Any) -> Any:
    return x + y


@task
def total(xs: list[int]) -> int:
    ran.append("total")
    return sum(xs)


@task
def fragile(x: int) -> int:
    ran.append(f"fragile({x})")
    if x in fail_items:
        raise Boom(f"item {x} broke")
    return x * 10


def echo(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return args, kwargs


def items_of(runner: TaskRunner, mapped: TaskHandle) -> list[TaskHandle]:
    """The item handles a dynamic map expanded into, in submission order."""
    return [h for h in runner.handles() if h.id.startswith(f"{mapped.id}[")]


# -- outputs as arguments ------------------------------------------------------------------


def test_an_output_at_the_top_level_gives_the_body_the_value() -> None:
    with TaskRunner() as runner:
        rows = load.submit()
        summed = runner.submit(total, rows.output)
        runner.run()
    assert summed.result() == 6
    assert ran == ["load", "total"]


@pytest.mark.parametrize("backend", ["asyncio", "thread"])
def test_an_output_makes_the_task_wait_for_its_upstream(backend: str) -> None:
    seen: list[TaskStatus] = []
    upstream: list[TaskHandle] = []

    def downstream(xs: list[int]) -> list[int]:
        seen.append(upstream[0].status)
        return xs

    with TaskRunner(backend=backend) as runner:
        upstream.append(runner.submit(load))
        down = runner.submit(downstream, upstream[0].output)
        assert down.deps == (upstream[0],)
        runner.run()
    assert seen == [COMPLETED]
    assert down.result() == [3, 1, 2]


def test_outputs_nested_in_lists_tuples_named_tuples_and_dict_values_are_replaced() -> None:
    with TaskRunner() as runner:
        rows, word = load.submit(), letters.submit()
        nested = [rows.output, (word.output, {"deep": [Point(rows.output, (word.output,))]})]
        got = runner.submit(echo, nested, {"a": {"b": rows.output}})
        runner.run()
    args, kwargs = got.result()
    assert kwargs == {}
    assert args == (
        [[3, 1, 2], ("abcd", {"deep": [Point([3, 1, 2], ("abcd",))]})],
        {"a": {"b": [3, 1, 2]}},
    )
    point = args[0][1][1]["deep"][0]
    assert type(point) is Point  # the named tuple keeps its type
    assert type(args[0][1]) is tuple
    assert got.deps == (rows, word)


def test_outputs_in_keyword_arguments_are_replaced() -> None:
    with TaskRunner() as runner:
        rows, word = load.submit(), letters.submit()
        got = runner.submit(echo, xs=rows.output, more={"w": [word.output]})
        runner.run()
    assert got.result() == ((), {"xs": [3, 1, 2], "more": {"w": ["abcd"]}})
    assert got.deps == (rows, word)


def test_a_handle_passed_as_itself_stays_a_handle() -> None:
    with TaskRunner() as runner:
        rows = load.submit()
        got = runner.submit(echo, rows, rows.output, [rows])
        runner.run()
    (handle, value, [inner]), _ = got.result()
    assert handle is rows
    assert inner is rows
    assert value == [3, 1, 2]


def test_args_show_the_references_until_the_values_are_put_in() -> None:
    seen_in_body: list[tuple[Any, ...]] = []
    own: list[TaskHandle] = []

    def body(xs: list[int], extra: dict[str, Any]) -> None:
        seen_in_body.append(own[0].args)

    with TaskRunner() as runner:
        rows = load.submit()
        own.append(runner.submit(body, rows.output, {"k": rows.output}))
        before = own[0].args
        runner.run()
    assert len(before) == 2
    assert type(before[0]) is type(rows.output)
    assert rows.id in repr(before[0])
    assert type(before[1]["k"]) is type(rows.output)
    assert seen_in_body == [([3, 1, 2], {"k": [3, 1, 2]})]


def test_the_value_is_put_in_once_before_the_first_attempt_and_kept_for_retries() -> None:
    attempts: list[list[int]] = []

    @task(retries=1)
    def flaky(xs: list[int]) -> int:
        attempts.append(list(xs))
        if len(attempts) == 1:
            raise Boom("first attempt fails")
        return sum(xs)

    with TaskRunner() as runner:
        rows = load.submit()
        got = runner.submit(flaky, rows.output)
        runner.run()
    assert got.result() == 6
    assert got.attempts == 2
    assert attempts == [[3, 1, 2], [3, 1, 2]]
    assert ran == ["load"]  # the upstream ran once


def test_depends_on_and_an_output_of_the_same_handle_give_one_dependency() -> None:
    with TaskRunner() as runner:
        rows, word = load.submit(), letters.submit()
        both = runner.submit(echo, rows.output, depends_on=[rows])
        twice = runner.submit(echo, rows.output, [rows.output], k=rows.output)
        mixed = runner.submit(echo, word.output, rows.output, depends_on=[rows])
        runner.run()
    assert both.deps == (rows,)
    assert twice.deps == (rows,)
    assert mixed.deps == (rows, word)
    assert mixed.result() == (("abcd", [3, 1, 2]), {})


def test_the_output_of_a_handle_finished_in_an_earlier_run() -> None:
    with TaskRunner() as runner:
        rows = load.submit()
        runner.run()
        summed = runner.submit(total, rows.output)
        runner.run()
    assert summed.result() == 6
    assert ran == ["load", "total"]


def test_the_output_of_a_handle_of_another_runner_raises_value_error() -> None:
    with TaskRunner() as other, TaskRunner() as runner:
        foreign = other.submit(load)
        with pytest.raises(ValueError, match="another TaskRunner"):
            runner.submit(total, foreign.output)
        assert runner.handles() == []


# -- a dependency that did not complete ----------------------------------------------------


def test_fail_policy_fails_the_task_taking_a_failed_output() -> None:
    with TaskRunner(on_task_error="continue") as runner:
        up = broken.submit()
        down = runner.submit(total, up.output)
        runner.run()
    assert down.status is FAILED
    error = down.exception()
    assert isinstance(error, DependencyFailedError)
    assert error.failed_ids == (up.id,)
    assert error.__cause__ is up.exception()
    assert ran == ["broken"]


def test_skip_policy_skips_the_task_taking_a_failed_output() -> None:
    @task(on_dep_failure="skip")
    def skipper(xs: dict[str, list[int]]) -> int:
        ran.append("skipper")
        return len(xs)

    with TaskRunner(on_task_error="continue") as runner:
        up = broken.submit()
        down = runner.submit(skipper, {"rows": up.output})
        runner.run()
    assert down.status is SKIPPED
    assert ran == ["broken"]


def test_run_anyway_cannot_take_the_output_of_a_failed_dependency() -> None:
    @task(on_dep_failure="run-anyway")
    def stubborn(xs: list[list[int]]) -> int:
        ran.append("stubborn")
        return len(xs)

    with TaskRunner(on_task_error="continue") as runner:
        up = broken.submit(key="the-upstream")
        down = runner.submit(stubborn, [up.output])
        runner.run()
    assert down.status is FAILED
    error = down.exception()
    assert isinstance(error, DependencyFailedError)
    assert "cannot take" in str(error)
    assert "the-upstream" in str(error)
    assert error.failed_ids == ("the-upstream",)
    assert isinstance(error.__cause__, Boom)
    assert error.__cause__ is up.exception()
    assert ran == ["broken"]


def test_run_anyway_still_runs_when_the_failed_dependency_is_passed_as_a_handle() -> None:
    @task(on_dep_failure="run-anyway")
    def inspect(h: TaskHandle) -> str:
        return h.status.value

    with TaskRunner(on_task_error="continue") as runner:
        up = broken.submit()
        down = runner.submit(inspect, up, depends_on=[up])
        runner.run()
    assert down.result() == "failed"


def test_the_output_of_a_released_handle_is_a_dependency_failure() -> None:
    with TaskRunner(on_task_error="continue") as runner:
        rows = load.submit()
        runner.run()
        rows.release()
        down = runner.submit(total, rows.output)
        runner.run()
    assert down.status is FAILED
    error = down.exception()
    assert isinstance(error, DependencyFailedError)
    assert error.failed_ids == (rows.id,)
    assert "released" in str(error)
    assert ran == ["load"]


# -- pickling ------------------------------------------------------------------------------


def test_an_output_cannot_be_pickled() -> None:
    with TaskRunner() as runner:
        rows = runner.submit(load)
        with pytest.raises(TypeError, match="lists, tuples and dict values"):
            pickle.dumps(rows.output)


def test_an_output_inside_a_set_is_refused_at_submit() -> None:
    with TaskRunner() as runner:
        rows = runner.submit(load)
        with pytest.raises(TypeError, match="inside a frozenset is not replaced"):
            runner.submit(echo, [frozenset({rows.output})])
        assert [h.id for h in runner.handles()] == [rows.id]  # nothing half-submitted


def test_an_output_inside_another_object_stays_a_reference_that_cannot_be_pickled() -> None:
    class Box:
        def __init__(self, item: object) -> None:
            self.item = item

    with TaskRunner() as runner:
        rows = runner.submit(load)
        got = runner.submit(echo, Box(rows.output))
        assert got.deps == ()  # only lists, tuples and dicts are searched
        runner.run()
    ((box,), _) = got.result()
    assert type(box.item) is type(rows.output)
    with pytest.raises(TypeError, match="lists, tuples and dict values"):
        pickle.dumps(box.item)


def test_outputs_inside_dict_and_list_subclasses_are_replaced() -> None:
    from collections import OrderedDict, defaultdict

    class Rows(list[object]):
        pass

    with TaskRunner() as runner:
        rows = runner.submit(load)
        ordered = OrderedDict(a=rows.output)
        default: defaultdict[str, object] = defaultdict(int, b=rows.output)
        got = runner.submit(echo, ordered, default, Rows([rows.output]))
        assert got.deps == (rows,)
        runner.run()
    (a, b, c), _ = got.result()
    assert type(a) is OrderedDict
    assert a == {"a": rows.result()}
    assert type(b) is defaultdict
    assert b == {"b": rows.result()}
    assert b["missing"] == 0
    assert type(c) is Rows
    assert c == [rows.result()]
    assert ordered["a"].__class__ is not list  # the caller's own objects are left as they were


# -- checkpoints ---------------------------------------------------------------------------


def test_resume_does_not_run_a_task_taking_an_output_again(tmp_path: Path) -> None:
    pytest.importorskip("pyworkflowy.persist")
    path = tmp_path / "ck.json"
    with TaskRunner(checkpoint_path=path) as runner:
        rows = load.submit()
        runner.submit(total, rows.output)
        runner.run()
    assert ran == ["load", "total"]
    ran.clear()

    with TaskRunner.resume(path) as runner:
        rows = load.submit()
        summed = runner.submit(total, rows.output)
        runner.run()
    assert ran == []
    assert summed.result() == 6


def test_resume_gives_a_re_run_task_the_checkpointed_upstream_value(tmp_path: Path) -> None:
    pytest.importorskip("pyworkflowy.persist")
    path = tmp_path / "ck.json"
    fail_items.add(6)

    @task(name="check_total")
    def check_total(arg: dict[str, list[int]]) -> int:
        ran.append("check_total")
        xs = arg["rows"]
        if sum(xs) in fail_items:
            raise Boom("not yet")
        return sum(xs)

    with TaskRunner(checkpoint_path=path, on_task_error="continue") as runner:
        rows = load.submit()
        runner.submit(check_total, {"rows": rows.output})
        runner.run()
    assert ran == ["load", "check_total"]
    ran.clear()
    fail_items.clear()

    with TaskRunner.resume(path) as runner:
        rows = load.submit()
        got = runner.submit(check_total, {"rows": rows.output})
        runner.run()
    assert ran == ["check_total"]  # the upstream is primed from the checkpoint
    assert got.result() == 6


def test_resume_runs_a_task_again_when_its_upstream_runs_with_other_arguments(
    tmp_path: Path,
) -> None:
    pytest.importorskip("pyworkflowy.persist")
    path = tmp_path / "ck.json"

    @task(name="numbers")
    def numbers(n: int) -> list[int]:
        return list(range(n))

    @task(name="count")
    def count(xs: list[int]) -> int:
        ran.append("count")
        return len(xs)

    with TaskRunner(checkpoint_path=path) as runner:
        first = runner.submit(count, numbers.submit(3).output)
        runner.run()
    assert first.result() == 3
    ran.clear()

    with TaskRunner.resume(path) as runner:
        with pytest.warns(RuntimeWarning, match="changed"):
            upstream = numbers.submit(5)
        with pytest.warns(RuntimeWarning, match="changed"):
            again = runner.submit(count, upstream.output)
        runner.run()
    assert ran == ["count"]  # not the stale 3 from the checkpoint
    assert again.result() == 5


def test_json_checkpoint_validation_accepts_output_references(tmp_path: Path) -> None:
    pytest.importorskip("pyworkflowy.persist")
    with TaskRunner(checkpoint_path=tmp_path / "ck.json") as runner:
        rows = load.submit()
        got = runner.submit(echo, rows.output, [Point(rows.output, 1)], k={"r": rows.output})
        runner.run()
    assert got.result() == (([3, 1, 2], [Point([3, 1, 2], 1)]), {"k": {"r": [3, 1, 2]}})


def test_json_checkpoint_validation_still_rejects_other_arguments(tmp_path: Path) -> None:
    pytest.importorskip("pyworkflowy.persist")
    with TaskRunner(checkpoint_path=tmp_path / "ck.json") as runner:
        rows = load.submit()
        with pytest.raises(CheckpointError):
            runner.submit(echo, rows.output, object())


# -- dynamic map ---------------------------------------------------------------------------


def test_task_map_over_an_output_is_one_handle_with_the_list_of_results() -> None:
    with TaskRunner() as runner:
        rows = load.submit()
        mapped = square.map(rows.output)
        assert isinstance(mapped, TaskHandle)
        assert mapped.deps == (rows,)
        assert rows.id in repr(mapped.args[0])
        runner.run()
    assert mapped.status is COMPLETED
    assert mapped.result() == [9, 1, 4]
    items = items_of(runner, mapped)
    assert [h.id for h in items] == [f"{mapped.id}[{i}]" for i in range(3)]
    assert [h.result() for h in items] == [9, 1, 4]
    assert all(h.name == square.name for h in items)
    assert ran[0] == "load"
    assert sorted(ran[1:]) == ["square(1)", "square(2)", "square(3)"]


def test_item_ids_are_the_map_id_and_the_index() -> None:
    with TaskRunner() as runner:
        numbers = runner.submit(lambda: list(range(8)))
        mapped = square.map(numbers.output)
        runner.run()
    assert mapped.id == f"{square.name}#0"
    assert runner.results()[f"{square.name}#0[7]"].value == 49


def test_runner_map_over_an_output_accepts_plain_callables() -> None:
    with TaskRunner() as runner:
        word = letters.submit()
        mapped = runner.map(str.upper, word.output)
        assert isinstance(mapped, TaskHandle)
        runner.run()
    assert mapped.result() == ["A", "B", "C", "D"]


@pytest.mark.parametrize("backend", ["asyncio", "thread"])
def test_a_map_waits_for_its_upstream_and_its_depends_on(backend: str) -> None:
    order: list[str] = []

    def gate() -> None:
        order.append("gate")

    def source() -> list[int]:
        order.append("source")
        return [1, 2]

    def each(x: int) -> int:
        order.append(f"each {x}")
        return x

    with TaskRunner(backend=backend) as runner:
        g = runner.submit(gate)
        src = runner.submit(source)
        mapped = runner.map(each, src.output, depends_on=[g])
        runner.run()
    assert mapped.result() == [1, 2]
    assert sorted(order[:2]) == ["gate", "source"]
    assert sorted(order[2:]) == ["each 1", "each 2"]


def test_a_map_zips_several_outputs_and_stops_at_the_shortest() -> None:
    with TaskRunner() as runner:
        rows, word = load.submit(), letters.submit()
        mapped = add.map(word.output, word.output)
        shortest = runner.map(echo, rows.output, word.output)
        runner.run()
    assert mapped.result() == ["aa", "bb", "cc", "dd"]
    assert shortest.result() == [((3, "a"), {}), ((1, "b"), {}), ((2, "c"), {})]
    assert len(items_of(runner, shortest)) == 3


def test_a_map_mixes_static_lists_with_outputs() -> None:
    with TaskRunner() as runner:
        rows = load.submit()
        mapped = add.map([10, 20, 30, 40], rows.output)
        short_static = add.map(rows.output, [100])
        runner.run()
    assert mapped.result() == [13, 21, 32]
    assert short_static.result() == [103]


def test_a_map_over_a_mapped_handles_output() -> None:
    with TaskRunner() as runner:
        rows = load.submit()
        squares = square.map(rows.output)
        plus_one = add.map(squares.output, [1, 1, 1])
        runner.run()
    assert plus_one.result() == [10, 2, 5]
    assert [h.id for h in items_of(runner, plus_one)] == [f"{plus_one.id}[{i}]" for i in range(3)]


def test_downstream_tasks_depend_on_a_map_or_take_its_output() -> None:
    seen: list[list[TaskStatus]] = []
    runners: list[TaskRunner] = []
    mapped_handles: list[TaskHandle] = []

    def after() -> None:
        seen.append([h.status for h in items_of(runners[0], mapped_handles[0])])

    with TaskRunner() as runner:
        runners.append(runner)
        rows = load.submit()
        mapped = square.map(rows.output)
        mapped_handles.append(mapped)
        summed = runner.submit(total, mapped.output)
        waited = runner.submit(after, depends_on=[mapped])
        runner.run()
    assert summed.result() == 14
    assert waited.status is COMPLETED
    assert seen == [[COMPLETED] * 3]


def test_a_map_over_an_empty_iterable_completes_with_an_empty_list() -> None:
    with TaskRunner() as runner:
        empty = nothing.submit()
        mapped = square.map(empty.output)
        summed = runner.submit(total, mapped.output)
        runner.run()
    assert mapped.status is COMPLETED
    assert mapped.result() == []
    assert items_of(runner, mapped) == []
    assert summed.result() == 0


def test_a_map_over_a_value_that_is_not_iterable_fails_with_type_error() -> None:
    with TaskRunner(on_task_error="continue") as runner:
        seven = scalar.submit()
        mapped = square.map(seven.output)  # type: ignore[call-overload]
        runner.run()
    assert mapped.status is FAILED
    error = mapped.exception()
    assert isinstance(error, TypeError)
    assert seven.id in str(error)
    assert "int" in str(error)
    assert items_of(runner, mapped) == []


def test_a_map_over_a_value_that_is_not_iterable_raises_from_run() -> None:
    with TaskRunner() as runner:
        seven = scalar.submit()
        square.map(seven.output)  # type: ignore[call-overload]
        with pytest.raises(TypeError, match="not iterable"):
            runner.run()


def test_a_map_over_the_output_of_a_released_handle_fails() -> None:
    with TaskRunner(on_task_error="continue") as runner:
        rows = load.submit()
        runner.run()
        rows.release()
        mapped = square.map(rows.output)
        runner.run()
    assert mapped.status is FAILED
    error = mapped.exception()
    assert isinstance(error, DependencyFailedError)
    assert error.failed_ids == (rows.id,)
    assert items_of(runner, mapped) == []


def test_a_map_handle_can_be_awaited() -> None:
    async def main() -> list[int]:
        with TaskRunner() as runner:
            rows = load.submit()
            mapped = square.map(rows.output)
            run = asyncio.create_task(runner.arun())
            value = await mapped
            await run
        return value

    assert asyncio.run(main()) == [9, 1, 4]


def test_a_failed_item_fails_the_map_with_dependency_failed_error() -> None:
    fail_items.add(1)
    with TaskRunner(on_task_error="continue") as runner:
        rows = load.submit()
        mapped = fragile.map(rows.output)
        runner.run()
    items = items_of(runner, mapped)
    assert [h.status for h in items] == [COMPLETED, FAILED, COMPLETED]
    assert mapped.status is FAILED
    error = mapped.exception()
    assert isinstance(error, DependencyFailedError)
    assert error.failed_ids == (f"{mapped.id}[1]",)
    assert error.__cause__ is items[1].exception()


def test_a_run_anyway_map_with_a_failed_item_fails_with_dependency_failed_error() -> None:
    @task(on_dep_failure="run-anyway")
    def each(x: int) -> int:
        return fragile(x)

    fail_items.add(3)
    with TaskRunner(on_task_error="continue") as runner:
        rows = load.submit()
        mapped = each.map(rows.output)
        runner.run()
    assert mapped.status is FAILED
    error = mapped.exception()
    assert isinstance(error, DependencyFailedError)
    assert error.failed_ids == (f"{mapped.id}[0]",)


def test_a_failed_upstream_fails_the_map_before_it_expands() -> None:
    with TaskRunner(on_task_error="continue") as runner:
        up = broken.submit()
        mapped = square.map(up.output)
        runner.run()
    assert mapped.status is FAILED
    error = mapped.exception()
    assert isinstance(error, DependencyFailedError)
    assert error.failed_ids == (up.id,)
    assert items_of(runner, mapped) == []
    assert ran == ["broken"]


def test_a_skip_policy_map_over_a_failed_upstream_is_skipped() -> None:
    @task(on_dep_failure="skip")
    def each(x: int) -> int:
        return x

    with TaskRunner(on_task_error="continue") as runner:
        up = broken.submit()
        mapped = each.map(up.output)
        runner.run()
    assert mapped.status is SKIPPED
    assert items_of(runner, mapped) == []


def test_resume_finds_the_completed_items_of_a_map(tmp_path: Path) -> None:
    pytest.importorskip("pyworkflowy.persist")
    path = tmp_path / "ck.json"
    fail_items.add(1)
    with TaskRunner(checkpoint_path=path, on_task_error="continue") as runner:
        rows = load.submit()
        mapped = fragile.map(rows.output)
        runner.run()
    assert mapped.status is FAILED
    assert sorted(ran) == ["fragile(1)", "fragile(2)", "fragile(3)", "load"]
    ran.clear()
    fail_items.clear()

    with TaskRunner.resume(path) as runner:
        rows = load.submit()
        mapped = fragile.map(rows.output)
        runner.run()
    assert ran == ["fragile(1)"]  # only the item that failed runs again
    assert mapped.result() == [30, 10, 20]


def test_resume_of_a_completed_map_runs_nothing(tmp_path: Path) -> None:
    pytest.importorskip("pyworkflowy.persist")
    path = tmp_path / "ck.json"
    with TaskRunner(checkpoint_path=path) as runner:
        rows = load.submit()
        mapped = square.map(rows.output)
        summed = runner.submit(total, mapped.output)
        runner.run()
    ran.clear()

    with TaskRunner.resume(path) as runner:
        rows = load.submit()
        mapped = square.map(rows.output)
        summed = runner.submit(total, mapped.output)
        runner.run()
    assert ran == []
    assert mapped.result() == [9, 1, 4]
    assert summed.result() == 14


@pytest.mark.parametrize("upstream", ["pending", "done"])
@pytest.mark.parametrize("backend", ["asyncio", "thread"])
def test_a_body_maps_over_an_output_with_its_runner(backend: str, upstream: str) -> None:
    made: list[TaskHandle] = []
    runners: list[TaskRunner] = []

    def planner_sync(done: TaskHandle | None) -> str:
        rows = runners[0].submit(load) if done is None else done  # pending: just submitted
        made.append(runners[0].map(square, rows.output))
        return "planned"

    async def planner_async(done: TaskHandle | None) -> str:
        return planner_sync(done)

    planner = planner_async if backend == "asyncio" else planner_sync
    with TaskRunner(backend=backend) as runner:
        runners.append(runner)
        if upstream == "done":
            rows = runner.submit(load)
            plan = runner.submit(planner, rows, depends_on=[rows])
        else:
            plan = runner.submit(planner, None)
        runner.run()
    assert plan.result() == "planned"
    [mapped] = made
    assert isinstance(mapped, TaskHandle)
    assert mapped.status is COMPLETED
    assert mapped.result() == [9, 1, 4]
    assert [h.result() for h in items_of(runner, mapped)] == [9, 1, 4]


def test_a_map_over_an_output_from_another_thread_while_serving() -> None:
    with TaskRunner() as runner:
        runner.start()
        try:
            made: list[TaskHandle] = []

            def submit() -> None:
                rows = runner.submit(load)
                made.append(runner.map(square, rows.output))

            thread = threading.Thread(target=submit)
            thread.start()
            thread.join(EVENT_WAIT)
            [mapped] = made
            value = mapped.result(timeout=EVENT_WAIT)
        finally:
            runner.stop()
    assert value == [9, 1, 4]


def test_a_static_map_still_returns_a_list_of_handles() -> None:
    with TaskRunner() as runner:
        handles = square.map([1, 2, 3])
        runner.run()
    assert isinstance(handles, list)
    assert [h.result() for h in handles] == [1, 4, 9]


def test_a_static_list_of_outputs_maps_one_task_per_output() -> None:
    with TaskRunner() as runner:
        rows, word = load.submit(), letters.submit()
        handles = runner.map(echo, [rows.output, word.output])
        runner.run()
    assert isinstance(handles, list)
    assert [h.result() for h in handles] == [(([3, 1, 2],), {}), (("abcd",), {})]
    assert [h.deps for h in handles] == [(rows,), (word,)]


def test_events_come_for_the_items_of_a_map() -> None:
    events: list[Any] = []
    with TaskRunner() as runner:
        runner.subscribe(events.append)
        rows = load.submit()
        mapped = square.map(rows.output)
        runner.run()
    item_ids = [f"{mapped.id}[{i}]" for i in range(3)]

    def ids(kind: type) -> list[str]:
        return [e.handle.id for e in events if isinstance(e, kind)]

    assert set(item_ids) <= set(ids(TaskSubmitted))
    assert set(item_ids) <= set(ids(TaskStarted))
    finished = ids(TaskFinished)
    assert set(item_ids) <= set(finished)
    assert finished[-1] == mapped.id  # the map ends after its items
    assert all(e.status is COMPLETED for e in events if isinstance(e, TaskFinished))


# -- what a review found: cancelling maps, broken containers, memory, forget ---------------


def test_cancelling_a_map_that_has_expanded_cancels_its_items() -> None:
    started = threading.Event()
    release = threading.Event()

    @task(name="slow_item")
    async def slow_item(x: int) -> int:
        started.set()
        await asyncio.to_thread(release.wait, EVENT_WAIT)
        ran.append(f"item {x}")
        return x

    @task(name="cancel_it")
    async def cancel_it(m: TaskHandle[Any]) -> None:
        await asyncio.to_thread(started.wait, EVENT_WAIT)
        m.cancel()
        release.set()

    with TaskRunner(on_task_error="continue") as runner:
        rows = runner.submit(load)
        mapped = slow_item.map(rows.output)
        runner.submit(cancel_it, mapped, depends_on=rows)
        runner.run()
    items = [h for h in runner.handles() if h.id.startswith(f"{mapped.id}[")]
    assert mapped.status is TaskStatus.CANCELLED
    assert len(items) == 3
    assert [h.status for h in items] == [TaskStatus.CANCELLED] * 3
    assert not [r for r in ran if r.startswith("item")]


class BrokenRows:
    """An upstream value that cannot be iterated."""

    def __iter__(self) -> Any:
        raise RuntimeError("cursor closed")


class FrozenDict(dict[str, Any]):
    """A dict subclass that refuses to be changed (as some libraries' are)."""

    def __setitem__(self, key: str, value: Any) -> None:
        raise TypeError("frozen")


def test_a_value_that_cannot_be_iterated_or_put_in_fails_the_task_and_the_run_ends() -> None:
    @task(name="broken")
    def broken() -> BrokenRows:
        return BrokenRows()

    with TaskRunner(on_task_error="continue") as runner:
        source = runner.submit(broken)
        mapped: Any = square.map(source.output)  # typed as a static map: not a list
        frozen = runner.submit(echo, FrozenDict(a=source.output))
        other = runner.submit(echo, source.output)
        runner.run()
    assert mapped.status is FAILED
    assert isinstance(mapped.exception(), TypeError)
    assert isinstance(mapped.exception().__cause__, RuntimeError)
    assert frozen.status is FAILED
    assert "frozen" in str(frozen.exception())
    assert other.status is COMPLETED  # the upstream's other dependents are released


def test_items_made_before_a_refused_item_run_and_the_run_ends() -> None:
    with TaskRunner(on_task_error="continue") as runner:
        source = runner.submit(load)
        mapped = square.map(source.output)
        runner.submit(echo, key=f"{mapped.id}[1]")  # takes the id of the map's second item
        runner.run()
    assert mapped.status is FAILED
    assert "already used" in str(mapped.exception())
    first = next(h for h in runner.handles() if h.id == f"{mapped.id}[0]")
    assert first.result() == 9  # made before the refusal: it ran


def test_deep_and_self_referencing_arguments_are_searched_without_recursion() -> None:
    cyclic: dict[str, Any] = {"name": "node"}
    cyclic["self"] = cyclic
    nested: list[Any] = [0]
    for _ in range(5000):
        nested = [nested]
    with TaskRunner() as runner:
        rows = runner.submit(load)
        cyclic["rows"] = rows.output
        got = runner.submit(echo, cyclic, nested)
        runner.run()
    ((value, deep), _) = got.result()
    assert got.deps == (rows,)
    assert value["rows"] == [3, 1, 2]
    assert value["self"] is cyclic  # a cycle back finds the original
    assert deep is nested  # nothing in it to replace: passed as itself


def test_forgetting_a_map_forgets_its_items() -> None:
    with TaskRunner() as runner:
        for _ in range(3):
            rows = runner.submit(load)
            mapped = square.map(rows.output)
            runner.run()
            runner.forget(rows, mapped)
            assert runner.handles() == []


def test_a_task_that_ends_before_its_values_are_put_in_lets_its_upstream_go() -> None:
    import gc
    import weakref

    release = threading.Event()

    @task(name="held", backend="thread")
    def held() -> list[int]:
        release.wait(EVENT_WAIT)
        return [1, 2]

    with TaskRunner(on_task_error="continue") as runner:
        up = runner.submit(held)
        down = runner.submit(echo, up.output)
        down.cancel()
        release.set()
        runner.run()
        runner.forget(up)
        up_ref = weakref.ref(up)
        del up
        gc.collect()
    assert down.status is TaskStatus.CANCELLED
    assert up_ref() is None

"""Defining tasks: ``@task``, `Task`, `TaskBase`, submission and definition-time validation."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyworkflowy import Task, TaskBase, TaskRunner, TaskStatus, get_current_runner, task


@task
def square(x: int) -> int:
    return x * x


@task
async def async_square(x: int) -> int:
    await asyncio.sleep(0)
    return x * x


# -- @task ---------------------------------------------------------------------------------


def test_bare_decorator_returns_a_task() -> None:
    assert isinstance(square, Task)


def test_parameterised_decorator_returns_a_task_carrying_its_options() -> None:
    @task(name="checkout", retries=3, timeout=10.0, backend="thread")
    def checkout(cart_id: int) -> dict[str, int]:
        return {"cart": cart_id}

    assert isinstance(checkout, Task)
    assert (checkout.name, checkout.retries, checkout.timeout, checkout.backend) == (
        "checkout",
        3,
        10.0,
        "thread",
    )


def test_calling_a_sync_task_directly_returns_the_function_result() -> None:
    assert square(5) == 25


def test_calling_an_async_task_directly_returns_an_awaitable_coroutine() -> None:
    assert asyncio.run(async_square(6)) == 36


def test_calling_a_task_directly_inside_a_runner_does_not_submit_it() -> None:
    with TaskRunner() as runner:
        assert square(3) == 9
        assert runner.handles() == []


# -- submission ----------------------------------------------------------------------------


def test_submit_inside_with_runner_uses_the_bound_runner() -> None:
    with TaskRunner() as runner:
        handle = square.submit(5)
        runner.run()
    assert runner.handles() == [handle]
    assert handle.result() == 25


def test_submit_an_async_task_inside_with_runner() -> None:
    with TaskRunner() as runner:
        handle = async_square.submit(4)
        runner.run()
    assert handle.result() == 16


def test_submit_outside_any_runner_raises_runtime_error_explaining_the_fix() -> None:
    assert get_current_runner() is None
    with pytest.raises(RuntimeError) as info:
        square.submit(5)
    message = str(info.value)
    assert "runner=" in message
    assert "runner.submit" in message


def test_submit_with_explicit_runner_works_outside_with() -> None:
    runner = TaskRunner()
    try:
        handle = async_square.submit(7, runner=runner)
        runner.run()
    finally:
        runner.shutdown()
    assert handle.result() == 49


def test_explicit_runner_wins_over_the_bound_runner() -> None:
    other = TaskRunner()
    try:
        with TaskRunner() as bound:
            handle = square.submit(2, runner=other)
            assert bound.handles() == []
        assert other.handles() == [handle]
    finally:
        other.shutdown()


def test_submit_forwards_args_and_kwargs_to_the_function() -> None:
    @task
    def join(a: str, b: str, *, sep: str) -> str:
        return f"{a}{sep}{b}"

    with TaskRunner() as runner:
        handle = join.submit("x", "y", sep="-")
        runner.run()
    assert handle.result() == "x-y"


@pytest.mark.parametrize("backend", ["asyncio", "thread"])
def test_runner_submit_accepts_a_plain_sync_callable(backend: str) -> None:
    def add(a: int, b: int) -> int:
        return a + b

    with TaskRunner(backend=backend) as runner:
        handle = runner.submit(add, 2, 3)
        runner.run()
    assert handle.result() == 5


def test_runner_submit_accepts_a_plain_async_callable() -> None:
    async def add(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    with TaskRunner() as runner:
        handle = runner.submit(add, 2, 3)
        runner.run()
    assert handle.result() == 5


def test_runner_submit_accepts_a_task() -> None:
    with TaskRunner() as runner:
        handle = runner.submit(square, 6)
        runner.run()
    assert handle.result() == 36


# -- names ---------------------------------------------------------------------------------


def test_task_name_defaults_to_module_and_qualname() -> None:
    assert square.name == f"{__name__}.square"


def test_nested_function_name_includes_the_enclosing_qualname() -> None:
    @task
    def inner() -> None:
        return None

    expected = (
        f"{__name__}.test_nested_function_name_includes_the_enclosing_qualname.<locals>.inner"
    )
    assert inner.name == expected


def test_explicit_name_overrides_the_derived_one() -> None:
    @task(name="custom")
    def f() -> None:
        return None

    assert f.name == "custom"


def test_two_lambdas_in_the_same_scope_get_different_names() -> None:
    first, second = task(lambda: 1), task(lambda: 2)
    assert first.name != second.name
    assert first.name.startswith(f"{__name__}.")
    assert second.name.startswith(f"{__name__}.")


def test_two_lambdas_submitted_to_one_runner_get_distinct_handle_ids() -> None:
    with TaskRunner() as runner:
        a = runner.submit(lambda: 1)
        b = runner.submit(lambda: 2)
        runner.run()
    assert a.id != b.id
    assert (a.result(), b.result()) == (1, 2)


# -- TaskBase ------------------------------------------------------------------------------


class FetchUser(TaskBase):
    name = "fetch-user"
    backend = "thread"
    retries = 2
    timeout = 5.0

    def run(self, user_id: int) -> dict[str, Any]:
        return {"id": user_id}


class AsyncFetchUser(TaskBase):
    async def run(self, user_id: int) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"id": user_id}


def test_task_base_instantiation_returns_a_task() -> None:
    assert isinstance(FetchUser(), Task)


def test_task_base_class_attributes_configure_the_task() -> None:
    fetch_user: Task = FetchUser()
    assert (fetch_user.name, fetch_user.backend, fetch_user.retries, fetch_user.timeout) == (
        "fetch-user",
        "thread",
        2,
        5.0,
    )


def test_task_base_name_defaults_to_module_and_class_qualname() -> None:
    assert AsyncFetchUser().name == f"{__name__}.AsyncFetchUser"


def test_task_base_sync_run_receives_the_submitted_args() -> None:
    with TaskRunner() as runner:
        handle = FetchUser().submit(42)
        runner.run()
    assert handle.result() == {"id": 42}


def test_task_base_async_run_is_detected_and_awaited() -> None:
    fetch: Task = AsyncFetchUser()
    assert fetch.is_async
    with TaskRunner() as runner:
        handle = fetch.submit(user_id=7)
        runner.run()
    assert handle.result() == {"id": 7}


def test_task_base_instantiation_with_arguments_raises_type_error() -> None:
    with pytest.raises(TypeError, match="no arguments"):
        FetchUser(42)


def test_task_base_bad_option_fails_at_class_definition() -> None:
    with pytest.raises(ValueError, match="retries"):

        class Bad(TaskBase):
            retries = -1

            def run(self) -> None:
                return None


def test_task_base_async_run_with_thread_backend_fails_at_class_definition() -> None:
    with pytest.raises(ValueError, match="async"):

        class Bad(TaskBase):
            backend = "thread"

            async def run(self) -> None:
                return None


def test_task_base_max_attempts_attribute_maps_to_retries() -> None:
    class ThreeAttempts(TaskBase):
        max_attempts = 3

        def run(self) -> None:
            return None

    assert ThreeAttempts().retries == 2


# -- max_attempts vs retries ---------------------------------------------------------------


def test_max_attempts_three_is_the_same_as_retries_two() -> None:
    by_attempts = Task(square.fn, max_attempts=3)
    by_retries = Task(square.fn, retries=2)
    assert (by_attempts.retries, by_attempts.max_attempts) == (2, 3)
    assert (by_retries.retries, by_retries.max_attempts) == (2, 3)


def test_max_attempts_three_runs_the_body_at_most_three_times() -> None:
    calls: list[int] = []

    @task(max_attempts=3)
    def always_fails() -> None:
        calls.append(1)
        raise OSError("down")

    with TaskRunner(on_task_error="continue") as runner:
        handle = always_fails.submit()
        runner.run()
    assert len(calls) == 3
    assert handle.attempts == 3
    assert handle.status is TaskStatus.FAILED


def test_passing_both_max_attempts_and_retries_raises_value_error() -> None:
    with pytest.raises(ValueError, match="max_attempts"):

        @task(max_attempts=3, retries=2)
        def f() -> None:
            return None


# -- definition-time validation --------------------------------------------------------------


def _noop() -> None:
    return None


@pytest.mark.parametrize(
    ("options", "option", "value"),
    [
        pytest.param({"retries": -1}, "retries", "-1", id="negative-retries"),
        pytest.param({"timeout": 0}, "timeout", "0", id="zero-timeout"),
        pytest.param({"timeout": -1.5}, "timeout", "-1.5", id="negative-timeout"),
        pytest.param({"timeout": float("inf")}, "timeout", "inf", id="infinite-timeout"),
        pytest.param({"timeout": float("nan")}, "timeout", "nan", id="nan-timeout"),
        pytest.param({"backoff_base": float("inf")}, "backoff_base", "inf", id="infinite-base"),
        pytest.param({"backoff_max": -1}, "backoff_max", "-1", id="negative-cap"),
        pytest.param({"backend": ""}, "backend", "''", id="empty-backend"),
        pytest.param({"backoff": "quadratic"}, "backoff", "'quadratic'", id="unknown-backoff"),
        pytest.param(
            {"on_dep_failure": "ignore"}, "on_dep_failure", "'ignore'", id="unknown-dep-policy"
        ),
        pytest.param({"retry_on": "oops"}, "retry_on", "'oops'", id="retry-on-not-a-class"),
        pytest.param({"retry_on": int}, "retry_on", "int", id="retry-on-not-an-exception"),
        pytest.param({"max_attempts": 0}, "max_attempts", "0", id="zero-max-attempts"),
    ],
)
def test_bad_option_raises_value_error_naming_option_and_value(
    options: dict[str, Any], option: str, value: str
) -> None:
    with pytest.raises(ValueError) as info:
        task(**options)(_noop)
    message = str(info.value)
    assert option in message
    assert value in message


def test_unknown_task_option_raises_type_error_at_the_decorator() -> None:
    with pytest.raises(TypeError, match="retires"):
        task(retires=3)  # pyrefly: ignore[unexpected-keyword]


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_async_function_on_a_non_asyncio_backend_is_rejected_at_decoration(backend: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(backend))):

        @task(backend=backend)
        async def fetch() -> None:
            return None


def test_async_function_with_asyncio_backend_is_accepted() -> None:
    @task(backend="asyncio")
    async def fetch() -> int:
        return 1

    assert fetch.is_async


# -- backoff ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backoff", "base", "cap", "attempt", "expected"),
    [
        ("none", 1.0, 60.0, 1, 0.0),
        ("none", 5.0, 60.0, 4, 0.0),
        ("linear", 1.0, 60.0, 1, 1.0),
        ("linear", 1.0, 60.0, 3, 3.0),
        ("linear", 0.5, 60.0, 4, 2.0),
        ("linear", 10.0, 25.0, 3, 25.0),
        ("exponential", 1.0, 60.0, 1, 1.0),
        ("exponential", 1.0, 60.0, 2, 2.0),
        ("exponential", 1.0, 60.0, 4, 8.0),
        ("exponential", 0.5, 60.0, 3, 2.0),
        ("exponential", 1.0, 30.0, 6, 30.0),
        ("exponential", 1.0, 60.0, 10, 60.0),
    ],
)
def test_backoff_delay_after_failed_attempt(
    backoff: str, base: float, cap: float, attempt: int, expected: float
) -> None:
    t = Task(_noop, backoff=backoff, backoff_base=base, backoff_max=cap)
    assert t.backoff_delay(attempt) == expected


def test_default_backoff_is_none_with_base_one_and_cap_sixty() -> None:
    t = Task(_noop)
    assert (t.backoff, t.backoff_base, t.backoff_max) == ("none", 1.0, 60.0)
    assert t.backoff_delay(1) == 0.0


@given(
    backoff=st.sampled_from(["none", "linear", "exponential"]),
    base=st.floats(min_value=0, max_value=100),
    cap=st.floats(min_value=0, max_value=1000),
    attempt=st.integers(min_value=1, max_value=60),
)
def test_backoff_delay_is_capped_and_never_decreases(
    backoff: str, base: float, cap: float, attempt: int
) -> None:
    t = Task(_noop, backoff=backoff, backoff_base=base, backoff_max=cap)
    delay = t.backoff_delay(attempt)
    assert 0.0 <= delay <= cap
    assert delay <= t.backoff_delay(attempt + 1)


# -- what a task's function may be -----------------------------------------------------------


def _numbers(n: int):  # a generator function: not a task body
    yield from range(n)


async def _async_numbers(n: int):  # an async generator function: not a task body
    for i in range(n):
        yield i


def test_task_refuses_a_generator_function_saying_to_return_a_list() -> None:
    with pytest.raises(TypeError, match=r"generator function.*return list\(\.\.\.\)"):
        task(_numbers)


def test_task_refuses_an_async_generator_function_saying_to_return_the_items() -> None:
    with pytest.raises(TypeError, match=r"async generator function.*async for"):
        task(retries=2)(_async_numbers)


def test_task_base_with_a_generator_run_fails_at_class_definition() -> None:
    with pytest.raises(TypeError, match="generator function"):

        class Numbers(TaskBase):
            def run(self, n: int):  # type: ignore[override]
                yield from range(n)


def test_submitting_a_plain_generator_function_is_refused_before_it_runs() -> None:
    with TaskRunner() as runner, pytest.raises(TypeError, match="generator function"):
        runner.submit(_numbers, 3)


@pytest.mark.parametrize("reserved", ["key", "depends_on", "tags", "runner"])
def test_a_parameter_named_like_a_submit_keyword_warns_at_definition(reserved: str) -> None:
    namespace: dict[str, Any] = {}
    exec(f"def lookup(table, {reserved}):\n    return table[{reserved}]", namespace)
    with pytest.warns(UserWarning, match=rf"parameter named '{reserved}'.*positionally") as seen:
        defined = task(namespace["lookup"])
    assert seen[0].filename == __file__  # points at the definition, not into pyworkflowy
    with TaskRunner() as runner:  # still a valid task: positional arguments reach it
        handle = runner.submit(defined, {"k": 1}, "k")
        runner.run()
    assert handle.result() == 1


def test_a_submit_keyword_bound_by_functools_partial_does_not_warn() -> None:
    import functools
    import warnings

    def lookup(table: dict[str, int], key: str) -> int:
        return table[key]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        task(functools.partial(lookup, key="k"))


def test_the_missing_argument_error_says_submit_took_the_keyword_and_how_to_pass_it() -> None:
    with pytest.warns(UserWarning, match="'key'"):

        @task
        def lookup(table: dict[str, int], key: str) -> int:
            return table[key]

    with TaskRunner(on_task_error="continue") as runner:
        handle = runner.submit(lookup, {"k": 1}, key="k")  # key= becomes the handle id
        runner.run()
    error = handle.exception()
    assert isinstance(error, TypeError)
    assert "missing 1 required positional argument: 'key'" in str(error)
    notes = "\n".join(error.__notes__)
    assert "key= is a keyword submit() takes for itself (the handle id)" in notes
    assert "functools.partial(lookup, key=value)" in notes

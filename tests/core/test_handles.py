"""`TaskHandle`, `TaskResult` and `TaskStatus`: what a submission tells its caller."""

from __future__ import annotations

import asyncio
import enum
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyworkflowy import (
    DependencyFailedError,
    Task,
    TaskCancelledError,
    TaskHandle,
    TaskResult,
    TaskRunner,
    TaskStatus,
    task,
)


@task(name="double")
def double(x: int) -> int:
    return 2 * x


@task(name="other")
def other() -> str:
    return "other"


@task(name="boom")
def boom() -> None:
    raise ValueError("boom")


# -- ids -----------------------------------------------------------------------------------


def test_handle_ids_are_task_name_and_submission_index() -> None:
    with TaskRunner():
        first, second = double.submit(1), double.submit(2)
    assert (first.id, second.id) == ("double#0", "double#1")


def test_handle_index_counts_per_task_name() -> None:
    with TaskRunner() as runner:
        double.submit(1)
        handle = other.submit()
    assert handle.id == "other#0"
    assert len(runner.handles()) == 2


def test_key_becomes_the_handle_id() -> None:
    with TaskRunner():
        handle = double.submit(1, key="the-double")
    assert handle.id == "the-double"


def test_duplicate_key_raises_value_error() -> None:
    with TaskRunner():
        double.submit(1, key="same")
        with pytest.raises(ValueError, match="same"):
            other.submit(key="same")


def test_key_equal_to_an_automatic_id_raises_value_error() -> None:
    with TaskRunner():
        double.submit(1)
        with pytest.raises(ValueError, match="double#0"):
            double.submit(2, key="double#0")


@given(st.lists(st.sampled_from(["double", "other"]), max_size=20))
def test_handle_ids_are_the_same_in_every_runner_for_the_same_submission_order(
    names: list[str],
) -> None:
    tasks: dict[str, Task[..., Any]] = {"double": double, "other": other}

    def ids() -> list[str]:
        with TaskRunner():
            return [tasks[n].submit(1).id if n == "double" else tasks[n].submit().id for n in names]

    expected = [f"{n}#{names[:i].count(n)}" for i, n in enumerate(names)]
    assert ids() == expected
    assert ids() == expected


def test_handle_name_is_the_task_name() -> None:
    with TaskRunner():
        handle = double.submit(1, key="k")
    assert handle.name == "double"


# -- status, attempts, done ------------------------------------------------------------------


def test_handle_waiting_on_a_dependency_is_pending() -> None:
    with TaskRunner():
        dep = double.submit(1)
        handle = double.submit(2, depends_on=[dep])
        assert handle.status is TaskStatus.PENDING
        assert not handle.done()


def test_handle_without_dependencies_is_ready_but_not_started_before_run() -> None:
    with TaskRunner():
        handle = double.submit(1)
        assert handle.status is TaskStatus.READY
        assert (handle.done(), handle.attempts) == (False, 0)


def test_handle_is_completed_and_done_after_run() -> None:
    with TaskRunner() as runner:
        handle = double.submit(1)
        runner.run()
    assert handle.status is TaskStatus.COMPLETED
    assert handle.done()


def test_handle_is_running_while_its_body_executes() -> None:
    handles: dict[str, TaskHandle] = {}
    seen: list[TaskStatus] = []

    @task
    def look() -> None:
        seen.append(handles["me"].status)

    with TaskRunner() as runner:
        handles["me"] = look.submit()
        runner.run()
    assert seen == [TaskStatus.RUNNING]


def test_attempts_is_zero_before_run_and_one_after_a_success() -> None:
    with TaskRunner() as runner:
        handle = double.submit(1)
        before = handle.attempts
        runner.run()
    assert (before, handle.attempts) == (0, 1)


def test_attempts_counts_retries() -> None:
    failures = iter([OSError("1"), OSError("2")])

    @task(retries=5)
    def flaky() -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return "ok"

    with TaskRunner() as runner:
        handle = flaky.submit()
        runner.run()
    assert handle.attempts == 3
    assert handle.result() == "ok"


# -- result / exception ----------------------------------------------------------------------


def test_result_returns_the_value() -> None:
    with TaskRunner() as runner:
        handle = double.submit(21)
        runner.run()
    assert handle.result() == 42


def test_result_raises_the_task_failure() -> None:
    raised: list[Exception] = []

    @task
    def fails() -> None:
        raised.append(KeyError("missing"))
        raise raised[-1]

    with TaskRunner(on_task_error="continue") as runner:
        handle = fails.submit()
        runner.run()
    with pytest.raises(KeyError) as info:
        handle.result()
    assert info.value is raised[0]


def test_result_with_timeout_waits_from_another_thread_while_run_runs() -> None:
    waiter_started = threading.Event()
    got: list[Any] = []

    @task
    def slow() -> str:
        assert waiter_started.wait(10)
        return "done"

    with TaskRunner() as runner:
        handle = slow.submit()

        def wait_for_result() -> None:
            waiter_started.set()
            got.append(handle.result(timeout=10))

        waiter = threading.Thread(target=wait_for_result)
        waiter.start()
        runner.run()
        waiter.join(10)
    assert not waiter.is_alive()
    assert got == ["done"]


def test_result_raises_timeout_error_when_not_done_in_time() -> None:
    started, release = threading.Event(), threading.Event()

    @task
    def blocked() -> int:
        started.set()
        assert release.wait(10)
        return 1

    with TaskRunner() as runner:
        handle = blocked.submit()
        run_thread = threading.Thread(target=runner.run)
        run_thread.start()
        try:
            assert started.wait(10)
            with pytest.raises(TimeoutError, match="blocked"):
                handle.result(timeout=0.01)
        finally:
            release.set()
            run_thread.join(10)
    assert handle.result() == 1


def test_result_on_an_unfinished_handle_of_an_idle_runner_raises_runtime_error() -> None:
    with TaskRunner():
        handle = double.submit(1)
        with pytest.raises(RuntimeError, match=r"run\(\)"):
            handle.result()


def test_result_inside_the_runners_loop_raises_runtime_error_pointing_to_await() -> None:
    handles: dict[str, TaskHandle] = {}

    @task
    async def blocking_lookup() -> Any:
        return handles["target"].result()

    with TaskRunner(on_task_error="continue") as runner:
        lookup = blocking_lookup.submit()
        handles["target"] = double.submit(1, depends_on=[lookup])  # cannot be done yet
        runner.run()
    error = lookup.exception()
    assert isinstance(error, RuntimeError)
    assert "await" in str(error)


def test_exception_is_none_for_a_completed_handle() -> None:
    with TaskRunner() as runner:
        handle = double.submit(1)
        runner.run()
    assert handle.exception() is None


def test_exception_returns_the_failure_without_raising() -> None:
    with TaskRunner(on_task_error="continue") as runner:
        handle = boom.submit()
        runner.run()
    error = handle.exception()
    assert isinstance(error, ValueError)
    assert str(error) == "boom"


# -- get_result / TaskResult -------------------------------------------------------------------


def _failed(runner: TaskRunner) -> TaskHandle:
    return boom.submit(runner=runner)


def _cancelled(runner: TaskRunner) -> TaskHandle:
    handle = double.submit(1, runner=runner)
    handle.cancel()
    return handle


def _skipped(runner: TaskRunner) -> TaskHandle:
    skippable = task(on_dep_failure="skip")(double.fn)
    return skippable.submit(1, runner=runner, depends_on=[boom.submit(runner=runner)])


@pytest.mark.parametrize(
    ("make", "status", "error_type"),
    [
        pytest.param(_failed, TaskStatus.FAILED, ValueError, id="failed"),
        pytest.param(_cancelled, TaskStatus.CANCELLED, TaskCancelledError, id="cancelled"),
        pytest.param(_skipped, TaskStatus.SKIPPED, DependencyFailedError, id="skipped"),
    ],
)
def test_get_result_never_raises_and_carries_the_error(
    make: Callable[[TaskRunner], TaskHandle], status: TaskStatus, error_type: type[Exception]
) -> None:
    with TaskRunner(on_task_error="continue") as runner:
        handle = make(runner)
        runner.run()
    result = handle.get_result()
    assert (result.status, result.ok, result.value) == (status, False, None)
    assert isinstance(result.error, error_type)


def test_get_result_of_a_pending_handle_does_not_raise_or_wait() -> None:
    with TaskRunner():
        handle = double.submit(1, depends_on=[double.submit(0)])
        result = handle.get_result()
    assert (result.status, result.ok, result.attempts) == (TaskStatus.PENDING, False, 0)


def test_task_result_fields_of_a_completed_handle() -> None:
    with TaskRunner() as runner:
        handle = double.submit(4)
        runner.run()
    result = handle.get_result()
    assert (result.name, result.status, result.value, result.error, result.attempts) == (
        "double",
        TaskStatus.COMPLETED,
        8,
        None,
        1,
    )
    assert result.ok
    assert result.started_at is not None
    assert result.finished_at is not None
    assert result.started_at <= result.finished_at


def test_task_result_fields_of_a_failed_handle() -> None:
    with TaskRunner(on_task_error="continue") as runner:
        handle = boom.submit()
        runner.run()
    result = handle.get_result()
    assert (result.name, result.status, result.value, result.attempts, result.ok) == (
        "boom",
        TaskStatus.FAILED,
        None,
        1,
        False,
    )
    assert result.error is handle.exception()


def test_task_result_is_immutable() -> None:
    result = TaskResult("t", TaskStatus.COMPLETED, value=1)
    with pytest.raises(AttributeError):
        result.value = 2  # pyrefly: ignore[read-only]


# -- awaiting --------------------------------------------------------------------------------


def test_await_handle_after_arun_on_the_callers_loop() -> None:
    @task
    async def fetch(url: str) -> dict[str, str]:
        await asyncio.sleep(0)
        return {"url": url}

    async def main() -> Any:
        runner = TaskRunner()
        handle = runner.submit(fetch, "https://example.com")
        await runner.arun()
        value = await handle
        runner.shutdown()
        return value

    assert asyncio.run(main()) == {"url": "https://example.com"}


def test_await_pending_handle_waits_until_it_finishes() -> None:
    async def main() -> tuple[bool, Any]:
        gate = asyncio.Event()

        async def body() -> int:
            await gate.wait()
            return 5

        runner = TaskRunner()
        handle = runner.submit(body)

        async def await_it() -> tuple[bool, Any]:
            done_before = handle.done()
            gate.set()
            return done_before, await handle

        _, awaited = await asyncio.gather(runner.arun(), await_it())
        runner.shutdown()
        return awaited

    assert asyncio.run(main()) == (False, 5)


def test_await_failed_handle_raises_the_failure() -> None:
    async def main() -> None:
        runner = TaskRunner(on_task_error="continue")
        handle = runner.submit(boom)
        await runner.arun()
        try:
            await handle
        finally:
            runner.shutdown()

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(main())


# -- repr and TaskStatus -----------------------------------------------------------------------


def test_repr_names_class_id_task_and_status() -> None:
    with TaskRunner() as runner:
        handle = double.submit(1, key="the-double")
        runner.run()
    text = repr(handle)
    assert "TaskHandle" in text
    assert "the-double" in text
    assert "'double'" in text
    assert "completed" in text


def test_task_status_is_a_str_enum_with_the_eight_statuses() -> None:
    assert issubclass(TaskStatus, enum.StrEnum)
    assert [s.value for s in TaskStatus] == [
        "pending",
        "ready",
        "running",
        "retrying",
        "completed",
        "failed",
        "cancelled",
        "skipped",
    ]


def test_task_status_compares_equal_to_its_string() -> None:
    assert TaskStatus.COMPLETED == "completed"
    assert f"{TaskStatus.FAILED}" == "failed"


@pytest.mark.timeout(30)
def test_an_await_abandoned_on_a_closed_event_loop_does_not_stop_the_run_finishing() -> None:
    # Awaiting a handle registers a waiter on that loop; the loop may be closed by the time
    # the handle finishes. Waking it must not break the run (it hung on "loop is closed").
    with TaskRunner() as runner:
        first = runner.submit(double, 2)
        second = runner.submit(double, 3, depends_on=[first])

        async def impatient() -> None:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.shield(asyncio.ensure_future(_await(first))), 0)

        asyncio.run(impatient())
        runner.run()

    assert (first.result(), second.result()) == (4, 6)


async def _await(handle: TaskHandle) -> Any:
    return await handle


@pytest.mark.timeout(30)
def test_a_waiter_left_on_a_loop_that_was_closed_does_not_stop_the_run_finishing() -> None:
    # The awaiting task is never cancelled: its loop is just closed under it, so the
    # handle still holds the waiter when it finishes, and waking it must not fail the run.
    with TaskRunner() as runner:
        first = runner.submit(double, 2)
        second = runner.submit(double, 3, depends_on=[first])
        loop = asyncio.new_event_loop()
        waiting = loop.create_task(_await(first))
        waiting._log_destroy_pending = False  # type: ignore[attr-defined]  # left pending on purpose
        loop.run_until_complete(asyncio.sleep(0))  # the task registers its waiter
        loop.close()
        runner.run()

    assert (first.result(), second.result()) == (4, 6)


def test_awaiting_a_handle_of_a_runner_that_is_not_running_raises_runtime_error() -> None:
    # As handle.result() does: nothing would ever finish it, so the await must not hang.
    async def noop() -> None:
        return None

    runner = TaskRunner()
    handle = runner.submit(noop)

    async def main() -> None:
        await asyncio.wait_for(handle, timeout=30)  # the bound only guards against a hang

    with pytest.raises(RuntimeError, match=r"not running.*arun"):
        asyncio.run(main())
    runner.shutdown()


def test_a_handle_awaited_before_a_run_started_on_the_same_loop_gets_its_value() -> None:
    async def seven() -> int:
        return 7

    async def main() -> int:
        runner = TaskRunner()
        handle = runner.submit(seven)
        value, _ = await asyncio.gather(handle, runner.arun())  # the await comes first
        runner.shutdown()
        return value

    assert asyncio.run(main()) == 7

"""The error hierarchy and what each error tells the user."""

from __future__ import annotations

import asyncio

import pytest
from pyworkflowy import (
    CheckpointError,
    CycleError,
    DependencyFailedError,
    RetryExhaustedError,
    TaskCancelledError,
    TaskError,
    TaskRunner,
    TaskTimeoutError,
    task,
)


@pytest.mark.parametrize(
    "error",
    [
        TaskTimeoutError,
        TaskCancelledError,
        CycleError,
        DependencyFailedError,
        RetryExhaustedError,
        CheckpointError,
    ],
)
def test_every_error_subclasses_task_error(error: type[Exception]) -> None:
    assert issubclass(error, TaskError)


def test_task_error_is_an_exception() -> None:
    assert issubclass(TaskError, Exception)


def test_catching_task_error_catches_a_runner_raised_error() -> None:
    @task(name="upstream")
    def upstream() -> None:
        raise OSError("down")

    @task(name="downstream")
    def downstream() -> None:
        return None

    with TaskRunner(on_task_error="continue") as runner:
        handle = downstream.submit(depends_on=[upstream.submit()])
        runner.run()
    with pytest.raises(TaskError):
        handle.result()


# -- messages name the task ----------------------------------------------------------------------


def test_timeout_error_names_the_task() -> None:
    @task(name="slow-task", timeout=0.05)
    async def slow() -> None:
        await asyncio.Event().wait()  # never set: only the timeout ends this

    with TaskRunner(on_task_error="continue") as runner:
        handle = slow.submit()
        runner.run()
    error = handle.exception()
    assert isinstance(error, TaskTimeoutError)
    assert "slow-task" in str(error)


def test_dependency_failed_error_names_the_task_and_the_failed_dependency() -> None:
    @task(name="extract")
    def extract() -> None:
        raise OSError("no data")

    @task(name="load")
    def load() -> None:
        return None

    with TaskRunner(on_task_error="continue") as runner:
        handle = load.submit(depends_on=[extract.submit()])
        runner.run()
    error = handle.exception()
    assert isinstance(error, DependencyFailedError)
    assert "load" in str(error)
    assert "extract" in str(error)


def test_dependency_failed_error_cause_is_the_dependencys_error() -> None:
    @task(name="extract")
    def extract() -> None:
        raise OSError("no data")

    with TaskRunner(on_task_error="continue") as runner:
        dep = extract.submit()
        handle = runner.submit(lambda: None, depends_on=[dep])
        runner.run()
    error = handle.exception()
    assert error is not None
    assert error.__cause__ is dep.exception()


def test_retry_exhausted_error_names_the_task() -> None:
    @task(name="flaky-fetch", retries=2)
    def flaky() -> None:
        raise ConnectionError("refused")

    with TaskRunner(on_task_error="continue") as runner:
        handle = flaky.submit()
        runner.run()
    error = handle.exception()
    assert isinstance(error, RetryExhaustedError)
    assert "flaky-fetch" in str(error)


def test_retry_exhausted_error_cause_is_the_last_attempts_exception() -> None:
    raised: list[Exception] = []

    @task(retries=2)
    def flaky() -> None:
        raised.append(ConnectionError(f"refused #{len(raised) + 1}"))
        raise raised[-1]

    with TaskRunner(on_task_error="continue") as runner:
        handle = flaky.submit()
        runner.run()
    error = handle.exception()
    assert isinstance(error, RetryExhaustedError)
    assert len(raised) == 3
    assert error.__cause__ is raised[-1]


def test_without_retries_the_original_exception_is_raised_unwrapped() -> None:
    raised: list[Exception] = []

    @task
    def fails() -> None:
        raised.append(ConnectionError("refused"))
        raise raised[-1]

    with TaskRunner(on_task_error="continue") as runner:
        handle = fails.submit()
        runner.run()
    assert handle.exception() is raised[0]


def test_exception_outside_retry_on_is_raised_unwrapped_after_one_attempt() -> None:
    @task(retries=3, retry_on=ConnectionError)
    def wrong_kind() -> None:
        raise KeyError("not retryable")

    with TaskRunner(on_task_error="continue") as runner:
        handle = wrong_kind.submit()
        runner.run()
    assert isinstance(handle.exception(), KeyError)
    assert handle.attempts == 1


def test_cancelled_before_running_error_names_the_task() -> None:
    @task(name="never-runs")
    def never_runs() -> None:
        return None

    with TaskRunner() as runner:
        handle = never_runs.submit()
        handle.cancel()
        runner.run()
    error = handle.exception()
    assert isinstance(error, TaskCancelledError)
    assert "never-runs" in str(error)


def test_cancelled_while_running_error_names_the_task() -> None:
    async def main() -> BaseException | None:
        started = asyncio.Event()

        @task(name="long-poll")
        async def long_poll() -> None:
            started.set()
            await asyncio.Event().wait()  # only cancellation ends this

        runner = TaskRunner()
        handle = runner.submit(long_poll)

        async def cancel_when_started() -> None:
            await started.wait()
            handle.cancel()

        await asyncio.gather(runner.arun(), cancel_when_started())
        runner.shutdown()
        return handle.exception()

    error = asyncio.run(main())
    assert isinstance(error, TaskCancelledError)
    assert "long-poll" in str(error)


def test_cycle_error_names_the_handles_on_the_cycle() -> None:
    @task(name="step")
    def step() -> None:
        return None

    with TaskRunner() as runner:
        first = step.submit(key="first")
        second = step.submit(key="second", depends_on=[first])
        with pytest.raises(CycleError) as info:
            runner.add_dependency(first, second)
    assert "first" in str(info.value)
    assert "second" in str(info.value)


def test_a_task_exception_is_stored_unchanged_with_a_note_naming_the_task() -> None:
    error = KeyError("missing")

    @task(name="lookup")
    def lookup() -> None:
        raise error

    with TaskRunner(on_task_error="continue") as runner:
        handle = runner.submit(lookup)
        runner.run()
    assert handle.exception() is error
    assert any("lookup#0" in note for note in getattr(error, "__notes__", []))

"""Retries: how many attempts a task gets, which failures are retried, and the backoff between."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyworkflowy import (
    RetryExhaustedError,
    Task,
    TaskCancelledError,
    TaskHandle,
    TaskRunner,
    TaskStatus,
    current_task,
    task,
)


def failing_body(
    calls: list[int], exc_factory: Callable[[int], BaseException]
) -> Callable[[], Any]:
    """A sync body that records each call and raises ``exc_factory(call number)``."""

    def body() -> Any:
        calls.append(len(calls) + 1)
        raise exc_factory(len(calls))

    return body


def run_continue(*submissions: tuple[Task, tuple[Any, ...]]) -> list[TaskHandle]:
    """Submit each (task, args) to a fresh runner that stores failures, run it, return handles."""
    with TaskRunner(on_task_error="continue") as runner:
        handles = [runner.submit(t, *args) for t, args in submissions]
        runner.run()
    return handles


def run_recording_delays(runner: TaskRunner, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Run ``runner`` and return every delay it asked the event loop to wait for.

    The loop's ``call_later`` is wrapped to record the requested delay and schedule the
    callback at once, so the test asserts the backoff the runner computes without waiting.
    """
    delays: list[float] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        schedule = loop.call_later

        def recording_call_later(
            delay: float, callback: Callable[..., object], *args: Any, **kwargs: Any
        ) -> asyncio.TimerHandle:
            delays.append(delay)
            return schedule(0, callback, *args, **kwargs)

        monkeypatch.setattr(loop, "call_later", recording_call_later)
        await runner.arun()

    asyncio.run(main())
    return delays


# -- how many attempts -------------------------------------------------------------------


@pytest.mark.parametrize("retries", [0, 1, 2, 5])
def test_retries_n_gives_up_to_n_plus_one_attempts(retries: int) -> None:
    calls: list[int] = []
    flaky = Task(failing_body(calls, lambda n: ValueError(n)), retries=retries)

    (handle,) = run_continue((flaky, ()))

    assert len(calls) == retries + 1
    assert handle.attempts == retries + 1
    assert handle.status is TaskStatus.FAILED


def test_max_attempts_three_gives_three_attempts() -> None:
    calls: list[int] = []
    flaky = Task(failing_body(calls, lambda n: ValueError(n)), max_attempts=3)

    (handle,) = run_continue((flaky, ()))

    assert len(calls) == 3
    assert handle.attempts == 3


def test_task_that_succeeds_on_a_later_attempt_completes_with_attempts_recorded() -> None:
    calls: list[int] = []

    @task(retries=3)
    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("transient")
        return "ok"

    (handle,) = run_continue((flaky, ()))

    assert handle.status is TaskStatus.COMPLETED
    assert handle.result() == "ok"
    assert handle.attempts == 3
    assert handle.get_result().attempts == 3
    assert len(calls) == 3


def test_successful_first_attempt_is_not_repeated() -> None:
    calls: list[int] = []

    @task(retries=3)
    def steady() -> int:
        calls.append(1)
        return 7

    (handle,) = run_continue((steady, ()))

    assert handle.result() == 7
    assert handle.attempts == 1
    assert calls == [1]


def test_current_task_attempt_increments_across_retries() -> None:
    seen: list[int] = []

    @task(retries=2)
    async def flaky() -> str:
        ctx = current_task()
        assert ctx is not None
        seen.append(ctx.attempt)
        if ctx.attempt < 3:
            raise ConnectionError("transient")
        return "ok"

    (handle,) = run_continue((flaky, ()))

    assert seen == [1, 2, 3]
    assert handle.result() == "ok"


# -- which failures are retried ------------------------------------------------------------


def test_retry_on_class_retries_matching_exceptions() -> None:
    calls: list[int] = []

    @task(retries=2, retry_on=KeyError)
    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise KeyError("missing")
        return "ok"

    (handle,) = run_continue((flaky, ()))

    assert handle.result() == "ok"
    assert handle.attempts == 3


def test_retry_on_class_matches_subclasses() -> None:
    calls: list[int] = []

    @task(retries=1, retry_on=LookupError)
    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("missing")  # KeyError is a LookupError
        return "ok"

    (handle,) = run_continue((flaky, ()))

    assert handle.result() == "ok"
    assert handle.attempts == 2


def test_retry_on_class_fails_non_matching_exception_immediately_with_original_error() -> None:
    raised: list[BaseException] = []

    def body() -> None:
        raised.append(ValueError("not transient"))
        raise raised[-1]

    flaky = Task(body, retries=3, retry_on=KeyError)

    (handle,) = run_continue((flaky, ()))

    assert handle.status is TaskStatus.FAILED
    assert handle.attempts == 1
    assert len(raised) == 1
    assert handle.exception() is raised[0]


def test_retry_on_tuple_retries_every_listed_exception() -> None:
    failures: list[BaseException] = [KeyError("a"), ConnectionError("b")]
    calls: list[int] = []

    @task(retries=2, retry_on=(KeyError, ConnectionError))
    def flaky() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return "ok"

    (handle,) = run_continue((flaky, ()))

    assert handle.result() == "ok"
    assert handle.attempts == 3


def test_retry_on_tuple_fails_non_matching_exception_immediately_with_original_error() -> None:
    raised: list[BaseException] = []

    def body() -> None:
        raised.append(TypeError("a bug, not a glitch"))
        raise raised[-1]

    flaky = Task(body, retries=3, retry_on=(KeyError, ConnectionError))

    (handle,) = run_continue((flaky, ()))

    assert handle.status is TaskStatus.FAILED
    assert handle.attempts == 1
    assert handle.exception() is raised[0]


def test_default_retry_on_retries_any_exception() -> None:
    calls: list[int] = []

    @task(retries=1)
    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("anything")
        return "ok"

    (handle,) = run_continue((flaky, ()))

    assert handle.result() == "ok"
    assert handle.attempts == 2


class Abort(BaseException):
    """A BaseException that is not an Exception (like KeyboardInterrupt)."""


def test_default_retry_on_does_not_retry_base_exceptions_that_are_not_exceptions() -> None:
    raised: list[BaseException] = []

    @task(retries=3)
    async def aborting() -> None:
        raised.append(Abort("stop"))
        raise raised[-1]

    (handle,) = run_continue((aborting, ()))

    assert handle.status is TaskStatus.FAILED
    assert handle.attempts == 1
    assert handle.exception() is raised[0]


# -- what a final failure looks like -------------------------------------------------------


def test_all_attempts_failing_raises_retry_exhausted_error() -> None:
    flaky = Task(failing_body([], lambda n: ValueError(n)), retries=2)

    (handle,) = run_continue((flaky, ()))

    assert handle.status is TaskStatus.FAILED
    with pytest.raises(RetryExhaustedError):
        handle.result()


def test_retry_exhausted_error_cause_is_the_last_attempts_exception() -> None:
    raised: list[BaseException] = []

    def body() -> None:
        raised.append(ValueError(f"attempt {len(raised) + 1}"))
        raise raised[-1]

    flaky = Task(body, retries=2)

    (handle,) = run_continue((flaky, ()))

    error = handle.exception()
    assert isinstance(error, RetryExhaustedError)
    assert len(raised) == 3
    assert error.__cause__ is raised[-1]


def test_retry_exhausted_error_message_names_the_task() -> None:
    flaky = Task(failing_body([], lambda n: ValueError(n)), name="fetch-user", retries=1)

    (handle,) = run_continue((flaky, ()))

    assert "fetch-user" in str(handle.exception())


def test_run_raises_retry_exhausted_error_under_the_default_raise_policy() -> None:
    flaky = Task(failing_body([], lambda n: ValueError(n)), retries=1)

    with TaskRunner() as runner:
        handle = runner.submit(flaky)
        with pytest.raises(RetryExhaustedError) as caught:
            runner.run()

    assert caught.value is handle.exception()


def test_failure_with_zero_retries_stores_the_original_exception() -> None:
    raised: list[BaseException] = []

    def body() -> None:
        raised.append(ValueError("boom"))
        raise raised[-1]

    once = Task(body, retries=0)

    (handle,) = run_continue((once, ()))

    assert handle.status is TaskStatus.FAILED
    assert handle.exception() is raised[0]
    with pytest.raises(ValueError, match="boom"):
        handle.result()


# -- backoff: the delays the runner asks the loop for ------------------------------------


def backoff_delays(
    monkeypatch: pytest.MonkeyPatch, **options: Any
) -> tuple[list[float], TaskHandle]:
    """Run an async task that always fails, ``Task(body, **options)``, on a runner that stores
    failures; return the delays it asked the loop for (see `run_recording_delays`) and its
    handle."""

    async def body() -> None:
        raise ConnectionError("transient")

    runner = TaskRunner(on_task_error="continue")
    handle = runner.submit(Task(body, **options))
    delays = run_recording_delays(runner, monkeypatch)
    runner.shutdown()
    return delays, handle


def test_default_backoff_retries_without_any_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    delays, handle = backoff_delays(monkeypatch, retries=3)

    assert delays == []
    assert handle.attempts == 4


def test_backoff_none_requests_no_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    delays, handle = backoff_delays(monkeypatch, retries=2, backoff="none", backoff_base=5.0)

    assert delays == []
    assert handle.attempts == 3


def test_linear_backoff_waits_base_times_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    delays, handle = backoff_delays(monkeypatch, retries=3, backoff="linear", backoff_base=0.5)

    assert delays == [0.5, 1.0, 1.5]
    assert handle.attempts == 4


def test_linear_backoff_is_capped_at_backoff_max(monkeypatch: pytest.MonkeyPatch) -> None:
    delays, _ = backoff_delays(
        monkeypatch, retries=4, backoff="linear", backoff_base=2.0, backoff_max=5.0
    )

    assert delays == [2.0, 4.0, 5.0, 5.0]


def test_exponential_backoff_doubles_from_base(monkeypatch: pytest.MonkeyPatch) -> None:
    delays, handle = backoff_delays(
        monkeypatch, retries=4, backoff="exponential", backoff_base=0.25
    )

    assert delays == [0.25, 0.5, 1.0, 2.0]
    assert handle.attempts == 5


def test_exponential_backoff_is_capped_at_backoff_max(monkeypatch: pytest.MonkeyPatch) -> None:
    delays, _ = backoff_delays(
        monkeypatch, retries=4, backoff="exponential", backoff_base=1.0, backoff_max=3.0
    )

    assert delays == [1.0, 2.0, 3.0, 3.0]


def test_no_backoff_delay_after_the_last_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    delays, handle = backoff_delays(monkeypatch, retries=1, backoff="linear", backoff_base=1.0)

    assert delays == [1.0]
    assert handle.attempts == 2


# -- backoff: Task.backoff_delay -----------------------------------------------------------


def noop() -> None:
    return None


def test_backoff_delay_defaults_to_no_wait() -> None:
    assert [Task(noop, retries=3).backoff_delay(k) for k in (1, 2, 3)] == [0.0, 0.0, 0.0]


def test_backoff_delay_exponential_with_default_base_and_cap() -> None:
    t = Task(noop, backoff="exponential")

    assert [t.backoff_delay(k) for k in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_backoff_delay_linear_with_default_base_and_cap() -> None:
    t = Task(noop, backoff="linear")

    assert [t.backoff_delay(k) for k in (1, 2, 3, 59, 60, 61, 100)] == [1, 2, 3, 59, 60, 60, 60]


bases = st.floats(min_value=0.0, max_value=100.0, allow_nan=False)
caps = st.floats(min_value=0.0, max_value=1000.0, allow_nan=False)
attempts = st.integers(min_value=1, max_value=30)


@given(base=bases, cap=caps, attempt=attempts)
def test_backoff_delay_linear_is_base_times_attempt_capped(
    base: float, cap: float, attempt: int
) -> None:
    t = Task(noop, backoff="linear", backoff_base=base, backoff_max=cap)

    assert t.backoff_delay(attempt) == pytest.approx(min(base * attempt, cap))


@given(base=bases, cap=caps, attempt=attempts)
def test_backoff_delay_exponential_is_base_times_power_of_two_capped(
    base: float, cap: float, attempt: int
) -> None:
    t = Task(noop, backoff="exponential", backoff_base=base, backoff_max=cap)

    assert t.backoff_delay(attempt) == pytest.approx(min(base * 2 ** (attempt - 1), cap))


@given(
    backoff=st.sampled_from(["none", "linear", "exponential"]),
    base=bases,
    cap=caps,
    attempt=attempts,
)
def test_backoff_delay_never_decreases_and_never_exceeds_the_cap(
    backoff: str, base: float, cap: float, attempt: int
) -> None:
    t = Task(noop, backoff=backoff, backoff_base=base, backoff_max=cap)

    assert 0.0 <= t.backoff_delay(attempt) <= t.backoff_delay(attempt + 1) <= cap


# -- waiting for a retry -------------------------------------------------------------------


def test_handle_is_retrying_while_waiting_for_its_backoff_and_cancel_stops_it() -> None:
    calls: list[int] = []
    observed: list[TaskStatus] = []
    cancel_returned: list[bool] = []

    async def main() -> TaskHandle:
        failed_once = asyncio.Event()

        @task(retries=3, backoff="linear", backoff_base=3600.0)
        async def flaky() -> None:
            calls.append(1)
            failed_once.set()
            raise ConnectionError("transient")

        runner = TaskRunner(on_task_error="continue")
        handle = runner.submit(flaky)

        async def watch() -> None:
            await failed_once.wait()  # resumes after the attempt's failure was handled
            observed.append(handle.status)
            cancel_returned.append(handle.cancel())

        watcher = asyncio.create_task(watch())
        await runner.arun()
        await watcher
        runner.shutdown()
        return handle

    handle = asyncio.run(main())

    assert observed == [TaskStatus.RETRYING]
    assert cancel_returned == [True]
    assert handle.status is TaskStatus.CANCELLED
    assert isinstance(handle.exception(), TaskCancelledError)
    assert handle.attempts == 1
    assert calls == [1]

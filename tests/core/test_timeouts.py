"""Timeouts: an attempt that runs past ``timeout=`` fails with TaskTimeoutError and is not retried.

The timeouts are small (0.05 s) and the bodies block on events the test controls, so the
tests assert outcomes, never durations.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from pyworkflowy import TaskRunner, TaskStatus, TaskTimeoutError, current_task, task
from pyworkflowy._threads import ThreadPool

DEADLINE = 0.05  # seconds: the task timeout under test
EVENT_WAIT = 10.0  # seconds: only reached if the library hangs


async def block() -> None:
    """Await until cancelled; gives up after EVENT_WAIT so a broken cancel cannot hang a test."""
    await asyncio.wait_for(asyncio.Event().wait(), EVENT_WAIT)


# -- async bodies --------------------------------------------------------------------------


def test_async_task_past_its_timeout_fails_with_task_timeout_error() -> None:
    @task(timeout=DEADLINE)
    async def stuck() -> None:
        await block()

    with TaskRunner(on_task_error="continue") as runner:
        handle = runner.submit(stuck)
        runner.run()

    assert handle.status is TaskStatus.FAILED
    assert isinstance(handle.exception(), TaskTimeoutError)
    with pytest.raises(TaskTimeoutError):
        handle.result()


def test_timed_out_async_task_is_cancelled_so_its_cleanup_runs() -> None:
    cleanup: list[str] = []

    @task(timeout=DEADLINE)
    async def stuck() -> None:
        try:
            await block()
        except asyncio.CancelledError:
            cleanup.append("cancelled")
            raise
        finally:
            cleanup.append("finally")

    with TaskRunner(on_task_error="continue") as runner:
        runner.submit(stuck)
        runner.run()

    assert cleanup == ["cancelled", "finally"]


def test_timeout_error_names_the_task_and_the_timeout() -> None:
    @task(name="slow-fetch", timeout=DEADLINE)
    async def stuck() -> None:
        await block()

    with TaskRunner(on_task_error="continue") as runner:
        handle = runner.submit(stuck)
        runner.run()

    message = str(handle.exception())
    assert "slow-fetch" in message
    assert "0.05" in message


def test_run_raises_the_timeout_under_the_default_raise_policy() -> None:
    @task(timeout=DEADLINE)
    async def stuck() -> None:
        await block()

    with TaskRunner() as runner:
        handle = runner.submit(stuck)
        with pytest.raises(TaskTimeoutError) as caught:
            runner.run()

    assert caught.value is handle.exception()


def test_timeouts_are_never_retried() -> None:
    calls: list[int] = []

    @task(timeout=DEADLINE, retries=3)
    async def stuck() -> None:
        calls.append(1)
        await block()

    with TaskRunner(on_task_error="continue") as runner:
        handle = runner.submit(stuck)
        runner.run()

    assert handle.attempts == 1
    assert calls == [1]
    assert isinstance(handle.exception(), TaskTimeoutError)


def test_timeouts_are_not_retried_even_when_retry_on_matches_them() -> None:
    calls: list[int] = []

    @task(timeout=DEADLINE, retries=3, retry_on=TaskTimeoutError)
    async def stuck() -> None:
        calls.append(1)
        await block()

    with TaskRunner(on_task_error="continue") as runner:
        handle = runner.submit(stuck)
        runner.run()

    assert handle.attempts == 1
    assert isinstance(handle.exception(), TaskTimeoutError)


def test_async_task_finishing_before_its_timeout_completes_normally() -> None:
    @task(timeout=EVENT_WAIT)
    async def quick() -> str:
        await asyncio.sleep(0)
        return "done"

    with TaskRunner() as runner:
        handle = runner.submit(quick)
        runner.run()

    assert handle.status is TaskStatus.COMPLETED
    assert handle.result() == "done"


def test_sync_task_finishing_before_its_timeout_completes_normally() -> None:
    @task(timeout=EVENT_WAIT, backend="thread")
    def quick() -> str:
        return "done"

    with TaskRunner() as runner:
        handle = runner.submit(quick)
        runner.run()

    assert handle.status is TaskStatus.COMPLETED
    assert handle.result() == "done"


# -- sync bodies: abandoned at the deadline ------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "thread"])
def test_blocked_sync_task_does_not_hold_run_past_its_deadline(backend: str) -> None:
    release = threading.Event()
    body_finished = threading.Event()

    @task(timeout=DEADLINE, backend=backend)
    def blocked() -> None:
        release.wait(EVENT_WAIT)
        body_finished.set()

    runner = TaskRunner(on_task_error="continue")
    try:
        handle = runner.submit(blocked)
        results = runner.run()
        # run() has returned while the body is still blocked: nothing has released it yet.
        still_blocked = not body_finished.is_set()
    finally:
        release.set()
        runner.shutdown()

    assert still_blocked
    assert handle.status is TaskStatus.FAILED
    assert isinstance(handle.exception(), TaskTimeoutError)
    assert results[handle.id].status is TaskStatus.FAILED


@pytest.mark.parametrize("backend", ["asyncio", "thread"])
def test_timed_out_sync_task_sees_its_cancel_event_set(backend: str) -> None:
    saw_cancel: list[bool] = []
    body_finished = threading.Event()

    @task(timeout=DEADLINE, backend=backend)
    def polite() -> None:
        ctx = current_task()
        assert ctx is not None
        saw_cancel.append(ctx.cancel_event.wait(EVENT_WAIT))
        body_finished.set()

    with TaskRunner(on_task_error="continue") as runner:
        handle = runner.submit(polite)
        runner.run()
        assert body_finished.wait(EVENT_WAIT)

    assert saw_cancel == [True]
    assert isinstance(handle.exception(), TaskTimeoutError)


def test_value_returned_by_an_abandoned_sync_task_is_ignored() -> None:
    @task(timeout=DEADLINE, backend="thread")
    def late() -> str:
        ctx = current_task()
        assert ctx is not None
        ctx.cancel_event.wait(EVENT_WAIT)
        return "too late"

    with TaskRunner(on_task_error="continue") as runner:
        handle = runner.submit(late)
        runner.run()
    # Leaving the with block waited for the worker thread, so the body has returned.

    assert handle.status is TaskStatus.FAILED
    assert isinstance(handle.exception(), TaskTimeoutError)


class HeldPool(ThreadPool):
    """A stand-in pool without threads: each call counts as taken, and runs when told."""

    def __init__(self) -> None:
        super().__init__(1)
        self.jobs: list[Any] = []

    def submit(self, attempt: Any, fn: Callable[..., Any], args: Any, kwargs: Any) -> None:
        self._queued[attempt] = True
        self.jobs.append((attempt, fn, args, kwargs))

    def cancel(self, attempt: Any) -> bool:
        return False  # a thread has it: it cannot be taken back


def test_a_thread_body_that_starts_after_its_attempt_ended_gets_its_arguments() -> None:
    # A pool thread may take a job just as its attempt ends (here: the run is aborted); the
    # handle has let go of its arguments by the time the body starts, so the backend must
    # hand them over itself.
    calls: list[str] = []

    @task(backend="thread")
    def fetch(path: str = "/default/path") -> None:
        calls.append(path)

    @task
    async def boom() -> None:
        raise RuntimeError("boom")

    pool = HeldPool()
    with TaskRunner() as runner:
        runner._submitter.lane_for(fetch).backend._pool = pool  # type: ignore[attr-defined]
        handle = runner.submit(fetch, "/only/this/one")
        runner.submit(boom)
        with pytest.raises(RuntimeError, match="boom"):
            runner.run()
        assert handle.status is TaskStatus.CANCELLED
        (job,) = pool.jobs
        thread = threading.Thread(target=pool.run, args=(job,))
        thread.start()  # the thread gets to the body only now
        thread.join(EVENT_WAIT)
    assert calls == ["/only/this/one"]


@pytest.mark.timeout(30)
def test_a_thread_attempt_after_an_abandoned_body_runs_at_once_on_a_fresh_thread() -> None:
    # A body abandoned at its timeout keeps its pool thread (threads cannot be stopped).
    # With max_workers=1, the next attempt must not wait for that thread: it gets a fresh
    # pool and completes while the abandoned body still blocks.
    release, returned = threading.Event(), threading.Event()

    @task(backend="thread", timeout=DEADLINE)
    def stuck() -> None:
        release.wait(EVENT_WAIT)
        returned.set()

    @task(backend="thread", timeout=DEADLINE)
    def quick() -> str:
        return "ran"

    async def main(runner: TaskRunner) -> None:
        stuck_handle, quick_handle = runner.submit(stuck), runner.submit(quick)
        run = asyncio.ensure_future(runner.arun())
        with pytest.raises(TaskTimeoutError):
            await stuck_handle
        assert await asyncio.wait_for(quick_handle, EVENT_WAIT) == "ran"
        assert not returned.is_set()  # it ran while the abandoned body still blocked
        release.set()
        await run

    with TaskRunner(max_workers=1, on_task_error="continue") as runner:
        asyncio.run(main(runner))


class QueuedPool(ThreadPool):
    """A stand-in pool whose calls wait for a thread until the test runs them."""

    def __init__(self) -> None:
        super().__init__(1)
        self.jobs: list[Any] = []

    def submit(self, attempt: Any, fn: Callable[..., Any], args: Any, kwargs: Any) -> None:
        self._queued[attempt] = True
        self.jobs.append((attempt, fn, args, kwargs))


@pytest.mark.timeout(30)
def test_a_timed_thread_attempt_counts_its_time_from_when_its_body_begins() -> None:
    # While the body waits for a pool thread, its timeout does not run; once the body
    # begins, the timeout ends the attempt as usual.
    began, release = threading.Event(), threading.Event()

    @task(backend="thread", timeout=DEADLINE)
    def slow() -> None:
        began.set()
        release.wait(EVENT_WAIT)

    pool = QueuedPool()

    async def main(runner: TaskRunner) -> None:
        runner._submitter.lane_for(slow).backend._pool = pool  # type: ignore[attr-defined]
        handle = runner.submit(slow)
        run = asyncio.ensure_future(runner.arun())
        await asyncio.sleep(4 * DEADLINE)  # its timeout would have passed by now
        assert handle.status is TaskStatus.RUNNING
        (job,) = pool.jobs
        thread = threading.Thread(target=pool.run, args=(job,))
        thread.start()  # a thread takes the body only now
        with pytest.raises(TaskTimeoutError):
            await asyncio.wait_for(handle, EVENT_WAIT)
        assert began.is_set()
        release.set()
        await run
        thread.join(EVENT_WAIT)

    with TaskRunner(on_task_error="continue") as runner:
        asyncio.run(main(runner))

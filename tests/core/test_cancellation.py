"""Cancellation: ``handle.cancel()`` and ``runner.cancel_all()`` before and while tasks run.

Running tasks are coordinated with events (the body signals ``started``, the test cancels
after seeing it), never with sleeps.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from pyworkflowy import (
    DependencyFailedError,
    TaskCancelledError,
    TaskHandle,
    TaskRunner,
    TaskStatus,
    current_task,
    task,
)
from pyworkflowy._threads import ThreadPool

EVENT_WAIT = 10.0  # seconds: only reached if the library hangs


async def block() -> None:
    """Await until cancelled; gives up after EVENT_WAIT so a broken cancel cannot hang a test."""
    await asyncio.wait_for(asyncio.Event().wait(), EVENT_WAIT)


def run_with(runner: TaskRunner, side: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``runner`` on a fresh loop while the coroutine ``side()`` runs next to it."""

    async def main() -> None:
        companion = asyncio.create_task(side())
        await runner.arun()
        await companion

    asyncio.run(main())


async def wait_in_thread(event: threading.Event) -> bool:
    """Wait for a threading.Event without blocking the loop."""
    return await asyncio.get_running_loop().run_in_executor(None, event.wait, EVENT_WAIT)


def run_cancelling(
    runner: TaskRunner, handle: TaskHandle, started: asyncio.Event | threading.Event
) -> bool:
    """Run ``runner`` and cancel ``handle`` once its body has set ``started``; return what
    ``handle.cancel()`` returned. A thread task's `threading.Event` is waited for off the
    loop (see `wait_in_thread`)."""
    returned: list[bool] = []

    async def cancel_when_started() -> None:
        if isinstance(started, threading.Event):
            assert await wait_in_thread(started)
        else:
            await started.wait()
        returned.append(handle.cancel())

    run_with(runner, cancel_when_started)
    return returned[0]


@task
def idle() -> None:
    """A body that does nothing, for the tests about handles rather than bodies."""


# -- before the run ------------------------------------------------------------------------


def test_cancel_before_run_means_the_body_never_runs() -> None:
    calls: list[int] = []

    @task
    def work() -> None:
        calls.append(1)

    with TaskRunner() as runner:
        handle = runner.submit(work)
        assert handle.cancel() is True
        runner.run()

    assert calls == []
    assert handle.attempts == 0


def test_cancel_before_run_ends_cancelled_with_task_cancelled_error() -> None:
    with TaskRunner() as runner:
        handle = runner.submit(idle)
        handle.cancel()
        results = runner.run()

    assert handle.status is TaskStatus.CANCELLED
    assert isinstance(handle.exception(), TaskCancelledError)
    with pytest.raises(TaskCancelledError):
        handle.result()
    assert results[handle.id].status is TaskStatus.CANCELLED


def test_cancel_before_run_is_immediate() -> None:
    with TaskRunner() as runner:
        handle = runner.submit(idle)
        handle.cancel()

        assert handle.status is TaskStatus.CANCELLED
        assert handle.done()


def test_cancel_returns_false_on_a_finished_handle() -> None:
    @task
    def work() -> int:
        return 1

    with TaskRunner() as runner:
        handle = runner.submit(work)
        runner.run()

    assert handle.cancel() is False
    assert handle.status is TaskStatus.COMPLETED
    assert handle.result() == 1


def test_cancel_returns_false_on_an_already_cancelled_handle() -> None:
    with TaskRunner() as runner:
        handle = runner.submit(idle)
        handle.cancel()

        assert handle.cancel() is False


# -- running async tasks -------------------------------------------------------------------


def test_running_async_task_gets_cancelled_error_at_its_next_await() -> None:
    seen: list[str] = []
    started = asyncio.Event()

    @task
    async def waiting() -> None:
        started.set()
        try:
            await block()
        except asyncio.CancelledError:
            seen.append("CancelledError")
            raise
        finally:
            seen.append("finally")

    runner = TaskRunner()
    handle = runner.submit(waiting)

    run_cancelling(runner, handle, started)
    runner.shutdown()

    assert seen == ["CancelledError", "finally"]


def test_cancelled_running_async_task_ends_cancelled_with_task_cancelled_error() -> None:
    started = asyncio.Event()

    @task
    async def waiting() -> None:
        started.set()
        await block()

    runner = TaskRunner()
    handle = runner.submit(waiting)

    cancel_returned = run_cancelling(runner, handle, started)
    runner.shutdown()

    assert cancel_returned is True
    assert handle.status is TaskStatus.CANCELLED
    assert isinstance(handle.exception(), TaskCancelledError)


def test_cancel_from_another_thread_while_run_runs() -> None:
    started = threading.Event()
    cancel_returned: list[bool] = []

    @task
    async def waiting() -> None:
        started.set()
        await block()

    with TaskRunner() as runner:
        handle = runner.submit(waiting)

        def canceller() -> None:
            if started.wait(EVENT_WAIT):
                cancel_returned.append(handle.cancel())

        thread = threading.Thread(target=canceller)
        thread.start()
        runner.run()
        thread.join(EVENT_WAIT)

    assert cancel_returned == [True]
    assert handle.status is TaskStatus.CANCELLED
    assert isinstance(handle.exception(), TaskCancelledError)


def test_cancelled_running_task_is_not_retried() -> None:
    calls: list[int] = []
    started = asyncio.Event()

    @task(retries=3)
    async def waiting() -> None:
        calls.append(1)
        started.set()
        await block()

    runner = TaskRunner()
    handle = runner.submit(waiting)

    run_cancelling(runner, handle, started)
    runner.shutdown()

    assert calls == [1]
    assert handle.attempts == 1
    assert handle.status is TaskStatus.CANCELLED


# -- running thread tasks ------------------------------------------------------------------


def test_cancel_sets_the_running_thread_tasks_cancel_event() -> None:
    started = threading.Event()
    saw_cancel: list[bool] = []

    @task(backend="thread")
    def long_loop() -> None:
        ctx = current_task()
        assert ctx is not None
        started.set()
        saw_cancel.append(ctx.cancel_event.wait(EVENT_WAIT))

    with TaskRunner() as runner:
        handle = runner.submit(long_loop)
        run_cancelling(runner, handle, started)

    assert saw_cancel == [True]


def test_thread_task_that_returns_after_cancel_completes_with_its_value() -> None:
    started = threading.Event()

    @task(backend="thread")
    def long_loop() -> str:
        ctx = current_task()
        assert ctx is not None
        started.set()
        if ctx.cancel_event.wait(EVENT_WAIT):
            return "stopped early"
        return "ran to the end"

    with TaskRunner() as runner:
        handle = runner.submit(long_loop)
        run_cancelling(runner, handle, started)

    assert handle.status is TaskStatus.COMPLETED
    assert handle.result() == "stopped early"


@pytest.mark.parametrize("retries", [0, 3])
def test_thread_task_that_raises_task_cancelled_error_ends_cancelled_and_is_not_retried(
    retries: int,
) -> None:
    calls: list[int] = []
    started = threading.Event()

    @task(backend="thread", retries=retries)
    def long_loop() -> None:
        calls.append(1)
        ctx = current_task()
        assert ctx is not None
        started.set()
        if ctx.cancel_event.wait(EVENT_WAIT):
            raise TaskCancelledError("stopping as asked")

    with TaskRunner() as runner:
        handle = runner.submit(long_loop)
        run_cancelling(runner, handle, started)

    assert calls == [1]
    assert handle.attempts == 1
    assert handle.status is TaskStatus.CANCELLED
    assert isinstance(handle.exception(), TaskCancelledError)


def test_thread_task_that_fails_after_cancel_is_not_retried() -> None:
    calls: list[int] = []
    started = threading.Event()

    @task(backend="thread", retries=3)
    def long_loop() -> None:
        calls.append(1)
        ctx = current_task()
        assert ctx is not None
        started.set()
        if ctx.cancel_event.wait(EVENT_WAIT):
            raise ConnectionError("interrupted")

    with TaskRunner(on_task_error="continue") as runner:
        handle = runner.submit(long_loop)
        run_cancelling(runner, handle, started)

    assert calls == [1]
    assert handle.attempts == 1


# -- cancel_all ----------------------------------------------------------------------------


def test_cancel_all_returns_the_number_of_unfinished_handles() -> None:
    with TaskRunner() as runner:
        finished = runner.submit(idle)
        runner.run()
        unfinished = [runner.submit(idle), runner.submit(idle)]

        assert runner.cancel_all() == 2

    assert finished.status is TaskStatus.COMPLETED
    assert [h.status for h in unfinished] == [TaskStatus.CANCELLED, TaskStatus.CANCELLED]


def test_cancel_all_with_nothing_unfinished_returns_zero() -> None:
    with TaskRunner() as runner:
        assert runner.cancel_all() == 0


def test_cancel_all_sets_the_cancel_event_of_every_running_task() -> None:
    started = [threading.Event(), threading.Event()]
    saw_cancel: list[bool] = []
    counts: list[int] = []

    @task(backend="thread")
    def long_loop(i: int) -> str:
        ctx = current_task()
        assert ctx is not None
        started[i].set()
        saw_cancel.append(ctx.cancel_event.wait(EVENT_WAIT))
        return "stopped early"

    with TaskRunner() as runner:
        handles = [runner.submit(long_loop, 0), runner.submit(long_loop, 1)]

        async def cancel_all_when_started() -> None:
            for event in started:
                assert await wait_in_thread(event)
            counts.append(runner.cancel_all())

        run_with(runner, cancel_all_when_started)

    assert counts == [2]
    assert saw_cancel == [True, True]
    assert [h.result() for h in handles] == ["stopped early", "stopped early"]


def test_cancel_all_cancels_running_and_pending_tasks() -> None:
    started = asyncio.Event()
    counts: list[int] = []

    @task
    async def waiting() -> None:
        started.set()
        await block()

    runner = TaskRunner()
    running = runner.submit(waiting)
    queued = runner.submit(waiting, depends_on=[running])

    async def cancel_all_when_started() -> None:
        await started.wait()
        counts.append(runner.cancel_all())

    run_with(runner, cancel_all_when_started)
    runner.shutdown()

    assert counts == [2]
    assert running.status is TaskStatus.CANCELLED
    assert queued.status is TaskStatus.CANCELLED


# -- dependents of a cancelled handle ------------------------------------------------------


def run_with_cancelled_dep(policy: str) -> tuple[TaskHandle, TaskHandle, list[str]]:
    """Run a dep cancelled before the run and a dependent with ``on_dep_failure=policy``
    (failures stored, not raised); return both handles and the bodies that ran."""
    calls: list[str] = []

    @task
    def upstream() -> None:
        calls.append("upstream")

    @task(on_dep_failure=policy)
    def downstream() -> str:
        calls.append("downstream")
        return "ran"

    with TaskRunner(on_task_error="continue") as runner:
        dep = runner.submit(upstream)
        dependent = runner.submit(downstream, depends_on=[dep])
        dep.cancel()
        runner.run()
    return dep, dependent, calls


def test_dependent_of_cancelled_handle_with_fail_policy_fails() -> None:
    dep, dependent, calls = run_with_cancelled_dep("fail")

    assert calls == []
    assert dependent.status is TaskStatus.FAILED
    error = dependent.exception()
    assert isinstance(error, DependencyFailedError)
    assert error.__cause__ is dep.exception()
    assert isinstance(error.__cause__, TaskCancelledError)


def test_dependent_of_cancelled_handle_with_skip_policy_is_skipped() -> None:
    _, dependent, calls = run_with_cancelled_dep("skip")

    assert calls == []
    assert dependent.status is TaskStatus.SKIPPED


def test_dependent_of_cancelled_handle_with_run_anyway_policy_runs() -> None:
    _, dependent, calls = run_with_cancelled_dep("run-anyway")

    assert calls == ["downstream"]
    assert dependent.status is TaskStatus.COMPLETED
    assert dependent.result() == "ran"


def test_dependent_of_task_cancelled_while_running_follows_its_policy() -> None:
    started = asyncio.Event()
    calls: list[str] = []

    @task
    async def upstream() -> None:
        started.set()
        await block()

    @task(on_dep_failure="skip")
    def downstream() -> None:
        calls.append("downstream")

    runner = TaskRunner()
    dep = runner.submit(upstream)
    dependent = runner.submit(downstream, depends_on=[dep])

    run_cancelling(runner, dep, started)
    runner.shutdown()

    assert dep.status is TaskStatus.CANCELLED
    assert dependent.status is TaskStatus.SKIPPED
    assert calls == []


@pytest.mark.timeout(30)
def test_cancel_of_a_thread_task_still_waiting_for_a_pool_thread_ends_it_cancelled() -> None:
    # A started attempt whose call no pool thread has taken yet (a stand-in pool holds it).
    ran: list[str] = []

    @task(backend="thread")
    def queued() -> None:
        ran.append("queued")

    class QueuedPool(ThreadPool):  # its calls wait: no thread takes them
        def __init__(self) -> None:
            super().__init__(1)
            self.submitted = asyncio.Event()  # set on the loop thread, where start() runs

        def submit(self, attempt: Any, fn: Callable[..., Any], args: Any, kwargs: Any) -> None:
            self._queued[attempt] = True
            self.submitted.set()

    pool = QueuedPool()
    with TaskRunner(max_workers=1) as runner:
        runner._submitter.lane_for(queued).backend._pool = pool  # type: ignore[attr-defined]
        waiting = runner.submit(queued)

        async def cancel_while_queued() -> None:
            await asyncio.wait_for(pool.submitted.wait(), EVENT_WAIT)
            assert waiting.status is TaskStatus.RUNNING  # started, but no thread has it
            waiting.cancel()

        run_with(runner, cancel_while_queued)

    assert waiting.status is TaskStatus.CANCELLED
    assert isinstance(waiting.exception(), TaskCancelledError)
    assert ran == []
    assert pool._queued == {}  # taken back from the queue

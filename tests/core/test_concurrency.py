"""How many bodies run at once, and in what order they get a slot.

What users rely on: coroutines are not bounded by ``max_workers`` (only by
``max_concurrency``); a body that waits on a handle it submitted gives its slot back, so
parents that fill every slot still see their children run; a retry whose backoff has
passed goes ahead of tasks that have not started; and a runner keeps one event loop across
``run()`` calls (loop-bound objects keep working) until ``shutdown()`` closes it.

Concurrency is shown with events, barriers and counters, never sleeps or timings.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from pyworkflowy import TaskRunner, TaskStatus, current_task, task

from tests.core._probes import ConcurrencyProbe

EVENT_WAIT = 10.0  # seconds: only reached if the library hangs

COMPLETED = TaskStatus.COMPLETED


# -- coroutines and the bounds -------------------------------------------------------------


@pytest.mark.timeout(30)
def test_coroutines_are_not_bounded_by_max_workers() -> None:
    # Every body waits until all of them have entered: with any bound below 200 the first
    # ones would wait for bodies that cannot start (and give up after EVENT_WAIT).
    count = 200
    entered = 0
    all_in = asyncio.Event()

    async def body(i: int) -> int:
        nonlocal entered
        entered += 1
        if entered == count:
            all_in.set()
        await asyncio.wait_for(all_in.wait(), EVENT_WAIT)
        return i

    with TaskRunner() as runner:  # max_workers=8 by default
        handles = [runner.submit(body, i) for i in range(count)]
        runner.run()

    assert runner.max_workers == 8
    assert [h.result() for h in handles] == list(range(count))


def test_max_concurrency_bounds_coroutines_running_at_once() -> None:
    probe = ConcurrencyProbe()
    two_in = asyncio.Event()

    async def body() -> None:
        if probe.enter() == 2:
            two_in.set()
        # Yields to the loop even once set: a third body could start meanwhile if unbounded.
        await asyncio.wait_for(two_in.wait(), EVENT_WAIT)
        probe.leave()

    with TaskRunner(max_concurrency=2) as runner:
        for _ in range(6):
            runner.submit(body)
        runner.run()

    assert probe.started == 6
    assert probe.peak == 2


# -- bodies that wait on their children ----------------------------------------------------


@pytest.mark.timeout(30)
def test_async_parents_that_fill_every_slot_still_see_the_children_they_await() -> None:
    @task
    async def child(i: int) -> int:
        return i * 10

    @task
    async def parent(i: int) -> int:
        return await child.submit(i)

    with TaskRunner(max_concurrency=8) as runner:
        parents = [parent.submit(i) for i in range(8)]
        runner.run()

    assert [h.result() for h in parents] == [i * 10 for i in range(8)]
    assert all(h.status is COMPLETED for h in runner.handles())
    assert len(runner.handles()) == 16


@pytest.mark.timeout(30)
def test_thread_parents_that_fill_every_slot_still_get_the_results_they_wait_for() -> None:
    # All eight parents hold their slots before any of them submits: without giving the
    # slot back while waiting, no child could ever start.
    all_parents_in = threading.Barrier(8, timeout=EVENT_WAIT)

    @task(backend="thread")
    def child(i: int) -> int:
        return i * 10

    @task(backend="thread")
    def parent(i: int) -> int:
        all_parents_in.wait()
        return child.submit(i).result(timeout=EVENT_WAIT)

    with TaskRunner(backend="thread", max_workers=8) as runner:
        parents = [parent.submit(i) for i in range(8)]
        runner.run()

    assert [h.result() for h in parents] == [i * 10 for i in range(8)]
    assert all(h.status is COMPLETED for h in runner.handles())


# -- who gets the next slot ----------------------------------------------------------------


def test_a_retry_whose_backoff_has_passed_goes_ahead_of_tasks_not_yet_started() -> None:
    order: list[str] = []

    @task(backend="thread", retries=1, backoff="linear", backoff_base=0)
    def flaky() -> None:
        ctx = current_task()
        assert ctx is not None
        order.append(f"flaky attempt {ctx.attempt}")
        if ctx.attempt == 1:
            raise OSError("first attempt fails")

    @task(backend="thread")
    def other(i: int) -> None:
        order.append(f"other {i}")

    with TaskRunner(max_workers=1) as runner:
        flaky.submit()
        for i in range(3):
            other.submit(i)
        runner.run()

    assert order == ["flaky attempt 1", "flaky attempt 2", "other 0", "other 1", "other 2"]


def test_ready_tasks_of_one_backend_start_in_submission_order() -> None:
    order: list[int] = []

    @task(backend="thread")
    def step(i: int) -> None:
        order.append(i)

    with TaskRunner(max_workers=1) as runner:
        for i in range(5):
            step.submit(i)
        runner.run()

    assert order == [0, 1, 2, 3, 4]


# -- the runner's event loop ---------------------------------------------------------------


def test_the_runner_keeps_one_event_loop_across_runs() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def body() -> None:
        loops.append(asyncio.get_running_loop())

    with TaskRunner() as runner:
        runner.submit(body)
        runner.run()
        runner.submit(body)
        runner.run()

    assert len(loops) == 2
    assert loops[0] is loops[1]


def test_a_loop_bound_object_made_in_one_run_still_works_in_the_next() -> None:
    lock = asyncio.Lock()
    held: list[int] = []

    async def use_lock(run: int) -> None:
        # Two bodies contend, so the lock binds itself to the loop of the first run.
        async with lock:
            await asyncio.sleep(0)
            held.append(run)

    with TaskRunner() as runner:
        runner.submit(use_lock, 1)
        runner.submit(use_lock, 1)
        runner.run()
        second = [runner.submit(use_lock, 2), runner.submit(use_lock, 2)]
        runner.run()

    assert [h.status for h in second] == [COMPLETED, COMPLETED]
    assert held == [1, 1, 2, 2]


def test_the_loop_stays_open_between_runs_and_shutdown_closes_it() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def body() -> None:
        loops.append(asyncio.get_running_loop())

    runner = TaskRunner()
    try:
        runner.submit(body)
        runner.run()
        open_between_runs = not loops[0].is_closed()
    finally:
        runner.shutdown()

    assert open_between_runs
    assert loops[0].is_closed()

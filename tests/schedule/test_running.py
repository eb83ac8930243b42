"""start()/stop() on a background thread, arun() on the caller's loop, and thread safety.

Nothing here sleeps: every wait is on an Event with a timeout that is never reached when the
scheduler behaves. The fake clock drives due times; where a test needs the scheduler thread
to notice a clock change it uses a short tick_seconds (the wait bound), never a sleep.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from pyworkflowy import TaskRunner, TaskStatus
from pyworkflowy.schedule import Scheduler

WAIT = 10.0


# -- start / stop ----------------------------------------------------------------------------
def test_start_makes_a_stopped_runner_serve_and_stop_stops_it_again(clock) -> None:
    with TaskRunner() as runner:
        sched = Scheduler(runner=runner, clock=clock)
        sched.start()
        assert runner.running
        sched.stop()
        assert not runner.running


def test_start_leaves_an_already_running_runner_running_after_stop(clock) -> None:
    with TaskRunner() as runner:
        runner.start()
        sched = Scheduler(runner=runner, clock=clock)
        sched.start()
        sched.stop()
        assert runner.running
        runner.stop()


def test_starting_twice_is_an_error(clock) -> None:
    with TaskRunner() as runner:
        sched = Scheduler(runner=runner, clock=clock)
        sched.start()
        try:
            with pytest.raises(RuntimeError, match="already running"):
                sched.start()
        finally:
            sched.stop()


def test_a_scheduler_can_be_started_again_after_stop(clock, recorder) -> None:
    with TaskRunner() as runner:
        sched = Scheduler(runner=runner, clock=clock, tick_seconds=0.01)
        sched.start()
        sched.stop()
        sched.start()
        sched.at(clock()).do(recorder)
        assert recorder.wait_for(1)
        sched.stop()


def test_stop_wakes_the_thread_at_once_whatever_tick_seconds_is(clock) -> None:
    with TaskRunner() as runner:
        sched = Scheduler(runner=runner, clock=clock, tick_seconds=3600)
        sched.every(1800).do(print)
        sched.start()
        sched.stop(timeout=WAIT)  # raises TimeoutError if the thread slept on
        assert not sched.running


def test_adding_a_job_wakes_the_sleeping_thread_at_once(clock, recorder) -> None:
    with TaskRunner() as runner:
        sched = Scheduler(runner=runner, clock=clock, tick_seconds=3600)
        sched.start()  # no jobs: the thread sleeps up to an hour
        sched.at(clock()).do(recorder)
        assert recorder.wait_for(1)
        sched.stop()


def test_the_thread_sleeps_until_the_next_due_job_not_until_tick_seconds(recorder) -> None:
    with TaskRunner() as runner:
        sched = Scheduler(runner=runner, clock=time.time, tick_seconds=3600)
        sched.every(0.02).do(recorder)
        sched.start()
        assert recorder.wait_for(3)
        sched.stop()


def test_the_background_thread_fires_jobs_as_the_clock_reaches_them(clock, recorder) -> None:
    with TaskRunner() as runner:
        sched = Scheduler(runner=runner, clock=clock, tick_seconds=0.01)
        job = sched.every(60).do(recorder, "payload")
        sched.start()
        clock.advance(60)
        assert recorder.wait_for(1)
        runner.handles()[0].result(timeout=WAIT)  # done, so max_instances=1 lets the next fire
        clock.advance(60)
        assert recorder.wait_for(2)
        sched.stop()
    assert recorder.calls == [(("payload",), {}), (("payload",), {})]
    assert [h.status for h in job.handles] == [TaskStatus.COMPLETED] * 2


def test_stop_lets_the_runs_already_submitted_finish(clock) -> None:
    release = threading.Event()
    started = threading.Event()

    def slow() -> str:
        started.set()
        release.wait(WAIT)
        return "done"

    with TaskRunner() as runner:
        sched = Scheduler(runner=runner, clock=clock, tick_seconds=0.01)
        job = sched.at(clock()).do(slow)
        sched.start()
        assert started.wait(WAIT)
        threading.Timer(0, release.set).start()
        sched.stop()
        assert job.handles[0].result(timeout=0) == "done"


def test_a_failing_job_is_logged_and_the_scheduler_goes_on(clock, recorder, caplog) -> None:
    def boom() -> None:
        raise ValueError("boom")

    with TaskRunner() as runner:
        sched = Scheduler(runner=runner, clock=clock, tick_seconds=0.01)
        sched.at(clock()).do(boom)
        sched.at(clock() + 1).do(recorder)
        sched.start()
        clock.advance(1)
        assert recorder.wait_for(1)
        sched.stop()
    assert "boom" in caplog.text


# -- arun ------------------------------------------------------------------------------------
def test_arun_serves_the_runner_on_the_callers_loop_until_stop(clock) -> None:
    seen: dict[str, object] = {}

    async def main() -> None:
        runner = TaskRunner()
        sched = Scheduler(runner=runner, clock=clock)

        async def on_loop() -> None:
            seen["loop"] = asyncio.get_running_loop()
            sched.stop()

        sched.at(clock()).do(on_loop)
        await sched.arun()
        seen["mine"] = asyncio.get_running_loop()
        seen["runner running"] = runner.running
        runner.shutdown()

    asyncio.run(main())
    assert seen["loop"] is seen["mine"]
    assert seen["runner running"] is False


def test_arun_ends_when_cancelled_and_stops_the_runner_it_started(clock) -> None:
    async def main() -> tuple[bool, bool]:
        runner = TaskRunner()
        sched = Scheduler(runner=runner, clock=clock)
        fired = asyncio.Event()

        async def mark() -> None:
            fired.set()

        sched.every(1).do(mark)
        driving = asyncio.create_task(sched.arun())
        clock.advance(1)
        await asyncio.wait_for(fired.wait(), WAIT)
        driving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await driving
        return sched.running, runner.running

    assert asyncio.run(main()) == (False, False)


def test_adding_a_job_wakes_arun_while_it_waits(clock) -> None:
    async def main() -> list[str]:
        runner = TaskRunner()
        sched = Scheduler(runner=runner, clock=clock, tick_seconds=3600)
        ran: list[str] = []
        first, second = asyncio.Event(), asyncio.Event()

        async def mark(name: str, event: asyncio.Event) -> None:
            ran.append(name)
            event.set()

        sched.at(clock()).do(mark, "first", first)
        driving = asyncio.create_task(sched.arun())
        await asyncio.wait_for(first.wait(), WAIT)
        # arun fired "first" and now waits up to tick_seconds (an hour) for the next job:
        # a job due now must wake it, not wait for the hour.
        sched.at(clock()).do(mark, "second", second)
        await asyncio.wait_for(second.wait(), WAIT)
        driving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await driving
        runner.shutdown()
        return ran

    assert asyncio.run(main()) == ["first", "second"]


def test_arun_leaves_a_runner_that_was_already_running_alone(clock, recorder) -> None:
    async def main() -> bool:
        with TaskRunner() as runner:
            runner.start()  # serving on its own thread
            sched = Scheduler(runner=runner, clock=clock)
            sched.at(clock()).do(recorder)
            sched.at(clock()).do(sched.stop)
            await sched.arun()
            still = runner.running
            runner.stop()
            return still

    assert asyncio.run(main()) is True
    assert recorder.wait_for(1)


def test_arun_while_started_is_an_error(clock) -> None:
    async def main() -> None:
        with TaskRunner() as runner:
            sched = Scheduler(runner=runner, clock=clock)
            sched.start()
            try:
                with pytest.raises(RuntimeError, match="already running"):
                    await sched.arun()
            finally:
                sched.stop()

    asyncio.run(main())


# -- thread safety ---------------------------------------------------------------------------
def test_adding_and_cancelling_from_many_threads_while_running_loses_nothing(clock) -> None:
    """Four threads add and cancel jobs while the scheduler thread ticks; then we audit."""
    counts: dict[int, int] = {}
    lock = threading.Lock()

    def count(n: int) -> None:
        with lock:
            counts[n] = counts.get(n, 0) + 1

    threads_n, per_thread = 4, 150
    survivors: list[list[object]] = [[] for _ in range(threads_n)]
    one_shots = threads_n * per_thread
    go = threading.Barrier(threads_n)

    with TaskRunner(max_workers=4) as runner:
        sched = Scheduler(runner=runner, clock=clock, tick_seconds=0.001)
        sched.start()

        def worker(w: int) -> None:
            go.wait(WAIT)
            for i in range(per_thread):
                sched.at(clock()).do(count, w * per_thread + i)  # fires in the background
                job = sched.every(3600).do(count, -1)
                if i % 2:
                    assert sched.cancel(job)
                else:
                    survivors[w].append(job)

        workers = [threading.Thread(target=worker, args=(w,)) for w in range(threads_n)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(WAIT)
        done = threading.Event()
        sched.at(clock()).do(done.set)  # fires after every one-shot added before it
        assert done.wait(WAIT)
        sched.stop()  # the runner finishes what was submitted

        kept = {id(j) for group in survivors for j in group}
        assert {id(j) for j in sched.jobs()} == kept
        assert counts == dict.fromkeys(range(one_shots), 1)  # each one-shot fired exactly once

        clock.advance(3600)
        handles = sched.tick()
        assert len(handles) == len(kept)


def test_a_task_can_stop_the_scheduler_that_started_its_runner(clock) -> None:
    returned = threading.Event()

    def stop_from_inside() -> None:
        sched.stop()  # cannot wait for this very task: returns at once
        returned.set()

    with TaskRunner() as runner:
        sched = Scheduler(runner=runner, clock=clock, tick_seconds=0.01)
        job = sched.at(clock()).do(stop_from_inside)
        sched.start()
        assert returned.wait(WAIT)
        sched.stop(timeout=WAIT)  # waits for the stop the task began
        assert not sched.running
        assert not runner.running
    assert job.handles[0].status is TaskStatus.COMPLETED


def test_arun_raises_when_the_runner_cannot_serve(clock) -> None:
    runner = TaskRunner()
    runner.shutdown()
    sched = Scheduler(runner=runner, clock=clock)
    with pytest.raises(RuntimeError, match="shut down"):
        asyncio.run(sched.arun())
    assert not sched.running

"""VirtualClock and TaskRunner(clock=...): retries, timeouts and waits in virtual time."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from datetime import UTC, datetime

import pytest
from pyworkflowy import TaskRunner, TaskTimeoutError, events, task
from pyworkflowy.testing import VirtualClock

START = 1_000_000.0


# -- the clock itself ------------------------------------------------------------------------
def test_the_clock_reads_its_start_and_moves_only_when_advanced() -> None:
    clock = VirtualClock(start=START, autojump=False)
    assert clock() == clock.monotonic() == START
    clock.advance(2.5)
    assert clock() == START + 2.5


def test_the_start_may_be_an_aware_datetime() -> None:
    when = datetime(2030, 1, 1, tzinfo=UTC)
    assert VirtualClock(start=when)() == when.timestamp()


@pytest.mark.parametrize(
    ("start", "error"),
    [(datetime(2030, 1, 1), ValueError), ("now", TypeError), (float("nan"), ValueError)],
)
def test_a_bad_start_is_refused(start: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        VirtualClock(start=start)  # type: ignore[arg-type]


@pytest.mark.parametrize(("seconds", "error"), [(-1, ValueError), ("1", TypeError)])
def test_the_clock_never_goes_back(seconds: object, error: type[Exception]) -> None:
    clock = VirtualClock(start=START)
    with pytest.raises(error):
        clock.advance(seconds)  # type: ignore[arg-type]
    assert clock() == START


def test_a_runner_takes_only_a_virtual_clock() -> None:
    with pytest.raises(TypeError, match="VirtualClock"):
        TaskRunner(clock=time.time)  # type: ignore[arg-type]


# -- a runner on the clock -------------------------------------------------------------------
def test_backoffs_take_virtual_time_only() -> None:
    clock = VirtualClock(start=START)
    attempts: list[float] = []

    @task(retries=4, backoff="exponential", backoff_base=600.0, backoff_max=86_400.0)
    async def flaky() -> str:
        attempts.append(clock() - START)
        if len(attempts) < 5:
            raise ConnectionError("down")
        return "up"

    with TaskRunner(clock=clock) as runner:
        handle = runner.submit(flaky)
        runner.run()
    assert handle.result() == "up"
    assert attempts == [0.0, 600.0, 1800.0, 4200.0, 9000.0]
    result = handle.get_result()
    assert (result.started_at, result.finished_at) == (START, START + 9000.0)


def test_a_timeout_ends_an_attempt_in_virtual_time() -> None:
    clock = VirtualClock(start=START)

    @task(timeout=60)
    async def hangs() -> None:
        await asyncio.sleep(3600)

    with TaskRunner(clock=clock, on_task_error="continue") as runner:
        handle = runner.submit(hangs)
        runner.run()
    error = handle.exception()
    assert isinstance(error, TaskTimeoutError)
    assert error.elapsed == 60.0
    assert clock() == START + 60.0


def test_sleeping_coroutines_finish_in_deadline_order() -> None:
    clock = VirtualClock(start=START)
    finished: list[int] = []

    @task
    async def nap(seconds: int) -> None:
        await asyncio.sleep(seconds)
        finished.append(seconds)

    with TaskRunner(clock=clock) as runner:
        runner.map(nap, [300, 100, 200])
        runner.run()
    assert finished == [100, 200, 300]
    assert clock() == START + 300


def test_event_times_are_virtual() -> None:
    clock = VirtualClock(start=START)
    seen: list[tuple[str, float]] = []

    @task
    async def step() -> None:
        await asyncio.sleep(5)

    with TaskRunner(clock=clock) as runner:
        runner.subscribe(lambda e: seen.append((type(e).__name__, e.time)))
        runner.submit(step)
        runner.run()
    assert seen == [
        ("TaskSubmitted", START),
        ("TaskStarted", START),
        ("TaskFinished", START + 5),
        ("RunFinished", START + 5),
    ]


def test_retry_at_is_virtual() -> None:
    clock = VirtualClock(start=START)
    seen: list[float | None] = []

    @task(retries=1, backoff="linear", backoff_base=30.0)
    async def once() -> None:
        if not seen:
            raise ConnectionError("down")

    def watch(event: object) -> None:
        if isinstance(event, events.TaskRetrying):
            asyncio.get_running_loop().call_soon(lambda: seen.append(handle.retry_at))

    with TaskRunner(clock=clock) as runner:
        runner.subscribe(watch)
        handle = runner.submit(once)
        runner.run()
    assert seen == [START + 30.0]


def test_the_clock_stands_still_while_a_body_runs_on_a_thread() -> None:
    clock = VirtualClock(start=START)
    seen: dict[str, float] = {}

    @task
    async def waits() -> None:
        await asyncio.sleep(3600)

    @task(backend="thread")
    def works() -> None:
        seen["start"] = clock()
        time.sleep(0.01)  # real time, on a thread
        seen["end"] = clock()

    with TaskRunner(clock=clock) as runner:
        runner.submit(waits)
        runner.submit(works)
        runner.run()
    assert seen["end"] == seen["start"]  # no jump while it ran
    assert clock() == START + 3600


def test_without_autojump_time_moves_only_when_the_test_advances_it() -> None:
    clock = VirtualClock(start=START, autojump=False)
    done = threading.Event()

    @task
    async def nap() -> float:
        await asyncio.sleep(10)
        done.set()
        return clock()

    with TaskRunner(clock=clock) as runner:
        runner.start()
        handle = runner.submit(nap)
        assert not done.wait(0.05)  # nothing can move the clock but advance()
        clock.advance(10)
        assert handle.result(timeout=30) == START + 10
        runner.stop()


def test_checkpoint_writes_are_spaced_by_the_virtual_interval(tmp_path) -> None:
    pytest.importorskip("pyworkflowy.persist")
    clock = VirtualClock(start=START)
    saves: list[float] = []

    @task
    async def step(i: int) -> int:
        await asyncio.sleep(10)
        return i

    runner = TaskRunner(clock=clock, checkpoint_path=tmp_path / "run.json", checkpoint_interval=25)
    with runner:
        runner.subscribe(
            lambda e: saves.append(e.time) if isinstance(e, events.CheckpointSaved) else None
        )
        handle = runner.submit(step, 0)
        for i in range(1, 8):
            handle = runner.submit(step, i, depends_on=handle)
        runner.run()
    gaps = [b - a for a, b in itertools.pairwise(saves[:-1])]  # the last: the final flush
    assert gaps
    assert all(gap >= 25 for gap in gaps)


def test_a_thread_body_past_its_timeout_is_ended_after_that_many_real_seconds() -> None:
    clock = VirtualClock(start=START)
    release = threading.Event()

    @task(backend="thread", timeout=0.05)
    def hangs() -> None:
        release.wait(30)  # let go once the test is over

    runner = TaskRunner(clock=clock, on_task_error="continue")
    try:
        handle = runner.submit(hangs)
        runner.run()
    finally:
        release.set()  # before shutdown(), which waits for the pool's threads
        runner.shutdown()
    assert isinstance(handle.exception(), TaskTimeoutError)
    assert clock() == START + 0.05


def test_arun_on_another_loop_is_refused_with_a_clock() -> None:
    async def main() -> None:
        with TaskRunner(clock=VirtualClock()) as runner:
            await runner.arun()

    with pytest.raises(RuntimeError, match="VirtualClock"):
        asyncio.run(main())


# -- the pytest plugin -----------------------------------------------------------------------
def test_the_plugin_offers_a_runner_on_a_virtual_clock(
    runner: TaskRunner, virtual_clock: VirtualClock
) -> None:
    start = virtual_clock()
    assert start == datetime(2030, 1, 1, tzinfo=UTC).timestamp()

    @task
    async def day() -> None:
        await asyncio.sleep(86_400)

    runner.submit(day)
    runner.run()
    assert virtual_clock() == start + 86_400

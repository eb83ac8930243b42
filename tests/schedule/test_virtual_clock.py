"""A Scheduler on the runner's VirtualClock: a virtual day of jobs in no real time."""

from __future__ import annotations

import threading

from pyworkflowy import TaskRunner, task
from pyworkflowy.schedule import Scheduler
from pyworkflowy.testing import VirtualClock

START = 1_893_456_000.0  # 2030-01-01 00:00 UTC
WAIT = 30.0  # real seconds a test may wait for virtual work before it is deemed hung


def test_an_hourly_job_fires_24_times_over_a_virtual_day() -> None:
    clock = VirtualClock(start=START)
    fired: list[float] = []
    day_done = threading.Event()

    @task
    def hourly() -> None:
        fired.append(clock() - START)
        if len(fired) == 24:
            day_done.set()

    runner = TaskRunner(clock=clock)
    sched = Scheduler(runner=runner, clock=clock, tz="UTC")
    sched.every(3600).do(hourly)
    sched.start()
    try:
        assert day_done.wait(WAIT)
    finally:
        sched.stop()
        runner.shutdown()
    assert fired[:24] == [3600.0 * n for n in range(1, 25)]


def test_a_cron_job_on_the_virtual_clock_keeps_wall_times() -> None:
    clock = VirtualClock(start=START)
    fired: list[float] = []
    done = threading.Event()

    @task
    def nightly() -> None:
        fired.append(clock())
        if len(fired) == 3:
            done.set()

    with TaskRunner(clock=clock) as runner:
        sched = Scheduler(runner=runner, clock=clock, tz="Europe/Berlin")
        sched.cron("30 2 * * *").do(nightly)
        sched.start()
        try:
            assert done.wait(WAIT)
        finally:
            sched.stop()
    # 02:30 in Berlin (UTC+1 in January) is 01:30 UTC, on three successive days
    assert [t - START for t in fired[:3]] == [5400.0 + 86400 * d for d in range(3)]

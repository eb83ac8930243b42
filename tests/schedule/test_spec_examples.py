"""The README's "Scheduling" and "Cron subset" sections, example by example and row by row."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pyworkflowy import TaskRunner, TaskStatus, task
from pyworkflowy.schedule import Scheduler, parse_cron

WAIT = 10.0
UTC = ZoneInfo("UTC")


@task
def cleanup() -> None:
    """The spec's example task."""


def test_the_spec_background_example_runs_as_written() -> None:
    with TaskRunner() as runner:
        sched = Scheduler(runner=runner)
        sched.every(60).do(cleanup)
        sched.cron("0 * * * *").do(cleanup)  # top of every hour
        sched.at(datetime(2026, 12, 31, 23, 59)).do(cleanup)  # one-shot

        sched.start()  # background thread
        assert sched.running
        assert runner.running
        sched.stop()
    assert not sched.running
    assert not runner.running


def test_a_started_scheduler_runs_fired_tasks_without_any_other_call(clock) -> None:
    ran = threading.Event()
    with TaskRunner() as runner:
        sched = Scheduler(runner=runner, clock=clock, tick_seconds=0.01)
        sched.start()
        job = sched.at(clock()).do(ran.set)
        assert ran.wait(WAIT)
        sched.stop()
    assert job.handles[0].status is TaskStatus.COMPLETED


def test_the_spec_async_example_runs_on_the_callers_loop(clock) -> None:
    calls: list[int] = []

    async def main() -> None:
        runner = TaskRunner()
        sched = Scheduler(runner=runner, clock=clock, tick_seconds=0.01)

        def cleanup_then_stop() -> None:
            calls.append(1)
            sched.stop()

        sched.every(0.5).do(cleanup_then_stop)
        clock.advance(0.5)
        await sched.arun()
        runner.shutdown()

    asyncio.run(main())
    assert calls == [1]


def test_tick_fires_every_due_job_once_and_returns_the_handles(clock) -> None:
    with TaskRunner() as runner:
        sched = Scheduler(runner=runner, clock=clock)
        sched.every(60).do(cleanup)
        sched.at(clock() + 60).do(cleanup)
        sched.every(120).do(cleanup)
        clock.advance(60)
        handles = sched.tick()
        runner.run()
    assert len(handles) == 2
    assert all(h.status is TaskStatus.COMPLETED for h in handles)


def test_missed_fires_while_the_scheduler_is_stopped_are_not_backfilled(clock) -> None:
    with TaskRunner() as runner:
        sched = Scheduler(runner=runner, clock=clock)
        job = sched.every(60).do(cleanup)
        clock.advance(10 * 60)  # ten due times pass with nobody ticking
        assert sched.tick() == []
        clock.advance(60)
        assert len(sched.tick()) == 1
    assert len(job.handles) == 1


# -- the cron subset table, one row per test -------------------------------------------------
START = datetime(2026, 1, 5, 8, 0)  # a Monday, naive wall-clock time


def fire_times(expr: str, count: int, after: datetime = START) -> list[str]:
    times = []
    for t in parse_cron(expr).iter(after):
        times.append(t.strftime("%a %d %H:%M"))
        if len(times) == count:
            return times
    raise AssertionError("unreachable")


def test_cron_star_matches_every_value_in_range() -> None:
    assert fire_times("* * * * *", 3) == ["Mon 05 08:01", "Mon 05 08:02", "Mon 05 08:03"]


def test_cron_number_matches_exactly_that_value() -> None:
    assert fire_times("5 * * * *", 3) == ["Mon 05 08:05", "Mon 05 09:05", "Mon 05 10:05"]


def test_cron_range_is_inclusive() -> None:
    assert fire_times("0 9-11 * * *", 4) == [
        "Mon 05 09:00",
        "Mon 05 10:00",
        "Mon 05 11:00",
        "Tue 06 09:00",
    ]


def test_cron_list_matches_each_listed_value() -> None:
    assert fire_times("0,15,30 8 * * *", 4) == [
        "Mon 05 08:15",
        "Mon 05 08:30",
        "Tue 06 08:00",
        "Tue 06 08:15",
    ]


def test_cron_star_step_counts_from_the_start_of_the_range() -> None:
    assert fire_times("*/15 8 * * *", 3) == ["Mon 05 08:15", "Mon 05 08:30", "Mon 05 08:45"]


def test_cron_range_step_steps_within_the_range() -> None:
    assert fire_times("0 9-17/2 * * *", 6) == [
        "Mon 05 09:00",
        "Mon 05 11:00",
        "Mon 05 13:00",
        "Mon 05 15:00",
        "Mon 05 17:00",
        "Tue 06 09:00",
    ]


def test_cron_day_of_week_zero_is_sunday() -> None:
    assert fire_times("0 0 * * 0", 2) == ["Sun 11 00:00", "Sun 18 00:00"]


def test_cron_has_five_space_separated_fields_minute_hour_dom_month_dow() -> None:
    assert fire_times("30 14 20 2 *", 1) == ["Fri 20 14:30"]


@pytest.mark.parametrize("expr", ["0 * * * *", "*/15 9-17 * * 1-5", "0,30 0 1 1,7 *"])
def test_a_cron_job_fires_at_each_matching_time_in_the_scheduler_zone(clock, expr: str) -> None:
    clock.set(datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
    with TaskRunner() as runner:
        sched = Scheduler(runner=runner, clock=clock, tz="UTC")
        job = sched.cron(expr).do(cleanup)
        expected = list(
            zip(
                parse_cron(expr).iter(datetime(2026, 1, 5, 8, 0, tzinfo=UTC)),
                range(5),
                strict=False,
            )
        )
        for when, _ in expected:
            assert job.next_run_at == when.timestamp()
            clock.set(when)
            assert len(sched.tick()) == 1
            runner.run()

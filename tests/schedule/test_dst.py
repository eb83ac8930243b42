"""Time zones and DST: cron and naive at() follow the scheduler's zone; no double or lost fires.

Each test walks a fake clock across a whole transition day minute by minute, calling tick()
at every minute, and counts the fires: what a scheduler that never sleeps too long sees.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pyworkflowy import TaskRunner, task
from pyworkflowy.schedule import Misfire, Scheduler

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")

# (zone, spring-forward day, the local time that does not exist, where the gap ends,
#  fall-back day, a local time that happens twice)
ZONES = {
    "Europe/Berlin": (
        BERLIN,
        datetime(2026, 3, 29),
        "30 2",
        "03:00",
        datetime(2026, 10, 25),
        "30 2",
    ),
    "America/New_York": (
        NEW_YORK,
        datetime(2026, 3, 8),
        "30 2",
        "03:00",
        datetime(2026, 11, 1),
        "30 1",
    ),
}


@task
def job_task() -> None:
    """What the scheduled jobs run."""


def fires_over_day(clock, tz: ZoneInfo, expr: str, day: datetime) -> list[datetime]:
    """Tick once a minute (real minutes) through ``day`` in ``tz``; return the fire times."""
    start = day.replace(tzinfo=tz).timestamp()
    end = (day + timedelta(days=1)).replace(tzinfo=tz).timestamp()
    clock.set(start - 60)
    runner = TaskRunner()
    sched = Scheduler(runner=runner, clock=clock, tz=tz)
    sched.cron(expr).do(job_task)
    fired = []
    t = start
    while t < end:
        clock.set(t)
        if sched.tick():
            fired.append(datetime.fromtimestamp(t, tz))
            runner.run()  # let the run finish, or max_instances=1 would skip the next one
        t += 60
    runner.shutdown(wait=False)
    return fired


@pytest.mark.parametrize("zone", ZONES)
def test_a_daily_job_at_a_time_skipped_by_spring_forward_fires_once_when_the_gap_ends(
    clock, zone: str
) -> None:
    tz, spring, hm, gap_end, _, _ = ZONES[zone]
    fired = fires_over_day(clock, tz, f"{hm} * * *", spring)
    assert [t.strftime("%H:%M") for t in fired] == [gap_end]


@pytest.mark.parametrize("zone", ZONES)
def test_a_daily_job_in_the_repeated_hour_fires_once_not_twice(clock, zone: str) -> None:
    tz, _, _, _, fall, hm = ZONES[zone]
    fired = fires_over_day(clock, tz, f"{hm} * * *", fall)
    assert len(fired) == 1
    assert fired[0].fold == 0  # the first pass through the hour


@pytest.mark.parametrize("misfire", ["skip", "coalesce"])
def test_a_late_tick_in_the_second_pass_of_the_repeated_hour_goes_on_by_real_time(
    clock, misfire: Misfire
) -> None:
    # New York falls back at 02:00 EDT to 01:00 EST. The scheduler ticks every minute until
    # 01:49 EDT, then nothing (a suspended machine) until 01:01 EST, 12 minutes later.
    tz = NEW_YORK
    first_pass = datetime(2026, 11, 1, 0, 30, tzinfo=tz).timestamp()
    suspended = datetime(2026, 11, 1, 1, 49, tzinfo=tz).timestamp()
    resumed = datetime(2026, 11, 1, 1, 1, tzinfo=tz, fold=1).timestamp()
    end = datetime(2026, 11, 1, 2, 31, tzinfo=tz).timestamp()
    clock.set(first_pass)
    runner = TaskRunner()
    sched = Scheduler(runner=runner, clock=clock, tz=tz)
    sched.cron("*/10 * * * *", misfire=misfire).do(job_task)
    fired = []
    t = first_pass + 60
    while t < end:
        if not suspended < t < resumed:
            clock.set(t)
            if sched.tick():
                fired.append(datetime.fromtimestamp(t, tz).strftime("%H:%M%z"))
                runner.run()
        t += 60
    runner.shutdown(wait=False)

    expected_first_pass = ["00:40-0400", "00:50-0400", "01:00-0400", "01:10-0400"]
    expected_first_pass += ["01:20-0400", "01:30-0400", "01:40-0400"]
    # 01:50 EDT was due while suspended: "skip" drops it, "coalesce" runs it on resuming.
    late = ["01:01-0500"] if misfire == "coalesce" else []
    # A */10 job runs by real time (Debian cron's rule for a job with * in its minute or
    # hour field): the second pass through 01:xx fires again.
    second_pass = ["01:10-0500", "01:20-0500", "01:30-0500", "01:40-0500", "01:50-0500"]
    assert fired == [
        *expected_first_pass,
        *late,
        *second_pass,
        "02:00-0500",
        "02:10-0500",
        "02:20-0500",
        "02:30-0500",
    ]


def test_a_coalesced_fire_in_the_second_pass_does_not_fire_the_same_wall_time_again(clock) -> None:
    # A daily 01:30 job; the last tick before the change is at 01:00 EDT and the next one at
    # 01:10 EST (70 minutes later). The missed 01:30 EDT runs once, coalesced, at 01:10
    # EST; 01:30 EST is the same wall time, so the next run is the next day's 01:30.
    tz = NEW_YORK
    clock.set(datetime(2026, 11, 1, 0, 59, tzinfo=tz))
    runner = TaskRunner()
    sched = Scheduler(runner=runner, clock=clock, tz=tz)
    job = sched.cron("30 1 * * *", misfire="coalesce").do(job_task)
    clock.set(datetime(2026, 11, 1, 1, 10, tzinfo=tz, fold=1))
    assert len(sched.tick()) == 1
    runner.run()
    runner.shutdown(wait=False)

    assert job.next_run == datetime(2026, 11, 2, 1, 30, tzinfo=tz)


@pytest.mark.parametrize("zone", ZONES)
def test_an_hourly_job_fires_every_real_hour_across_fall_back(clock, zone: str) -> None:
    tz, _, _, _, fall, _ = ZONES[zone]
    fired = fires_over_day(clock, tz, "0 * * * *", fall)
    assert len(fired) == 25  # the repeated hour fires on both passes
    hours = [t.strftime("%H") for t in fired]
    repeated = next(h for h in hours if hours.count(h) == 2)
    assert [t.fold for t in fired if t.strftime("%H") == repeated] == [0, 1]
    assert sorted(set(hours)) == [f"{h:02d}" for h in range(24)]


@pytest.mark.parametrize("zone", ZONES)
def test_a_quarter_hourly_job_never_pauses_across_fall_back(clock, zone: str) -> None:
    tz, _, _, _, fall, _ = ZONES[zone]
    fired = fires_over_day(clock, tz, "*/15 * * * *", fall)
    assert len(fired) == 25 * 4
    gaps = {b.timestamp() - a.timestamp() for a, b in itertools.pairwise(fired)}
    assert gaps == {900.0}  # every 15 real minutes, through the repeated hour


@pytest.mark.parametrize("zone", ZONES)
def test_a_quarter_hourly_job_has_no_runs_for_the_skipped_hour(clock, zone: str) -> None:
    tz, spring, _, _, _, _ = ZONES[zone]
    fired = fires_over_day(clock, tz, "*/15 * * * *", spring)
    walls = [t.strftime("%H:%M") for t in fired]
    assert "03:00" in walls
    assert not any(w.startswith("02:") for w in walls)
    assert len(walls) == 23 * 4  # 02:xx did not exist: no run for it, no catch-up


@pytest.mark.parametrize("zone", ZONES)
def test_a_cron_job_keeps_local_wall_time_after_the_change(clock, zone: str) -> None:
    tz, spring, _, _, _, _ = ZONES[zone]
    clock.set(spring.replace(hour=0, tzinfo=tz))
    sched = Scheduler(runner=TaskRunner(), clock=clock, tz=tz)
    job = sched.cron("0 9 * * *").do(job_task)
    first = job.next_run
    clock.set(first)  # type: ignore[arg-type]
    sched.tick()
    assert first is not None
    assert job.next_run is not None
    assert (first.hour, job.next_run.hour) == (9, 9)
    assert job.next_run - first == timedelta(days=1)  # wall-clock day, 24 h of local time


@pytest.mark.parametrize("zone", ZONES)
def test_an_interval_job_counts_real_seconds_across_the_change(clock, zone: str) -> None:
    tz, spring, _, _, _, _ = ZONES[zone]
    clock.set(spring.replace(hour=1, minute=30, tzinfo=tz))
    sched = Scheduler(runner=TaskRunner(), clock=clock, tz=tz)
    job = sched.every(3600).do(job_task)
    assert job.next_run is not None
    assert job.next_run.strftime("%H:%M") == "03:30"  # one real hour later, 02:30 never happens


@pytest.mark.parametrize("zone", ZONES)
def test_a_naive_at_time_inside_the_gap_fires_when_the_gap_ends(clock, zone: str) -> None:
    tz, spring, hm, gap_end, _, _ = ZONES[zone]
    minute, hour = (int(x) for x in hm.split())
    sched = Scheduler(runner=TaskRunner(), clock=clock, tz=tz)
    job = sched.at(spring.replace(hour=hour, minute=minute)).do(job_task)
    assert job.next_run is not None
    assert job.next_run.strftime("%H:%M") == gap_end


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("fold", [0, 1])
def test_a_naive_at_time_in_the_repeated_hour_takes_the_pass_its_fold_names(
    clock, zone: str, fold: int
) -> None:
    tz, _, _, _, fall, hm = ZONES[zone]
    minute, hour = (int(x) for x in hm.split())
    sched = Scheduler(runner=TaskRunner(), clock=clock, tz=tz)
    wall = fall.replace(hour=hour, minute=minute, fold=fold)
    job = sched.at(wall).do(job_task)
    assert job.next_run_at == wall.replace(tzinfo=tz).timestamp()


def test_tz_accepts_a_zoneinfo_object_or_its_name(clock) -> None:
    by_name = Scheduler(runner=TaskRunner(), clock=clock, tz="Europe/Berlin")
    by_object = Scheduler(runner=TaskRunner(), clock=clock, tz=BERLIN)
    assert by_name.tz == by_object.tz


def test_without_tz_the_scheduler_follows_the_process_local_time_zone() -> None:
    script = textwrap.dedent(
        """
        from datetime import datetime
        from zoneinfo import ZoneInfo
        from pyworkflowy import TaskRunner
        from pyworkflowy.schedule import Misfire, Scheduler

        berlin = ZoneInfo("Europe/Berlin")
        now = datetime(2026, 10, 24, 12, 0, tzinfo=berlin).timestamp()
        runner = TaskRunner()
        local = Scheduler(runner=runner, clock=lambda: now)
        explicit = Scheduler(runner=runner, clock=lambda: now, tz=berlin)
        for sched in (local, explicit):
            sched.cron("30 2 * * *").do(print)
            sched.at(datetime(2026, 3, 29, 2, 30)).do(print)
        print([j.next_run_at for j in local.jobs()] == [j.next_run_at for j in explicit.jobs()])
        """
    )
    env = {**os.environ, "TZ": "Europe/Berlin"}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip() == "True", out.stderr

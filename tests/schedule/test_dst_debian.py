"""Cron across DST changes follows Debian cron's rule, checked against a brute-force scan.

The oracle walks real time minute by minute over a DST-change day and applies the rule as
Debian's cron does: a job with ``*`` at the start of its minute or hour field runs at every
minute whose local time matches (twice in a repeated hour, never for skipped times); a job
at particular times runs once per matching wall-clock time (the first pass of a repeated
hour) and once at the end of a forward jump for the matching times it skipped.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo

from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st
from pyworkflowy.schedule import parse_cron

# Northern and southern hemispheres; one-hour shifts, and Lord Howe's 30 minutes.
ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe"]
EXPRESSIONS = [
    "0 * * * *",
    "*/15 * * * *",
    "30 * * * *",
    "@hourly",
    "*/7 2 * * *",
    "15 */2 * * *",
    "30 2 * * *",
    "0 2 * * *",
    "45 1 * * *",
    "0,30 1-3 * * *",
    "10,40 1,2 * * *",
    "0 3 * * *",
    "59 1 * * *",
]
MINUTE = timedelta(minutes=1)


@cache
def change_days(zone: str, year: int) -> list[datetime]:
    """The local days of ``year`` on which the UTC offset of ``zone`` changes."""
    tz = ZoneInfo(zone)
    days = []
    day = datetime(year, 1, 1)
    while day.year == year:
        start = day.replace(tzinfo=tz).utcoffset()
        end = (day + timedelta(days=1)).replace(tzinfo=tz).utcoffset()
        if start != end:
            days.append(day)
        day += timedelta(days=1)
    return days


def local_wall(t: float, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(t, tz).replace(tzinfo=None, fold=0)


def debian_fires(expr: str, tz: tzinfo, start: float, end: float) -> list[float]:
    """Fire instants in [start, end) by Debian cron's rule, from a minute-by-minute scan."""
    fields = " ".join(parse_cron(expr).fields)
    real_time = fields.split()[0].startswith("*") or fields.split()[1].startswith("*")
    fires: list[float] = []
    t = start - 12 * 3600  # begin well before the day, so "seen" is settled
    seen: set[datetime] = set()
    previous = local_wall(t - 60, tz)
    while t < end:
        wall = local_wall(t, tz)
        if real_time:
            fire = croniter.match(fields, wall)
        else:
            skipped = []
            probe = previous + MINUTE
            while probe < wall:  # a forward jump: the wall times it skipped
                skipped.append(probe)
                probe += MINUTE
            fire = any(croniter.match(fields, w) for w in skipped)
            if wall not in seen and croniter.match(fields, wall):
                fire = True
            seen.add(wall)
        if fire and t >= start:
            fires.append(t)
        previous = wall
        t += 60
    return fires


def our_fires(expr: str, tz: tzinfo, start: float, end: float) -> list[float]:
    """Fire instants in [start, end) as the scheduler computes them, ticking on time."""
    cron = parse_cron(expr)
    fires = []
    t = cron.next_instant(start - 12 * 3600, tz)
    while t < end:
        if t >= start:
            fires.append(t)
        t = cron.next_instant(t, tz, fired=t)
    return fires


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    year=st.integers(2020, 2035),
    which=st.integers(0, 1),
    expr=st.sampled_from(EXPRESSIONS),
)
def test_fire_times_across_a_dst_change_follow_debian_cron(
    zone: str, year: int, which: int, expr: str
) -> None:
    tz = ZoneInfo(zone)
    day = change_days(zone, year)[which]
    start = day.replace(tzinfo=tz).timestamp()
    end = (day + timedelta(days=1)).replace(tzinfo=tz).timestamp()
    expected = debian_fires(expr, tz, start, end)
    assert our_fires(expr, tz, start, end) == expected


def test_an_hourly_job_fires_25_times_on_the_fall_back_day_and_23_on_spring_forward() -> None:
    tz = ZoneInfo("Europe/Berlin")
    for day, count in ((datetime(2026, 10, 25), 25), (datetime(2026, 3, 29), 23)):
        start = day.replace(tzinfo=tz).timestamp()
        end = (day + timedelta(days=1)).replace(tzinfo=tz).timestamp()
        assert len(our_fires("0 * * * *", tz, start, end)) == count


def test_lord_howe_half_hour_fall_back_repeats_half_an_hour_of_quarter_hours() -> None:
    tz = ZoneInfo("Australia/Lord_Howe")
    day = change_days("Australia/Lord_Howe", 2026)[0]  # April: 02:00 back to 01:30
    start = day.replace(tzinfo=tz).timestamp()
    end = (day + timedelta(days=1)).replace(tzinfo=tz).timestamp()
    fires = our_fires("*/15 * * * *", tz, start, end)
    assert len(fires) == 24 * 4 + 2  # 01:30 and 01:45 come twice
    assert {b - a for a, b in itertools.pairwise(fires)} == {900.0}

"""Scheduler names that upstream pyworkflowy 0.x code uses: value sets, matches, job flags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyworkflowy import TaskRunner, task
from pyworkflowy.schedule import Scheduler, parse_cron


@task
def noop() -> None:
    """A run that finishes at once."""


def test_a_cron_expression_offers_its_value_sets() -> None:
    expr = parse_cron("*/15 9-17 * * 1-5")
    assert expr.minute == frozenset({0, 15, 30, 45})
    assert expr.hour == frozenset(range(9, 18))
    assert expr.day_of_month == frozenset(range(1, 32))
    assert expr.month == frozenset(range(1, 13))
    assert expr.day_of_week == frozenset({1, 2, 3, 4, 5})
    assert expr.second == frozenset({0})
    assert expr.source == "*/15 9-17 * * 1-5"


def test_sunday_is_zero_in_the_day_of_week_set_however_it_is_spelled() -> None:
    assert parse_cron("0 0 * * 7").day_of_week == frozenset({0})
    assert parse_cron("0 0 * * sun,mon").day_of_week == frozenset({0, 1})


def test_special_days_list_the_days_they_can_fall_on() -> None:
    assert parse_cron("0 0 L * *").day_of_month == frozenset({28, 29, 30, 31})
    assert parse_cron("0 9 15W * *").day_of_month == frozenset({13, 14, 15, 16, 17})
    assert parse_cron("0 0 * * * 30").second == frozenset({30})


def test_matches_is_exact_to_the_minute() -> None:
    expr = parse_cron("*/15 9-17 * * 1-5")
    assert expr.matches(datetime(2024, 1, 2, 9, 15, 42))  # a Tuesday; seconds do not count
    assert not expr.matches(datetime(2024, 1, 2, 9, 16))
    assert not expr.matches(datetime(2024, 1, 6, 9, 15))  # a Saturday
    last = parse_cron("0 0 L * *")
    assert last.matches(datetime(2024, 2, 29))
    assert not last.matches(datetime(2024, 2, 28))


def test_matches_reads_an_aware_datetime_in_its_own_zone() -> None:
    expr = parse_cron("0 9 * * *")
    berlin = datetime(2024, 7, 1, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert expr.matches(berlin)
    assert not expr.matches(berlin.astimezone(UTC))  # 07:00 UTC


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)))
def test_next_after_is_the_first_matching_minute_after(start: datetime) -> None:
    expr = parse_cron("7,37 */5 * * 1,3")
    nxt = expr.next_after(start)
    assert nxt > start
    assert expr.matches(nxt)
    probe = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while probe < nxt:  # nothing in between matches
        assert not expr.matches(probe)
        probe += timedelta(minutes=1) if probe.hour % 5 == 0 else timedelta(hours=1)


def test_next_after_keeps_the_dst_rules_for_aware_datetimes() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    expr = parse_cron("30 2 * * *")  # 02:30 does not exist on 2024-03-31 in Berlin
    nxt = expr.next_after(datetime(2024, 3, 31, 0, 0, tzinfo=berlin))
    assert nxt == datetime(2024, 3, 31, 3, 0, tzinfo=berlin)  # when the gap ends
    after = expr.next_after(datetime(2024, 10, 27, 2, 30, tzinfo=berlin))  # repeated hour
    assert after == datetime(2024, 10, 28, 2, 30, tzinfo=berlin)  # fired once, not twice


def test_jobs_say_whether_they_are_one_shot_and_cancelled(clock) -> None:
    sched = Scheduler(runner=TaskRunner(), clock=clock, tz="UTC")
    once = sched.at(clock() + 10).do(noop)
    repeating = sched.every(60).do(noop)
    cron = sched.cron("0 * * * *").do(noop)
    assert once.one_shot
    assert not repeating.one_shot
    assert not cron.one_shot
    assert not once.cancelled
    assert not repeating.cancelled
    assert (repeating.interval, cron.interval, once.interval) == (60.0, None, None)
    assert cron.cron == parse_cron("0 * * * *")
    assert repeating.cron is None
    assert repeating.next_fire == repeating.next_run_at == clock() + 60
    repeating.cancel()
    assert repeating.cancelled
    clock.advance(10)
    assert once.last_handle is None
    [handle] = sched.tick()
    assert once.cancelled  # a one-shot that fired is over
    assert once.last_handle is handle


@pytest.mark.parametrize("lateness", [1, 3600])
def test_a_one_shot_added_after_its_time_fires_on_the_next_tick(clock, lateness: int) -> None:
    sched = Scheduler(runner=TaskRunner(), clock=clock, tz="UTC")
    job = sched.at(clock() - lateness).do(noop)
    assert len(sched.tick()) == 1
    assert job.cancelled

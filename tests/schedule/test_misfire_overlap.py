"""Missed fires (misfire policy and grace window) and overlapping runs (max_instances)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from pyworkflowy import TaskRunner, task
from pyworkflowy.schedule import Scheduler

WAIT = 10.0


@task
def noop() -> None:
    """A run that finishes at once."""


def make(clock, **kwargs) -> tuple[TaskRunner, Scheduler]:
    runner = TaskRunner()
    return runner, Scheduler(runner=runner, clock=clock, tz="UTC", **kwargs)


# -- misfires --------------------------------------------------------------------------------
def test_the_default_grace_window_is_one_second_or_tick_seconds_if_longer(clock) -> None:
    _, fast = make(clock, tick_seconds=0.25)
    _, slow = make(clock, tick_seconds=5)
    assert fast.every(10).do(noop).grace == 1.0
    assert slow.every(10).do(noop).grace == 5.0


def test_a_run_late_by_no_more_than_the_grace_window_fires(clock) -> None:
    _, sched = make(clock)
    sched.every(10).do(noop)
    clock.advance(11)  # one second late, grace 1 s
    assert len(sched.tick()) == 1


def test_by_default_a_run_later_than_the_grace_window_is_skipped(clock) -> None:
    _, sched = make(clock)
    sched.every(10).do(noop)
    clock.advance(11.5)
    assert sched.tick() == []


def test_a_skipped_run_is_logged(clock, caplog) -> None:
    _, sched = make(clock)
    sched.every(10).do(noop)
    clock.advance(25)
    with caplog.at_level(logging.WARNING, logger="pyworkflowy.schedule"):
        sched.tick()
    assert "missed its run" in caplog.text
    assert "skipped" in caplog.text


def test_after_a_skip_the_job_waits_for_its_next_time_in_phase(clock) -> None:
    _, sched = make(clock)
    job = sched.every(10).do(noop)
    start = clock() + 10
    clock.advance(35)
    sched.tick()
    assert job.next_run_at == start + 30  # 10, 20, 30 passed; the next in phase is 40


def test_a_wider_grace_window_lets_a_late_run_fire(clock) -> None:
    _, sched = make(clock)
    sched.every(10, grace=30).do(noop)
    clock.advance(35)
    assert len(sched.tick()) == 1


def test_coalesce_runs_once_for_all_the_missed_runs(clock) -> None:
    runner, sched = make(clock)
    job = sched.every(10, misfire="coalesce").do(noop)
    clock.advance(10 * 60 + 5)  # sixty due times missed
    assert len(sched.tick()) == 1
    runner.run()
    assert sched.tick() == []
    assert job.next_run_at is not None
    assert job.next_run_at > clock()


def test_coalesce_logs_that_it_ran_late(clock, caplog) -> None:
    _, sched = make(clock)
    sched.every(10, misfire="coalesce").do(noop)
    clock.advance(100)
    with caplog.at_level(logging.INFO, logger="pyworkflowy.schedule"):
        sched.tick()
    assert "late" in caplog.text


def test_a_cron_run_missed_beyond_grace_is_skipped_to_the_next_matching_time(clock) -> None:
    _, sched = make(clock)
    job = sched.cron("* * * * *").do(noop)
    due = job.next_run_at
    assert due is not None
    clock.set(due + 150)  # two and a half minutes late
    assert sched.tick() == []
    assert job.next_run_at == due + 180


def test_an_at_time_already_past_when_added_fires_on_the_next_tick(clock) -> None:
    _, sched = make(clock)
    job = sched.at(clock() - 3600).do(noop)
    assert len(sched.tick()) == 1
    assert not job.active


def test_a_late_added_one_shot_is_late_from_when_it_was_added(clock, caplog) -> None:
    _, sched = make(clock)
    job = sched.at(clock() - 3600).do(noop)
    clock.advance(sched.default_grace + 1)  # the first tick comes beyond the grace window
    with caplog.at_level(logging.WARNING, logger="pyworkflowy.schedule"):
        assert sched.tick() == []
    assert "skipped" in caplog.text
    assert not job.active


def test_an_at_time_already_past_runs_once_with_coalesce(clock) -> None:
    _, sched = make(clock)
    sched.at(clock() - 3600, misfire="coalesce").do(noop)
    assert len(sched.tick()) == 1
    assert sched.jobs() == []


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("misfire", "backfill"),
        ("grace", -1),
        ("grace", "soon"),
        ("max_instances", 0),
        ("max_instances", 1.5),
    ],
)
def test_bad_job_options_raise_value_error(clock, option: str, value: Any) -> None:
    _, sched = make(clock)
    with pytest.raises(ValueError, match=option):
        sched.every(10, **{option: value})


# -- overlap ---------------------------------------------------------------------------------
def test_a_fire_is_skipped_while_the_previous_run_is_still_going(clock, caplog) -> None:
    _, sched = make(clock)
    job = sched.every(10).do(noop)
    clock.advance(10)
    (first,) = sched.tick()  # not run yet: still pending
    clock.advance(10)
    with caplog.at_level(logging.WARNING, logger="pyworkflowy.schedule"):
        assert sched.tick() == []
    assert job.handles == [first]
    assert "max_instances=1" in caplog.text


def test_max_instances_allows_that_many_runs_at_once(clock) -> None:
    _, sched = make(clock)
    job = sched.every(10, max_instances=2).do(noop)
    for _ in range(3):
        clock.advance(10)
        sched.tick()
    assert len(job.handles) == 2


def test_a_fire_goes_ahead_once_the_previous_run_has_finished(clock) -> None:
    runner, sched = make(clock)
    job = sched.every(10).do(noop)
    clock.advance(10)
    sched.tick()
    runner.run()
    clock.advance(10)
    assert len(sched.tick()) == 1
    assert len(job.handles) == 2


def test_a_long_run_on_a_live_runner_makes_later_fires_skip(clock) -> None:
    release = threading.Event()
    started = threading.Event()

    def slow() -> None:
        started.set()
        release.wait(WAIT)

    with TaskRunner() as runner:
        sched = Scheduler(runner=runner, clock=clock)
        job = sched.every(10).do(slow)
        runner.start()
        clock.advance(10)
        sched.tick()
        assert started.wait(WAIT)
        clock.advance(10)
        assert sched.tick() == []  # the first run is still going
        release.set()
        job.handles[0].result(timeout=WAIT)
        clock.advance(10)
        assert len(sched.tick()) == 1
        runner.stop()

"""The Scheduler API driven by a fake clock and tick(): building jobs, firing, the job table."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import pytest
from pyworkflowy import TaskRunner, TaskStatus, task
from pyworkflowy.schedule import Job, Scheduler


@task
def add(a: int, b: int = 0) -> int:
    return a + b


def make(clock, **kwargs) -> tuple[TaskRunner, Scheduler]:
    runner = TaskRunner()
    return runner, Scheduler(runner=runner, clock=clock, tz="UTC", **kwargs)


# -- first fire times come from the clock ----------------------------------------------------
def test_every_first_fires_one_interval_after_the_job_is_added(clock) -> None:
    _, sched = make(clock)
    job = sched.every(90).do(add, 1)
    assert job.next_run_at == clock() + 90


def test_every_takes_a_timedelta(clock) -> None:
    _, sched = make(clock)
    job = sched.every(timedelta(minutes=2)).do(add, 1)
    assert job.next_run_at == clock() + 120


def test_every_keeps_its_phase_from_one_fire_to_the_next(clock) -> None:
    _, sched = make(clock)
    job = sched.every(10).do(add, 1)
    first = job.next_run_at
    assert first is not None
    clock.set(first + 0.4)  # a little late, within the grace window
    assert len(sched.tick()) == 1
    assert job.next_run_at == first + 10


def test_cron_first_fires_at_the_next_matching_time_after_the_clock(clock) -> None:
    clock.set(datetime(2026, 6, 1, 10, 17, 30, tzinfo=UTC))
    _, sched = make(clock)
    job = sched.cron("*/15 * * * *").do(add, 1)
    assert job.next_run == datetime(2026, 6, 1, 10, 30, tzinfo=UTC)


def test_at_accepts_epoch_seconds(clock) -> None:
    _, sched = make(clock)
    job = sched.at(clock() + 5).do(add, 1)
    assert job.next_run_at == clock() + 5


def test_at_accepts_an_aware_datetime_as_that_instant(clock) -> None:
    _, sched = make(clock)
    when = datetime(2030, 1, 1, 12, 0, tzinfo=timezone_plus(5))
    job = sched.at(when).do(add, 1)
    assert job.next_run_at == when.timestamp()


def timezone_plus(hours: int):
    from datetime import timezone

    return timezone(timedelta(hours=hours))


def test_at_reads_a_naive_datetime_in_the_scheduler_zone(clock) -> None:
    runner = TaskRunner()
    sched = Scheduler(runner=runner, clock=clock, tz="Asia/Tokyo")
    job = sched.at(datetime(2030, 1, 1, 9, 0)).do(add, 1)
    assert job.next_run_at == datetime(2030, 1, 1, 0, 0, tzinfo=UTC).timestamp()


def test_an_at_job_fires_once_and_then_leaves_the_job_table(clock) -> None:
    _, sched = make(clock)
    job = sched.at(clock() + 5).do(add, 1)
    clock.advance(5)
    assert len(sched.tick()) == 1
    clock.advance(3600)
    assert sched.tick() == []
    assert sched.jobs() == []
    assert job.next_run_at is None
    assert not job.active


# -- firing ----------------------------------------------------------------------------------
def test_tick_before_anything_is_due_fires_nothing(clock) -> None:
    _, sched = make(clock)
    sched.every(10).do(add, 1)
    clock.advance(9.99)
    assert sched.tick() == []


def test_a_job_is_due_exactly_at_its_time(clock) -> None:
    _, sched = make(clock)
    sched.every(10).do(add, 1)
    clock.advance(10)
    assert len(sched.tick()) == 1


def test_fired_runs_get_the_args_and_kwargs_given_to_do(clock) -> None:
    runner, sched = make(clock)
    sched.every(10).do(add, 2, b=3)
    clock.advance(10)
    (handle,) = sched.tick()
    runner.run()
    assert handle.result() == 5


def test_do_accepts_a_plain_callable(clock) -> None:
    runner, sched = make(clock)
    sched.every(10).do(lambda: "plain")
    clock.advance(10)
    (handle,) = sched.tick()
    runner.run()
    assert handle.result() == "plain"


@pytest.mark.parametrize("reserved", ["key", "depends_on"])
def test_do_refuses_keyword_arguments_that_runner_submit_would_swallow(clock, reserved) -> None:
    _, sched = make(clock)
    with pytest.raises(TypeError, match=reserved):
        sched.every(10).do(add, 1, **{reserved: None})


def test_a_task_parameter_named_key_is_passed_with_functools_partial(clock) -> None:
    def keyed(key: str) -> str:
        return key

    runner, sched = make(clock)
    sched.every(10).do(functools.partial(keyed, key="k1"))
    clock.advance(10)
    (handle,) = sched.tick()
    runner.run()
    assert handle.result() == "k1"


def test_do_refuses_something_that_is_not_callable(clock) -> None:
    _, sched = make(clock)
    with pytest.raises(TypeError, match="callable"):
        sched.every(10).do(42)  # type: ignore[arg-type]


def test_due_jobs_fire_in_order_of_their_due_time(clock) -> None:
    _, sched = make(clock)
    late = sched.at(clock() + 0.5).do(add, 1)
    early = sched.at(clock() + 0.2).do(add, 2)
    clock.advance(0.6)
    handles = sched.tick()
    assert handles == [early.handles[0], late.handles[0]]


def test_each_job_records_the_handles_it_fired(clock) -> None:
    runner, sched = make(clock)
    job = sched.every(10).do(add, 1)
    fired = []
    for _ in range(3):
        clock.advance(10)
        fired += sched.tick()
        runner.run()
    assert job.handles == fired
    assert all(h.status is TaskStatus.COMPLETED for h in fired)


def test_tick_raises_when_the_runner_refuses_the_submission_and_keeps_the_job(clock) -> None:
    runner, sched = make(clock)
    job = sched.every(10).do(add, 1)
    runner.shutdown()
    clock.advance(10)
    with pytest.raises(RuntimeError, match="shut down"):
        sched.tick()
    assert job.next_run_at == clock() + 10


# -- the job table ---------------------------------------------------------------------------
def test_jobs_lists_the_active_jobs_in_the_order_added(clock) -> None:
    _, sched = make(clock)
    a = sched.every(10).do(add, 1)
    b = sched.cron("0 * * * *").do(add, 2)
    c = sched.at(clock() + 100).do(add, 3)
    assert sched.jobs() == [a, b, c]


def test_cancel_removes_a_job_so_it_never_fires(clock) -> None:
    _, sched = make(clock)
    job = sched.every(10).do(add, 1)
    assert sched.cancel(job) is True
    clock.advance(10)
    assert sched.tick() == []
    assert sched.jobs() == []
    assert job.next_run_at is None


def test_cancelling_twice_reports_false_the_second_time(clock) -> None:
    _, sched = make(clock)
    job = sched.every(10).do(add, 1)
    assert job.cancel() is True
    assert job.cancel() is False


def test_cancel_leaves_the_other_jobs_firing(clock) -> None:
    _, sched = make(clock)
    keep = sched.every(10).do(add, 1)
    drop = sched.every(10).do(add, 2)
    sched.cancel(drop)
    clock.advance(10)
    assert sched.tick() == keep.handles


def test_cancel_refuses_a_job_of_another_scheduler(clock) -> None:
    _, one = make(clock)
    _, two = make(clock)
    job = one.every(10).do(add, 1)
    with pytest.raises(ValueError, match="another Scheduler"):
        two.cancel(job)


def test_many_cancelled_jobs_do_not_slow_down_or_confuse_the_heap(clock) -> None:
    _, sched = make(clock)
    jobs = [sched.every(10 + i).do(add, i) for i in range(500)]
    for job in jobs[:-1]:
        sched.cancel(job)
    assert sched.next_due() == jobs[-1].next_run_at
    clock.advance(509)
    assert sched.tick() == jobs[-1].handles


def test_a_job_repr_names_the_schedule_the_task_and_the_next_run(clock) -> None:
    clock.set(datetime(2026, 6, 1, 10, 0, tzinfo=UTC))
    _, sched = make(clock)
    job = sched.cron("30 * * * *").do(add, 1)
    text = repr(job)
    assert "cron '30 * * * *'" in text
    assert "add" in text
    assert "2026-06-01T10:30:00+00:00" in text
    assert "fired=0" in text


def test_a_job_exposes_its_schedule_in_words(clock) -> None:
    _, sched = make(clock)
    assert sched.every(2.5).do(add, 1).schedule == "every 2.5s"
    assert sched.at(0).do(add, 1).schedule == "at 1970-01-01T00:00:00+00:00"
    assert isinstance(sched.every(1).do(add, 1), Job)


# -- construction ----------------------------------------------------------------------------
def test_without_a_runner_the_scheduler_uses_the_enclosing_with_task_runner(clock) -> None:
    with TaskRunner() as runner:
        assert Scheduler(clock=clock).runner is runner


def test_without_any_runner_the_scheduler_creates_and_owns_one(clock) -> None:
    with Scheduler(clock=clock, tz="UTC") as sched:
        assert isinstance(sched.runner, TaskRunner)
        sched.every(10).do(add, 1)
        clock.advance(10)
        (handle,) = sched.tick()
        sched.runner.run()
        assert handle.result() == 1
    with pytest.raises(RuntimeError, match="shut down"):
        sched.runner.submit(add, 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tick_seconds": 0},
        {"tick_seconds": -1},
        {"tick_seconds": float("nan")},
        {"tz": "Mars/Olympus_Mons"},
    ],
)
def test_bad_constructor_arguments_raise_value_error(clock, kwargs) -> None:
    with pytest.raises(ValueError):
        Scheduler(runner=TaskRunner(), clock=clock, **kwargs)


def test_a_runner_that_is_not_a_task_runner_is_a_type_error(clock) -> None:
    with pytest.raises(TypeError, match="TaskRunner"):
        Scheduler(runner=object(), clock=clock)  # type: ignore[arg-type]


@pytest.mark.parametrize("interval", [0, -5, float("inf"), True, "60"])
def test_every_refuses_an_interval_that_is_not_a_positive_number(clock, interval) -> None:
    _, sched = make(clock)
    with pytest.raises(ValueError, match="interval"):
        sched.every(interval)


@pytest.mark.parametrize("when", ["2026-01-01", None, True])
def test_at_refuses_what_is_not_a_datetime_or_epoch(clock, when) -> None:
    _, sched = make(clock)
    with pytest.raises(TypeError, match=r"at\(\)"):
        sched.at(when)


def test_every_refuses_an_interval_the_clock_cannot_advance_by(clock) -> None:
    # At today's epoch a float cannot tell t from t + 1e-9: such a job could never move on.
    _, sched = make(clock)
    with pytest.raises(ValueError, match=r"every\(\) interval 1e-09 .* at least"):
        sched.every(1e-9)


@pytest.mark.timeout(30)
def test_a_tiny_interval_still_moves_on_once_the_clock_is_at_epoch_magnitudes(clock) -> None:
    # Accepted near epoch 0 (where 1e-9 s is representable), then the clock jumps to today:
    # each tick still returns and the job's next time lies after the clock.
    clock.set(0.0)
    _, sched = make(clock)
    job = sched.every(1e-9, misfire="coalesce").do(add, 1)
    clock.set(1_800_000_000.0)
    sched.tick()
    next_run = job.next_run_at
    assert next_run is not None
    assert next_run > clock()


@pytest.mark.parametrize("when", [1e300, -1e300, float("nan"), float("inf")])
def test_at_refuses_an_epoch_time_no_date_can_hold(clock, when) -> None:
    _, sched = make(clock)
    with pytest.raises(ValueError, match=r"at\(\)"):
        sched.at(when)


def test_every_refuses_an_interval_that_takes_the_first_run_past_any_date(clock) -> None:
    _, sched = make(clock)
    with pytest.raises(ValueError, match=r"every\(\) interval"):
        sched.every(1e300)

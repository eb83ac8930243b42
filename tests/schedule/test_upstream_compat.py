"""Scheduler names that upstream pyworkflowy 0.x code uses: value sets, matches, job flags."""

from __future__ import annotations

import logging
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


def test_cron_takes_upstreams_expression_keyword_with_a_deprecation_warning(clock) -> None:
    sched = Scheduler(runner=TaskRunner(), clock=clock, tz="UTC")
    with pytest.deprecated_call(match=r"pass the expression positionally or as expr="):
        job = sched.cron(expression="0 * * * *").do(noop)
    assert job.cron == parse_cron("0 * * * *")
    with pytest.raises(TypeError, match="takes the expression once"):
        sched.cron("0 * * * *", expression="5 * * * *")
    with pytest.raises(TypeError, match=r"needs a cron expression"):
        sched.cron()


@pytest.mark.parametrize("lateness", [1, 3600])
def test_a_one_shot_added_after_its_time_fires_on_the_next_tick(clock, lateness: int) -> None:
    sched = Scheduler(runner=TaskRunner(), clock=clock, tz="UTC")
    job = sched.at(clock() - lateness).do(noop)
    assert len(sched.tick()) == 1
    assert job.cancelled


# -- jobs fired by events (Scheduler.on) -----------------------------------------------------
class Bus:
    """The smallest event bus an application might have: what EventSource asks for."""

    def __init__(self) -> None:
        self.handlers: dict[str, list] = {}

    def subscribe(self, event_name: str, handler):
        self.handlers.setdefault(event_name, []).append(handler)
        return lambda: self.handlers[event_name].remove(handler)

    def publish(self, event_name: str, payload: dict) -> None:
        for handler in list(self.handlers.get(event_name, ())):
            handler(payload)


@task
def greet(name: str, greeting: str = "hello") -> str:
    return f"{greeting} {name}"


def test_an_event_job_runs_its_task_with_the_mapped_payload() -> None:
    from pyworkflowy.schedule import EventSource

    bus = Bus()
    assert isinstance(bus, EventSource)
    with TaskRunner() as runner:
        sched = Scheduler(runner=runner, event_source=bus)
        job = sched.on("signup").do(greet, greeting="welcome", payload_map={"user": "name"})
        bus.publish("signup", {"user": "ada", "ignored": 1})
        bus.publish("other", {"user": "bob"})
        runner.run()
    assert job.is_event_driven
    assert job.event_name == "signup"
    assert job.payload_map == {"user": "name"}
    assert [h.result() for h in job.handles] == ["welcome ada"]
    assert job.last_handle is job.handles[-1]
    assert job.next_run_at is None  # the clock never fires it
    assert sched.tick() == []


def test_cancelling_an_event_job_unsubscribes_it() -> None:
    bus = Bus()
    with TaskRunner() as runner:
        sched = Scheduler(runner=runner)
        sched.bind_event_source(bus)
        job = sched.on("signup").do(greet, "ada")
        assert len(bus.handlers["signup"]) == 1
        assert job.cancel()
        assert bus.handlers["signup"] == []
        assert job.cancelled
        runner.run()
    assert job.handles == []


def test_on_without_an_event_source_says_how_to_bind_one() -> None:
    sched = Scheduler(runner=TaskRunner())
    with pytest.raises(RuntimeError, match="bind_event_source"):
        sched.on("signup").do(greet, "ada")
    assert sched.jobs() == []


def test_the_event_source_cannot_change_under_active_event_jobs() -> None:
    sched = Scheduler(runner=TaskRunner(), event_source=Bus())
    job = sched.on("signup").do(greet, "ada")
    with pytest.raises(RuntimeError, match="cancel them first"):
        sched.bind_event_source(Bus())
    job.cancel()
    sched.bind_event_source(Bus())


def test_an_event_source_needs_a_subscribe_method() -> None:
    with pytest.raises(TypeError, match="subscribe"):
        Scheduler(runner=TaskRunner(), event_source=object())  # type: ignore[arg-type]


def test_closing_the_scheduler_unsubscribes_its_event_jobs() -> None:
    bus = Bus()
    with Scheduler(runner=TaskRunner(), event_source=bus) as sched:
        sched.on("signup").do(greet, "ada")
    assert bus.handlers["signup"] == []


def test_an_event_whose_run_cannot_be_submitted_is_logged_not_raised(caplog) -> None:
    bus = Bus()
    runner = TaskRunner()
    sched = Scheduler(runner=runner, event_source=bus)
    sched.on("signup").do(greet, payload_map={"user": "name"})
    runner.shutdown()
    with caplog.at_level(logging.ERROR, logger="pyworkflowy.schedule"):
        bus.publish("signup", {"user": "ada"})  # the publisher is not hurt
    assert "was not submitted" in caplog.text


def test_upstream_names_are_importable() -> None:
    import pyworkflowy
    from pyworkflowy.schedule import EventHandler, EventSource, Job, ScheduledJob

    assert ScheduledJob is Job
    assert pyworkflowy.EventSource is EventSource
    assert pyworkflowy.EventHandler is EventHandler


def test_every_event_runs_even_before_the_runner_runs() -> None:
    bus = Bus()
    with TaskRunner() as runner:
        sched = Scheduler(runner=runner, event_source=bus)
        job = sched.on("signup").do(greet, payload_map={"user": "name"})
        for user in ("ada", "bob", "cy"):
            bus.publish("signup", {"user": user})
        runner.run()
    assert [h.result() for h in job.handles] == ["hello ada", "hello bob", "hello cy"]


def test_max_instances_bounds_the_unfinished_runs_of_an_event_job(caplog) -> None:
    bus = Bus()
    with TaskRunner() as runner:
        sched = Scheduler(runner=runner, event_source=bus)
        job = sched.on("signup", max_instances=1).do(greet, payload_map={"user": "name"})
        with caplog.at_level(logging.WARNING, logger="pyworkflowy.schedule"):
            bus.publish("signup", {"user": "ada"})
            bus.publish("signup", {"user": "bob"})  # ada's run has not finished
        runner.run()
    assert [h.result() for h in job.handles] == ["hello ada"]
    assert "max_instances=1" in caplog.text


def test_setting_cancelled_cancels_the_job(clock) -> None:
    sched = Scheduler(runner=TaskRunner(), clock=clock, tz="UTC")
    job = sched.every(60).do(noop)
    job.cancelled = True
    assert sched.jobs() == []
    with pytest.raises(ValueError, match="is over"):
        job.cancelled = False


def test_stop_without_waiting_returns_and_the_stop_completes(clock) -> None:
    runner = TaskRunner()
    sched = Scheduler(runner=runner, clock=clock, tz="UTC")
    sched.start()
    sched.stop(wait=False)
    sched.stop()  # waits for the stopping begun above
    assert not sched.running
    assert not runner.running
    runner.shutdown()


def test_bind_tasks_wires_each_trigger_of_a_task_with_deprecation_warnings() -> None:
    with pytest.deprecated_call(match="Scheduler.on"):

        @task(triggers=("signup", "invite"), payload_map={"user": "name"})  # type: ignore[call-overload]
        def hello(name: str) -> str:
            return f"hello {name}"

    bus = Bus()
    with TaskRunner() as runner:
        sched = Scheduler(runner=runner, event_source=bus)
        with pytest.deprecated_call(match="bind_tasks"):
            jobs = sched.bind_tasks(hello, noop)  # a task without triggers adds nothing
        bus.publish("invite", {"user": "ada"})
        runner.run()
    assert [job.event_name for job in jobs] == ["signup", "invite"]
    last = jobs[1].last_handle
    assert last is not None
    assert last.result() == "hello ada"


def test_task_base_triggers_are_read_too() -> None:
    import pyworkflowy

    with pytest.deprecated_call():

        class Welcome(pyworkflowy.TaskBase):
            triggers = ("signup",)

            def run(self) -> None: ...

    with pytest.deprecated_call():
        assert Welcome().triggers == ("signup",)


def test_bad_triggers_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="triggers must be"):
        task(triggers=(1,))(lambda: None)  # type: ignore[call-overload]

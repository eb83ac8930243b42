"""Rate limits by tag: ``TaskRunner(rate_limits={"api": "10/s"})``.

What users rely on: with a burst of 1, starts of tasks tagged ``"api"`` are spaced
exactly ``1 / rate`` apart on the runner's clock; with a burst of ``b``, ``b`` may start
at once and the rest follow at the rate; retries are starts like any other; the rate can
change while the run goes on (``set_rate_limit``); a rate and a concurrency limit on one
tag both hold; bad rates fail at once, naming them.

Every run here is on a `VirtualClock` starting at 0: the runner waits for the rate with
timers on that clock, so the rates hold exactly in virtual time and a rate of one a day
takes no real time. Start times are read from `TaskStarted` events and from the clock in
the bodies. Rates with an exact binary interval (4/s: 0.25 s) are compared exactly.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyworkflowy import (
    RateLimit,
    RetryExhaustedError,
    TaskHandle,
    TaskRunner,
    TaskStatus,
    events,
    task,
)
from pyworkflowy.testing import VirtualClock

from tests._recorder import Recorder

EVENT_WAIT = 10.0  # seconds: only reached if the library hangs
DAY = 86_400.0

READY = TaskStatus.READY
COMPLETED, CANCELLED, FAILED = TaskStatus.COMPLETED, TaskStatus.CANCELLED, TaskStatus.FAILED


def started_at(recorder: Recorder, *handles: TaskHandle) -> list[float]:
    """The times of the `TaskStarted` events of ``handles`` (of all, if none given)."""
    wanted = {h.id for h in handles}
    return [e.time for e in recorder.of(events.TaskStarted) if not wanted or e.handle.id in wanted]


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def clocked(**options: Any) -> tuple[TaskRunner, VirtualClock, Recorder]:
    """A runner on a virtual clock at 0, and a recorder of its events."""
    clock = VirtualClock(start=0.0)
    runner = TaskRunner(clock=clock, **options)
    recorder = Recorder()
    runner.subscribe(recorder)
    return runner, clock, recorder


async def noop() -> None:
    return None


# -- the spacing ---------------------------------------------------------------------------


def test_with_a_burst_of_one_starts_are_spaced_exactly_one_interval_apart() -> None:
    runner, clock, recorder = clocked(rate_limits={"api": "4/s"})
    entered: list[float] = []

    @task(tags="api")
    async def call() -> None:
        entered.append(clock())

    with runner:
        handles = [call.submit() for _ in range(5)]
        runner.run()

    assert all(h.status is COMPLETED for h in handles)
    assert started_at(recorder) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert entered == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [h.get_result().started_at for h in handles] == entered


@pytest.mark.parametrize(
    ("spec", "interval"),
    [
        ("10/s", 0.1),
        ("600/min", 0.1),
        ("120/minute", 0.5),
        ("5/h", 720.0),
        ("100/day", 864.0),
        ("2/sec", 0.5),
        (2, 0.5),
        (0.5, 2.0),
        ((4, 1), 0.25),
        (RateLimit(4.0), 0.25),
    ],
)
def test_every_way_of_writing_a_rate_spaces_starts_by_its_interval(
    spec: object, interval: float
) -> None:
    runner, _, recorder = clocked(rate_limits={"api": spec})
    with runner:
        for _ in range(4):
            runner.submit(noop, tags="api")
        runner.run()

    times = started_at(recorder)
    assert times[0] == 0.0
    assert gaps(times) == pytest.approx([interval] * 3)


def test_a_slow_rate_passes_in_virtual_time() -> None:
    # One a day: were the runner to wait in real time, this would never end.
    runner, _, recorder = clocked(rate_limits={"api": "1/day"})
    with runner:
        handles = [runner.submit(noop, tags="api") for _ in range(3)]
        runner.run()

    assert all(h.status is COMPLETED for h in handles)
    assert started_at(recorder) == [0.0, DAY, 2 * DAY]


def test_a_burst_starts_at_once_and_the_rest_follow_at_the_rate() -> None:
    runner, _, recorder = clocked(rate_limits={"api": ("4/s", 3)})
    with runner:
        for _ in range(7):
            runner.submit(noop, tags="api")
        runner.run()

    assert started_at(recorder) == [0.0, 0.0, 0.0, 0.25, 0.5, 0.75, 1.0]


def test_an_idle_burst_refills_at_the_rate_up_to_its_size() -> None:
    # Two start at 0; ten seconds later the bucket holds two again, not ten.
    runner, _, recorder = clocked(rate_limits={"api": RateLimit(1.0, 2)})
    with runner:

        async def come_back_later() -> None:
            await asyncio.sleep(10)
            for _ in range(3):
                runner.submit(noop, tags="api")

        runner.submit(come_back_later)
        first = [runner.submit(noop, tags="api") for _ in range(2)]
        runner.run()

    assert started_at(recorder, *first) == [0.0, 0.0]
    later = [t for t in started_at(recorder) if t >= 10]
    assert later == [10.0, 10.0, 11.0]


def test_untagged_tasks_and_other_tags_are_not_rate_limited() -> None:
    runner, _, recorder = clocked(rate_limits={"api": "1/day"})
    with runner:
        limited = [runner.submit(noop, tags="api") for _ in range(2)]
        free = [runner.submit(noop) for _ in range(3)]
        other = [runner.submit(noop, tags="db") for _ in range(3)]
        runner.run()

    assert started_at(recorder, *limited) == [0.0, DAY]
    assert started_at(recorder, *free, *other) == [0.0] * 6


def test_thread_tasks_are_rate_limited_on_the_virtual_clock() -> None:
    runner, clock, recorder = clocked(rate_limits={"api": "4/s"}, backend="thread")
    entered: list[float] = []

    def call() -> None:
        entered.append(clock())

    with runner:
        for _ in range(4):
            runner.submit(call, tags="api")
        runner.run()

    assert started_at(recorder) == [0.0, 0.25, 0.5, 0.75]
    assert sorted(entered) == [0.0, 0.25, 0.5, 0.75]


def test_a_task_with_two_rate_limited_tags_keeps_both_rates() -> None:
    runner, _, recorder = clocked(rate_limits={"a": "4/s", "b": "2/s"})
    with runner:
        on_a = [runner.submit(noop, tags="a") for _ in range(2)]
        both = [runner.submit(noop, tags={"a", "b"}) for _ in range(3)]
        runner.run()

    starts = {e.handle.id: e.time for e in recorder.of(events.TaskStarted)}
    a_times = sorted(starts[h.id] for h in on_a + both)
    b_times = sorted(starts[h.id] for h in both)
    assert all(gap >= 0.25 for gap in gaps(a_times))
    assert all(gap >= 0.5 for gap in gaps(b_times))
    assert a_times == [0.0, 0.25, 0.5, 1.0, 1.5]


# -- retries, timeouts, waiting ------------------------------------------------------------


def test_each_retry_is_a_start_and_keeps_the_rate() -> None:
    runner, clock, recorder = clocked(rate_limits={"api": "4/s"}, on_task_error="continue")
    attempts: list[float] = []

    @task(tags="api", retries=2)
    async def flaky() -> None:
        attempts.append(clock())
        raise ConnectionError("down")

    with runner:
        handle = flaky.submit()
        runner.run()

    assert handle.status is FAILED
    assert isinstance(handle.exception(), RetryExhaustedError)
    assert attempts == [0.0, 0.25, 0.5]
    assert started_at(recorder) == [0.0, 0.25, 0.5]


def test_retries_and_other_tasks_share_one_rate() -> None:
    runner, _, recorder = clocked(rate_limits={"api": "4/s"}, on_task_error="continue")
    failures = 0

    @task(tags="api", retries=2)
    async def flaky() -> str:
        nonlocal failures
        if failures < 2:
            failures += 1
            raise ConnectionError("down")
        return "up"

    with runner:
        handle = flaky.submit()
        others = [runner.submit(noop, tags="api") for _ in range(3)]
        runner.run()

    assert handle.result() == "up"
    assert all(h.status is COMPLETED for h in others)
    assert started_at(recorder) == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]


def test_a_task_waiting_for_the_rate_is_ready_and_its_timeout_has_not_started() -> None:
    runner, clock, _ = clocked(rate_limits={"api": "1/s"})
    seen: list[TaskStatus] = []

    @task(tags="api", timeout=0.5)
    async def call() -> float:
        return clock()

    with runner:

        async def look() -> None:
            seen.append(last.status)

        handles = [call.submit() for _ in range(3)]
        last = handles[-1]
        runner.submit(look)
        runner.run()

    assert seen == [READY]
    assert [h.status for h in handles] == [COMPLETED] * 3
    assert [h.result() for h in handles] == [0.0, 1.0, 2.0]
    assert [h.attempts for h in handles] == [1, 1, 1]


def test_a_task_cancelled_while_waiting_for_the_rate_frees_its_place() -> None:
    runner, _, recorder = clocked(rate_limits={"api": "1/day"})
    with runner:

        async def cancel_the_next() -> None:
            assert waiting.cancel()

        first = runner.submit(cancel_the_next, tags="api")
        waiting = runner.submit(noop, tags="api")
        after = runner.submit(noop, tags="api")
        runner.run()

    assert first.status is COMPLETED
    assert waiting.status is CANCELLED
    assert waiting.attempts == 0
    assert started_at(recorder) == [0.0, DAY]
    assert after.get_result().started_at == DAY


def test_a_run_aborted_by_a_failure_cancels_the_tasks_waiting_for_the_rate() -> None:
    runner, _, _ = clocked(rate_limits={"api": "1/s"})

    async def fails() -> None:
        raise RuntimeError("boom")

    with runner:
        failing = runner.submit(fails, tags="api")
        waiting = [runner.submit(noop, tags="api") for _ in range(2)]
        with pytest.raises(RuntimeError, match="boom"):
            runner.run()

    assert failing.status is FAILED
    assert [h.status for h in waiting] == [CANCELLED, CANCELLED]
    assert [h.attempts for h in waiting] == [0, 0]


# -- changing a rate while the run goes on -------------------------------------------------


def test_raising_a_rate_during_the_run_spaces_later_starts_by_the_new_interval() -> None:
    runner, _, recorder = clocked(rate_limits={"api": "1/s"})
    with runner:

        async def speed_up() -> None:
            await asyncio.sleep(2.5)
            runner.set_rate_limit("api", "4/s")

        runner.submit(speed_up)
        handles = [runner.submit(noop, tags="api") for _ in range(7)]
        runner.run()
        assert runner.rate_limits == {"api": RateLimit(4.0, 1)}

    times = started_at(recorder, *handles)
    assert times[:3] == [0.0, 1.0, 2.0]
    after = times[3:]
    assert 2.5 <= after[0] <= 3.0  # no sooner than the change, no later than the old rate
    assert gaps(after) == [0.25, 0.25, 0.25]


def test_lowering_a_rate_during_the_run_spaces_later_starts_by_the_new_interval() -> None:
    runner, _, recorder = clocked(rate_limits={"api": "4/s"})
    with runner:

        async def slow_down() -> None:
            await asyncio.sleep(0.6)
            runner.set_rate_limit("api", "1/s")

        runner.submit(slow_down)
        handles = [runner.submit(noop, tags="api") for _ in range(7)]
        runner.run()

    times = started_at(recorder, *handles)
    assert times[:3] == [0.0, 0.25, 0.5]
    after = [t for t in times if t > 0.6]
    assert gaps(after) == [1.0] * (len(after) - 1)
    assert len(after) == 4


def test_removing_a_rate_starts_every_waiting_task_at_once() -> None:
    runner, _, recorder = clocked(rate_limits={"api": "1/s"})
    with runner:

        async def remove() -> None:
            await asyncio.sleep(2.5)
            runner.set_rate_limit("api", None)

        runner.submit(remove)
        handles = [runner.submit(noop, tags="api") for _ in range(6)]
        runner.run()
        assert runner.rate_limits == {}

    assert started_at(recorder, *handles) == [0.0, 1.0, 2.0, 2.5, 2.5, 2.5]


def test_a_rate_set_during_the_run_applies_to_a_tag_that_had_none() -> None:
    runner, _, recorder = clocked()
    with runner:

        async def limit() -> None:
            runner.set_rate_limit("api", "4/s")
            for _ in range(3):
                runner.submit(noop, tags="api")

        runner.submit(limit)
        runner.run()

    api = [e.time for e in recorder.of(events.TaskStarted) if e.handle.tags]
    assert api == [0.0, 0.25, 0.5]


@pytest.mark.timeout(30)
def test_removing_a_rate_from_another_thread_while_serving_starts_the_waiting_tasks() -> None:
    # On the real clock: at one a day, the waiting tasks only start because of the change.
    started = [threading.Event() for _ in range(3)]
    runner = TaskRunner(rate_limits={"api": "1/day"}, backend="thread")
    runner.start()
    try:
        handles = [runner.submit(event.set, tags="api") for event in started]
        assert started[0].wait(EVENT_WAIT)
        assert [h.status for h in handles[1:]] == [READY, READY]
        runner.set_rate_limit("api", None)
        assert all(event.wait(EVENT_WAIT) for event in started)
    finally:
        runner.stop(timeout=EVENT_WAIT)
        runner.shutdown()
    assert all(h.status is COMPLETED for h in handles)


# -- a rate and a concurrency limit on one tag ---------------------------------------------


def test_with_a_rate_and_a_limit_long_tasks_wait_for_the_limit() -> None:
    runner, _, recorder = clocked(limits={"api": 1}, rate_limits={"api": "4/s"})

    async def long_call() -> None:
        await asyncio.sleep(1)

    with runner:
        for _ in range(3):
            runner.submit(long_call, tags="api")
        runner.run()
        assert runner.limits == {"api": 1}
        assert runner.rate_limits == {"api": RateLimit(4.0, 1)}

    assert started_at(recorder) == [0.0, 1.0, 2.0]


def test_with_a_rate_and_a_limit_short_tasks_wait_for_the_rate() -> None:
    runner, _, recorder = clocked(limits={"api": 1}, rate_limits={"api": "4/s"})

    async def short_call() -> None:
        await asyncio.sleep(0.125)

    with runner:
        for _ in range(3):
            runner.submit(short_call, tags="api")
        runner.run()

    assert started_at(recorder) == [0.0, 0.25, 0.5]


def test_with_a_burst_and_a_limit_both_hold() -> None:
    # A burst of 4 would let four start at 0; the limit of 2 lets two run at a time.
    runner, _, recorder = clocked(limits={"api": 2}, rate_limits={"api": ("4/s", 4)})

    async def call() -> None:
        await asyncio.sleep(0.125)

    with runner:
        for _ in range(6):
            runner.submit(call, tags="api")
        runner.run()

    assert started_at(recorder) == [0.0, 0.0, 0.125, 0.125, 0.25, 0.5]


# -- reading and validation ----------------------------------------------------------------


def test_the_rates_given_are_read_back_as_rate_limits() -> None:
    with TaskRunner(
        rate_limits={"api": "600/min", "db": ("2/s", 5), "x": RateLimit(3.0, 2), "y": 4}
    ) as runner:
        rates = runner.rate_limits

    assert rates == {
        "api": RateLimit(pytest.approx(10.0), 1),  # type: ignore[arg-type]
        "db": RateLimit(2.0, 5),
        "x": RateLimit(pytest.approx(3.0), 2),  # type: ignore[arg-type]
        "y": RateLimit(4.0, 1),
    }
    assert all(isinstance(rate, RateLimit) for rate in rates.values())


def test_a_runner_has_no_rate_limits_by_default() -> None:
    with TaskRunner() as runner:
        assert runner.rate_limits == {}


BAD_RATES = [
    pytest.param("10/fortnight", id="unknown-unit"),
    pytest.param("abc", id="not-a-rate"),
    pytest.param("10", id="no-unit"),
    pytest.param("/s", id="no-number"),
    pytest.param("-1/s", id="negative-string"),
    pytest.param("0/s", id="zero-string"),
    pytest.param(0, id="zero"),
    pytest.param(-1, id="negative"),
    pytest.param(float("inf"), id="infinite"),
    pytest.param(float("nan"), id="nan"),
    pytest.param(True, id="bool"),
    pytest.param(None, id="none"),
    pytest.param((10, 0), id="zero-burst"),
    pytest.param((10, 1.5), id="float-burst"),
    pytest.param((10, 1, 2), id="three-items"),
    pytest.param("10/ms", id="milliseconds"),  # not a unit it knows: must not mean minutes
]


def _named(spec: object) -> str:
    """What the error must name: the burst for a bad burst, the spec otherwise."""
    if isinstance(spec, tuple) and len(spec) == 2:
        return repr(spec[1])
    return repr(spec)


@pytest.mark.parametrize("spec", BAD_RATES)
def test_a_bad_rate_is_refused_at_construction_naming_it(spec: object) -> None:
    with pytest.raises(ValueError, match="api") as caught:
        TaskRunner(rate_limits={"api": spec})
    assert _named(spec) in str(caught.value)


@pytest.mark.parametrize("spec", [s for s in BAD_RATES if s.values[0] is not None])
def test_set_rate_limit_refuses_a_bad_rate_and_keeps_the_old_one(spec: object) -> None:
    with TaskRunner(rate_limits={"api": "4/s"}) as runner:
        with pytest.raises(ValueError, match="api") as caught:
            runner.set_rate_limit("api", spec)
        assert runner.rate_limits == {"api": RateLimit(4.0, 1)}
    assert _named(spec) in str(caught.value)


@pytest.mark.parametrize("tag", [3, "", b"api", None])
def test_a_rate_for_something_other_than_a_tag_is_refused_naming_it(tag: object) -> None:
    with pytest.raises((ValueError, TypeError)) as caught:
        TaskRunner(rate_limits={tag: "1/s"})  # type: ignore[dict-item]
    assert repr(tag) in str(caught.value)


def test_rate_limits_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match="rate_limits"):
        TaskRunner(rate_limits=[("api", "1/s")])  # type: ignore[arg-type]


# -- property: random DAGs, tags and rates on the virtual clock -------------------------------

TAGS = "ab"
Node = tuple[tuple[int, ...], frozenset[str]]  # (dependencies, tags)


@st.composite
def rated_dags(draw: st.DrawFn) -> tuple[list[Node], dict[str, int]]:
    size = draw(st.integers(min_value=1, max_value=20))
    nodes = []
    for i in range(size):
        deps = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        tags = draw(st.frozensets(st.sampled_from(TAGS)))
        nodes.append((tuple(sorted(deps)), tags))
    rates = {tag: draw(st.integers(1, 10)) for tag in TAGS}  # per second
    return nodes, rates


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rated_dags())
def test_property_consecutive_starts_of_a_tag_are_one_interval_apart_at_least(
    case: tuple[list[Node], dict[str, int]],
) -> None:
    nodes, rates = case
    clock = VirtualClock(start=0.0)
    starts: dict[str, list[float]] = defaultdict(list)

    async def body(its_tags: frozenset[str]) -> None:
        for tag in its_tags:
            starts[tag].append(clock())

    with TaskRunner(clock=clock, rate_limits=rates) as runner:
        recorder = Recorder()
        runner.subscribe(recorder)
        handles: list[TaskHandle] = []
        for deps, tags in nodes:
            handles.append(
                runner.submit(body, tags, depends_on=[handles[d] for d in deps], tags=tags)
            )
        runner.run()

    assert [h.status for h in handles] == [COMPLETED] * len(handles)
    for tag, rate in rates.items():
        interval = 1.0 / rate
        assert all(gap >= interval - 1e-9 for gap in gaps(starts[tag]))
        event_times = [e.time for e in recorder.of(events.TaskStarted) if tag in e.handle.tags]
        assert event_times == starts[tag]

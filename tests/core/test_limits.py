"""Concurrency limits by tag: ``@task(tags=...)`` and ``TaskRunner(limits={"db": 4})``.

What users rely on: at most ``n`` tasks tagged ``"db"`` run at once, whatever backend runs
them; a task with several limited tags needs a slot in each; a task waiting for a slot is
READY (not RUNNING: no `TaskStarted`, no attempt, its timeout not started); tasks of a tag
start in the order they became ready, so none starves and crossing tag sets cannot
deadlock; ``set_limit`` changes a limit while the run goes on; a task cancelled while it
waits ends CANCELLED and frees its place; bad tags and limits fail at once, naming them.

"How many run at once" is read from the runner's own events (`Timeline`): the runner
emits `TaskStarted` when it gives an attempt to its backend and `TaskFinished` or
`TaskRetrying` when the attempt ends, so counting between them shows what the runner
admitted, deterministically. Bodies that must overlap meet at barriers; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyworkflowy import (
    Task,
    TaskBase,
    TaskCancelledError,
    TaskHandle,
    TaskRunner,
    TaskStatus,
    events,
    task,
)
from pyworkflowy.testing import VirtualClock

from tests.core._probes import ConcurrencyProbe

EVENT_WAIT = 10.0  # seconds: only reached if the library hangs

READY, RUNNING = TaskStatus.READY, TaskStatus.RUNNING
COMPLETED, CANCELLED, FAILED = TaskStatus.COMPLETED, TaskStatus.CANCELLED, TaskStatus.FAILED


class Timeline:
    """A subscriber: the starts and ends of attempts in the order the runner made them,
    and per tag how many attempts it had running at once."""

    def __init__(self) -> None:
        self.order: list[tuple[str, str]] = []  # ("start" | "end", handle id)
        self.active: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.active_before: dict[str, list[Counter[str]]] = {}  # id: counts when it started
        self._running: set[str] = set()

    def __call__(self, event: object) -> None:
        if isinstance(event, events.TaskStarted):
            hid = event.handle.id
            self.active_before.setdefault(hid, []).append(self.active.copy())
            self._running.add(hid)
            self.order.append(("start", hid))
            for tag in event.handle.tags:
                self.active[tag] += 1
                self.peak[tag] = max(self.peak[tag], self.active[tag])
        elif isinstance(event, (events.TaskRetrying, events.TaskFinished)):
            hid = event.handle.id
            if hid in self._running:  # a handle cancelled while it waited never started
                self._running.remove(hid)
                self.order.append(("end", hid))
                for tag in event.handle.tags:
                    self.active[tag] -= 1

    def starts(self) -> list[str]:
        """Handle ids in the order their attempts started."""
        return [hid for kind, hid in self.order if kind == "start"]

    def at(self, kind: str, handle: TaskHandle) -> int:
        """Where ``handle``'s first start (or end) is in `order`."""
        return self.order.index((kind, handle.id))


@contextmanager
def serving(**options: Any) -> Iterator[TaskRunner]:
    """A runner serving on a background thread: submissions and changes from this thread
    have taken effect when the call returns."""
    runner = TaskRunner(**options)
    runner.start()
    try:
        yield runner
    finally:
        try:
            runner.stop(timeout=EVENT_WAIT)
        finally:
            runner.shutdown()


async def noop() -> None:
    return None


def ids(*handles: TaskHandle) -> list[str]:
    return [h.id for h in handles]


# -- tags ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"db", "eu"}, {"db", "eu"}),
        ("db", {"db"}),  # one string is one tag, not its letters
        (["db", "db"], {"db"}),
        (("db", "eu"), {"db", "eu"}),
    ],
)
def test_task_tags_are_a_frozenset_of_strings(tags: object, expected: set[str]) -> None:
    @task(tags=tags)  # type: ignore[arg-type]
    def body() -> None:
        return None

    assert body.tags == frozenset(expected)
    assert isinstance(body.tags, frozenset)


def test_a_task_has_no_tags_by_default() -> None:
    @task
    def body() -> None:
        return None

    assert body.tags == frozenset()


def test_the_task_constructor_takes_tags() -> None:
    def body() -> None:
        return None

    assert Task(body, tags=("db", "eu")).tags == frozenset({"db", "eu"})


def test_a_task_base_subclass_takes_tags_as_a_class_attribute() -> None:
    class Query(TaskBase):
        tags = "db"

        def run(self) -> None:
            return None

    assert Query().tags == frozenset({"db"})


def test_submit_adds_tags_to_the_tasks_own_for_that_handle_only() -> None:
    @task(tags="db")
    def body() -> None:
        return None

    with TaskRunner() as runner:
        extra = runner.submit(body, tags="eu")
        via_task = body.submit(tags={"eu", "gpu"})
        plain = runner.submit(body)

    assert extra.tags == frozenset({"db", "eu"})
    assert via_task.tags == frozenset({"db", "eu", "gpu"})
    assert plain.tags == frozenset({"db"})
    assert body.tags == frozenset({"db"})


def test_a_plain_callable_submitted_with_tags_has_them() -> None:
    with TaskRunner() as runner:
        handle = runner.submit(pow, 2, 3, tags=["db"])
        untagged = runner.submit(pow, 2, 3)
        runner.run()
    assert handle.tags == frozenset({"db"})
    assert untagged.tags == frozenset()
    assert handle.result() == 8


BAD_TAGS = [
    pytest.param("", id="empty-string"),
    pytest.param(3, id="int"),
    pytest.param(b"db", id="bytes"),
    pytest.param({"db": 1}, id="mapping"),
    pytest.param(["db", ""], id="empty-string-inside"),
    pytest.param(["db", 3], id="int-inside"),
    pytest.param([b"db"], id="bytes-inside"),
    pytest.param([["db"]], id="list-inside"),  # unhashable: still a bad tag, named
]


def _bad_part(tags: object) -> str:
    """The part of ``tags`` the error must name."""
    if isinstance(tags, list):
        return repr(next(t for t in tags if not (isinstance(t, str) and t)))
    return repr(tags)


@pytest.mark.parametrize("tags", BAD_TAGS)
def test_bad_tags_on_a_task_are_refused_naming_them(tags: object) -> None:
    with pytest.raises(ValueError, match="tags") as caught:
        task(tags=tags)(noop)  # type: ignore[arg-type]
    assert _bad_part(tags) in str(caught.value)


@pytest.mark.parametrize("tags", BAD_TAGS)
def test_bad_tags_on_the_task_constructor_are_refused_naming_them(tags: object) -> None:
    with pytest.raises(ValueError, match="tags") as caught:
        Task(noop, tags=tags)  # type: ignore[arg-type]
    assert _bad_part(tags) in str(caught.value)


@pytest.mark.parametrize("tags", BAD_TAGS)
def test_bad_tags_on_submit_are_refused_naming_them(tags: object) -> None:
    with TaskRunner() as runner:
        with pytest.raises(ValueError, match="tags") as caught:
            runner.submit(noop, tags=tags)  # type: ignore[arg-type]
        assert runner.handles() == []
    assert _bad_part(tags) in str(caught.value)


# -- limits: reading and validation --------------------------------------------------------


def test_the_limits_given_are_read_back() -> None:
    with TaskRunner(limits={"db": 4, "api": 1}) as runner:
        assert runner.limits == {"db": 4, "api": 1}


def test_a_runner_has_no_limits_by_default() -> None:
    with TaskRunner() as runner:
        assert runner.limits == {}


def test_set_limit_changes_and_removes_a_limit_between_runs() -> None:
    with TaskRunner(limits={"db": 4}) as runner:
        runner.set_limit("db", 8)
        runner.set_limit("eu", 2)
        assert runner.limits == {"db": 8, "eu": 2}
        runner.set_limit("db", None)
        assert runner.limits == {"eu": 2}


@pytest.mark.parametrize(
    "limits",
    [
        pytest.param({"db": 0}, id="zero"),
        pytest.param({"db": -1}, id="negative"),
        pytest.param({"db": 1.5}, id="float"),
        pytest.param({"db": True}, id="bool"),
        pytest.param({"db": "2"}, id="string"),
        pytest.param({"db": None}, id="none"),
    ],
)
def test_a_bad_limit_is_refused_at_construction_naming_it(limits: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="db") as caught:
        TaskRunner(limits=limits)  # type: ignore[arg-type]
    assert repr(limits["db"]) in str(caught.value)


@pytest.mark.parametrize("tag", [3, "", b"db", None])
def test_a_limit_for_something_other_than_a_tag_is_refused_naming_it(tag: object) -> None:
    with pytest.raises((ValueError, TypeError)) as caught:
        TaskRunner(limits={tag: 2})  # type: ignore[dict-item]
    assert repr(tag) in str(caught.value)


def test_limits_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match="limits"):
        TaskRunner(limits=[("db", 2)])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tag", "limit"), [("db", 0), ("db", -1), ("db", 1.5), ("db", True), ("", 2), (3, 2)]
)
def test_set_limit_refuses_a_bad_value_and_keeps_the_old_one(tag: object, limit: object) -> None:
    with TaskRunner(limits={"db": 4}) as runner:
        with pytest.raises((ValueError, TypeError)) as caught:
            runner.set_limit(tag, limit)  # type: ignore[arg-type]
        assert runner.limits == {"db": 4}
    assert repr(limit if tag == "db" else tag) in str(caught.value)


# -- at most n at once ---------------------------------------------------------------------


def test_at_most_n_thread_tasks_of_a_tag_run_at_once() -> None:
    # Pairs meet at the barrier, so two do run together; the runner never lets a third in.
    probe = ConcurrencyProbe()
    pair = threading.Barrier(2, timeout=EVENT_WAIT)
    timeline = Timeline()

    @task(tags="db", backend="thread")
    def query() -> None:
        probe.enter()
        pair.wait()
        probe.leave()

    with TaskRunner(limits={"db": 2}, max_workers=6) as runner:
        runner.subscribe(timeline)
        handles = [query.submit() for _ in range(6)]
        runner.run()

    assert all(h.status is COMPLETED for h in handles)
    assert timeline.peak["db"] == 2
    assert probe.peak == 2


def test_at_most_n_coroutines_of_a_tag_run_at_once() -> None:
    probe = ConcurrencyProbe()
    pair = asyncio.Barrier(2)
    timeline = Timeline()

    @task(tags="db")
    async def query() -> None:
        probe.enter()
        await asyncio.wait_for(pair.wait(), EVENT_WAIT)
        probe.leave()

    with TaskRunner(limits={"db": 2}) as runner:
        runner.subscribe(timeline)
        handles = [query.submit() for _ in range(6)]
        runner.run()

    assert all(h.status is COMPLETED for h in handles)
    assert timeline.peak["db"] == 2
    assert probe.peak == 2


def test_sync_tasks_on_the_asyncio_backend_are_limited_too() -> None:
    timeline = Timeline()
    pair = threading.Barrier(2, timeout=EVENT_WAIT)

    def query() -> None:  # a sync body of an "asyncio" task runs on its own thread pool
        pair.wait()

    with TaskRunner(limits={"db": 2}, max_workers=6) as runner:
        runner.subscribe(timeline)
        handles = [runner.submit(query, tags="db") for _ in range(6)]
        runner.run()

    assert all(h.status is COMPLETED for h in handles)
    assert timeline.peak["db"] == 2


def test_one_limit_holds_across_backends() -> None:
    timeline = Timeline()

    @task(tags="db")
    async def in_loop() -> str:
        return "loop"

    @task(tags="db", backend="thread")
    def in_thread() -> str:
        return "thread"

    def sync_on_asyncio() -> str:
        return "asyncio pool"

    with TaskRunner(limits={"db": 1}, max_workers=4) as runner:
        runner.subscribe(timeline)
        handles = []
        for _ in range(3):
            handles += [in_loop.submit(), in_thread.submit()]
            handles.append(runner.submit(sync_on_asyncio, tags="db"))
        runner.run()

    assert all(h.status is COMPLETED for h in handles)
    assert timeline.peak["db"] == 1


@task(tags="cpu", backend="process")
def pid_in_process() -> int:
    return os.getpid()


def test_process_tasks_are_limited_too() -> None:
    pytest.importorskip("pyworkflowy.process")
    timeline = Timeline()
    with TaskRunner(limits={"cpu": 1}, max_workers=4) as runner:
        runner.subscribe(timeline)
        handles = [pid_in_process.submit() for _ in range(4)]
        runner.run()

    assert all(h.status is COMPLETED for h in handles)
    assert all(h.result() != os.getpid() for h in handles)
    assert timeline.peak["cpu"] == 1


def test_a_limit_counts_handles_tagged_at_submission() -> None:
    timeline = Timeline()
    with TaskRunner(limits={"db": 1}) as runner:
        runner.subscribe(timeline)
        handles = [runner.submit(noop, tags="db") for _ in range(4)]
        runner.run()

    assert all(h.status is COMPLETED for h in handles)
    assert timeline.peak["db"] == 1


def test_untagged_tasks_and_other_tags_do_not_wait_for_a_full_tag() -> None:
    # The db slot stays taken until the others have run: were they held back, it never frees.
    others_done = asyncio.Event()
    count = 0

    async def hold_db() -> None:
        await asyncio.wait_for(others_done.wait(), EVENT_WAIT)

    async def other() -> None:
        nonlocal count
        count += 1
        if count == 2:
            others_done.set()

    with TaskRunner(limits={"db": 1, "eu": 1}) as runner:
        holder = runner.submit(hold_db, tags="db")
        waiting = runner.submit(noop, tags="db")
        untagged = runner.submit(other)
        other_tag = runner.submit(other, tags="eu")
        runner.run()

    assert [h.status for h in (holder, waiting, untagged, other_tag)] == [COMPLETED] * 4


def test_the_items_of_a_map_over_a_tagged_task_are_limited() -> None:
    timeline = Timeline()
    pair = asyncio.Barrier(2)

    @task(tags="db")
    async def double(x: int) -> int:
        await asyncio.wait_for(pair.wait(), EVENT_WAIT)
        return 2 * x

    with TaskRunner(limits={"db": 2}) as runner:
        runner.subscribe(timeline)
        handles = runner.map(double, range(6))
        runner.run()

    assert [h.result() for h in handles] == [0, 2, 4, 6, 8, 10]
    assert timeline.peak["db"] == 2


def test_the_items_of_a_map_over_an_output_are_limited() -> None:
    timeline = Timeline()
    pair = asyncio.Barrier(2)

    async def numbers() -> list[int]:
        return list(range(6))

    @task(tags="db")
    async def double(x: int) -> int:
        await asyncio.wait_for(pair.wait(), EVENT_WAIT)
        return 2 * x

    with TaskRunner(limits={"db": 2}) as runner:
        runner.subscribe(timeline)
        mapped = runner.map(double, runner.submit(numbers).output)
        runner.run()

    assert mapped.result() == [0, 2, 4, 6, 8, 10]
    assert timeline.peak["db"] == 2


# -- waiting is READY, not RUNNING ---------------------------------------------------------


@pytest.mark.timeout(30)
def test_a_task_waiting_for_its_tag_is_ready_and_has_not_started() -> None:
    release = threading.Event()
    timeline = Timeline()

    def hold() -> None:
        release.wait(EVENT_WAIT)

    with serving(limits={"db": 1}, backend="thread") as runner:
        runner.subscribe(timeline)
        holder = runner.submit(hold, tags="db")
        waiting = runner.submit(hold, tags="db")
        try:
            assert holder.status is RUNNING
            assert waiting.status is READY
            assert waiting.attempts == 0
            assert timeline.starts() == ids(holder)
        finally:
            release.set()
    assert waiting.status is COMPLETED
    assert waiting.attempts == 1


@pytest.mark.timeout(30)
def test_waiting_handles_are_among_the_runners_handles() -> None:
    release = threading.Event()

    def hold() -> None:
        release.wait(EVENT_WAIT)

    with serving(limits={"db": 1}, backend="thread") as runner:
        handles = [runner.submit(hold, tags="db") for _ in range(3)]
        try:
            assert runner.handles() == handles
            assert [h.status for h in runner.handles()] == [RUNNING, READY, READY]
        finally:
            release.set()


def test_a_waiting_tasks_timeout_has_not_started() -> None:
    clock = VirtualClock(start=0.0)

    async def busy() -> None:
        await asyncio.sleep(5)

    @task(tags="db", timeout=1)
    async def quick() -> float:
        return clock()

    with TaskRunner(clock=clock, limits={"db": 1}) as runner:
        runner.submit(busy, tags="db")
        handle = quick.submit()
        runner.run()

    assert handle.status is COMPLETED
    assert handle.result() == 5.0
    assert handle.get_result().started_at == 5.0


def test_a_waiting_tasks_timeout_counts_from_its_start() -> None:
    clock = VirtualClock(start=0.0)

    async def busy() -> None:
        await asyncio.sleep(5)

    @task(tags="db", timeout=1)
    async def slow() -> None:
        await asyncio.sleep(2)

    with TaskRunner(clock=clock, limits={"db": 1}, on_task_error="continue") as runner:
        runner.submit(busy, tags="db")
        handle = slow.submit()
        runner.run()

    assert handle.status is FAILED
    result = handle.get_result()
    assert (result.started_at, result.finished_at) == (5.0, 6.0)


# -- in what order: FIFO per tag, all or none, no starvation, no deadlock -------------------


def test_tasks_of_a_tag_start_in_submission_order() -> None:
    timeline = Timeline()
    with TaskRunner(limits={"db": 1}) as runner:
        runner.subscribe(timeline)
        handles = [runner.submit(noop, tags="db") for _ in range(6)]
        runner.run()
    assert timeline.starts() == ids(*handles)


def test_thread_tasks_of_a_tag_start_in_submission_order() -> None:
    timeline = Timeline()

    def query() -> None:
        return None

    with TaskRunner(limits={"db": 1}, backend="thread", max_workers=4) as runner:
        runner.subscribe(timeline)
        handles = [runner.submit(query, tags="db") for _ in range(8)]
        runner.run()
    assert timeline.starts() == ids(*handles)


def test_tasks_of_a_tag_start_in_the_order_they_became_ready() -> None:
    # `late` was submitted before `early`, but became ready only once `first` was done.
    first_done = asyncio.Event()
    timeline = Timeline()

    async def hold_db() -> None:
        await asyncio.wait_for(first_done.wait(), EVENT_WAIT)

    async def first_body() -> None:
        first_done.set()

    with TaskRunner(limits={"db": 1}) as runner:
        runner.subscribe(timeline)
        holder = runner.submit(hold_db, tags="db")
        first = runner.submit(first_body)
        late = runner.submit(noop, depends_on=first, tags="db")
        early = runner.submit(noop, tags="db")
        runner.run()

    assert timeline.starts() == ids(holder, first, early, late)


def test_a_task_with_several_limited_tags_starts_only_when_each_has_room() -> None:
    # `both` needs a and b: a frees first (when `on_a` ends), but b only when `on_b` ends.
    b_release = asyncio.Event()
    timeline = Timeline()

    async def hold_b() -> None:
        await asyncio.wait_for(b_release.wait(), EVENT_WAIT)

    with TaskRunner(limits={"a": 1, "b": 1}) as runner:
        runner.subscribe(timeline)
        on_b = runner.submit(hold_b, tags="b")
        on_a = runner.submit(noop, tags="a")
        both = runner.submit(noop, tags={"a", "b"})

        def release_b_once_a_is_done(event: object) -> None:
            if isinstance(event, events.TaskFinished) and event.handle is on_a:
                b_release.set()

        runner.subscribe(release_b_once_a_is_done)
        runner.run()

    assert all(h.status is COMPLETED for h in (on_b, on_a, both))
    assert timeline.at("end", on_a) < timeline.at("end", on_b) < timeline.at("start", both)


@pytest.mark.timeout(30)
def test_a_task_waits_behind_an_earlier_one_in_each_of_its_tags() -> None:
    # b is free, but `behind` became ready after `both`, which waits for a: FIFO per tag.
    release = threading.Event()
    timeline = Timeline()

    def hold() -> None:
        release.wait(EVENT_WAIT)

    with serving(limits={"a": 1, "b": 1}, backend="thread") as runner:
        runner.subscribe(timeline)
        on_a = runner.submit(hold, tags="a")
        both = runner.submit(hold, tags={"a", "b"})
        behind = runner.submit(hold, tags="b")
        try:
            assert (both.status, behind.status) == (READY, READY)
        finally:
            release.set()
        assert behind.wait(EVENT_WAIT)

    assert timeline.starts() == ids(on_a, both, behind)


def test_a_task_with_several_tags_is_not_starved_by_tasks_with_one_of_them() -> None:
    # While `both` waits for b, a is free: the a tasks that come meanwhile queue behind it
    # rather than keep a busy before it.
    timeline = Timeline()
    later: list[TaskHandle] = []

    with TaskRunner(limits={"a": 1, "b": 1}) as runner:
        runner.subscribe(timeline)

        async def hold_b() -> None:
            later.extend(runner.submit(noop, tags="a") for _ in range(3))

        on_b = runner.submit(hold_b, tags="b")
        both = runner.submit(noop, tags={"a", "b"})
        runner.run()

    assert all(h.status is COMPLETED for h in (on_b, both, *later))
    assert timeline.starts() == ids(on_b, both, *later)


@pytest.mark.timeout(30)
def test_crossing_tag_sets_do_not_deadlock() -> None:
    timeline = Timeline()
    pattern = [{"a", "b"}, {"b", "c"}, {"c", "a"}, {"a"}, {"b", "a"}, {"c"}, {"a", "b", "c"}]

    def query() -> None:
        return None

    with TaskRunner(limits={"a": 1, "b": 2, "c": 1}, backend="thread", max_workers=4) as runner:
        runner.subscribe(timeline)
        handles = [runner.submit(query, tags=pattern[i % len(pattern)]) for i in range(42)]
        runner.run()

    assert all(h.status is COMPLETED for h in handles)
    assert timeline.peak["a"] <= 1
    assert timeline.peak["b"] <= 2
    assert timeline.peak["c"] <= 1


def test_a_retry_waits_for_a_slot_like_any_start() -> None:
    timeline = Timeline()
    attempts = 0

    @task(tags="db", retries=2, retry_on=ConnectionError)
    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError("down")
        return "up"

    with TaskRunner(limits={"db": 1}) as runner:
        runner.subscribe(timeline)
        handle = flaky.submit()
        others = [runner.submit(noop, tags="db") for _ in range(3)]
        runner.run()

    assert handle.result() == "up"
    assert handle.attempts == 3
    assert all(h.status is COMPLETED for h in others)
    assert timeline.peak["db"] == 1


# -- changing a limit while the run goes on ------------------------------------------------


def test_raising_a_limit_inside_a_task_starts_waiting_tasks_at_once() -> None:
    # All three meet at the barrier: only possible once the raise has let the others in.
    all_in = asyncio.Barrier(3)

    async def meet() -> None:
        await asyncio.wait_for(all_in.wait(), EVENT_WAIT)

    with TaskRunner(limits={"db": 1}) as runner:

        async def raise_limit() -> None:
            runner.set_limit("db", 3)
            await meet()

        first = runner.submit(raise_limit, tags="db")
        others = [runner.submit(meet, tags="db") for _ in range(2)]
        runner.run()
        assert runner.limits == {"db": 3}

    assert all(h.status is COMPLETED for h in (first, *others))


def test_raising_a_limit_from_a_worker_thread_starts_waiting_tasks() -> None:
    all_in = threading.Barrier(3, timeout=EVENT_WAIT)
    timeline = Timeline()

    def meet() -> None:
        all_in.wait()

    with TaskRunner(limits={"db": 1}, backend="thread", max_workers=4) as runner:
        runner.subscribe(timeline)

        def raise_limit() -> None:
            runner.set_limit("db", 3)  # from a pool thread, not the loop's
            all_in.wait()

        first = runner.submit(raise_limit, tags="db")
        others = [runner.submit(meet, tags="db") for _ in range(2)]
        runner.run()

    assert all(h.status is COMPLETED for h in (first, *others))
    assert timeline.peak["db"] == 3


@pytest.mark.timeout(30)
def test_raising_a_limit_from_another_thread_while_serving_starts_waiting_tasks() -> None:
    release = threading.Event()
    started = [threading.Event() for _ in range(2)]

    def hold() -> None:
        release.wait(EVENT_WAIT)

    with serving(limits={"db": 1}, backend="thread", max_workers=4) as runner:
        holder = runner.submit(hold, tags="db")
        waiting = [runner.submit(event.set, tags="db") for event in started]
        try:
            assert [h.status for h in waiting] == [READY, READY]
            runner.set_limit("db", 3)
            assert all(event.wait(EVENT_WAIT) for event in started)
            assert holder.status is RUNNING
        finally:
            release.set()


def test_removing_a_limit_starts_every_waiting_task() -> None:
    all_in = asyncio.Barrier(4)

    async def meet() -> None:
        await asyncio.wait_for(all_in.wait(), EVENT_WAIT)

    with TaskRunner(limits={"db": 1, "eu": 2}) as runner:

        async def remove_limit() -> None:
            runner.set_limit("db", None)
            await meet()

        handles = [runner.submit(remove_limit, tags="db")]
        handles += [runner.submit(meet, tags="db") for _ in range(3)]
        runner.run()
        assert runner.limits == {"eu": 2}

    assert all(h.status is COMPLETED for h in handles)


def test_lowering_a_limit_lets_running_tasks_finish_and_bounds_later_starts() -> None:
    all_in = asyncio.Barrier(3)
    probe = ConcurrencyProbe()
    timeline = Timeline()

    with TaskRunner(limits={"db": 3}) as runner:
        runner.subscribe(timeline)

        async def first_three() -> None:
            if probe.enter() == 3:  # all three run: lower the limit under them
                runner.set_limit("db", 1)
            await asyncio.wait_for(all_in.wait(), EVENT_WAIT)

        running = [runner.submit(first_three, tags="db") for _ in range(3)]
        later = [runner.submit(noop, tags="db") for _ in range(3)]
        runner.run()

    assert all(h.status is COMPLETED for h in running + later)
    for h in later:  # none started before all three had ended, and one at a time
        assert timeline.active_before[h.id] == [Counter({"db": 0})]
        assert all(timeline.at("end", r) < timeline.at("start", h) for r in running)


def test_a_limit_set_while_tasks_of_its_tag_run_counts_them() -> None:
    both_in = asyncio.Barrier(2)
    probe = ConcurrencyProbe()
    timeline = Timeline()
    submitted: list[TaskHandle] = []

    with TaskRunner() as runner:  # no limit yet: both run
        runner.subscribe(timeline)

        async def body() -> None:
            if probe.enter() == 2:
                runner.set_limit("db", 2)  # two run already: a third must wait
                submitted.append(runner.submit(noop, tags="db"))
            await asyncio.wait_for(both_in.wait(), EVENT_WAIT)

        running = [runner.submit(body, tags="db") for _ in range(2)]
        runner.run()

    third = submitted[0]
    assert third.status is COMPLETED
    assert timeline.peak["db"] == 2
    first_end = min(timeline.at("end", h) for h in running)
    assert timeline.at("start", third) > first_end


def test_a_limit_set_later_counts_a_task_that_waits_for_another_tag() -> None:
    # `both` (tags a and b) waits for a when b gets its limit of 1; `on_b`, ready after
    # it, waits behind it in b's queue too: b's tasks go in the order they became ready.
    timeline = Timeline()

    with TaskRunner(limits={"a": 1}) as runner:
        runner.subscribe(timeline)
        on_b: list[TaskHandle] = []

        async def hold_a() -> None:
            runner.set_limit("b", 1)
            on_b.append(runner.submit(noop, tags="b"))

        holder = runner.submit(hold_a, tags="a")
        both = runner.submit(noop, tags={"a", "b"})
        runner.run()

    assert holder.status is COMPLETED
    assert both.status is COMPLETED
    assert on_b[0].status is COMPLETED
    assert timeline.peak["b"] == 1
    assert timeline.at("end", both) < timeline.at("start", on_b[0])


def test_a_waiting_task_given_a_new_dependency_waits_for_it_too() -> None:
    # Once `holder` ends, db is free; `waiting` must still wait for the dependency it got
    # meanwhile, which ends only after `holder` has.
    holder_done = asyncio.Event()
    timeline = Timeline()
    seen: list[TaskStatus] = []

    async def dependency_body() -> None:
        await asyncio.wait_for(holder_done.wait(), EVENT_WAIT)

    with TaskRunner(limits={"db": 1}) as runner:
        runner.subscribe(timeline)

        async def hold() -> None:
            runner.add_dependency(waiting, runner.submit(dependency_body))
            seen.append(waiting.status)

        holder = runner.submit(hold, tags="db")
        waiting = runner.submit(noop, tags="db")

        def on_event(event: object) -> None:
            if isinstance(event, events.TaskFinished) and event.handle is holder:
                holder_done.set()

        runner.subscribe(on_event)
        runner.run()

    dependency = waiting.depends_on[-1]
    assert seen == [TaskStatus.PENDING]
    assert waiting.status is COMPLETED
    assert timeline.at("end", holder) < timeline.at("end", dependency)
    assert timeline.at("end", dependency) < timeline.at("start", waiting)


# -- cancellation and aborted runs ---------------------------------------------------------


def test_a_task_cancelled_while_waiting_ends_cancelled_without_starting() -> None:
    timeline = Timeline()
    cancelled: list[bool] = []

    async def cancel_the_next() -> None:
        cancelled.append(waiting.cancel())

    with TaskRunner(limits={"db": 1}) as runner:
        runner.subscribe(timeline)
        holder = runner.submit(cancel_the_next, tags="db")
        waiting = runner.submit(noop, tags="db")
        after = runner.submit(noop, tags="db")
        runner.run()

    assert cancelled == [True]
    assert waiting.status is CANCELLED
    assert isinstance(waiting.exception(), TaskCancelledError)
    assert waiting.attempts == 0
    assert after.status is COMPLETED
    assert timeline.starts() == ids(holder, after)


def test_a_task_cancelled_while_waiting_frees_its_place_in_every_tag() -> None:
    # `behind` waits for b only because `both` is ahead of it; once `both` is cancelled
    # it starts at once, while a is still taken.
    behind_in = asyncio.Event()

    async def hold_a() -> None:
        both.cancel()
        await asyncio.wait_for(behind_in.wait(), EVENT_WAIT)

    async def behind_body() -> None:
        behind_in.set()

    with TaskRunner(limits={"a": 1, "b": 1}) as runner:
        holder = runner.submit(hold_a, tags="a")
        both = runner.submit(noop, tags={"a", "b"})
        behind = runner.submit(behind_body, tags="b")
        runner.run()

    assert holder.status is COMPLETED
    assert both.status is CANCELLED
    assert behind.status is COMPLETED


@pytest.mark.timeout(30)
def test_a_waiting_task_cancelled_from_another_thread_ends_cancelled() -> None:
    release = threading.Event()

    def hold() -> None:
        release.wait(EVENT_WAIT)

    with serving(limits={"db": 1}, backend="thread") as runner:
        holder = runner.submit(hold, tags="db")
        waiting = runner.submit(hold, tags="db")
        try:
            assert waiting.cancel()
            assert waiting.wait(EVENT_WAIT)
            assert waiting.status is CANCELLED
            assert waiting.attempts == 0
        finally:
            release.set()
        after = runner.submit(hold, tags="db")
        assert after.wait(EVENT_WAIT)
    assert holder.status is COMPLETED
    assert after.status is COMPLETED


def test_a_run_aborted_by_a_failure_cancels_the_waiting_tasks() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    with TaskRunner(limits={"db": 1}) as runner:
        failing = runner.submit(fails, tags="db")
        waiting = [runner.submit(noop, tags="db") for _ in range(3)]
        with pytest.raises(RuntimeError, match="boom"):
            runner.run()

    assert failing.status is FAILED
    assert [h.status for h in waiting] == [CANCELLED] * 3
    assert [h.attempts for h in waiting] == [0] * 3


def test_after_an_aborted_run_the_tags_slots_are_free_again() -> None:
    release = asyncio.Event()

    async def fails() -> None:
        release.set()
        raise RuntimeError("boom")

    async def hold() -> None:
        await asyncio.wait_for(release.wait(), EVENT_WAIT)

    timeline = Timeline()
    with TaskRunner(limits={"db": 2}) as runner:
        runner.submit(hold, tags="db")  # running when the run aborts
        runner.submit(fails, tags="db")
        runner.submit(noop, tags="db")  # waiting when the run aborts
        with pytest.raises(RuntimeError, match="boom"):
            runner.run()
        runner.subscribe(timeline)
        pair = asyncio.Barrier(2)

        async def meet() -> None:
            await asyncio.wait_for(pair.wait(), EVENT_WAIT)

        again = [runner.submit(meet, tags="db") for _ in range(2)]
        runner.run()

    assert all(h.status is COMPLETED for h in again)
    assert timeline.peak["db"] == 2


def test_cancel_all_cancels_the_waiting_tasks() -> None:
    asked: list[int] = []

    with TaskRunner(limits={"db": 1}) as runner:

        async def cancel_everything() -> None:
            asked.append(runner.cancel_all())
            await asyncio.wait_for(asyncio.Event().wait(), EVENT_WAIT)  # until cancelled

        holder = runner.submit(cancel_everything, tags="db")
        waiting = [runner.submit(noop, tags="db") for _ in range(3)]
        runner.run()

    assert asked == [4]
    assert holder.status is CANCELLED
    assert [h.status for h in waiting] == [CANCELLED] * 3
    assert [h.attempts for h in waiting] == [0] * 3


# -- property: random DAGs, tags and limits --------------------------------------------------

TAGS = "abc"
Node = tuple[tuple[int, ...], frozenset[str]]  # (dependencies, tags)


@st.composite
def tagged_dags(draw: st.DrawFn) -> tuple[list[Node], dict[str, int]]:
    size = draw(st.integers(min_value=1, max_value=25))
    nodes = []
    for i in range(size):
        deps = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        tags = draw(st.frozensets(st.sampled_from(TAGS)))
        nodes.append((tuple(sorted(deps)), tags))
    limits = {tag: draw(st.integers(1, 3)) for tag in TAGS}
    return nodes, limits


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tagged_dags())
def test_property_random_dags_keep_every_tags_limit_on_threads(
    case: tuple[list[Node], dict[str, int]],
) -> None:
    nodes, limits = case
    lock = threading.Lock()
    active: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    timeline = Timeline()

    def body(its_tags: frozenset[str]) -> None:
        with lock:
            for tag in its_tags:
                active[tag] += 1
                peak[tag] = max(peak[tag], active[tag])
        with lock:
            for tag in its_tags:
                active[tag] -= 1

    with TaskRunner(limits=limits, backend="thread", max_workers=4) as runner:
        runner.subscribe(timeline)
        handles: list[TaskHandle] = []
        for deps, tags in nodes:
            handles.append(
                runner.submit(body, tags, depends_on=[handles[d] for d in deps], tags=tags)
            )
        runner.run()

    assert [h.status for h in handles] == [COMPLETED] * len(handles)
    for tag, limit in limits.items():
        assert timeline.peak[tag] <= limit
        assert peak[tag] <= limit

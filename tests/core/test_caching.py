"""Cached tasks on a runner: ``@task(cache=True)`` with ``TaskRunner(cache=...)``.

Before a cached task runs (once its dependencies are done) the runner computes its key
and asks the cache; a stored, unexpired value completes the handle COMPLETED without
running it (``handle.cached``, zero attempts, a `TaskCached` event before `TaskFinished`).
A completed run stores its value; a failure does not. The key is the task's identity
(name, code, closure values, defaults) and its arguments; an output of a cached upstream
stands in it by the upstream's key, any other output by its value. ``cache_key=`` and
``cache_ttl=`` refine it. What cannot be keyed, read or stored runs uncached with one
`CacheWarning` per task and cause, and never fails the task.

The key encoding itself is specified in tests/core/test_cachekey.py, the SQLite cache in
tests/persist/test_cache.py and the runner with a SQLite cache in
tests/persist/test_runner_cache.py.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pyworkflowy import Task, TaskBase, TaskHandle, TaskRunner, TaskStatus, task
from pyworkflowy.cache import Cache, CacheEntry, CacheWarning, MemoryCache
from pyworkflowy.events import TaskCached, TaskFinished, TaskStarted
from pyworkflowy.testing import VirtualClock

from tests._recorder import Recorder

T = TypeVar("T")
COMPLETED = TaskStatus.COMPLETED
FAILED = TaskStatus.FAILED
HANG_GUARD = 10.0  # seconds: a test's timeout, only reached if the library hangs

ran: list[str] = []  # what the tasks below executed, in order
feed: list[int] = [1]  # what `source` returns: changed by tests to change its value


@pytest.fixture(autouse=True)
def _clear_module_state() -> None:
    ran.clear()
    feed[:] = [1]


class Boom(Exception):
    """The failure the tests' tasks raise."""


@task(cache=True, name="square")
def square(x: int) -> int:
    ran.append(f"square({x})")
    return x * x


@task(cache=True, name="double")
def double(x: int) -> int:
    ran.append(f"double({x})")
    return 2 * x


@task(cache=True, name="load")
def load() -> list[int]:
    ran.append("load")
    return [3, 1, 2]


@task(name="source")
def source() -> int:
    """Not cached: runs every time, and returns ``feed[0]``."""
    ran.append("source")
    return feed[0]


@task(name="plain")
def plain(x: int) -> int:
    ran.append(f"plain({x})")
    return x + 1


@task(cache=True, name="nothing")
def nothing() -> None:
    ran.append("nothing")


@task(cache=True, name="explode")
def explode(x: int) -> int:
    ran.append(f"explode({x})")
    raise Boom(f"explode({x})")


@task(cache=True, name="accept")
def accept(x: Any) -> str:
    """Takes anything (a lock, a file) and does not look at it."""
    ran.append("accept")
    return "done"


@task(cache=True, name="asquare")
async def asquare(x: int) -> int:
    ran.append(f"asquare({x})")
    await asyncio.sleep(0)
    return x * x


@task(cache=True, backend="thread", name="tsquare")
def tsquare(x: int) -> int:
    ran.append(f"tsquare({x})")
    return x * x


@task(cache=True, backend="process", name="psquare")
def psquare(x: int) -> int:
    return x * x  # runs in a worker process: `ran` is not shared, events tell


@task(cache=True, retries=2, name="flaky")
def flaky(x: int) -> int:
    ran.append(f"flaky({x})")
    if ran.count(f"flaky({x})") < 3:
        raise ConnectionError("not yet")
    return x * 10


def run_once(
    cache: Cache | None, fn: Task[..., Any], *args: Any, **runner_options: Any
) -> TaskHandle[Any]:
    """Submit ``fn(*args)`` to a fresh runner with ``cache``, run it, return the handle."""
    with TaskRunner(cache=cache, **runner_options) as runner:
        handle = runner.submit(fn, *args)
        runner.run()
    return handle


def run_graph(cache: Cache | None, build: Callable[[TaskRunner], T], **runner_options: Any) -> T:
    """``build(runner)`` submits a graph to a fresh runner with ``cache``; run it; return
    what ``build`` returned (a handle, or several)."""
    with TaskRunner(cache=cache, **runner_options) as runner:
        built = build(runner)
        runner.run()
    return built


class SpyCache(Cache):
    """A `MemoryCache` that records every get and put, and raises what it is told to."""

    def __init__(
        self, get_error: Exception | None = None, put_error: Exception | None = None
    ) -> None:
        self.inner = MemoryCache()
        self.gets: list[tuple[str, float]] = []
        self.puts: list[tuple[str, Any, str, float, float | None]] = []
        self.get_error = get_error
        self.put_error = put_error

    def get(self, key: str, now: float) -> tuple[bool, Any]:
        self.gets.append((key, now))
        if self.get_error is not None:
            raise self.get_error
        return self.inner.get(key, now)

    def put(
        self, key: str, value: Any, *, task: str, created_at: float, expires_at: float | None
    ) -> None:
        self.puts.append((key, value, task, created_at, expires_at))
        if self.put_error is not None:
            raise self.put_error
        self.inner.put(key, value, task=task, created_at=created_at, expires_at=expires_at)

    def entries(self) -> list[CacheEntry]:
        return self.inner.entries()

    def delete(self, keys: Iterable[str]) -> int:
        return self.inner.delete(keys)


def tasks_in(cache: Cache) -> list[str]:
    """The task names of ``cache``'s entries, oldest first."""
    return [entry.task for entry in cache.entries()]


# -- a hit ----------------------------------------------------------------------------------


def test_a_second_run_with_the_same_cache_does_not_run_the_task() -> None:
    store = MemoryCache()
    run_once(store, square, 3)
    run_once(store, square, 3)
    assert ran == ["square(3)"]


def test_a_hit_completes_the_handle_with_the_stored_value() -> None:
    store = MemoryCache()
    run_once(store, square, 3)
    handle = run_once(store, square, 3)
    assert handle.status is COMPLETED
    assert handle.result() == 9


def test_a_hit_is_marked_cached_with_no_attempts() -> None:
    store = MemoryCache()
    run_once(store, square, 3)
    handle = run_once(store, square, 3)
    assert handle.cached is True
    assert handle.attempts == 0


def test_a_task_that_ran_is_not_marked_cached() -> None:
    handle = run_once(MemoryCache(), square, 3)
    assert handle.cached is False
    assert handle.attempts == 1


def test_run_reports_a_hit_as_completed_with_its_value_and_no_attempts() -> None:
    store = MemoryCache()
    run_once(store, square, 3)
    with TaskRunner(cache=store) as runner:
        handle = runner.submit(square, 3)
        results = runner.run()
    result = results[handle.id]
    assert (result.status, result.value, result.error, result.attempts) == (
        COMPLETED,
        9,
        None,
        0,
    )


def test_a_hit_gives_task_cached_then_task_finished_and_no_task_started() -> None:
    store = MemoryCache()
    run_once(store, square, 3)
    recorder = Recorder()
    with TaskRunner(cache=store) as runner:
        runner.subscribe(recorder)
        runner.submit(square, 3)
        runner.run()
    kinds = [kind for kind in recorder.kinds() if kind in (TaskCached, TaskStarted, TaskFinished)]
    assert kinds == [TaskCached, TaskFinished]


def test_task_cached_carries_the_handle_the_key_it_was_found_under_and_the_clock_time() -> None:
    store = MemoryCache()
    clock = VirtualClock(start=500.0)
    run_once(store, square, 3, clock=clock)
    clock.advance(25.0)
    recorder = Recorder()
    with TaskRunner(cache=store, clock=clock) as runner:
        runner.subscribe(recorder)
        handle = runner.submit(square, 3)
        runner.run()
    [event] = recorder.of(TaskCached)
    [entry] = store.entries()
    assert (event.handle, event.key, event.time) == (handle, entry.key, 525.0)


def test_a_miss_gives_no_task_cached_event() -> None:
    recorder = Recorder()
    with TaskRunner(cache=MemoryCache()) as runner:
        runner.subscribe(recorder)
        runner.submit(square, 3)
        runner.run()
    assert recorder.of(TaskCached) == []
    assert len(recorder.of(TaskStarted)) == 1


def test_a_stored_none_is_a_hit() -> None:
    store = MemoryCache()
    run_once(store, nothing)
    handle = run_once(store, nothing)
    assert (handle.cached, handle.result(), ran) == (True, None, ["nothing"])


def test_a_value_stored_earlier_in_the_same_run_is_a_hit_for_a_later_call() -> None:
    with TaskRunner(cache=MemoryCache()) as runner:
        first = runner.submit(square, 4)
        second = runner.submit(square, 4, depends_on=first)
        runner.run()
    assert (first.cached, second.cached, second.result()) == (False, True, 16)
    assert ran == ["square(4)"]


def test_a_hit_passes_its_value_to_a_downstream_output() -> None:
    store = MemoryCache()
    run_once(store, square, 3)
    with TaskRunner(cache=store) as runner:
        upstream = runner.submit(square, 3)
        downstream = runner.submit(plain, upstream.output)
        runner.run()
    assert (upstream.cached, downstream.result()) == (True, 10)
    assert ran == ["square(3)", "plain(9)"]


def test_the_runner_exposes_its_cache() -> None:
    store = MemoryCache()
    with TaskRunner(cache=store) as runner:
        assert runner.cache is store


# -- what is stored -------------------------------------------------------------------------


def test_a_completed_run_stores_its_value_under_the_task_name() -> None:
    store = MemoryCache()
    run_once(store, square, 3)
    [entry] = store.entries()
    assert entry.task == "square"
    assert store.get(entry.key, 0.0) == (True, 9)


def test_a_miss_asks_the_cache_then_stores_under_the_same_key_at_the_clock_time() -> None:
    spy = SpyCache()
    run_once(spy, square, 3, clock=VirtualClock(start=1000.0))
    [(asked, asked_at)] = spy.gets
    assert asked_at == 1000.0
    assert spy.puts == [(asked, 9, "square", 1000.0, None)]


def test_a_hit_stores_nothing() -> None:
    spy = SpyCache()
    run_once(spy, square, 3)
    run_once(spy, square, 3)
    assert (len(spy.gets), len(spy.puts)) == (2, 1)


def test_a_failure_is_not_stored() -> None:
    store = MemoryCache()
    handle = run_once(store, explode, 1, on_task_error="continue")
    assert handle.status is FAILED
    assert store.entries() == []


def test_a_task_that_failed_runs_again_next_time() -> None:
    store = MemoryCache()
    run_once(store, explode, 1, on_task_error="continue")
    handle = run_once(store, explode, 1, on_task_error="continue")
    assert (handle.status, handle.cached) == (FAILED, False)
    assert ran == ["explode(1)", "explode(1)"]


def test_a_cached_task_on_a_runner_without_a_cache_runs_every_time() -> None:
    run_once(None, square, 3)
    handle = run_once(None, square, 3)
    assert (handle.result(), handle.cached) == (9, False)
    assert ran == ["square(3)", "square(3)"]


def test_a_task_without_cache_on_a_runner_with_a_cache_runs_every_time_and_stores_nothing() -> None:
    spy = SpyCache()
    run_once(spy, plain, 1)
    run_once(spy, plain, 1)
    assert ran == ["plain(1)", "plain(1)"]
    assert (spy.gets, spy.puts) == ([], [])


# -- the default key ------------------------------------------------------------------------


def test_a_different_argument_is_a_miss() -> None:
    store = MemoryCache()
    run_once(store, square, 3)
    handle = run_once(store, square, 4)
    assert (handle.cached, handle.result()) == (False, 16)
    assert ran == ["square(3)", "square(4)"]


def test_keyword_arguments_in_another_order_are_a_hit() -> None:
    @task(cache=True, name="area")
    def area(*, width: int, height: int) -> int:
        ran.append("area")
        return width * height

    store = MemoryCache()
    with TaskRunner(cache=store) as runner:
        runner.submit(area, width=2, height=3)
        runner.run()
    with TaskRunner(cache=store) as runner:
        handle = runner.submit(area, height=3, width=2)
        runner.run()
    assert (handle.cached, ran) == (True, ["area"])


def test_two_tasks_with_the_same_arguments_do_not_share_entries() -> None:
    store = MemoryCache()
    run_once(store, square, 3)
    handle = run_once(store, double, 3)
    assert (handle.cached, handle.result()) == (False, 6)


def make_job(body: str) -> Task[..., Any]:
    """Task ``job`` of this module, compiled from ``body`` (so only its code differs)."""
    namespace: dict[str, Any] = {"task": task, "ran": ran, "__name__": __name__}
    source_text = f"@task(cache=True, name='job')\ndef job(x):\n    ran.append('job')\n    {body}\n"
    exec(compile(source_text, __file__, "exec"), namespace)
    return namespace["job"]


def test_the_same_task_body_compiled_again_is_a_hit() -> None:
    store = MemoryCache()
    run_once(store, make_job("return x + 1"), 1)
    handle = run_once(store, make_job("return x + 1"), 1)
    assert (handle.cached, handle.result()) == (True, 2)


def test_a_changed_task_body_is_a_miss() -> None:
    store = MemoryCache()
    run_once(store, make_job("return x + 1"), 1)
    handle = run_once(store, make_job("return x + 2"), 1)
    assert (handle.cached, handle.result()) == (False, 3)


def make_offset_task(offset: int) -> Task[..., int]:
    """Task ``shift`` whose closure captures ``offset``."""

    @task(cache=True, name="shift")
    def shift(x: int) -> int:
        ran.append(f"shift({x})")
        return x + offset

    return shift


def test_the_same_captured_closure_value_is_a_hit() -> None:
    store = MemoryCache()
    run_once(store, make_offset_task(10), 1)
    handle = run_once(store, make_offset_task(10), 1)
    assert (handle.cached, handle.result()) == (True, 11)


def test_a_changed_captured_closure_value_is_a_miss() -> None:
    store = MemoryCache()
    run_once(store, make_offset_task(10), 1)
    handle = run_once(store, make_offset_task(20), 1)
    assert (handle.cached, handle.result()) == (False, 21)


def make_rebindable_task() -> tuple[Task[..., int], Callable[[int], None]]:
    """Task ``shift`` whose closure captures ``offset``, and a setter that rebinds it."""
    offset = 10

    @task(cache=True, name="shift")
    def shift(x: int) -> int:
        ran.append(f"shift({x})")
        return x + offset

    def set_offset(value: int) -> None:
        nonlocal offset
        offset = value

    return shift, set_offset


def test_a_captured_value_rebound_between_runs_of_the_same_task_is_a_miss() -> None:
    shift, set_offset = make_rebindable_task()
    store = MemoryCache()
    run_once(store, shift, 1)
    set_offset(20)
    handle = run_once(store, shift, 1)
    assert (handle.cached, handle.result()) == (False, 21)


def test_a_captured_object_changed_between_runs_of_the_same_task_is_a_miss() -> None:
    settings = {"rate": 1}

    @task(cache=True, name="rated")
    def rated(x: int) -> int:
        ran.append(f"rated({x})")
        return x * settings["rate"]

    store = MemoryCache()
    run_once(store, rated, 5)
    settings["rate"] = 2
    handle = run_once(store, rated, 5)
    assert (handle.cached, handle.result()) == (False, 10)


def make_scaled_task(scale: int) -> Task[..., int]:
    """Task ``scaled`` whose parameter ``by`` defaults to ``scale``."""

    @task(cache=True, name="scaled")
    def scaled(x: int, by: int = scale) -> int:
        ran.append(f"scaled({x})")
        return x * by

    return scaled


def test_a_changed_default_value_is_a_miss() -> None:
    store = MemoryCache()
    run_once(store, make_scaled_task(2), 5)
    handle = run_once(store, make_scaled_task(3), 5)
    assert (handle.cached, handle.result()) == (False, 15)


# -- outputs and maps -----------------------------------------------------------------------


def test_a_cached_chain_through_outputs_runs_nothing_the_second_time() -> None:
    def chain(runner: TaskRunner) -> TaskHandle[Any]:
        first = runner.submit(square, 3)
        second = runner.submit(double, first.output)
        return runner.submit(square, second.output)

    store = MemoryCache()
    run_graph(store, chain)
    ran.clear()
    with TaskRunner(cache=store) as runner:
        last = chain(runner)
        runner.run()
        handles = runner.handles()
    assert (last.result(), ran) == (324, [])
    assert [h.cached for h in handles] == [True, True, True]


def test_a_downstream_of_a_cached_upstream_is_keyed_by_the_upstreams_key_not_its_value() -> None:
    # The upstream's value is never hashed: a value that cannot be keyed still chains.
    @task(cache=True, name="handle_maker")
    def handle_maker() -> threading.Lock:
        ran.append("handle_maker")
        return threading.Lock()

    def chain(runner: TaskRunner) -> TaskHandle[Any]:
        return runner.submit(accept, runner.submit(handle_maker).output)

    store = MemoryCache()
    run_graph(store, chain)  # no CacheWarning: the lock is stored, never hashed
    ran.clear()
    handle = run_graph(store, chain)
    assert (handle.cached, ran) == (True, [])


def test_an_output_of_an_uncached_upstream_with_the_same_value_is_a_hit() -> None:
    def chain(runner: TaskRunner) -> TaskHandle[Any]:
        return runner.submit(square, runner.submit(source).output)

    store = MemoryCache()
    run_graph(store, chain)
    handle = run_graph(store, chain)
    assert (handle.cached, handle.result()) == (True, 1)
    assert ran == ["source", "square(1)", "source"]


def test_an_output_of_an_uncached_upstream_with_a_new_value_is_a_miss() -> None:
    def chain(runner: TaskRunner) -> TaskHandle[Any]:
        return runner.submit(square, runner.submit(source).output)

    store = MemoryCache()
    run_graph(store, chain)
    feed[0] = 5
    handle = run_graph(store, chain)
    assert (handle.cached, handle.result()) == (False, 25)


def test_a_downstream_of_a_cached_upstream_that_ran_again_uses_its_new_value() -> None:
    # The upstream's entry expired, so it ran again and returned something new: a
    # downstream keyed by the upstream's (unchanged) key must not give the old result.
    @task(cache_ttl=60.0, name="latest")
    def latest() -> int:
        ran.append("latest")
        return feed[0]

    def chain(runner: TaskRunner) -> TaskHandle[Any]:
        return runner.submit(square, runner.submit(latest).output)

    store = MemoryCache()
    clock = VirtualClock(start=0.0)
    with TaskRunner(cache=store, clock=clock) as runner:
        chain(runner)
        runner.run()
    feed[0] = 5
    clock.advance(120.0)
    with TaskRunner(cache=store, clock=clock) as runner:
        handle = chain(runner)
        runner.run()
    assert ran == ["latest", "square(1)", "latest", "square(5)"]
    assert handle.result() == 25  # not the stored square(1)


def test_a_downstream_of_a_cleared_upstream_uses_its_new_value() -> None:
    # clear(task=...) is how a user forces a refresh: what depends on it must follow.
    @task(cache=True, name="snapshot")
    def snapshot() -> int:
        ran.append("snapshot")
        return feed[0]

    def chain(runner: TaskRunner) -> TaskHandle[Any]:
        return runner.submit(square, runner.submit(snapshot).output)

    store = MemoryCache()
    run_graph(store, chain)
    feed[0] = 5
    store.clear(task="snapshot")
    handle = run_graph(store, chain)
    assert ran == ["snapshot", "square(1)", "snapshot", "square(5)"]
    assert handle.result() == 25


def test_a_map_over_an_output_caches_each_item() -> None:
    def mapped(runner: TaskRunner) -> TaskHandle[Any]:
        return runner.map(square, runner.submit(load).output)

    store = MemoryCache()
    run_graph(store, mapped)
    ran.clear()
    handle = run_graph(store, mapped)
    assert (handle.result(), ran) == ([9, 1, 4], [])
    assert sorted(tasks_in(store)) == ["load", "square", "square", "square"]


def test_a_map_over_an_output_runs_only_its_new_items() -> None:
    store = MemoryCache()
    with TaskRunner(cache=store) as runner:
        runner.map(square, [1, 2])
        runner.run()
    ran.clear()

    @task(name="items")
    def items() -> list[int]:
        return [1, 2, 3]

    with TaskRunner(cache=store) as runner:
        handle = runner.map(square, runner.submit(items).output)
        runner.run()
    assert (handle.result(), ran) == ([1, 4, 9], ["square(3)"])


def test_a_map_over_a_list_caches_each_item() -> None:
    store = MemoryCache()
    with TaskRunner(cache=store) as runner:
        runner.map(square, [1, 2, 3])
        runner.run()
    with TaskRunner(cache=store) as runner:
        handles = runner.map(square, [1, 2, 3])
        runner.run()
    assert [h.cached for h in handles] == [True, True, True]
    assert sorted(ran) == ["square(1)", "square(2)", "square(3)"]  # each ran once, first run


# -- cache_key= -----------------------------------------------------------------------------


def test_cache_key_alone_makes_the_task_cached() -> None:
    @task(cache_key=lambda x: "k", name="keyed")
    def keyed(x: int) -> int:
        return x

    assert keyed.cache is True


def test_cache_key_gets_the_arguments_as_the_body_does() -> None:
    seen: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def key(*args: Any, **kwargs: Any) -> str:
        seen.append((args, kwargs))
        return "k"

    @task(cache_key=key, name="keyed")
    def keyed(a: int, b: int, *, c: int) -> int:
        return a + b + c

    with TaskRunner(cache=MemoryCache()) as runner:
        runner.submit(keyed, 1, runner.submit(plain, 1).output, c=3)
        runner.run()
    assert seen == [((1, 2), {"c": 3})]  # the output's value, not the reference


def test_the_same_cache_key_string_is_a_hit_whatever_the_arguments() -> None:
    @task(cache_key=lambda word, verbose: word.lower(), name="shout")
    def shout(word: str, verbose: bool) -> str:
        ran.append(f"shout({word})")
        return word.upper()

    store = MemoryCache()
    run_once(store, shout, "Hello", True)
    handle = run_once(store, shout, "HELLO", False)
    assert (handle.cached, handle.result(), ran) == (True, "HELLO", ["shout(Hello)"])


def test_a_different_cache_key_string_is_a_miss() -> None:
    @task(cache_key=lambda x: str(x % 2), name="parity")
    def parity(x: int) -> int:
        ran.append(f"parity({x})")
        return x

    store = MemoryCache()
    run_once(store, parity, 1)
    handle = run_once(store, parity, 2)
    assert (handle.cached, handle.result()) == (False, 2)


def test_cache_key_strings_are_namespaced_by_task_name() -> None:
    @task(cache_key=lambda x: "same", name="first")
    def first(x: int) -> str:
        ran.append("first")
        return "first"

    @task(cache_key=lambda x: "same", name="second")
    def second(x: int) -> str:
        ran.append("second")
        return "second"

    store = MemoryCache()
    run_once(store, first, 1)
    handle = run_once(store, second, 1)
    assert (handle.cached, handle.result(), ran) == (False, "second", ["first", "second"])


def test_cache_key_none_runs_the_call_uncached() -> None:
    @task(cache_key=lambda x: None, name="volatile")
    def volatile(x: int) -> int:
        ran.append("volatile")
        return x

    spy = SpyCache()
    run_once(spy, volatile, 1)
    handle = run_once(spy, volatile, 1)
    assert (handle.cached, ran) == (False, ["volatile", "volatile"])
    assert (spy.gets, spy.puts) == ([], [])


def test_cache_key_none_for_one_call_leaves_the_others_cached() -> None:
    @task(cache_key=lambda x: None if x < 0 else str(x), name="sometimes")
    def sometimes(x: int) -> int:
        ran.append(f"sometimes({x})")
        return x

    store = MemoryCache()
    for _ in range(2):
        with TaskRunner(cache=store) as runner:
            runner.map(sometimes, [-1, 1])
            runner.run()
    assert sorted(ran) == ["sometimes(-1)", "sometimes(-1)", "sometimes(1)"]


def test_cache_key_returning_a_non_string_fails_the_task_with_type_error() -> None:
    @task(cache_key=lambda x: x, name="numbered")
    def numbered(x: int) -> int:
        ran.append("numbered")
        return x

    handle = run_once(MemoryCache(), numbered, 7, on_task_error="continue")
    assert handle.status is FAILED
    assert isinstance(handle.exception(), TypeError)
    assert "numbered" in str(handle.exception())
    assert ran == []


def test_cache_key_that_raises_fails_the_task_with_its_exception_without_running_it() -> None:
    def key(x: int) -> str:
        raise Boom("no key for you")

    @task(cache_key=key, name="guarded")
    def guarded(x: int) -> int:
        ran.append("guarded")
        return x

    handle = run_once(MemoryCache(), guarded, 7, on_task_error="continue")
    assert handle.status is FAILED
    assert isinstance(handle.exception(), Boom)
    assert (handle.attempts, ran) == (0, [])


def test_cache_key_that_raises_fails_run_when_errors_raise() -> None:
    def key(x: int) -> str:
        raise Boom("no key for you")

    @task(cache_key=key, name="guarded")
    def guarded(x: int) -> int:
        return x

    with TaskRunner(cache=MemoryCache()) as runner:
        runner.submit(guarded, 7)
        with pytest.raises(Boom, match="no key for you"):
            runner.run()


# -- cache_ttl= ------------------------------------------------------------------------------


@task(cache_ttl=60.0, name="quote")
def quote(symbol: str) -> str:
    ran.append(f"quote({symbol})")
    return f"{symbol}:{len(ran)}"


def test_cache_ttl_alone_makes_the_task_cached() -> None:
    assert quote.cache is True


def test_an_entry_is_a_hit_before_its_ttl_on_the_runner_clock() -> None:
    store = MemoryCache()
    clock = VirtualClock(start=0.0)
    run_once(store, quote, "ACME", clock=clock)
    clock.advance(59.0)
    handle = run_once(store, quote, "ACME", clock=clock)
    assert (handle.cached, handle.result(), ran) == (True, "ACME:1", ["quote(ACME)"])


def test_an_entry_is_a_miss_after_its_ttl_on_the_runner_clock() -> None:
    store = MemoryCache()
    clock = VirtualClock(start=0.0)
    run_once(store, quote, "ACME", clock=clock)
    clock.advance(61.0)
    handle = run_once(store, quote, "ACME", clock=clock)
    assert (handle.cached, handle.result()) == (False, "ACME:2")


def test_an_entry_expires_ttl_seconds_after_it_was_stored() -> None:
    store = MemoryCache()
    clock = VirtualClock(start=1000.0)
    run_once(store, quote, "ACME", clock=clock)
    [entry] = store.entries()
    assert (entry.task, entry.created_at, entry.expires_at) == ("quote", 1000.0, 1060.0)


def test_a_rerun_after_expiry_stores_a_fresh_entry() -> None:
    store = MemoryCache()
    clock = VirtualClock(start=0.0)
    run_once(store, quote, "ACME", clock=clock)
    clock.advance(61.0)
    run_once(store, quote, "ACME", clock=clock)
    clock.advance(59.0)
    handle = run_once(store, quote, "ACME", clock=clock)
    assert (handle.cached, handle.result()) == (True, "ACME:2")


def test_an_entry_without_ttl_never_expires() -> None:
    store = MemoryCache()
    clock = VirtualClock(start=0.0)
    run_once(store, square, 3, clock=clock)
    clock.advance(10.0 * 365 * 24 * 3600)
    handle = run_once(store, square, 3, clock=clock)
    assert handle.cached is True
    assert store.entries()[0].expires_at is None


# -- arguments that cannot be keyed ---------------------------------------------------------


def test_an_unhashable_argument_runs_the_call_uncached_and_completes() -> None:
    spy = SpyCache()
    with pytest.warns(CacheWarning):
        handle = run_once(spy, accept, threading.Lock())
    assert (handle.status, handle.result(), handle.cached) == (COMPLETED, "done", False)
    assert (spy.gets, spy.puts) == ([], [])


def test_the_warning_names_the_task_and_the_positional_argument() -> None:
    with pytest.warns(CacheWarning, match=r"'accept'.*argument 0.*lock"):
        run_once(MemoryCache(), accept, threading.Lock())


def test_the_warning_names_the_keyword_argument() -> None:
    @task(cache=True, name="configure")
    def configure(*, guard: Any) -> str:
        return "ok"

    with pytest.warns(CacheWarning, match=r"argument 'guard'"):
        handle = run_graph(MemoryCache(), lambda r: r.submit(configure, guard=threading.Lock()))
    assert handle.result() == "ok"


def test_an_open_file_argument_runs_the_call_uncached(tmp_path: Path) -> None:
    with (tmp_path / "data.txt").open("w") as file, pytest.warns(CacheWarning, match="argument 0"):
        handle = run_once(MemoryCache(), accept, file)
    assert (handle.status, handle.cached) == (COMPLETED, False)


def test_a_fan_of_calls_with_unhashable_arguments_warns_once() -> None:
    locks = [threading.Lock() for _ in range(100)]
    with pytest.warns(CacheWarning) as record:
        handles = run_graph(MemoryCache(), lambda r: r.map(accept, locks))
    assert len(record) == 1
    assert all(h.status is COMPLETED for h in handles)
    assert len(ran) == 100


def test_an_unhashable_argument_leaves_the_tasks_hashable_calls_cached() -> None:
    store = MemoryCache()
    with pytest.warns(CacheWarning):
        run_graph(store, lambda r: r.map(accept, [threading.Lock(), "a path"]))
    assert tasks_in(store) == ["accept"]


def test_an_unhashable_value_from_an_uncached_upstream_runs_the_downstream_uncached() -> None:
    @task(name="make_lock")
    def make_lock() -> threading.Lock:
        return threading.Lock()

    store = MemoryCache()
    with pytest.warns(CacheWarning, match=r"'accept'.*argument 0") as record:
        handle = run_graph(store, lambda r: r.submit(accept, r.submit(make_lock).output))
    assert len(record) == 1
    assert (handle.status, handle.result(), store.entries()) == (COMPLETED, "done", [])


def test_cache_key_lets_a_task_with_unhashable_arguments_be_cached() -> None:
    @task(cache_key=lambda name, guard: name, name="named")
    def named(name: str, guard: Any) -> str:
        ran.append(f"named({name})")
        return name

    store = MemoryCache()
    run_once(store, named, "a", threading.Lock())  # no CacheWarning
    handle = run_once(store, named, "a", threading.Lock())
    assert (handle.cached, ran) == (True, ["named(a)"])


def test_an_unhashable_captured_value_means_the_task_is_never_cached() -> None:
    guard = threading.Lock()

    @task(cache=True, name="locked")
    def locked(x: int) -> int:
        with guard:
            ran.append(f"locked({x})")
        return x

    store = MemoryCache()

    def twice(runner: TaskRunner) -> tuple[TaskHandle[int], TaskHandle[int]]:
        first = runner.submit(locked, 1)
        return first, runner.submit(locked, 1, depends_on=first)

    with pytest.warns(CacheWarning, match=r"'locked'.*closure variable 'guard'") as record:
        first, second = run_graph(store, twice)
    assert len(record) == 1
    assert (first.result(), second.result(), second.cached) == (1, 1, False)
    assert ran == ["locked(1)", "locked(1)"]
    assert store.entries() == []


# -- a cache that fails ---------------------------------------------------------------------


def test_a_cache_whose_get_raises_warns_and_the_task_runs() -> None:
    broken = SpyCache(get_error=OSError("disk gone"))
    with pytest.warns(CacheWarning, match="disk gone"):
        handle = run_once(broken, square, 3)
    assert (handle.status, handle.result(), handle.cached) == (COMPLETED, 9, False)
    assert ran == ["square(3)"]


def test_a_cache_whose_get_raises_warns_once_for_many_calls() -> None:
    broken = SpyCache(get_error=OSError("disk gone"))
    with pytest.warns(CacheWarning) as record:
        run_graph(broken, lambda r: r.map(square, range(10)))
    assert len(record) == 1
    assert len(ran) == 10


def test_a_cache_whose_put_raises_warns_not_cached_and_the_task_completes() -> None:
    broken = SpyCache(put_error=OSError("disk full"))
    with pytest.warns(CacheWarning, match="not cached.*disk full"):
        handle = run_once(broken, square, 3)
    assert (handle.status, handle.result()) == (COMPLETED, 9)


def test_a_cache_that_refuses_a_value_warns_not_cached_and_the_task_completes() -> None:
    refusing = SpyCache(put_error=TypeError("cannot store a set"))
    with pytest.warns(CacheWarning, match="not cached.*cannot store a set"):
        handle = run_once(refusing, square, 3)
    assert (handle.status, handle.result()) == (COMPLETED, 9)


def test_a_value_the_cache_refused_is_released_to_downstream_tasks() -> None:
    refusing = SpyCache(put_error=TypeError("cannot store a set"))
    with pytest.warns(CacheWarning):
        downstream = run_graph(refusing, lambda r: r.submit(plain, r.submit(square, 3).output))
    assert downstream.result() == 10


def square_of_3(runner: TaskRunner) -> TaskHandle[int]:
    return runner.submit(square, 3)


def square_after_plain(runner: TaskRunner) -> TaskHandle[int]:
    return runner.submit(square, runner.submit(plain, 2).output)


@pytest.mark.timeout(HANG_GUARD)  # only reached if the run hangs
@pytest.mark.parametrize("failing", ["get_error", "put_error"])
@pytest.mark.parametrize("build", [square_of_3, square_after_plain])
def test_a_cache_warning_the_filters_make_an_error_ends_the_task_and_the_run(
    failing: str, build: Callable[[TaskRunner], TaskHandle[int]]
) -> None:
    # -W error (or pytest's filterwarnings = error) turns the CacheWarning into an
    # exception: submit must not raise it, and the run must end (the task failing with
    # it or completing), never hang.
    broken = SpyCache(**{failing: OSError("disk gone")})
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        handle = run_graph(broken, build, on_task_error="continue")
    assert handle.done()


# -- retries and backends -------------------------------------------------------------------


def test_a_task_that_succeeds_after_retries_stores_its_final_value() -> None:
    store = MemoryCache()
    handle = run_once(store, flaky, 4)
    assert (handle.result(), handle.attempts) == (40, 3)
    assert tasks_in(store) == ["flaky"]


def test_a_task_that_succeeded_after_retries_is_a_hit_next_time() -> None:
    store = MemoryCache()
    run_once(store, flaky, 4)
    handle = run_once(store, flaky, 4)
    assert (handle.cached, handle.result(), handle.attempts) == (True, 40, 0)
    assert ran == ["flaky(4)"] * 3


def test_an_async_task_on_the_asyncio_backend_is_cached() -> None:
    store = MemoryCache()
    run_once(store, asquare, 5)
    handle = run_once(store, asquare, 5)
    assert (handle.backend, handle.cached, handle.result()) == ("asyncio", True, 25)
    assert ran == ["asquare(5)"]


def test_a_sync_task_on_the_thread_backend_is_cached() -> None:
    store = MemoryCache()
    run_once(store, tsquare, 5)
    handle = run_once(store, tsquare, 5)
    assert (handle.backend, handle.cached, handle.result()) == ("thread", True, 25)
    assert ran == ["tsquare(5)"]


def test_a_sync_task_on_a_thread_runner_is_cached() -> None:
    store = MemoryCache()
    run_once(store, square, 5, backend="thread")
    handle = run_once(store, square, 5, backend="thread")
    assert (handle.cached, handle.result(), ran) == (True, 25, ["square(5)"])


def test_a_task_on_the_process_backend_is_cached_and_a_hit_starts_no_worker() -> None:
    pytest.importorskip("pyworkflowy.process")
    store = MemoryCache()
    first = run_once(store, psquare, 6)
    recorder = Recorder()
    with TaskRunner(cache=store) as runner:
        runner.subscribe(recorder)
        second = runner.submit(psquare, 6)
        runner.run()
    assert (first.backend, first.cached, first.result()) == ("process", False, 36)
    assert (second.cached, second.result()) == (True, 36)
    assert recorder.of(TaskStarted) == []


def test_a_serving_runner_looks_up_tasks_submitted_from_another_thread() -> None:
    store = MemoryCache()
    runner = TaskRunner(cache=store)
    runner.start()
    try:
        first = runner.submit(square, 3)
        assert first.result(timeout=HANG_GUARD) == 9
        second = runner.submit(square, 3)
        assert second.result(timeout=HANG_GUARD) == 9
    finally:
        runner.shutdown()
    assert (first.cached, second.cached, ran) == (False, True, ["square(3)"])


# -- TaskBase -------------------------------------------------------------------------------


class Upper(TaskBase):
    name = "upper"
    cache = True

    def run(self, word: str) -> str:
        ran.append(f"upper({word})")
        return word.upper()


class Greeting(TaskBase):
    name = "greeting"
    cache = True

    def cache_key(self, who: str, *, punctuation: str = "!") -> str | None:
        ran.append(f"cache_key({who!r}, {punctuation!r})")
        return who.lower()

    def run(self, who: str, *, punctuation: str = "!") -> str:
        ran.append(f"greeting({who})")
        return f"hello {who}{punctuation}"


class Expiring(TaskBase):
    name = "expiring"
    cache_ttl = 30.0

    def run(self) -> str:
        ran.append("expiring")
        return "fresh"


def test_a_task_class_with_cache_true_is_cached() -> None:
    store = MemoryCache()
    run_once(store, Upper(), "hi")
    handle = run_once(store, Upper(), "hi")
    assert (handle.cached, handle.result(), ran) == (True, "HI", ["upper(hi)"])


def test_a_task_class_cache_key_method_gets_the_arguments() -> None:
    with TaskRunner(cache=MemoryCache()) as runner:
        runner.submit(Greeting(), "Ann", punctuation="?")
        runner.run()
    assert ran[0] == "cache_key('Ann', '?')"


def test_a_task_class_cache_key_method_is_the_key() -> None:
    store = MemoryCache()
    with TaskRunner(cache=store) as runner:
        runner.submit(Greeting(), "Ann", punctuation="?")
        runner.run()
    with TaskRunner(cache=store) as runner:
        handle = runner.submit(Greeting(), "ANN", punctuation="!")
        runner.run()
    assert (handle.cached, handle.result()) == (True, "hello Ann?")
    assert [call for call in ran if call.startswith("greeting")] == ["greeting(Ann)"]


def test_a_task_class_cache_ttl_makes_it_cached_and_expires_on_the_clock() -> None:
    store = MemoryCache()
    clock = VirtualClock(start=0.0)
    run_once(store, Expiring(), clock=clock)
    clock.advance(29.0)
    hit = run_once(store, Expiring(), clock=clock)
    clock.advance(2.0)
    miss = run_once(store, Expiring(), clock=clock)
    assert (hit.cached, miss.cached, ran) == (True, False, ["expiring", "expiring"])


# -- the cache's entries --------------------------------------------------------------------


def test_entries_name_the_tasks_that_stored_them() -> None:
    store = MemoryCache()
    with TaskRunner(cache=store) as runner:
        runner.submit(double, runner.submit(square, 3).output)
        runner.run()
    assert tasks_in(store) == ["square", "double"]


def test_clearing_a_task_makes_its_next_call_run_again() -> None:
    store = MemoryCache()
    run_once(store, square, 3)
    assert store.clear(task="square") == 1
    handle = run_once(store, square, 3)
    assert (handle.cached, ran) == (False, ["square(3)", "square(3)"])


def test_clearing_a_task_leaves_other_tasks_cached() -> None:
    store = MemoryCache()
    run_once(store, square, 3)
    run_once(store, double, 3)
    store.clear(task="square")
    handle = run_once(store, double, 3)
    assert handle.cached is True
    assert tasks_in(store) == ["double"]


# -- what the options accept ----------------------------------------------------------------


def test_the_runner_refuses_a_cache_that_is_neither_a_path_nor_a_cache() -> None:
    with pytest.raises(
        TypeError, match=r"cache must be a file path or a pyworkflowy\.cache\.Cache"
    ):
        TaskRunner(cache=42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"cache": "yes"}, "cache"),
        ({"cache_key": "not callable"}, "cache_key"),
        ({"cache_ttl": 0}, "cache_ttl"),
        ({"cache_ttl": -5.0}, "cache_ttl"),
    ],
)
def test_task_refuses_bad_cache_options_naming_them(options: dict[str, Any], named: str) -> None:
    decorate = task(**options)
    with pytest.raises(ValueError, match=named):
        decorate(plain.fn)

"""A runner with a SQLite cache: ``TaskRunner(cache="cache.db")`` and `SQLiteCache`.

Results outlive the runner: a second runner on the same file runs nothing it has already
computed, through chains of outputs and dynamic maps too. A runner that opened the cache
from a path closes it at shutdown; one it was given stays the caller's. Cache and
checkpoint work on the same runner: a resumed handle comes from the checkpoint, and a
handle the checkpoint does not settle may still come from the cache.

The SQLiteCache itself is specified in tests/persist/test_cache.py, the runner's side of
caching with in-memory caches in tests/core/test_caching.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from pyworkflowy import TaskHandle, TaskRunner, TaskStatus, task
from pyworkflowy.cache import Cache, CacheWarning
from pyworkflowy.events import TaskStarted
from pyworkflowy.persist import SQLiteCache, checkpointer_for_path
from pyworkflowy.testing import VirtualClock

from tests._recorder import Recorder

COMPLETED = TaskStatus.COMPLETED

ran: list[str] = []  # what the tasks below executed, in order


@pytest.fixture(autouse=True)
def _clear_ran() -> None:
    ran.clear()


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    """Where the cache database goes (created by the first runner or cache to open it)."""
    return tmp_path / "cache.db"


@pytest.fixture
def closes(monkeypatch: pytest.MonkeyPatch) -> list[SQLiteCache]:
    """Every `SQLiteCache` closed during the test, in order (close still closes)."""
    closed: list[SQLiteCache] = []
    original = SQLiteCache.close

    def close(self: SQLiteCache) -> None:
        closed.append(self)
        original(self)

    monkeypatch.setattr(SQLiteCache, "close", close)
    return closed


@pytest.fixture
def sqlite_cache(cache_path: Path) -> Iterator[Callable[..., SQLiteCache]]:
    """Build SQLiteCaches on ``cache_path`` (``serializer=`` passes on); closed after."""
    made: list[SQLiteCache] = []

    def factory(**options: Any) -> SQLiteCache:
        cache = SQLiteCache(cache_path, **options)
        made.append(cache)
        return cache

    yield factory
    for cache in made:
        cache.close()


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


@task(cache=True, name="pair")
def pair(x: int) -> tuple[int, frozenset[int]]:
    ran.append(f"pair({x})")
    return x, frozenset({x, -x})


@task(cache=True, name="members")
def members(x: int) -> set[int]:
    ran.append(f"members({x})")
    return {x, x + 1}


@task(cache_ttl=60.0, name="quote")
def quote(symbol: str) -> str:
    ran.append(f"quote({symbol})")
    return f"{symbol}:{len(ran)}"


@task(cache=True, backend="process", name="psquare")
def psquare(x: int) -> int:
    return x * x  # runs in a worker process: events tell whether it ran


def run_once(
    cache: str | Path | Cache, fn: Any, *args: Any, **runner_options: Any
) -> TaskHandle[Any]:
    """Submit ``fn(*args)`` to a fresh runner with ``cache``, run it, return the handle."""
    with TaskRunner(cache=cache, **runner_options) as runner:
        handle = runner.submit(fn, *args)
        runner.run()
    return handle


def stored(path: Path) -> dict[str, dict[str, Any]]:
    """What the checkpoint at ``path`` holds now, read by a new checkpointer."""
    checkpointer = checkpointer_for_path(path)
    try:
        return checkpointer.load()
    finally:
        checkpointer.close()


# -- a cache path ---------------------------------------------------------------------------


def test_a_second_runner_on_the_same_cache_path_runs_nothing(cache_path: Path) -> None:
    first = run_once(str(cache_path), square, 3)
    second = run_once(str(cache_path), square, 3)
    assert (first.cached, second.cached, second.result()) == (False, True, 9)
    assert second.attempts == 0
    assert ran == ["square(3)"]


def test_a_cache_path_may_be_a_path_object(cache_path: Path) -> None:
    run_once(cache_path, square, 3)
    handle = run_once(cache_path, square, 3)
    assert (handle.cached, ran) == (True, ["square(3)"])


def test_a_cache_path_is_a_sqlite_cache_on_that_file(cache_path: Path) -> None:
    with TaskRunner(cache=str(cache_path)) as runner:
        cache = runner.cache
        assert isinstance(cache, SQLiteCache)
        assert cache.path == cache_path


def test_a_different_argument_misses_on_disk_too(cache_path: Path) -> None:
    run_once(cache_path, square, 3)
    handle = run_once(cache_path, square, 4)
    assert (handle.cached, handle.result(), ran) == (False, 16, ["square(3)", "square(4)"])


def test_a_hit_gives_back_the_value_with_its_types(cache_path: Path) -> None:
    run_once(cache_path, pair, 2)
    handle = run_once(cache_path, pair, 2)
    value = handle.result()
    assert (handle.cached, value) == (True, (2, frozenset({2, -2})))
    assert (type(value), type(value[1])) == (tuple, frozenset)


def test_a_hit_starts_no_attempt(cache_path: Path) -> None:
    run_once(cache_path, square, 3)
    recorder = Recorder()
    with TaskRunner(cache=cache_path) as runner:
        runner.subscribe(recorder)
        runner.submit(square, 3)
        runner.run()
    assert recorder.of(TaskStarted) == []


def test_the_entries_on_disk_name_the_tasks(cache_path: Path, sqlite_cache: Any) -> None:
    with TaskRunner(cache=cache_path) as runner:
        runner.submit(double, runner.submit(square, 3).output)
        runner.run()
    assert [entry.task for entry in sqlite_cache().entries()] == ["square", "double"]


def test_clearing_a_task_on_disk_makes_the_next_runner_run_it_again(
    cache_path: Path, sqlite_cache: Any
) -> None:
    run_once(cache_path, square, 3)
    run_once(cache_path, double, 3)
    assert sqlite_cache().clear(task="square") == 1
    cleared = run_once(cache_path, square, 3)
    kept = run_once(cache_path, double, 3)
    assert (cleared.cached, kept.cached) == (False, True)
    assert ran == ["square(3)", "double(3)", "square(3)"]


# -- chains and maps ------------------------------------------------------------------------


def chain(runner: TaskRunner) -> TaskHandle[Any]:
    """square(3) -> double -> square, every one cached, through outputs."""
    first = runner.submit(square, 3)
    return runner.submit(square, runner.submit(double, first.output).output)


def test_a_cached_chain_through_outputs_runs_nothing_in_a_second_runner(
    cache_path: Path,
) -> None:
    with TaskRunner(cache=cache_path) as runner:
        chain(runner)
        runner.run()
    ran.clear()
    with TaskRunner(cache=cache_path) as runner:
        last = chain(runner)
        runner.run()
        handles = runner.handles()
    assert (last.result(), ran) == (324, [])
    assert [h.cached for h in handles] == [True, True, True]


def test_a_map_over_an_output_runs_nothing_in_a_second_runner(cache_path: Path) -> None:
    for _ in range(2):
        ran.clear()
        with TaskRunner(cache=cache_path) as runner:
            handle = runner.map(square, runner.submit(load).output)
            runner.run()
    assert (handle.result(), ran) == ([9, 1, 4], [])


# -- ttl ------------------------------------------------------------------------------------


def test_an_entry_on_disk_is_a_hit_before_its_ttl_on_the_runner_clock(cache_path: Path) -> None:
    clock = VirtualClock(start=0.0)
    run_once(cache_path, quote, "ACME", clock=clock)
    clock.advance(59.0)
    handle = run_once(cache_path, quote, "ACME", clock=clock)
    assert (handle.cached, handle.result()) == (True, "ACME:1")


def test_an_entry_on_disk_is_a_miss_after_its_ttl_on_the_runner_clock(cache_path: Path) -> None:
    clock = VirtualClock(start=0.0)
    run_once(cache_path, quote, "ACME", clock=clock)
    clock.advance(61.0)
    handle = run_once(cache_path, quote, "ACME", clock=clock)
    assert (handle.cached, handle.result()) == (False, "ACME:2")


# -- values the cache cannot keep or give back ----------------------------------------------


def test_a_value_json_cannot_store_warns_not_cached_and_the_task_completes(
    sqlite_cache: Any,
) -> None:
    cache = sqlite_cache(serializer="json")
    with pytest.warns(CacheWarning, match="not cached"):
        handle = run_once(cache, members, 1)
    assert (handle.status, handle.result()) == (COMPLETED, {1, 2})
    assert cache.entries() == []


def test_a_value_json_cannot_store_runs_again_next_time(sqlite_cache: Any) -> None:
    cache = sqlite_cache(serializer="json")
    with pytest.warns(CacheWarning):
        run_once(cache, members, 1)
    with pytest.warns(CacheWarning):
        handle = run_once(cache, members, 1)
    assert (handle.cached, ran) == (False, ["members(1)", "members(1)"])


def test_an_entry_that_no_longer_loads_is_run_again_and_replaced(cache_path: Path) -> None:
    run_once(cache_path, square, 3)
    with closing(sqlite3.connect(cache_path, isolation_level=None)) as conn:
        conn.execute("UPDATE pyworkflowy_cache SET value = ?", (b"\x80garbage",))
    with pytest.warns(RuntimeWarning, match="cannot be loaded"):
        rerun = run_once(cache_path, square, 3)
    healed = run_once(cache_path, square, 3)
    assert (rerun.cached, rerun.result(), healed.cached, healed.result()) == (False, 9, True, 9)


# -- who closes the cache -------------------------------------------------------------------


def test_the_runner_closes_a_cache_it_opened_from_a_path_at_shutdown(
    cache_path: Path, closes: list[SQLiteCache]
) -> None:
    with TaskRunner(cache=cache_path) as runner:
        runner.submit(square, 3)
        runner.run()
        assert closes == []
    assert closes == [runner.cache]


def test_the_runner_closes_a_cache_it_opened_even_if_it_never_ran(
    cache_path: Path, closes: list[SQLiteCache]
) -> None:
    runner = TaskRunner(cache=cache_path)
    runner.shutdown()
    assert closes == [runner.cache]


def test_the_runner_leaves_open_a_cache_it_was_given(
    sqlite_cache: Any, closes: list[SQLiteCache]
) -> None:
    cache = sqlite_cache()
    run_once(cache, square, 3)
    assert closes == []
    assert run_once(cache, square, 3).cached is True


# -- backends -------------------------------------------------------------------------------


def test_a_process_task_is_cached_on_disk_and_a_hit_starts_no_worker(cache_path: Path) -> None:
    pytest.importorskip("pyworkflowy.process")
    run_once(cache_path, psquare, 7)
    recorder = Recorder()
    with TaskRunner(cache=cache_path) as runner:
        runner.subscribe(recorder)
        handle = runner.submit(psquare, 7)
        runner.run()
    assert (handle.cached, handle.result()) == (True, 49)
    assert recorder.of(TaskStarted) == []


# -- with a checkpoint (``path``: each checkpointer kind) ------------------------------------


def test_a_runner_with_a_cache_and_a_checkpoint_runs_and_records_both(
    path: Path, cache_path: Path, sqlite_cache: Any
) -> None:
    with TaskRunner(checkpoint_path=path, cache=cache_path) as runner:
        handle = runner.submit(square, 3)
        runner.run()
    assert handle.result() == 9
    assert stored(path)[handle.id]["value"] == 9
    assert [entry.task for entry in sqlite_cache().entries()] == ["square"]


def test_a_cache_hit_is_checkpointed_as_completed(path: Path, cache_path: Path) -> None:
    run_once(cache_path, square, 3)
    with TaskRunner(checkpoint_path=path, cache=cache_path) as runner:
        handle = runner.submit(square, 3)
        runner.run()
    record = stored(path)[handle.id]
    assert (handle.cached, record["status"], record["value"]) == (True, "completed", 9)


def test_a_cache_hit_in_the_checkpoint_is_primed_on_resume(
    path: Path, cache_path: Path, sqlite_cache: Any
) -> None:
    run_once(cache_path, square, 3)
    with TaskRunner(checkpoint_path=path, cache=cache_path) as runner:
        runner.submit(square, 3)  # a hit, recorded in the checkpoint
        runner.run()
    sqlite_cache().clear()
    with TaskRunner.resume(path, cache=cache_path) as runner:
        handle = runner.submit(square, 3)
        runner.run()
    assert (handle.result(), handle.cached, ran) == (9, False, ["square(3)"])


def test_a_resumed_completed_handle_comes_from_the_checkpoint_not_the_cache(
    path: Path, cache_path: Path, sqlite_cache: Any
) -> None:
    with TaskRunner(checkpoint_path=path, cache=cache_path) as runner:
        runner.submit(square, 3)
        runner.run()
    sqlite_cache().clear()  # only the checkpoint knows the result now
    with TaskRunner.resume(path, cache=cache_path) as runner:
        handle = runner.submit(square, 3)
        runner.run()
    assert (handle.status, handle.result(), handle.cached) == (COMPLETED, 9, False)
    assert ran == ["square(3)"]


def test_a_resumed_completed_handle_does_not_touch_the_cache(
    path: Path, cache_path: Path, sqlite_cache: Any
) -> None:
    with TaskRunner(checkpoint_path=path, cache=cache_path) as runner:
        runner.submit(square, 3)
        runner.run()
    sqlite_cache().clear()
    with TaskRunner.resume(path, cache=cache_path) as runner:
        runner.submit(square, 3)
        runner.run()
    assert sqlite_cache().entries() == []  # not stored again: it did not run


def test_a_resumed_handle_whose_arguments_changed_may_hit_the_cache(
    path: Path, cache_path: Path
) -> None:
    run_once(cache_path, square, 4)  # an earlier run, without the checkpoint
    with TaskRunner(checkpoint_path=path, cache=cache_path) as runner:
        runner.submit(square, 3)
        runner.run()
    with TaskRunner.resume(path, cache=cache_path) as runner:
        with pytest.warns(RuntimeWarning, match="arguments or its code"):
            handle = runner.submit(square, 4)  # same id, other arguments: not primed
        runner.run()
    assert (handle.cached, handle.result()) == (True, 16)
    assert ran == ["square(4)", "square(3)"]


def test_a_resumed_chain_runs_nothing_with_or_without_its_cache_entries(
    path: Path, cache_path: Path, sqlite_cache: Any
) -> None:
    with TaskRunner(checkpoint_path=path, cache=cache_path) as runner:
        chain(runner)
        runner.run()
    ran.clear()
    sqlite_cache().clear(task="double")  # the middle one only the checkpoint knows
    with TaskRunner.resume(path, cache=cache_path) as runner:
        last = chain(runner)
        runner.run()
    assert (last.status, last.result(), ran) == (COMPLETED, 324, [])

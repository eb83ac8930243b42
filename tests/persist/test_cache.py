"""SQLiteCache: the Cache contract on disk, its serializers, and the databases it refuses."""

from __future__ import annotations

import re
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from pyworkflowy import CheckpointError
from pyworkflowy.cache import Cache, CacheEntry
from pyworkflowy.persist import SQLiteCache, SQLiteCheckpointer, cache_for_path

Make = Callable[..., SQLiteCache]


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Make]:
    """Build caches on ``tmp_path / "cache.db"`` (or ``path=``); closed after the test."""
    made: list[SQLiteCache] = []

    def factory(path: Path | None = None, **options: Any) -> SQLiteCache:
        cache = SQLiteCache(tmp_path / "cache.db" if path is None else path, **options)
        made.append(cache)
        return cache

    yield factory
    for cache in made:
        cache.close()


def sql(path: Path, statement: str, *params: Any) -> None:
    """Run one statement on the database at ``path`` behind the cache's back."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute(statement, params)


def make_checkpoint(path: Path) -> None:
    """A SQLiteCheckpointer's database at ``path``."""
    checkpointer = SQLiteCheckpointer(path)
    checkpointer.clear()  # creates it
    checkpointer.close()


def put(cache: Cache, key: str, value: Any = 1, **fields: Any) -> None:
    """``cache.put`` with defaults: task "job", created at 10, never expiring."""
    options: dict[str, Any] = {"task": "job", "created_at": 10.0, "expires_at": None}
    options.update(fields)
    cache.put(key, value, **options)


# -- storing and reading ------------------------------------------------------------------


def test_it_is_a_cache() -> None:
    assert issubclass(SQLiteCache, Cache)


def test_a_stored_value_is_found_by_a_new_cache_on_the_same_file(make: Make) -> None:
    put(make(), "k", {"rows": [1, 2.5, "three", None]})
    assert make().get("k", 20.0) == (True, {"rows": [1, 2.5, "three", None]})


def test_an_absent_key_is_a_miss(make: Make) -> None:
    assert make().get("absent", 20.0) == (False, None)


def test_pickle_gives_back_the_exact_types(make: Make) -> None:
    value = (1, {2, 3}, b"bytes", frozenset({"x"}))
    put(make(), "k", value)
    found, loaded = make().get("k", 20.0)
    assert found
    assert loaded == value
    assert type(loaded) is tuple


def test_json_turns_tuples_into_lists(make: Make) -> None:
    put(make(serializer="json"), "k", (1, "two", {"three": 3.0}))
    assert make(serializer="json").get("k", 20.0) == (True, [1, "two", {"three": 3.0}])


def test_a_stored_none_is_a_hit(make: Make) -> None:
    cache = make()
    put(cache, "k", None)
    assert cache.get("k", 20.0) == (True, None)


def test_putting_a_key_again_replaces_its_value_and_fields(make: Make) -> None:
    cache = make()
    put(cache, "k", "old", task="first", created_at=1.0)
    put(cache, "k", "new", task="second", created_at=2.0, expires_at=9.0)
    assert cache.get("k", 3.0) == (True, "new")
    assert cache.entries() == [CacheEntry("k", "second", 2.0, 9.0)]


# -- expiry -------------------------------------------------------------------------------


def test_an_entry_is_a_hit_before_it_expires(make: Make) -> None:
    cache = make()
    put(cache, "k", "v", expires_at=15.0)
    assert cache.get("k", 14.999) == (True, "v")


def test_an_entry_is_a_miss_once_now_reaches_its_expiry(make: Make) -> None:
    cache = make()
    put(cache, "k", "v", expires_at=15.0)
    assert cache.get("k", 15.0) == (False, None)


def test_an_entry_without_expiry_never_expires(make: Make) -> None:
    cache = make()
    put(cache, "k", "v", expires_at=None)
    assert cache.get("k", 1e18) == (True, "v")


# -- entries, delete, clear ---------------------------------------------------------------


def test_entries_are_listed_oldest_first_expired_ones_included(make: Make) -> None:
    cache = make()
    put(cache, "b", task="t2", created_at=30.0)
    put(cache, "a", task="t1", created_at=10.0, expires_at=11.0)
    put(cache, "c", task="t1", created_at=20.0)
    assert cache.entries() == [
        CacheEntry("a", "t1", 10.0, 11.0),
        CacheEntry("c", "t1", 20.0, None),
        CacheEntry("b", "t2", 30.0, None),
    ]


def test_delete_removes_the_keys_and_counts_those_that_were_there(make: Make) -> None:
    cache = make()
    for key in "abc":
        put(cache, key)
    assert cache.delete(iter(["a", "c", "never-stored"])) == 2
    assert [entry.key for entry in cache.entries()] == ["b"]


def test_delete_of_no_keys_removes_nothing(make: Make) -> None:
    cache = make()
    put(cache, "a")
    assert cache.delete([]) == 0
    assert len(cache.entries()) == 1


@pytest.fixture
def filled(make: Make) -> SQLiteCache:
    """Four entries: two of task "t1", two of "t2"; one of each expires at 15."""
    cache = make()
    put(cache, "t1-old", task="t1", created_at=1.0, expires_at=15.0)
    put(cache, "t1-new", task="t1", created_at=2.0)
    put(cache, "t2-old", task="t2", created_at=3.0, expires_at=15.0)
    put(cache, "t2-new", task="t2", created_at=4.0, expires_at=99.0)
    return cache


def test_clear_removes_everything_and_counts_it(filled: SQLiteCache) -> None:
    assert filled.clear() == 4
    assert filled.entries() == []


def test_clear_of_a_task_removes_only_its_entries(filled: SQLiteCache) -> None:
    assert filled.clear("t1") == 2
    assert [entry.key for entry in filled.entries()] == ["t2-old", "t2-new"]


def test_clear_expired_at_removes_entries_expired_by_then_not_those_without_expiry(
    filled: SQLiteCache,
) -> None:
    assert filled.clear(expired_at=15.0) == 2
    assert [entry.key for entry in filled.entries()] == ["t1-new", "t2-new"]


def test_clear_combines_the_task_and_expiry_filters(filled: SQLiteCache) -> None:
    assert filled.clear("t2", expired_at=15.0) == 1
    assert [entry.key for entry in filled.entries()] == ["t1-old", "t1-new", "t2-new"]


# -- values that cannot be stored or loaded -----------------------------------------------


@pytest.mark.parametrize("value", [lambda: 1, threading.Lock()], ids=["lambda", "lock"])
def test_a_value_pickle_refuses_is_a_type_error_naming_the_task_and_type(
    make: Make, value: object
) -> None:
    cache = make()
    with pytest.raises(TypeError, match=rf"task 'price' \(of type {type(value).__qualname__}\)"):
        put(cache, "k", value, task="price")
    assert cache.entries() == []


def test_json_refuses_a_set_naming_the_task_and_where_it_sits(make: Make) -> None:
    cache = make(serializer="json")
    with pytest.raises(TypeError, match=r"task 'price'.*value\['tags'\] of type set"):
        put(cache, "k", {"tags": {"a"}}, task="price")
    assert cache.entries() == []


def test_json_refuses_dict_keys_it_would_turn_into_strings(make: Make) -> None:
    with pytest.raises(TypeError, match="key of type int"):
        put(make(serializer="json"), "k", {1: "one"})


def test_a_value_too_large_for_sqlite_is_a_value_error_naming_the_task(make: Make) -> None:
    cache = make()
    cache._connect().setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1000)  # SQLite's limit is 1 GB
    with pytest.raises(ValueError, match=r"task 'big'.*too big"):
        put(cache, "k", "x" * 5000, task="big")


def test_an_unknown_serializer_is_a_value_error_naming_the_choices(make: Make) -> None:
    with pytest.raises(ValueError, match=r"one of \('pickle', 'json'\), got 'yaml'"):
        make(serializer="yaml")


def test_a_value_that_no_longer_loads_is_a_miss_with_a_warning_naming_the_key(
    make: Make, tmp_path: Path
) -> None:
    cache = make()
    put(cache, "k", "v")
    sql(tmp_path / "cache.db", "UPDATE pyworkflowy_cache SET value = ?", b"\x80\x05junk")
    with pytest.warns(RuntimeWarning, match="entry 'k' that cannot be loaded"):
        assert cache.get("k", 20.0) == (False, None)


def test_the_next_put_replaces_an_entry_that_no_longer_loads(make: Make, tmp_path: Path) -> None:
    cache = make()
    put(cache, "k", "v")
    sql(tmp_path / "cache.db", "UPDATE pyworkflowy_cache SET value = ?", b"junk")
    put(cache, "k", "again")
    assert cache.get("k", 20.0) == (True, "again")


def test_a_json_entry_read_with_pickle_is_a_miss_not_unpickled(make: Make) -> None:
    put(make(serializer="json"), "k", [1, 2])
    with pytest.warns(RuntimeWarning, match="not a pickle"):
        assert make().get("k", 20.0) == (False, None)


# -- the file -----------------------------------------------------------------------------


def test_the_file_is_created_private(make: Make, tmp_path: Path) -> None:
    make()
    assert stat.S_IMODE((tmp_path / "cache.db").stat().st_mode) == 0o600


def test_a_missing_directory_is_an_error_naming_the_path(make: Make, tmp_path: Path) -> None:
    path = tmp_path / "absent" / "cache.db"
    with pytest.raises(CheckpointError, match=re.escape(f"cannot create the cache '{path}'")):
        make(path)


def test_a_directory_is_refused_naming_the_path(make: Make, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=re.escape(f"the cache '{tmp_path}' is a directory")):
        make(tmp_path)


def test_a_checkpoint_database_is_refused_as_a_cache(make: Make, tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    make_checkpoint(path)
    with pytest.raises(CheckpointError, match="is a pyworkflowy checkpoint, not a cache"):
        make(path)


def test_the_refusal_names_the_path_and_the_fix(make: Make, tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    make_checkpoint(path)
    with pytest.raises(
        CheckpointError, match=re.escape(f"'{path}'") + ".*choose another cache path"
    ):
        make(path)


def test_a_cache_database_is_refused_as_a_checkpoint(make: Make, tmp_path: Path) -> None:
    make()
    with pytest.raises(CheckpointError, match="not a pyworkflowy checkpoint"):
        SQLiteCheckpointer(tmp_path / "cache.db").load()


def test_a_foreign_sqlite_database_is_refused_and_left_alone(make: Make, tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    sql(path, "CREATE TABLE users (name TEXT)")
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=r"not a pyworkflowy cache \(its tables: users\)"):
        make(path)
    assert path.read_bytes() == before


def test_a_file_that_is_not_sqlite_is_refused(make: Make, tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a database, just some text that is long enough " * 4)
    with pytest.raises(CheckpointError, match="is not a SQLite database"):
        make(path)


def test_a_database_marked_as_a_cache_without_its_table_is_malformed(
    make: Make, tmp_path: Path
) -> None:
    make().close()
    sql(tmp_path / "cache.db", "DROP TABLE pyworkflowy_cache")
    with pytest.raises(CheckpointError, match="is malformed: no pyworkflowy_cache table"):
        make()


def test_a_cache_from_a_newer_schema_is_refused_asking_for_an_upgrade(
    make: Make, tmp_path: Path
) -> None:
    make().close()
    sql(tmp_path / "cache.db", "PRAGMA user_version=2")
    with pytest.raises(CheckpointError, match=r"schema version 2.*upgrade pyworkflowy-persist"):
        make()


def test_it_reopens_when_used_after_close(make: Make) -> None:
    cache = make()
    put(cache, "k", "v")
    cache.close()
    assert cache.get("k", 20.0) == (True, "v")


def test_closing_twice_is_harmless(make: Make) -> None:
    cache = make()
    cache.close()
    cache.close()


def test_repr_shows_the_path_and_serializer(make: Make, tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    assert repr(make(serializer="json")) == f"SQLiteCache({str(path)!r}, serializer='json')"


# -- cache_for_path and threads -----------------------------------------------------------


@pytest.mark.parametrize("name", ["cache.db", "cache.json", "results.cache", "plain"])
def test_cache_for_path_is_a_pickle_sqlite_cache_whatever_the_suffix(
    tmp_path: Path, name: str
) -> None:
    cache = cache_for_path(tmp_path / name)
    cache.close()
    assert (type(cache), cache.path, cache.serializer) == (SQLiteCache, tmp_path / name, "pickle")


def test_cache_for_path_refuses_what_is_not_a_path() -> None:
    with pytest.raises(TypeError, match="got int"):
        cache_for_path(3)  # type: ignore[arg-type]


def test_threads_may_put_and_get_concurrently(make: Make) -> None:
    cache = make()
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(50):
                put(cache, f"{n}-{i}", (n, i))
                assert cache.get(f"{n}-{i}", 20.0) == (True, (n, i))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache.entries()) == 8 * 50

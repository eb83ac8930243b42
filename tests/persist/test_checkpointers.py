"""The checkpointers' own contract: save, load, merge, remove, clear, close, and choosing one."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyworkflowy import Checkpointer, CheckpointError, TaskRunner
from pyworkflowy.persist import (
    JSONCheckpointer,
    PickleCheckpointer,
    SQLiteCheckpointer,
    checkpointer_for_path,
)

Make = Callable[[], Checkpointer]
Record = Callable[..., dict[str, Any]]


# -- save / load / clear, for every kind --------------------------------------------------


def test_load_returns_the_saved_records(make: Make, record: Record) -> None:
    stored = {"a#0": record(value=[1, "two", None]), "b#0": record(status="failed", error="E")}
    make().save(stored)
    assert make().load() == stored


def test_load_of_a_path_with_no_file_is_empty_and_creates_nothing(make: Make, path: Path) -> None:
    assert make().load() == {}
    assert not path.exists()


def test_saves_merge_with_what_was_saved_before(make: Make, record: Record) -> None:
    checkpointer = make()
    checkpointer.save({"a#0": record(value=1)})
    checkpointer.save({"b#0": record(value=2)})
    assert make().load() == {"a#0": record(value=1), "b#0": record(value=2)}


def test_saving_an_id_again_replaces_its_record(make: Make, record: Record) -> None:
    checkpointer = make()
    checkpointer.save({"a#0": record(status="failed", error="boom")})
    checkpointer.save({"a#0": record(value=7)})
    assert make().load() == {"a#0": record(value=7)}


def test_removed_ids_are_dropped(make: Make, record: Record) -> None:
    checkpointer = make()
    checkpointer.save({"a#0": record(), "b#0": record(), "c#0": record()})
    checkpointer.save({}, removed=["a#0", "c#0", "never-stored"])
    assert list(make().load()) == ["b#0"]


def test_a_save_after_load_keeps_the_loaded_records(make: Make, record: Record) -> None:
    make().save({"a#0": record(value=1)})
    resumed = make()
    resumed.load()
    resumed.save({"b#0": record(value=2)})
    assert make().load() == {"a#0": record(value=1), "b#0": record(value=2)}


def test_a_save_without_load_still_merges_with_the_stored_records(
    make: Make, record: Record
) -> None:
    make().save({"a#0": record(value=1)})
    make().save({"b#0": record(value=2)})
    assert make().load() == {"a#0": record(value=1), "b#0": record(value=2)}


def test_clear_forgets_every_record(make: Make, record: Record) -> None:
    checkpointer = make()
    checkpointer.save({"a#0": record()})
    checkpointer.clear()
    assert make().load() == {}


def test_a_save_after_clear_holds_only_the_new_records(make: Make, record: Record) -> None:
    make().save({"old#0": record()})
    checkpointer = make()
    checkpointer.clear()
    checkpointer.save({"new#0": record()})
    assert list(make().load()) == ["new#0"]


def test_a_closed_checkpointer_can_be_used_again(make: Make, record: Record) -> None:
    checkpointer = make()
    checkpointer.save({"a#0": record(value=1)})
    checkpointer.close()
    checkpointer.save({"b#0": record(value=2)})
    checkpointer.close()
    assert checkpointer.load() == {"a#0": record(value=1), "b#0": record(value=2)}


def test_records_keep_their_field_types(make: Make, record: Record) -> None:
    stored = record(
        value={"rows": [1, 2.5, True, None, "x"]},
        attempts=3,
        started_at=1700000000.123456,
        finished_at=1700000001.5,
        error="ValueError: bad row",
        fingerprint="0123abcd",
    )
    make().save({"job#0": stored})
    loaded = make().load()["job#0"]
    assert loaded == stored
    assert [type(loaded[k]) for k in stored] == [type(v) for v in stored.values()]


def test_handle_ids_with_any_characters_round_trip(make: Make, record: Record) -> None:
    ids = ["mod.fn#0", "key with spaces", "ünïcödé/☃", 'quote"s\\and\nnewline']
    make().save({hid: record(value=hid) for hid in ids})
    assert make().load() == {hid: record(value=hid) for hid in ids}


def test_string_values_with_lone_surrogates_round_trip(make: Make, record: Record) -> None:
    make().save({"a#0": record(value=["\ud800", "x\udfff"])})
    assert make().load()["a#0"]["value"] == ["\ud800", "x\udfff"]


def test_repr_names_the_class_and_the_path(make: Make, path: Path) -> None:
    checkpointer = make()
    assert repr(checkpointer) == f"{type(checkpointer).__name__}({str(path)!r})"


def test_checkpointers_are_checkpointer_subclasses(make: Make) -> None:
    assert isinstance(make(), Checkpointer)


# -- choosing by suffix -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("state.json", JSONCheckpointer),
        ("state", JSONCheckpointer),
        ("state.txt", JSONCheckpointer),
        ("state.checkpoint", JSONCheckpointer),
        ("state.pkl", PickleCheckpointer),
        ("state.pickle", PickleCheckpointer),
        ("STATE.PKL", PickleCheckpointer),
        ("state.db", SQLiteCheckpointer),
        ("state.sqlite", SQLiteCheckpointer),
        ("state.sqlite3", SQLiteCheckpointer),
        ("State.Sqlite3", SQLiteCheckpointer),
        ("run.2024.db", SQLiteCheckpointer),
        ("run.db.json", JSONCheckpointer),
    ],
)
def test_checkpointer_for_path_chooses_by_suffix(name: str, cls: type, tmp_path: Path) -> None:
    checkpointer = checkpointer_for_path(tmp_path / name)
    assert type(checkpointer) is cls
    assert checkpointer.path == tmp_path / name


def test_checkpointer_for_path_accepts_a_str(tmp_path: Path) -> None:
    assert type(checkpointer_for_path(str(tmp_path / "s.db"))) is SQLiteCheckpointer


def test_checkpointer_for_path_refuses_what_is_not_a_path() -> None:
    with pytest.raises(TypeError, match=r"str or os\.PathLike, got int"):
        checkpointer_for_path(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "cls"),
    [("s.json", JSONCheckpointer), ("s.pkl", PickleCheckpointer), ("s.sqlite", SQLiteCheckpointer)],
)
def test_runner_checkpoint_path_uses_the_checkpointer_for_its_suffix(
    name: str, cls: type, tmp_path: Path
) -> None:
    with TaskRunner(checkpoint_path=str(tmp_path / name)) as runner:
        assert type(runner.checkpointer) is cls


@pytest.mark.parametrize("name", ["JSONCheckpointer", "PickleCheckpointer", "SQLiteCheckpointer"])
def test_checkpointers_are_importable_from_pyworkflowy(name: str) -> None:
    import pyworkflowy.persist

    assert getattr(pyworkflowy, name) is getattr(pyworkflowy.persist, name)


# -- SQLite specifics ---------------------------------------------------------------------


def sql(path: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(query).fetchall()
    conn.close()
    return rows


def test_sqlite_keeps_one_row_per_handle(tmp_path: Path, record: Record) -> None:
    path = tmp_path / "s.db"
    checkpointer = SQLiteCheckpointer(path)
    checkpointer.save({"a#0": record(status="failed", error="E"), "b#0": record()})
    checkpointer.save({"a#0": record(value=1), "c#0": record()})
    checkpointer.close()
    rows = sql(path, "SELECT id, status FROM pyworkflowy_records ORDER BY id")
    assert rows == [("a#0", "completed"), ("b#0", "completed"), ("c#0", "completed")]


def test_sqlite_stores_values_as_json_text(tmp_path: Path, record: Record) -> None:
    path = tmp_path / "s.db"
    checkpointer = SQLiteCheckpointer(path)
    checkpointer.save({"a#0": record(value={"n": [1, 2]})})
    checkpointer.close()
    assert sql(path, "SELECT value FROM pyworkflowy_records") == [('{"n":[1,2]}',)]


def test_sqlite_database_is_in_wal_mode(tmp_path: Path, record: Record) -> None:
    path = tmp_path / "s.db"
    checkpointer = SQLiteCheckpointer(path)
    checkpointer.save({"a#0": record()})
    checkpointer.close()
    assert sql(path, "PRAGMA journal_mode") == [("wal",)]


def test_sqlite_makes_a_new_database_with_small_pages(tmp_path: Path, record: Record) -> None:
    path = tmp_path / "s.db"
    checkpointer = SQLiteCheckpointer(path)
    checkpointer.save({"a#0": record()})
    checkpointer.close()
    assert sql(path, "PRAGMA page_size") == [(1024,)]


def test_sqlite_reopened_database_saves_at_the_chosen_level(tmp_path: Path, record: Record) -> None:
    path = tmp_path / "s.db"
    first = SQLiteCheckpointer(path, synchronous="FULL")
    first.save({"a#0": record()})
    first.close()
    again = SQLiteCheckpointer(path)  # NORMAL; SQLite's own default would be FULL
    again.save({"b#0": record()})
    conn = again._conn
    assert conn is not None
    assert conn.execute("PRAGMA synchronous").fetchone() == (1,)
    again.close()
    assert sorted(SQLiteCheckpointer(path).load()) == ["a#0", "b#0"]


def test_sqlite_synchronous_defaults_to_normal(tmp_path: Path) -> None:
    checkpointer = SQLiteCheckpointer(tmp_path / "s.db")
    checkpointer.clear()
    conn = checkpointer._conn
    assert conn is not None
    assert conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    checkpointer.close()


def test_sqlite_synchronous_full_syncs_every_save(tmp_path: Path) -> None:
    checkpointer = SQLiteCheckpointer(tmp_path / "s.db", synchronous="FULL")
    checkpointer.clear()
    conn = checkpointer._conn
    assert conn is not None
    assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    checkpointer.close()


def test_sqlite_refuses_an_unknown_synchronous_level(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous must be one of"):
        SQLiteCheckpointer(tmp_path / "s.db", synchronous="OFF")


def test_sqlite_save_that_fails_part_way_changes_nothing(tmp_path: Path, record: Record) -> None:
    path = tmp_path / "s.db"
    checkpointer = SQLiteCheckpointer(path)
    checkpointer.save({"a#0": record(value=1), "b#0": record(value=2)})
    broken = record(attempts=object())  # sqlite3 cannot bind it: fails inside the transaction
    with pytest.raises(CheckpointError, match=r"cannot write the checkpoint '.*s\.db'"):
        checkpointer.save({"c#0": record(value=3), "d#0": broken}, removed=["a#0"])
    assert checkpointer.load() == {"a#0": record(value=1), "b#0": record(value=2)}
    checkpointer.close()


def test_sqlite_value_that_json_refuses_fails_the_save_naming_the_task(
    tmp_path: Path, record: Record
) -> None:
    checkpointer = SQLiteCheckpointer(tmp_path / "s.db")
    with pytest.raises(
        CheckpointError, match=r"the value of task 'a#0' of type set cannot be stored as JSON"
    ):
        checkpointer.save({"a#0": record(value={1, 2})})
    checkpointer.close()


def test_json_value_that_json_refuses_fails_the_save_naming_the_task(
    tmp_path: Path, record: Record
) -> None:
    checkpointer = JSONCheckpointer(tmp_path / "s.json")
    with pytest.raises(CheckpointError, match=r"value of task 'a#0' of type set"):
        checkpointer.save({"a#0": record(value={1, 2})})
    assert not (tmp_path / "s.json").exists()


def test_pickle_value_that_pickle_refuses_fails_the_save_naming_the_task(
    tmp_path: Path, record: Record
) -> None:
    checkpointer = PickleCheckpointer(tmp_path / "s.pkl")
    with pytest.raises(CheckpointError, match=r"value of task 'a#0' of type function"):
        checkpointer.save({"a#0": record(value=lambda: 1)})
    assert not (tmp_path / "s.pkl").exists()


@pytest.mark.parametrize("cls", [JSONCheckpointer, PickleCheckpointer, SQLiteCheckpointer])
def test_checkpointers_refuse_a_path_that_is_not_a_path(cls: type) -> None:
    with pytest.raises(TypeError, match="takes a file path"):
        cls(42)

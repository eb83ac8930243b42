"""Durability: atomic private writes, and damaged or foreign files reported, never clobbered."""

from __future__ import annotations

import errno
import json
import os
import pickle
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyworkflowy import Checkpointer, CheckpointError, TaskRunner, task
from pyworkflowy.persist import JSONCheckpointer, PickleCheckpointer, SQLiteCheckpointer

Make = Callable[[], Checkpointer]
Record = Callable[..., dict[str, Any]]
FILE_KINDS = {"json": JSONCheckpointer, "pickle": PickleCheckpointer}


@task(name="noop")
async def noop() -> None:
    return None


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- permissions ----------------------------------------------------------------------------


def test_checkpoint_files_are_private_to_their_owner(
    make: Make, path: Path, record: Record
) -> None:
    checkpointer = make()
    checkpointer.save({"a#0": record()})
    assert mode(path) == 0o600
    checkpointer.save({"b#0": record()})  # a rewrite keeps it private
    assert mode(path) == 0o600


def test_sqlite_write_ahead_log_is_private_too(tmp_path: Path, record: Record) -> None:
    path = tmp_path / "s.db"
    checkpointer = SQLiteCheckpointer(path)
    checkpointer.save({"a#0": record()})
    wal = tmp_path / "s.db-wal"
    assert (mode(path), mode(wal)) == (0o600, 0o600)
    checkpointer.close()


def test_files_are_private_even_with_a_permissive_umask(
    make: Make, path: Path, record: Record
) -> None:
    old = os.umask(0)
    try:
        checkpointer = make()
        checkpointer.save({"a#0": record()})
    finally:
        os.umask(old)
    assert mode(path) == 0o600


# -- atomic replacement (JSON and pickle) ---------------------------------------------------


@pytest.fixture(params=sorted(FILE_KINDS))
def file_cp(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    suffix = ".json" if request.param == "json" else ".pkl"
    return FILE_KINDS[request.param](tmp_path / f"state{suffix}")


def test_a_save_writes_a_synced_temporary_file_renames_it_and_syncs_the_folder(
    file_cp: Any, record: Record, monkeypatch: pytest.MonkeyPatch
) -> None:
    path: Path = file_cp.path
    file_cp.save({"old#0": record()})
    events: list[tuple[str, Any]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        info = os.fstat(fd)
        events.append(("fsync-folder" if stat.S_ISDIR(info.st_mode) else "fsync-file", info.st_ino))
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        events.append(("replace", (Path(src), Path(dst), os.stat(src).st_ino)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    file_cp.save({"new#0": record()})

    assert [name for name, _ in events] == ["fsync-file", "replace", "fsync-folder"]
    synced, (src, dst, renamed), folder = (detail for _, detail in events)
    assert (src.parent, dst) == (path.parent, path)  # a temporary file beside the target
    assert synced == renamed == path.stat().st_ino  # the synced file is the one renamed
    assert folder == path.parent.stat().st_ino


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(
    file_cp: Any, record: Record, monkeypatch: pytest.MonkeyPatch
) -> None:
    path: Path = file_cp.path
    file_cp.save({"old#0": record()})
    before = path.read_bytes()

    def full_disk(src: Any, dst: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(CheckpointError, match=rf"cannot write the checkpoint '{path}'.*No space"):
        file_cp.save({"new#0": record()})
    assert path.read_bytes() == before
    assert list(path.parent.iterdir()) == [path]


def test_after_a_failed_write_the_next_save_matches_the_file(
    file_cp: Any, record: Record, monkeypatch: pytest.MonkeyPatch
) -> None:
    file_cp.save({"a#0": record()})
    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.EIO, "I/O")))
        with pytest.raises(CheckpointError):
            file_cp.save({"lost#0": record()}, removed=["a#0"])
    file_cp.save({"b#0": record()})
    assert sorted(type(file_cp)(file_cp.path).load()) == ["a#0", "b#0"]


# -- damaged and foreign files --------------------------------------------------------------


def valid_bytes(make: Make, path: Path, record: Record) -> bytes:
    checkpointer = make()
    checkpointer.save({f"t#{i}": record(value=list(range(20))) for i in range(50)})
    checkpointer.close()
    return path.read_bytes()


def sqlite_db(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def damage(kind: str, how: str, path: Path, good: bytes) -> str:
    """Make ``path`` damaged or foreign in the way ``how`` says; return the expected problem."""
    if how == "truncated":
        path.write_bytes(good[: len(good) // 2])
        return {
            "json": "is corrupt or truncated: it is not valid JSON",
            "pickle": "cannot be unpickled; it is corrupt or truncated",
            "sqlite": "is not a SQLite database, or is corrupt",
        }[kind]
    if how == "garbage":
        path.write_bytes(b"\x89\x00not a checkpoint\xff" * 300)
        return {
            "json": "is corrupt",
            "pickle": "is not a pyworkflowy pickle checkpoint",
            "sqlite": "is not a SQLite database, or is corrupt",
        }[kind]
    if how == "empty":  # (for SQLite an empty file is a valid, empty database)
        path.write_bytes(b"")
        return "is empty (truncated?)"
    assert how == "foreign"
    if kind == "json":
        path.write_text(json.dumps({"settings": {"debug": True}}))
    elif kind == "pickle":
        path.write_bytes(pickle.dumps({"some": "other data"}))
    else:
        path.unlink()
        sqlite_db(path, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    return {
        "json": "is not a pyworkflowy checkpoint",
        "pickle": "is not a pyworkflowy pickle checkpoint",
        "sqlite": "is a SQLite database but not a pyworkflowy checkpoint",
    }[kind]


DAMAGES = [
    (kind, how)
    for kind in ("json", "pickle", "sqlite")
    for how in ("truncated", "garbage", "empty", "foreign")
    if (kind, how) != ("sqlite", "empty")
]


@pytest.mark.parametrize(("kind", "how"), DAMAGES)
def test_load_of_a_damaged_or_foreign_file_names_the_path_and_the_problem(
    how: str, kind: str, make: Make, path: Path, record: Record
) -> None:
    problem = damage(kind, how, path, valid_bytes(make, path, record))
    with pytest.raises(CheckpointError) as info:
        make().load()
    assert f"'{path}'" in str(info.value)
    assert problem in str(info.value)


@pytest.mark.parametrize(("kind", "how"), DAMAGES)
def test_a_resume_that_cannot_read_the_file_leaves_it_untouched(
    how: str, kind: str, make: Make, path: Path, record: Record
) -> None:
    damage(kind, how, path, valid_bytes(make, path, record))
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=str(path)):
        TaskRunner.resume(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


@pytest.mark.parametrize("how", ["garbage", "foreign"])
def test_a_save_never_overwrites_a_file_it_could_not_read(
    how: str, kind: str, make: Make, path: Path, record: Record
) -> None:
    damage(kind, how, path, valid_bytes(make, path, record))
    before = path.read_bytes()
    checkpointer = make()
    with pytest.raises(CheckpointError):
        checkpointer.load()
    with pytest.raises(CheckpointError):
        checkpointer.save({"a#0": record()})
    assert path.read_bytes() == before


@pytest.mark.parametrize("how", ["garbage", "foreign"])
def test_a_new_run_does_not_replace_a_file_that_is_not_a_checkpoint(
    how: str, kind: str, path: Path, make: Make, record: Record
) -> None:
    damage(kind, how, path, valid_bytes(make, path, record))
    before = path.read_bytes()
    runner = TaskRunner(checkpoint_path=str(path))
    runner.submit(noop)
    with pytest.raises(CheckpointError, match="not a"):
        runner.run()
    with pytest.raises(CheckpointError, match="not a"):
        runner.shutdown()  # it still has a record it cannot write
    assert path.read_bytes() == before


@pytest.mark.parametrize("kind", ["json", "pickle"])  # a damaged database is not cleared
def test_a_new_run_replaces_a_truncated_checkpoint(
    kind: str, path: Path, make: Make, record: Record
) -> None:
    damage(kind, "truncated", path, valid_bytes(make, path, record))
    with TaskRunner(checkpoint_path=str(path)) as runner:
        runner.submit(noop)
        runner.run()
    assert list(make().load()) == ["noop#0"]


def test_a_foreign_pickle_is_not_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "state.pkl"
    marker = tmp_path / "code-ran"
    payload = pickle.dumps(Evil(str(marker)))
    path.write_bytes(payload)
    with pytest.raises(CheckpointError, match="so it was not unpickled"):
        PickleCheckpointer(path).load()
    assert not marker.exists()


class Evil:
    """Unpickling it creates a file: stands for code a pickle can run."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.target, "w"))


def test_a_pickle_that_needs_a_missing_class_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "state.pkl"
    PickleCheckpointer(path).save({"a#0": record_with(Gone())})
    good = path.read_bytes()
    path.write_bytes(good.replace(b"Gone", b"Lost"))
    with pytest.raises(CheckpointError, match=r"cannot be imported here .*Lost"):
        PickleCheckpointer(path).load()


class Gone:
    """A class pickled by reference, then renamed in the file."""


def record_with(value: object) -> dict[str, Any]:
    return {
        "name": "n",
        "status": "completed",
        "value": value,
        "error": None,
        "attempts": 1,
        "started_at": None,
        "finished_at": None,
        "fingerprint": "f",
    }


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"format": "pyworkflowy-checkpoint", "version": 3, "records": {}}, "newer than"),
        ({"format": "pyworkflowy-checkpoint", "version": "1", "records": {}}, "invalid format"),
        ({"format": "pyworkflowy-checkpoint", "version": 1, "records": []}, "malformed"),
        ({"format": "pyworkflowy-checkpoint", "version": 1, "records": {"a": 1}}, "malformed"),
        ({"format": "pyworkflowy-checkpoint", "version": 1, "records": {"a": {}}}, "malformed"),
        ({"format": "pyworkflowy-checkpoint", "version": 1}, "malformed"),
        ([1, 2, 3], "is not a pyworkflowy checkpoint"),
    ],
)
def test_json_checkpoints_of_another_version_or_shape_are_refused(
    tmp_path: Path, document: object, problem: str
) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match=problem):
        JSONCheckpointer(path).load()


def test_a_newer_pickle_checkpoint_asks_for_an_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "state.pkl"
    path.write_bytes(b"pyworkflowy-checkpoint pickle v3\n" + pickle.dumps({}))
    with pytest.raises(CheckpointError, match="upgrade pyworkflowy-persist"):
        PickleCheckpointer(path).load()


def test_a_newer_sqlite_checkpoint_asks_for_an_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SQLiteCheckpointer(path).close()
    checkpointer = SQLiteCheckpointer(path)
    checkpointer.clear()
    checkpointer.close()
    sqlite_db(path, "PRAGMA user_version=3")
    with pytest.raises(CheckpointError, match="upgrade pyworkflowy-persist"):
        SQLiteCheckpointer(path).load()


def test_a_sqlite_checkpoint_with_its_table_dropped_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    checkpointer = SQLiteCheckpointer(path)
    checkpointer.clear()
    checkpointer.close()
    sqlite_db(path, "DROP TABLE pyworkflowy_records")
    with pytest.raises(CheckpointError, match="malformed: it has no pyworkflowy_records table"):
        SQLiteCheckpointer(path).load()


def test_a_sqlite_value_that_is_not_json_is_reported_with_its_id(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    checkpointer = SQLiteCheckpointer(path)
    checkpointer.save({"a#0": record_with(1)})
    checkpointer.close()
    sqlite_db(path, "UPDATE pyworkflowy_records SET value = '{oops'")
    with pytest.raises(CheckpointError, match="the value of 'a#0' is not valid JSON"):
        SQLiteCheckpointer(path).load()


def test_a_checkpoint_in_a_missing_folder_fails_with_checkpoint_error(
    kind: str, tmp_path: Path, record: Record
) -> None:
    from pyworkflowy.persist import checkpointer_for_path

    path = tmp_path / "missing" / {"json": "s.json", "pickle": "s.pkl", "sqlite": "s.db"}[kind]
    checkpointer = checkpointer_for_path(path)
    with pytest.raises(CheckpointError, match=str(path)):
        checkpointer.save({"a#0": record()})
    checkpointer.close()


# -- write failures during a run ----------------------------------------------------------


class FailingOnce(JSONCheckpointer):
    """A JSON checkpointer whose first ``save`` of a finished task fails, as a full disk
    would (the start records before it are written)."""

    failed = False

    def save(self, records: Any, removed: Any = ()) -> None:
        finished = any(record["status"] == "completed" for record in records.values())
        if finished and not self.failed:
            self.failed = True
            raise CheckpointError(f"cannot write the checkpoint {str(self.path)!r}: disk full")
        super().save(records, removed)


def test_records_of_a_save_that_failed_mid_run_are_written_later(tmp_path: Path) -> None:
    path = tmp_path / "state.json"

    @task(name="step")
    async def step(i: int) -> int:
        return i

    # record_starts=False: a start that cannot be recorded fails its task (test_starts.py)
    with TaskRunner(
        checkpointer=FailingOnce(path), checkpoint_interval=0, record_starts=False
    ) as runner:
        previous = runner.submit(step, 0)
        for i in range(1, 4):
            previous = runner.submit(step, i, depends_on=[previous])
        runner.run()
    assert sorted(JSONCheckpointer(path).load()) == ["step#0", "step#1", "step#2", "step#3"]


def test_a_shutdown_whose_checkpoint_write_fails_still_closes_the_runner(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("not a checkpoint")
    runner = TaskRunner(checkpoint_path=str(path))
    with pytest.raises(CheckpointError):
        runner.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        runner.submit(noop)


class AlwaysFailing(JSONCheckpointer):
    """A JSON checkpointer whose every ``save`` fails."""

    def save(self, records: Any, removed: Any = ()) -> None:
        raise CheckpointError(f"cannot write the checkpoint {str(self.path)!r}: disk full")


def test_run_raises_when_its_records_could_not_be_written(tmp_path: Path) -> None:
    runner = TaskRunner(checkpointer=AlwaysFailing(tmp_path / "state.json"), checkpoint_interval=0)
    handle = runner.submit(noop)
    with pytest.raises(CheckpointError, match="disk full"):
        runner.run()
    assert handle.done()
    with pytest.raises(CheckpointError, match="disk full"):
        runner.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        runner.submit(noop)

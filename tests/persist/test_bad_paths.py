"""Checkpoint files and paths that are not what they should be: each reported as a
`CheckpointError` naming the file and what is wrong, as early as it can be known.

Tests run for the JSON, pickle and SQLite checkpointers (the ``path`` fixture) where the
behaviour is shared. Tests run as root in CI: a permission test that root would pass through
is skipped there; a directory in the file's place, or a path under a regular file, fails
for root too.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyworkflowy import Checkpointer, CheckpointError, TaskRunner, task
from pyworkflowy.persist import JSONCheckpointer, SQLiteCheckpointer

Record = Callable[..., dict[str, Any]]
ran: list[int] = []


@task(name="double")
def double(x: int) -> int:
    ran.append(x)
    return 2 * x


def first_run(path: Path) -> None:
    with TaskRunner(checkpoint_path=path) as runner:
        runner.submit(double, 1)
        runner.run()


# -- loading ----------------------------------------------------------------------------------


def test_a_json_checkpoint_with_an_int_too_long_to_read_is_a_checkpoint_error(
    tmp_path: Path, record: Record
) -> None:
    path = tmp_path / "state.json"
    checkpointer = JSONCheckpointer(path)
    checkpointer.save({"double#0": record(value="BIG")})
    checkpointer.close()
    path.write_text(path.read_text().replace('"BIG"', "9" * 5000))
    with pytest.raises(CheckpointError, match=r"state\.json.*digits") as caught:
        TaskRunner.resume(path)
    assert isinstance(caught.value.__cause__, ValueError)


class ExplodingCheckpointer(Checkpointer):
    """A custom checkpointer whose load() fails with something other than CheckpointError."""

    def load(self) -> dict[str, Any]:
        raise KeyError("bucket 'runs' not found")

    def save(self, records: Any, removed: Any = ()) -> None:
        pass

    def __repr__(self) -> str:
        return "ExplodingCheckpointer('s3://runs')"


def test_a_custom_checkpointers_load_error_reaches_the_user_as_a_checkpoint_error() -> None:
    with pytest.raises(CheckpointError, match=r"ExplodingCheckpointer\('s3://runs'\)") as caught:
        TaskRunner.resume(ExplodingCheckpointer())
    assert isinstance(caught.value.__cause__, KeyError)
    assert "bucket 'runs' not found" in str(caught.value)


# -- symbolic links ---------------------------------------------------------------------------


def test_a_checkpoint_path_that_is_a_symlink_is_written_through(tmp_path: Path) -> None:
    for name in ("state.json", "state.pkl"):
        target = tmp_path / "real" / name
        target.parent.mkdir(exist_ok=True)
        link = tmp_path / name
        link.symlink_to(target)
        first_run(link)
        assert link.is_symlink()
        assert target.is_file()
        ran.clear()
        with TaskRunner.resume(link) as runner:  # what the first run stored: no re-run
            handle = runner.submit(double, 1)
            runner.run()
        assert (handle.result(), ran) == (2, [])
        assert link.is_symlink()


def test_a_fresh_run_on_a_symlinked_checkpoint_clears_the_target_and_keeps_the_link(
    tmp_path: Path,
) -> None:
    target = tmp_path / "real.json"
    link = tmp_path / "state.json"
    link.symlink_to(target)
    first_run(link)
    with TaskRunner(checkpoint_path=link) as runner:  # fresh: starts from nothing
        runner.run()
    assert link.is_symlink()
    assert not target.exists() or "double#0" not in target.read_text()


# -- paths that cannot be written -------------------------------------------------------------


def test_a_directory_as_checkpoint_path_is_refused_when_the_runner_is_made(path: Path) -> None:
    path.mkdir()
    ran.clear()
    with pytest.raises(CheckpointError, match=rf"{path.name}.* is a directory"):
        TaskRunner(checkpoint_path=path)
    assert ran == []


def test_a_checkpoint_path_under_a_regular_file_is_refused_when_the_runner_is_made(
    path: Path,
) -> None:
    blocker = path.parent / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(CheckpointError, match="not-a-folder"):
        TaskRunner(checkpoint_path=blocker / path.name)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes to read-only folders"
)
def test_a_checkpoint_in_a_read_only_folder_is_refused_when_the_runner_is_made(
    path: Path,
) -> None:
    folder = path.parent / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(CheckpointError, match="locked"):
            TaskRunner(checkpoint_path=folder / path.name)
    finally:
        folder.chmod(0o700)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads and writes any file"
)
def test_a_checkpoint_file_this_user_cannot_write_is_refused_when_the_runner_is_made(
    path: Path,
) -> None:
    first_run(path)
    path.chmod(0o400)
    try:
        with pytest.raises(CheckpointError, match="cannot read and write"):
            TaskRunner.resume(path)
    finally:
        path.chmod(0o600)


def test_a_checkpoint_in_a_missing_folder_is_refused_when_the_runner_is_made(
    path: Path,
) -> None:
    with pytest.raises(CheckpointError, match="no-such-folder"):
        TaskRunner(checkpoint_path=path.parent / "no-such-folder" / path.name)


# -- SQLite -----------------------------------------------------------------------------------


def test_a_sqlite_checkpoint_truncated_to_one_byte_is_refused_not_read_as_empty(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    first_run(path)
    path.write_bytes(path.read_bytes()[:1])
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with pytest.raises(CheckpointError, match=r"state\.db.*truncated"):
        TaskRunner.resume(path)
    assert path.stat().st_size == 1  # left as it was


class _FullDisk(sqlite3.Connection):
    """A connection on a disk with no space left: SQLite reports SQLITE_FULL."""

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        error = sqlite3.OperationalError("database or disk is full")
        error.sqlite_errorcode = 13  # SQLITE_FULL
        error.sqlite_errorname = "SQLITE_FULL"
        raise error


def test_a_full_disk_when_opening_sqlite_says_so_not_that_the_file_is_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.db"
    first_run(path)
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: connect(*a, **k, factory=_FullDisk))
    checkpointer = SQLiteCheckpointer(path)
    with pytest.raises(CheckpointError, match=r"state\.db.*disk is full") as caught:
        checkpointer.load()
    assert "corrupt" not in str(caught.value)
    assert "not a SQLite database" not in str(caught.value)

"""Opening a SQLite file the way both `SQLiteCheckpointer` and `SQLiteCache` do."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from pyworkflowy import CheckpointError

__all__ = ["open_private", "opening_error"]

_HEADER = 100  # bytes: every SQLite database file starts with a header this long
_CORRUPT, _FULL, _NOTADB = 11, 13, 26  # SQLite result codes (the low byte of extended ones)


def open_private(
    path: Path, where: str, prepare: Callable[[sqlite3.Connection], None]
) -> sqlite3.Connection:
    """A connection to ``path`` (created ``0600`` if new: SQLite gives its ``-wal`` and
    ``-shm`` files the same mode), set up by ``prepare``; `CheckpointError` naming
    ``where`` if it cannot be created or opened. Closed again if ``prepare`` raises."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise CheckpointError(f"cannot create {where}: {exc}") from exc
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise CheckpointError(f"cannot open {where}: {exc}") from exc
    if 0 < size < _HEADER:  # SQLite would take it for a new, empty database
        raise CheckpointError(
            f"{where} is truncated: it has {size} byte(s), fewer than a SQLite database's "
            f"{_HEADER}-byte header, so it is not read as empty; restore it, or move or "
            "delete it to start afresh"
        )
    try:
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise CheckpointError(f"cannot open {where}: {exc}") from exc
    try:
        prepare(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def opening_error(exc: sqlite3.Error, where: str) -> CheckpointError:
    """What went wrong reading ``where`` as it was opened: only a file SQLite finds
    damaged or foreign is called that; a full disk or an I/O error says so."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code in (_CORRUPT, _NOTADB):
        return CheckpointError(f"{where} is not a SQLite database, or is corrupt: {exc}")
    if code == _FULL:
        return CheckpointError(
            f"cannot open {where}: the disk is full ({exc}); free some space and try again"
        )
    return CheckpointError(f"cannot open {where}: {exc}")

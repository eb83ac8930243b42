"""Opening a SQLite file the way both `SQLiteCheckpointer` and `SQLiteCache` do."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from pyworkflowy import CheckpointError

__all__ = ["open_private"]


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
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise CheckpointError(f"cannot open {where}: {exc}") from exc
    try:
        prepare(conn)
    except BaseException:
        conn.close()
        raise
    return conn

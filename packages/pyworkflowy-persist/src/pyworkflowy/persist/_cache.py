"""`SQLiteCache`: cached task results in one SQLite table, shared by runs and processes.

One row per key (``key, task, created_at, expires_at, value``) in WAL mode, written in
autocommit with ``synchronous=NORMAL``: a killed process loses nothing, a power loss at
most the latest entries (a cache may forget). A hit is one SELECT by primary key and one
``loads``. An entry that no longer loads (a corrupt value, a class since renamed) is a
miss with a `RuntimeWarning`; the task runs again and its result replaces the entry.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import pickle
import sqlite3
import threading
import warnings
import weakref
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import Any

from pyworkflowy import CheckpointError
from pyworkflowy.cache import Cache, CacheEntry

from ._json import find_json_problem
from ._sqlite import APPLICATION_ID as CHECKPOINT_APPLICATION_ID
from ._sqlitefile import open_private, opening_error

__all__ = ["SQLiteCache"]

APPLICATION_ID = 0x50574643  # "PWFC", in the SQLite file header: marks our cache databases
VERSION = 1  # the schema, as PRAGMA user_version; bumped when older readers could not read it
TABLE = "pyworkflowy_cache"
SERIALIZERS = ("pickle", "json")
_SCHEMA = f"""CREATE TABLE {TABLE} (
    key TEXT PRIMARY KEY NOT NULL,
    task TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    value BLOB NOT NULL
) WITHOUT ROWID"""
_GET = f"SELECT value FROM {TABLE} WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)"
_PUT = f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?, ?, ?)"
_ENTRIES = f"SELECT key, task, created_at, expires_at FROM {TABLE} ORDER BY created_at, key"
_DELETE = f"DELETE FROM {TABLE} WHERE key = ?"
_ENCODE_JSON = json.JSONEncoder(separators=(",", ":")).encode  # ASCII: keeps lone surrogates


def _unpickle(blob: bytes) -> Any:
    if blob[:1] != b"\x80":  # every pickle of protocol 2 or later starts with PROTO
        raise ValueError("it is not a pickle (was it stored with serializer='json'?)")
    return pickle.loads(blob)


def _to_json(value: object) -> bytes:
    problem = find_json_problem(value)  # what json.dumps would mangle (int keys) or refuse
    if problem is not None:
        raise TypeError(f"the value{problem[0]} {problem[1]}")
    return _ENCODE_JSON(value).encode("ascii")


_CODECS: dict[str, tuple[Callable[[Any], bytes], Callable[[bytes], Any]]] = {
    "pickle": (functools.partial(pickle.dumps, protocol=pickle.HIGHEST_PROTOCOL), _unpickle),
    "json": (_to_json, json.loads),
}


class SQLiteCache(Cache):
    """Keeps cached results in a SQLite database (standard-library ``sqlite3``).

    ``serializer="pickle"`` (the default) stores anything pickle accepts and gives values
    back with their exact types; loading runs code from the file, so use only caches your
    own programs wrote. ``"json"`` loads without running code but stores only JSON data
    (tuples come back as lists). Storage errors raise `pyworkflowy.CheckpointError`.
    """

    def __init__(self, path: str | os.PathLike[str], *, serializer: str = "pickle") -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                f"SQLiteCache takes a file path (str or os.PathLike), got {type(path).__name__}"
            )
        if serializer not in _CODECS:
            raise ValueError(f"serializer must be one of {SERIALIZERS}, got {serializer!r}")
        self.path = Path(path)
        self.serializer = serializer
        self._dumps, self._loads = _CODECS[serializer]
        self._conn: sqlite3.Connection | None = None
        self._closer: weakref.finalize[..., None] | None = None
        self._lock = threading.Lock()
        with self._lock:
            self._connect()  # a bad path fails here, where it was given

    def __repr__(self) -> str:
        return f"SQLiteCache({str(self.path)!r}, serializer={self.serializer!r})"

    # -- the Cache interface -------------------------------------------------------------
    def get(self, key: str, now: float) -> tuple[bool, Any]:
        with self._lock:
            conn = self._conn or self._connect()
            try:
                row = conn.execute(_GET, (key, now)).fetchone()
            except sqlite3.Error as exc:
                raise CheckpointError(f"cannot read {self._where()}: {exc}") from exc
        if row is None:
            return False, None
        try:
            return True, self._loads(row[0])
        except Exception as exc:  # corrupt, or a class that cannot be imported now
            warnings.warn(
                f"{self._where()} holds an entry {key!r} that cannot be loaded "
                f"({type(exc).__name__}: {exc}); it counts as a miss, and the task's next "
                "result replaces it",
                RuntimeWarning,
                stacklevel=2,
            )
            return False, None

    def put(
        self, key: str, value: Any, *, task: str, created_at: float, expires_at: float | None
    ) -> None:
        try:
            blob = self._dumps(value)
        except Exception as exc:
            hint = "use serializer='pickle'" if self.serializer == "json" else "convert it"
            raise TypeError(
                f"cannot store the result of task {task!r} (of type "
                f"{type(value).__qualname__}) in {self._where()} with "
                f"serializer={self.serializer!r} ({type(exc).__name__}: {exc}): {hint}"
            ) from exc
        with self._using("write") as conn:
            try:
                conn.execute(_PUT, (key, task, created_at, expires_at, blob))
            except (sqlite3.DataError, OverflowError) as exc:  # too large for SQLite
                raise ValueError(
                    f"the result of task {task!r} ({len(blob)} bytes as {self.serializer}) "
                    f"cannot be stored in {self._where()}: {exc}"
                ) from exc

    def entries(self) -> list[CacheEntry]:
        with self._using("read") as conn:
            rows = conn.execute(_ENTRIES).fetchall()
        return [CacheEntry(*row) for row in rows]

    def delete(self, keys: Iterable[str]) -> int:
        rows = [(key,) for key in keys]
        if not rows:
            return 0
        with self._using("write") as conn:
            before = conn.total_changes
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_DELETE, rows)
            conn.execute("COMMIT")
            return conn.total_changes - before

    def clear(self, task: str | None = None, *, expired_at: float | None = None) -> int:
        where: list[str] = []
        params: list[str | float] = []
        if task is not None:
            where.append("task = ?")
            params.append(task)
        if expired_at is not None:
            where.append("expires_at <= ?")  # NULL (never expires) is never <=
            params.append(expired_at)
        sql = f"DELETE FROM {TABLE}" + (" WHERE " + " AND ".join(where) if where else "")
        with self._using("clear") as conn:
            return conn.execute(sql, params).rowcount

    def close(self) -> None:
        """Close the connection; the next use opens it again."""
        with self._lock:
            conn, self._conn = self._conn, None
            if self._closer is not None:
                self._closer.detach()
                self._closer = None
            if conn is not None:
                conn.close()

    # -- helpers -------------------------------------------------------------------------
    def _where(self) -> str:
        return f"the cache {str(self.path)!r}"

    @contextlib.contextmanager
    def _using(self, doing: str) -> Generator[sqlite3.Connection]:
        """The connection, under the lock; a database error rolls back and is reported."""
        with self._lock:
            conn = self._conn or self._connect()
            try:
                yield conn
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise CheckpointError(f"cannot {doing} {self._where()}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        """The open connection (opening and checking the database first); hold the lock."""
        if self._conn is not None:
            return self._conn
        if self.path.is_dir():
            raise CheckpointError(f"{self._where()} is a directory: give the path of a file")
        conn = open_private(self.path, self._where(), self._prepare)
        self._conn = conn
        # A cache dropped without close() still closes its connection when collected.
        self._closer = weakref.finalize(self, conn.close)
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Check that the database is a cache (making a new, empty one into one), then WAL."""
        where = self._where()
        try:
            app_id, version, tables = _inspect(conn)
            if app_id == 0 and not tables:  # a new database: make it a cache
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("BEGIN IMMEDIATE")
                app_id, version, tables = _inspect(conn)  # another process may have won
                if app_id == 0 and not tables:
                    conn.execute(_SCHEMA)
                    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
                    conn.execute(f"PRAGMA user_version={VERSION}")
                    app_id, version, tables = APPLICATION_ID, VERSION, {TABLE}
                conn.execute("COMMIT")
            _check(where, app_id, version, tables)  # before anything is written to it
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:  # locked by another process past the timeout
            raise CheckpointError(f"cannot set up {where}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise opening_error(exc, where) from exc


def _inspect(conn: sqlite3.Connection) -> tuple[int, int, set[str]]:
    """The database's application_id, user_version and table names."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return app_id, version, {row[0] for row in rows}


def _check(where: str, app_id: int, version: int, tables: set[str]) -> None:
    """Refuse, naming ``where`` and the fix, a database that is not a cache we can read."""
    if app_id == CHECKPOINT_APPLICATION_ID:
        raise CheckpointError(
            f"{where} is a pyworkflowy checkpoint, not a cache, so it is left alone: "
            "choose another cache path"
        )
    if app_id != APPLICATION_ID:
        raise CheckpointError(
            f"{where} is a SQLite database but not a pyworkflowy cache (its tables: "
            f"{', '.join(sorted(tables)) or 'none'}), so it is left alone: choose another "
            "cache path"
        )
    if version > VERSION:
        raise CheckpointError(
            f"{where} has cache schema version {version}, newer than the version {VERSION} "
            "this pyworkflowy-persist reads: upgrade pyworkflowy-persist"
        )
    if version < 1 or TABLE not in tables:
        raise CheckpointError(f"{where} is malformed: no {TABLE} table of a known version")

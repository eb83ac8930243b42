"""`SQLiteCheckpointer`: one row per handle, written incrementally in WAL mode.

Each ``save()`` is one transaction that upserts the changed rows and deletes the removed
ones, so its cost follows the size of the batch, not of the whole run. Values are
stored as JSON text (the same rules as `JSONCheckpointer`; loading runs no code).

Durability: with ``synchronous="NORMAL"`` (the default) a committed save survives the
process being killed, but a power loss or OS crash may undo the saves made since SQLite
last copied its write-ahead log into the database (every 1,000 pages, and on close); the
database stays readable, and one created just before the crash reads as empty.
``synchronous="FULL"`` syncs the disk on every save and survives those too, at the cost of
one fsync per save.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import threading
import weakref
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from pyworkflowy import Checkpointer, CheckpointError

from ._files import check_writable
from ._hold import Hold
from ._json import check_json, column_problem
from ._records import VERSION, Record, RecordColumns, check_version, columns_of
from ._sqlitefile import open_private, opening_error

__all__ = ["SQLiteCheckpointer"]

APPLICATION_ID = 0x50574659  # "PWFY", in the SQLite file header: marks our databases
TABLE = "pyworkflowy_records"
PAGE_SIZE = 1024  # bytes; SQLite's default is 4096
_COLUMNS = (
    "id, name, status, value, error, attempts, started_at, finished_at, fingerprint, "
    "depends_on, attempt_times, backend"
)
#: added later: a database made before has them added when it is opened, with the value
#: its rows get (no dependencies, no attempt times, no backend known)
_ADDED = (("depends_on", "'[]'"), ("attempt_times", "'[]'"), ("backend", "NULL"))
_SCHEMA = f"""CREATE TABLE {TABLE} (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT,
    status TEXT,
    value TEXT,
    error TEXT,
    attempts INTEGER,
    started_at REAL,
    finished_at REAL,
    fingerprint TEXT,
    depends_on TEXT,
    attempt_times TEXT,
    backend TEXT
) WITHOUT ROWID"""
_UPSERT = f"INSERT OR REPLACE INTO {TABLE} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_DELETE = f"DELETE FROM {TABLE} WHERE id = ?"
_ONE_STATEMENT_ROWS = 64  # 12 parameters a row: below SQLite's oldest limit of 999


@functools.cache
def _upsert_rows(n: int) -> str:
    """An upsert of ``n`` rows in one statement."""
    return _UPSERT + ", (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" * (n - 1)


_SELECT = f"SELECT {_COLUMNS} FROM {TABLE}"
_SYNCHRONOUS = ("NORMAL", "FULL")
_HINT = (
    "; SQLiteCheckpointer stores values as JSON, which holds None, bool, int, float, str "
    "and lists and str-keyed dicts of them: convert the value, or use PickleCheckpointer"
)
_dumps = json.JSONEncoder(separators=(",", ":")).encode


def _extra_texts(
    columns: RecordColumns,
) -> tuple[list[str | None], list[str | None], list[str | None]]:
    """The depends_on, attempt_times and backend columns as stored: NULL for none, one id
    as itself (unless it starts with ``[``), else JSON text; the backend as itself."""
    n = len(columns.ids)
    backends = columns.backends or [None] * n
    deps_column = columns.depends_on or [None] * n
    times_column = columns.attempt_times or [None] * n
    if deps_column.count(None) == n:  # no dependencies: the common batch of a fan
        deps: list[str | None] = deps_column
    else:
        deps = [
            d if d is None or (d.__class__ is str and not d.startswith("[")) else _dumps(d)
            for d in deps_column
        ]
    if times_column.count(None) == n:
        return deps, times_column, backends  # type: ignore[return-value]
    return deps, [None if t is None else _dumps(t) for t in times_column], backends


def _has_columns(conn: sqlite3.Connection) -> bool:
    """Whether the records table has every column added since it was first made."""
    have = {row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")}
    return all(column in have for column, _ in _ADDED)


def _add_columns(conn: sqlite3.Connection) -> None:
    """Add the missing `_ADDED` columns, in one write transaction: another process that
    opens the same older database at the same moment waits, then finds them added."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")}
        for column, default in _ADDED:  # (NULL attempt_times would mean "derive them")
            if column not in have:
                conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN {column} TEXT DEFAULT {default}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _load_deps(text: str | None) -> Any:
    if text is None or not text.startswith("["):
        return text
    return json.loads(text)


class SQLiteCheckpointer(Checkpointer):
    """Keeps one row per handle in a SQLite database (standard-library ``sqlite3``).

    The choice for long runs: a save writes only the records that changed, in one
    transaction, so checkpointing after every completion stays cheap. Arguments and
    return values must be JSON data, as with `JSONCheckpointer`. ``synchronous`` is
    SQLite's setting: ``"NORMAL"`` survives a killed process, ``"FULL"`` also an OS crash
    or power loss, for one fsync per save.
    """

    durable = True  # a save is one small transaction: cheap enough to record every start

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL") -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                f"SQLiteCheckpointer takes a file path (str or os.PathLike), "
                f"got {type(path).__name__}"
            )
        if synchronous not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {_SYNCHRONOUS}, got {synchronous!r}")
        self.path = Path(path)
        self.synchronous = synchronous
        self._conn: sqlite3.Connection | None = None
        self._closer: weakref.finalize[..., None] | None = None
        self._lock = threading.Lock()
        self._hold = Hold()

    def __repr__(self) -> str:
        return f"SQLiteCheckpointer({str(self.path)!r})"

    # -- the Checkpointer interface ------------------------------------------------------
    def validate(self, value: object, what: str) -> None:
        check_json(value, what, _HINT)

    def load(self) -> dict[str, Record]:
        with self._lock:
            if self._conn is None and not self.path.exists():
                return {}  # nothing stored yet; do not create a file just to read it
            conn = self._connect()
            try:
                rows = conn.execute(_SELECT).fetchall()
            except sqlite3.Error as exc:
                raise CheckpointError(f"cannot read {self._where()}: {exc}") from exc
        records: dict[str, Record] = {}
        for row in rows:
            hid, name, status, value, error, attempts, started, finished, digest = row[:9]
            deps, times, lane = row[9:]
            try:
                value = None if value is None else json.loads(value)
            except (ValueError, TypeError, RecursionError) as exc:
                raise CheckpointError(
                    f"{self._where()} is corrupt: the value of {hid!r} is not valid JSON ({exc})"
                ) from exc
            try:
                deps = _load_deps(deps)
                times = None if times is None else json.loads(times)
            except (ValueError, TypeError, RecursionError) as exc:
                raise CheckpointError(
                    f"{self._where()} is corrupt: the dependencies or attempt times of {hid!r} "
                    f"are not valid JSON ({exc})"
                ) from exc
            records[hid] = {
                "name": name,
                "status": status,
                "value": value,
                "error": error,
                "attempts": attempts,
                "started_at": started,
                "finished_at": finished,
                "fingerprint": digest,
                "depends_on": RecordColumns.dependency_ids(deps),
                "attempt_times": RecordColumns.attempt_pairs(times, started, finished),
                "backend": lane,
            }
        return records

    def save(self, records: Mapping[str, Record], removed: Collection[str] = ()) -> None:
        columns = columns_of(records, self._where())
        texts = self._texts(columns)
        extra = _extra_texts(columns)
        n = len(columns.ids)
        with self._lock:
            conn = self._connect()
            try:
                if not removed and 0 < n <= _ONE_STATEMENT_ROWS:
                    # One statement is one (implicit) transaction: all or nothing, and
                    # cheaper than BEGIN, executemany and COMMIT for the small batches
                    # that checkpoint_interval=0 makes.
                    fields = zip(*columns[:3], texts, *columns[4:9], *extra, strict=True)
                    conn.execute(_upsert_rows(n), [item for row in fields for item in row])
                    return
                conn.execute("BEGIN IMMEDIATE")
                if removed:
                    conn.executemany(_DELETE, [(hid,) for hid in removed])
                if n:
                    rows = zip(*columns[:3], texts, *columns[4:9], *extra, strict=True)
                    conn.executemany(_UPSERT, rows)
                conn.execute("COMMIT")
            except BaseException as exc:  # all or nothing: the rows stay as they were
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                # ValueError: a lone surrogate in a text field; OverflowError: an int
                # too large for SQLite
                if isinstance(exc, (sqlite3.Error, ValueError, OverflowError)):
                    raise CheckpointError(f"cannot write {self._where()}: {exc}") from exc
                raise

    def clear(self) -> None:
        """Delete every row (refusing a database that is not a checkpoint)."""
        with self._lock:
            conn = self._connect()
            try:
                conn.execute(f"DELETE FROM {TABLE}")
            except sqlite3.Error as exc:
                raise CheckpointError(f"cannot clear {self._where()}: {exc}") from exc

    def acquire(self) -> None:
        """Check that the file can be written (`check_writable`), then take the
        checkpoint for this process (`Hold`); `close` gives it back."""
        check_writable(self.path, self._where())
        self._hold.acquire(self, self.path, self._where())

    def close(self) -> None:
        """Close the connection (the next use opens it again) and give back the hold."""
        self._hold.release()
        with self._lock:
            conn, self._conn = self._conn, None
            if self._closer is not None:
                self._closer.detach()
                self._closer = None
            if conn is not None:
                conn.close()

    # -- helpers -------------------------------------------------------------------------
    def _where(self) -> str:
        return f"the checkpoint {str(self.path)!r}"

    def _texts(self, columns: RecordColumns) -> list[str | None]:
        """The values as JSON text (None stays NULL)."""
        try:
            return [None if value is None else _dumps(value) for value in columns.values]
        except (TypeError, ValueError, RecursionError):
            problem = column_problem(columns)
        raise CheckpointError(f"cannot write {self._where()}: {problem}")

    def _connect(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is not None:
            return conn
        conn = open_private(self.path, self._where(), self._prepare)
        self._conn = conn
        # A checkpointer dropped without close() still closes its connection when collected.
        self._closer = weakref.finalize(self, conn.close)
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Check that the database is ours (or new and empty), then set it up."""
        where = self._where()
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        except sqlite3.DatabaseError as exc:
            raise opening_error(exc, where) from exc
        try:
            if app_id == 0 and not tables:  # a new database: make it a checkpoint
                # At NORMAL the set-up skips its five disk syncs: a power loss before the
                # first WAL checkpoint then leaves a database that reads as new (SQLite
                # drops the WAL of an empty database), which NORMAL allows anyway (the
                # latest saves undone, the database readable). FULL syncs it all.
                conn.execute(
                    "PRAGMA synchronous=OFF"
                    if self.synchronous == "NORMAL"
                    else "PRAGMA synchronous=FULL"
                )
                # Small pages: a save of a few rows appends less to the WAL, and closing
                # (which syncs the WAL into the database) has less to copy and sync.
                conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(_SCHEMA)
                conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version={VERSION}")
                conn.execute("COMMIT")
                conn.execute(f"PRAGMA synchronous={self.synchronous}")
            elif app_id != APPLICATION_ID:
                names = ", ".join(sorted(tables)) or "none"
                raise CheckpointError(
                    f"{where} is a SQLite database but not a pyworkflowy checkpoint (its "
                    f"tables: {names}), so it is left alone: choose another checkpoint path"
                )
            else:
                check_version(version, where)
                if TABLE not in tables:
                    raise CheckpointError(f"{where} is malformed: it has no {TABLE} table")
                if version < VERSION:  # it may get start records, which older readers refuse
                    conn.execute(f"PRAGMA user_version={VERSION}")
                if not _has_columns(conn):  # made before they existed: add them
                    _add_columns(conn)
                # before the switch to WAL, which would otherwise sync the disk at FULL
                conn.execute(f"PRAGMA synchronous={self.synchronous}")
                conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise CheckpointError(f"cannot set up {where}: {exc}") from exc

"""The `Checkpointer` interface; the JSON, pickle and SQLite ones ship in pyworkflowy-persist.

A checkpoint holds one record per finished handle, keyed by handle id::

    {"name": str, "status": "completed" | "failed" | "cancelled" | "skipped",
     "value": Any (completed only), "error": str | None, "attempts": int,
     "started_at": float | None, "finished_at": float | None, "fingerprint": str,
     "depends_on": [str, ...], "attempt_times": [[start, end | None], ...],
     "backend": str | None}

``depends_on`` lists the ids of the handles it depended on; ``attempt_times`` the start
and end (seconds since the epoch) of each attempt of the run that wrote the record (a
start record's last attempt has no end yet); ``backend`` names the lane that ran it
(``"asyncio"``, ``"thread"``, ``"process"``, ``"dask"`` or a name given in
``TaskRunner(backends=...)``). All three are optional when loading: a record without them
(an older file, a checkpointer that drops them) reads as having no dependencies, no
attempt times and no backend (None).

``fingerprint`` identifies the task's code and its submitted arguments, so a resumed
handle whose code or arguments changed runs again instead of reusing a stale result.

When starts are recorded (see `Checkpointer.durable`), a record of status ``"started"``
(``"started-once"`` for a task with ``idempotent=False``) says that attempt number
``attempts`` was given to its backend and no outcome has been recorded since: on resume,
that task is *in doubt*. Its ``value`` is the run id that the attempt's
``current_task().idempotency_key`` was made of, so that a resume keeps the key.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, NamedTuple

from ._validate import is_number

__all__ = ["RECORD_KEYS", "STARTED", "Checkpointer", "RecordBatch", "RecordColumns"]

Record = dict[str, Any]
# The keys every record has; "depends_on", "attempt_times" and "backend" came later and may
# be missing.
RECORD_KEYS = frozenset(
    {"name", "status", "value", "error", "attempts", "started_at", "finished_at", "fingerprint"}
)
STARTED = frozenset({"started", "started-once"})  # the statuses of start records


def record_time(value: object) -> float | None:
    """A record's ``started_at`` / ``finished_at`` (or an attempt time) as a float, or
    None if it is not a finite number (none recorded, or a damaged record)."""
    if is_number(value) and math.isfinite(value):  # type: ignore[arg-type]
        return float(value)  # type: ignore[arg-type]
    return None


def in_start_order(records: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The ids of ``records`` in the order their tasks started; those that never did
    (or whose start time is damaged) last, by id."""
    starts = {hid: record_time(record.get("started_at")) for hid, record in records.items()}
    return sorted(starts, key=lambda hid: (starts[hid] is None, starts[hid] or 0.0, hid))


def dependency_ids(entry: object) -> list[str]:
    """A `RecordColumns.depends_on` entry as a list of ids."""
    if entry is None:
        return []
    if isinstance(entry, str):
        return [entry]
    return list(entry)  # type: ignore[call-overload]


def attempt_pairs(
    flat: list[float | None] | None, started_at: float | None, finished_at: float | None
) -> list[list[float | None]]:
    """A `RecordColumns.attempt_times` entry as ``[[start, end], ...]``."""
    if flat is None:
        return [] if started_at is None else [[started_at, finished_at]]
    return [[flat[i], flat[i + 1] if i + 1 < len(flat) else None] for i in range(0, len(flat), 2)]


class RecordColumns(NamedTuple):
    """Records as parallel lists, one entry per handle, in the order of ``ids``.

    What a checkpointer that stores in bulk asks a `RecordBatch` for: building a dict
    per record costs more than writing the record does.
    """

    ids: list[str]
    names: list[str]
    statuses: list[str]
    values: list[Any]
    errors: list[str | None]
    attempts: list[int]
    started_at: list[float | None]
    finished_at: list[float | None]
    fingerprints: list[str]
    #: per record: None (no dependency), one id (a str) or a sequence of ids; the whole
    #: column may be None (nothing recorded: every record has none)
    depends_on: list[Any] | None = None
    #: per record: None (its times are ``started_at`` .. ``finished_at``: one attempt,
    #: none if it never started) or the flat list ``[start1, end1, start2, ...]``; the
    #: whole column may be None (not recorded: no record has attempt times)
    attempt_times: list[list[float | None] | None] | None = None
    #: per record: the name of the lane that ran it, or None (not known); the whole
    #: column may be None (not recorded: no record names its backend)
    backends: list[str | None] | None = None

    #: ``RecordColumns.dependency_ids(entry)``: a depends_on entry as a list of ids
    dependency_ids = staticmethod(dependency_ids)
    #: ``RecordColumns.attempt_pairs(entry, started_at, finished_at)``: an attempt_times
    #: entry as ``[[start, end], ...]``
    attempt_pairs = staticmethod(attempt_pairs)

    @classmethod
    def of(cls, records: Mapping[str, Record]) -> RecordColumns:
        """The columns of any mapping of records (a `RecordBatch` gives its own).

        Raises ``KeyError`` naming the field a record lacks, ``TypeError`` for a record
        that is not a mapping.
        """
        if isinstance(records, RecordBatch):
            return records.columns()
        items = list(records.items())
        rows = [(hid, *_fields(hid, record)) for hid, record in items]
        if not rows:
            return cls([], [], [], [], [], [], [], [], [], [], [], [])
        return cls(*(list(column) for column in zip(*rows, strict=True)))

    def record(self, i: int) -> Record:
        """The record dict at position ``i``."""
        return {
            "name": self.names[i],
            "status": self.statuses[i],
            "value": self.values[i],
            "error": self.errors[i],
            "attempts": self.attempts[i],
            "started_at": self.started_at[i],
            "finished_at": self.finished_at[i],
            "fingerprint": self.fingerprints[i],
            "depends_on": dependency_ids(None if self.depends_on is None else self.depends_on[i]),
            "attempt_times": attempt_pairs(
                [] if self.attempt_times is None else self.attempt_times[i],
                self.started_at[i],
                self.finished_at[i],
            ),
            "backend": None if self.backends is None else self.backends[i],
        }


def _flat_times(pairs: object, hid: str) -> list[float | None] | None:
    """A record's ``attempt_times`` (pairs) as a `RecordColumns.attempt_times` entry."""
    if pairs is None:  # not recorded: none
        return []
    try:
        return [t for pair in pairs for t in pair]  # type: ignore[attr-defined]
    except TypeError:
        raise TypeError(
            f"the attempt_times of {hid!r} are {pairs!r:.80}, not a list of [start, end] pairs"
        ) from None


_FIELDS = ("name", "status", "value", "error", "attempts", "started_at", "finished_at")


def _fields(hid: str, record: Record) -> tuple[Any, ...]:
    if not isinstance(record, Mapping):
        raise TypeError(f"the record of {hid!r} is a {type(record).__name__}, not a dict")
    try:
        return (
            *(record[field] for field in _FIELDS),
            record["fingerprint"],
            record.get("depends_on") or None,
            _flat_times(record.get("attempt_times"), hid),
            record.get("backend"),
        )
    except KeyError as exc:
        raise KeyError(f"the record of {hid!r} has no {exc} field") from None


class RecordBatch(Mapping[str, Record]):
    """The records of one `Checkpointer.save` call: a read-only mapping of id to record.

    Record dicts are built only when asked for; `columns` gives every record at once as
    parallel lists, which is how the shipped checkpointers read a batch.
    """

    __slots__ = ("_columns", "_index", "_source", "checked")

    def __init__(self, source: Callable[[], RecordColumns], *, checked: bool = False) -> None:
        self._source = source
        #: the columns are known to be well-formed (the runner's batches are), so a
        #: checkpointer need not check their types again
        self.checked = checked
        self._columns: RecordColumns | None = None
        self._index: dict[str, int] | None = None

    def columns(self) -> RecordColumns:
        """Every record of the batch as parallel lists (built once, then shared)."""
        columns = self._columns
        if columns is None:
            columns = self._columns = self._source()
        return columns

    def __len__(self) -> int:
        return len(self.columns().ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns().ids)

    def __getitem__(self, handle_id: str) -> Record:
        index = self._index
        if index is None:
            ids = self.columns().ids
            index = self._index = dict(zip(ids, range(len(ids)), strict=True))
        return self.columns().record(index[handle_id])

    def __repr__(self) -> str:
        return f"<RecordBatch of {len(self)} records>"


class Checkpointer(ABC):
    """Where a runner keeps its records. Subclass it and implement `save` and `load`.

    The runner calls ``save`` with the records that are new or changed since its previous
    call (and the ids to drop), batched and rate-limited by ``checkpoint_interval``; a
    resumed runner calls ``load`` once.
    """

    #: A save lasts (a killed process keeps it) and costs little enough to record every
    #: attempt's start before its body runs, at any ``checkpoint_interval``. A runner
    #: records starts with a durable checkpointer or at ``checkpoint_interval=0``, and
    #: always for tasks with ``idempotent=False``.
    durable: bool = False

    @abstractmethod
    def save(self, records: Mapping[str, Record], removed: Collection[str] = ()) -> None:
        """Merge ``records`` into what is stored and drop the ids in ``removed``.

        The runner passes a `RecordBatch`: read it as a mapping, or call its
        ``columns()`` to get every record at once as parallel lists.
        """

    @abstractmethod
    def load(self) -> dict[str, Record]:
        """Every stored record by handle id; ``{}`` when nothing was stored yet.

        Raise `CheckpointError` naming the location if the stored data cannot be read.
        """

    def clear(self) -> None:
        """Forget everything stored; a new (not resumed) runner starts from nothing."""
        stored = self.load()
        if stored:
            self.save({}, removed=list(stored))

    def validate(self, value: object, what: str) -> None:  # noqa: B027 - optional hook
        """Raise `CheckpointError` (naming ``what``) if ``value`` cannot be stored.

        Called for submitted arguments and for return values; the default accepts all.
        """

    def acquire(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Take the checkpoint for one runner; called when a runner is made with it.

        Raise `CheckpointError` naming the holder if another live run holds it: two runs
        writing one checkpoint would each drop the other's records. A hold whose process
        has ended must be taken over. `close` gives it back. The default does nothing
        (an in-memory checkpointer is one process's by nature).
        """

    def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release files, connections and the hold (`acquire`); the default does nothing."""

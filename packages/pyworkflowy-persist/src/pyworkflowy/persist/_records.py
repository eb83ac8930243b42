"""The record format every checkpointer stores, and the checks applied to what is loaded.

The file checkpointers keep records column by column (`RecordColumns`): one list per
field, in segments, one segment per save. A later segment's record replaces an earlier
one with the same id.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, cast

from pyworkflowy import CheckpointError, RecordBatch, RecordColumns

__all__ = [
    "FIELDS",
    "FORMAT",
    "SINGULAR",
    "STATUSES",
    "VERSION",
    "Record",
    "RecordColumns",
    "check_columns",
    "check_version",
    "columns_of",
    "filled",
    "lists",
    "merge",
    "records_of",
    "without",
]

Record = dict[str, Any]

FORMAT = "pyworkflowy-checkpoint"  # the marker that tells our files from anybody else's
# Bumped when a reader of the previous version could not read the new one; 2 added the
# start records ("started", "started-once": see pyworkflowy's Checkpointer).
VERSION = 2
FIELDS = RecordColumns._fields  # ids, names, statuses, values, errors, attempts, ...
RECORD_KEYS_IN_ORDER = (
    "name",
    "status",
    "value",
    "error",
    "attempts",
    "started_at",
    "finished_at",
    "fingerprint",
    "depends_on",
    "attempt_times",
    "backend",
)
#: added after version 2 without a version bump (older readers ignore them): a file or
#: segment without them reads as records with no dependencies, no attempt times and no
#: backend
OPTIONAL = ("depends_on", "attempt_times", "backends")
#: the record key of each column ("ids" -> "id", "statuses" -> "status", ...)
SINGULAR = dict(zip(FIELDS, ("id", *RECORD_KEYS_IN_ORDER), strict=True))
# how a handle ended, or that an attempt of it started (a start record)
STATUSES = frozenset({"completed", "failed", "cancelled", "skipped", "started", "started-once"})


def check_version(version: object, where: str) -> None:
    """Raise `CheckpointError` unless ``version`` is one this package can read."""
    if type(version) is not int or version < 1:
        raise CheckpointError(f"{where} has an invalid format version {version!r:.50}")
    if version > VERSION:
        raise CheckpointError(
            f"{where} was written in checkpoint format version {version}, newer than the "
            f"version {VERSION} this pyworkflowy-persist reads: upgrade pyworkflowy-persist"
        )


def columns_of(records: Mapping[str, Record], where: str) -> RecordColumns:
    """The columns of what ``save()`` was given, or `CheckpointError` naming what is wrong.

    The runner's batches are well-formed by construction; anything else is checked like a
    file being loaded, so that a record ``save()`` accepts always loads back.
    """
    try:
        columns = filled(RecordColumns.of(records))
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"cannot write {where}: {exc.args[0]}") from None
    if len({len(column) for column in lists(columns)}) > 1:
        raise CheckpointError(f"cannot write {where}: its columns differ in length")
    if isinstance(records, RecordBatch) and records.checked:
        return columns
    problem = _type_problem(columns)
    if problem is not None:
        field, i, expected = problem
        value = lists(columns)[FIELDS.index(field)][i]
        raise CheckpointError(
            f"cannot write {where}: the {SINGULAR[field]} of task {columns.ids[i]!r} is "
            f"{value!r:.80}, not {expected}"
        )
    return columns


_NONE = type(None)
_KINDS: tuple[tuple[str, tuple[type, ...], str], ...] = (
    ("ids", (str,), "a str"),
    ("names", (str,), "a str"),
    ("errors", (str, _NONE), "a str or None"),
    ("attempts", (int,), "an int"),
    ("started_at", (float, int, _NONE), "a float or None"),
    ("finished_at", (float, int, _NONE), "a float or None"),
    ("fingerprints", (str,), "a str"),
    ("backends", (str, _NONE), "a str or None"),
)


def lists(columns: RecordColumns) -> tuple[list[Any], ...]:
    """The columns as lists, for a ``columns`` that went through `filled`."""
    return cast("tuple[list[Any], ...]", columns)


def filled(columns: RecordColumns) -> RecordColumns:
    """``columns`` with a list in every optional column (None entries where it had none)."""
    if columns.depends_on is None or columns.attempt_times is None or columns.backends is None:
        n = len(columns.ids)
        return columns._replace(
            depends_on=[None] * n if columns.depends_on is None else columns.depends_on,
            # not recorded: none (a None entry would say "started_at .. finished_at")
            attempt_times=[[]] * n if columns.attempt_times is None else columns.attempt_times,
            backends=[None] * n if columns.backends is None else columns.backends,
        )
    return columns


_DEPS = (type(None), str, list, tuple)
_TIME = (float, int, _NONE)


def _deps_ok(entry: object) -> bool:
    kind = type(entry)
    return kind is str or entry is None or (kind in _DEPS and all(type(d) is str for d in entry))  # type: ignore[attr-defined]


def _times_ok(entry: object) -> bool:
    return entry is None or (type(entry) is list and all(type(t) in _TIME for t in entry))  # type: ignore[attr-defined]


def _type_problem(columns: RecordColumns) -> tuple[str, int, str] | None:
    """``(field, index, what it should be)`` of the first ill-typed entry, or None."""
    for field, kinds, expected in _KINDS:
        column = lists(columns)[FIELDS.index(field)]
        if not all(type(item) in kinds for item in column):
            return field, next(i for i, x in enumerate(column) if type(x) not in kinds), expected
    for field, ok, expected in (
        ("depends_on", _deps_ok, "a list of ids"),
        ("attempt_times", _times_ok, "a list of [start, end] times"),
    ):
        column = columns[FIELDS.index(field)]
        if column is not None and not all(map(ok, column)):
            return field, next(i for i, x in enumerate(column) if not ok(x)), expected
    statuses = columns.statuses
    if not STATUSES.issuperset(statuses):
        i = next(i for i, status in enumerate(statuses) if status not in STATUSES)
        return "statuses", i, "one of " + ", ".join(sorted(STATUSES))
    return None


def check_columns(segment: object, where: str) -> RecordColumns:
    """``segment`` (a mapping of field to list) as `RecordColumns`, or `CheckpointError`."""
    if not isinstance(segment, Mapping):
        raise CheckpointError(
            f"{where} is malformed: a segment is a {type(segment).__name__}, not a mapping "
            "of field names to lists"
        )
    missing = [field for field in FIELDS if field not in segment and field not in OPTIONAL]
    if missing:
        raise CheckpointError(f"{where} is malformed: a segment has no {', '.join(missing)}")
    columns = filled(RecordColumns._make([segment.get(field) for field in FIELDS]))
    n = len(columns.ids) if isinstance(columns.ids, list) else -1
    for field, column in zip(FIELDS, columns, strict=True):
        if not isinstance(column, list) or len(column) != n:
            raise CheckpointError(
                f"{where} is malformed: the {field} of a segment are not a list of one entry "
                f"per id ({n} ids)"
            )
    problem = _type_problem(columns)
    if problem is not None:
        field, i, _ = problem
        bad = lists(columns)[FIELDS.index(field)][i]
        if field == "statuses":
            raise CheckpointError(f"{where} is malformed: unknown task status {bad!r:.80}")
        raise CheckpointError(f"{where} is malformed: the {field} of a segment hold {bad!r:.80}")
    return columns


def merge(segments: list[RecordColumns]) -> RecordColumns:
    """One segment holding the newest record of every id in ``segments``."""
    if len(segments) == 1:
        return segments[0]
    rows: dict[str, tuple[Any, ...]] = {}
    for segment in segments:
        rows.update(zip(segment.ids, zip(*lists(segment)[1:], strict=True), strict=True))
    if not rows:
        return RecordColumns([], [], [], [], [], [], [], [], [], [], [], [])
    columns = (list(column) for column in zip(*rows.values(), strict=True))
    return RecordColumns._make([list(rows), *columns])


def without(segment: RecordColumns, removed: Collection[str]) -> RecordColumns:
    """``segment`` minus the records whose id is in ``removed``."""
    keep = [i for i, hid in enumerate(segment.ids) if hid not in removed]
    return RecordColumns._make([[column[i] for i in keep] for column in lists(segment)])


def records_of(segments: list[RecordColumns]) -> dict[str, Record]:
    """The newest record of every id, as record dicts."""
    merged = merge(segments)
    return {hid: merged.record(i) for i, hid in enumerate(merged.ids)}

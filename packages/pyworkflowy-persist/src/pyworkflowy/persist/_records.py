"""The record format every checkpointer stores, and the checks applied to what is loaded.

The file checkpointers keep records column by column (`RecordColumns`): one list per
field, in segments, one segment per save. A later segment's record replaces an earlier
one with the same id.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from pyworkflowy import CheckpointError, RecordColumns

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
    "merge",
    "records_of",
    "without",
]

Record = dict[str, Any]

FORMAT = "pyworkflowy-checkpoint"  # the marker that tells our files from anybody else's
VERSION = 1  # bumped when a reader of the previous version could not read the new one
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
)
#: the record key of each column ("ids" -> "id", "statuses" -> "status", ...)
SINGULAR = dict(zip(FIELDS, ("id", *RECORD_KEYS_IN_ORDER), strict=True))
STATUSES = frozenset({"completed", "failed", "cancelled", "skipped"})  # how a handle ends


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
    """The columns of what ``save()`` was given; `CheckpointError` if a record lacks a field."""
    try:
        return RecordColumns.of(records)
    except KeyError as exc:
        raise CheckpointError(f"cannot write {where}: {exc.args[0]}") from None


def _every(items: list[Any], kinds: tuple[type, ...]) -> bool:
    return all(type(item) in kinds for item in items)


def check_columns(segment: object, where: str) -> RecordColumns:
    """``segment`` (a mapping of field to list) as `RecordColumns`, or `CheckpointError`."""
    if not isinstance(segment, Mapping):
        raise CheckpointError(
            f"{where} is malformed: a segment is a {type(segment).__name__}, not a mapping "
            "of field names to lists"
        )
    missing = [field for field in FIELDS if field not in segment]
    if missing:
        raise CheckpointError(f"{where} is malformed: a segment has no {', '.join(missing)}")
    columns = RecordColumns._make([segment[field] for field in FIELDS])
    n = len(columns.ids) if isinstance(columns.ids, list) else -1
    for field, column in zip(FIELDS, columns, strict=True):
        if not isinstance(column, list) or len(column) != n:
            raise CheckpointError(
                f"{where} is malformed: the {field} of a segment are not a list of one entry "
                f"per id ({n} ids)"
            )
    checks = (
        ("ids", columns.ids, (str,)),
        ("names", columns.names, (str,)),
        ("errors", columns.errors, (str, type(None))),
        ("attempts", columns.attempts, (int,)),
        ("started_at", columns.started_at, (float, int, type(None))),
        ("finished_at", columns.finished_at, (float, int, type(None))),
        ("fingerprints", columns.fingerprints, (str,)),
    )
    for field, column, kinds in checks:
        if not _every(column, kinds):
            bad = next(item for item in column if type(item) not in kinds)
            raise CheckpointError(
                f"{where} is malformed: the {field} of a segment hold {bad!r:.80}"
            )
    if not STATUSES.issuperset(columns.statuses):
        bad = next(status for status in columns.statuses if status not in STATUSES)
        raise CheckpointError(f"{where} is malformed: unknown task status {bad!r:.80}")
    return columns


def merge(segments: list[RecordColumns]) -> RecordColumns:
    """One segment holding the newest record of every id in ``segments``."""
    if len(segments) == 1:
        return segments[0]
    rows: dict[str, tuple[Any, ...]] = {}
    for segment in segments:
        rows.update(zip(segment.ids, zip(*segment[1:], strict=True), strict=True))
    if not rows:
        return RecordColumns([], [], [], [], [], [], [], [], [])
    columns = (list(column) for column in zip(*rows.values(), strict=True))
    return RecordColumns._make([list(rows), *columns])


def without(segment: RecordColumns, removed: Collection[str]) -> RecordColumns:
    """``segment`` minus the records whose id is in ``removed``."""
    keep = [i for i, hid in enumerate(segment.ids) if hid not in removed]
    return RecordColumns._make([[column[i] for i in keep] for column in segment])


def records_of(segments: list[RecordColumns]) -> dict[str, Record]:
    """The newest record of every id, as record dicts."""
    merged = merge(segments)
    return {hid: merged.record(i) for i, hid in enumerate(merged.ids)}

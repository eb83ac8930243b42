"""The record format every checkpointer stores, and the checks applied to what is loaded."""

from __future__ import annotations

from typing import Any

from pyworkflowy import CheckpointError

__all__ = ["FIELDS", "FORMAT", "VERSION", "Record", "check_records", "check_version"]

Record = dict[str, Any]

FORMAT = "pyworkflowy-checkpoint"  # the marker that tells our files from anybody else's
VERSION = 1  # bumped when a reader of the previous version could not read the new one
FIELDS = (
    "name",
    "status",
    "value",
    "error",
    "attempts",
    "started_at",
    "finished_at",
    "fingerprint",
)
_REQUIRED = frozenset(FIELDS)


def check_version(version: object, where: str) -> None:
    """Raise `CheckpointError` unless ``version`` is one this package can read."""
    if type(version) is not int or version < 1:
        raise CheckpointError(f"{where} has an invalid format version {version!r:.50}")
    if version > VERSION:
        raise CheckpointError(
            f"{where} was written in checkpoint format version {version}, newer than the "
            f"version {VERSION} this pyworkflowy-persist reads: upgrade pyworkflowy-persist"
        )


def check_records(records: object, where: str) -> dict[str, Record]:
    """``records`` if it is a dict of well-formed records by handle id, else `CheckpointError`."""
    if not isinstance(records, dict):
        raise CheckpointError(
            f"{where} is malformed: its records are a {type(records).__name__}, not a mapping "
            "of handle ids to records"
        )
    for handle_id, record in records.items():
        if not isinstance(record, dict) or not record.keys() >= _REQUIRED:
            raise CheckpointError(
                f"{where} is malformed: the record of {handle_id!r} is not a dict with the "
                f"keys {', '.join(FIELDS)} (got {record!r:.200})"
            )
    return records

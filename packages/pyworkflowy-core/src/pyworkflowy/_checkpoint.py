"""The `Checkpointer` interface; the JSON, pickle and SQLite ones ship in pyworkflowy-persist.

A checkpoint holds one record per finished handle, keyed by handle id::

    {"name": str, "status": "completed" | "failed" | "cancelled" | "skipped",
     "value": Any (completed only), "error": str | None, "attempts": int,
     "started_at": float | None, "finished_at": float | None, "fingerprint": str}

``fingerprint`` identifies the submitted arguments, so a resumed handle whose arguments
changed runs again instead of reusing a stale result.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from typing import Any

__all__ = ["RECORD_KEYS", "Checkpointer"]

Record = dict[str, Any]
RECORD_KEYS = frozenset(
    {"name", "status", "value", "error", "attempts", "started_at", "finished_at", "fingerprint"}
)


class Checkpointer(ABC):
    """Where a runner keeps its records. Subclass it and implement `save` and `load`.

    The runner calls ``save`` with the records that are new or changed since its previous
    call (and the ids to drop), batched and rate-limited by ``checkpoint_interval``; a
    resumed runner calls ``load`` once.
    """

    @abstractmethod
    def save(self, records: Mapping[str, Record], removed: Collection[str] = ()) -> None:
        """Merge ``records`` into what is stored and drop the ids in ``removed``."""

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

    def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release files or connections; the default does nothing."""

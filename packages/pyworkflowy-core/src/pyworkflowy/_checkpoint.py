"""The `Checkpointer` interface; implementations ship in pyworkflowy-persist."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

__all__ = ["Checkpointer"]


class Checkpointer(ABC):
    """Stores one record per finished handle so a later run can resume.

    ``save`` receives only the records that are new or changed since the previous call,
    keyed by handle id; ``load`` returns every stored record.
    """

    @abstractmethod
    def save(self, records: Mapping[str, dict[str, Any]]) -> None:
        """Persist ``records`` (merged into what is already stored)."""

    @abstractmethod
    def load(self) -> dict[str, dict[str, Any]]:
        """Every stored record by handle id; an empty dict when nothing is stored yet."""

    def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release files or connections; the default does nothing."""

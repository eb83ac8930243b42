"""`extend_path`: what ``pkgutil.extend_path`` does for a plain package, without its imports.

``pkgutil`` costs about 10 ms to import (it pulls in ``importlib.util`` and friends);
``import pyworkflowy`` must stay cheap. Every ``sys.path`` directory that holds a
``pyworkflowy`` directory adds it to the package's ``__path__``, in ``sys.path`` order.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["extend_path"]


def extend_path(path: Iterable[str], name: str) -> list[str]:
    """``path`` plus the ``name`` directories of the other ``sys.path`` entries."""
    path = list(path)
    tail = name.rpartition(".")[2]
    for entry in sys.path:
        if not isinstance(entry, str) or not entry:
            continue
        candidate = os.path.join(entry, tail)
        if candidate not in path and os.path.isdir(candidate):
            path.append(candidate)
    return path

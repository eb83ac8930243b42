"""pyworkflowy.persist: checkpointers that let an interrupted pyworkflowy run resume, and a cache.

`JSONCheckpointer` (the default), `PickleCheckpointer` and `SQLiteCheckpointer` implement
`pyworkflowy.Checkpointer`; `checkpointer_for_path` picks one by file suffix, which is
what ``TaskRunner(checkpoint_path=...)`` and ``TaskRunner.resume(path)`` use.
`SQLiteCache` implements `pyworkflowy.cache.Cache`; ``TaskRunner(cache=path)`` makes one
with `cache_for_path`.
"""

from __future__ import annotations

import os
from pathlib import PurePath

from ._cache import SQLiteCache
from ._json import JSONCheckpointer
from ._pickle import PickleCheckpointer
from ._sqlite import SQLiteCheckpointer

__version__ = "0.2.0"

__all__ = [
    "PICKLE_SUFFIXES",
    "SQLITE_SUFFIXES",
    "JSONCheckpointer",
    "PickleCheckpointer",
    "SQLiteCache",
    "SQLiteCheckpointer",
    "cache_for_path",
    "checkpointer_for_path",
]

PICKLE_SUFFIXES = frozenset({".pkl", ".pickle"})
SQLITE_SUFFIXES = frozenset({".db", ".sqlite", ".sqlite3"})


def checkpointer_for_path(
    path: str | os.PathLike[str],
) -> JSONCheckpointer | PickleCheckpointer | SQLiteCheckpointer:
    """The checkpointer for ``path``, chosen by its suffix (case-insensitive).

    ``.pkl``/``.pickle``: `PickleCheckpointer`; ``.db``/``.sqlite``/``.sqlite3``:
    `SQLiteCheckpointer`; anything else (``.json`` or no suffix): `JSONCheckpointer`.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"a checkpoint path must be a str or os.PathLike, got {type(path).__name__}"
        )
    suffix = PurePath(path).suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        return PickleCheckpointer(path)
    if suffix in SQLITE_SUFFIXES:
        return SQLiteCheckpointer(path)
    return JSONCheckpointer(path)


def cache_for_path(path: str | os.PathLike[str]) -> SQLiteCache:
    """The cache for ``path``: a `SQLiteCache` storing pickles, whatever the suffix."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"a cache path must be a str or os.PathLike, got {type(path).__name__}")
    return SQLiteCache(path)

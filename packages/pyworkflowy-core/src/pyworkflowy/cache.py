"""Results cached by input: the `Cache` interface a runner stores them in, and `MemoryCache`.

``@task(cache=True)`` with ``TaskRunner(cache=...)``: before a cached task runs, the
runner computes its key (the task's name and code, what its closure captured, and its
arguments; see ``docs/limits-and-caching.md``) and asks the cache; a stored, unexpired
value completes the handle without running it. A completed run stores its value.
``TaskRunner(cache="cache.db")`` is a `pyworkflowy.persist.SQLiteCache`; any `Cache`
subclass works.

    >>> from pyworkflowy import TaskRunner, task
    >>> from pyworkflowy.cache import MemoryCache
    >>> calls = []
    >>> @task(cache=True, name="price")
    ... def price(item: str) -> int:
    ...     calls.append(item)
    ...     return len(item)
    >>> store = MemoryCache()
    >>> for _ in range(2):
    ...     with TaskRunner(cache=store) as runner:
    ...         handle = runner.submit(price, "apple")
    ...         _ = runner.run()
    >>> handle.result(), handle.cached, calls
    (5, True, ['apple'])
    >>> [entry.task for entry in store.entries()]
    ['price']
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, NamedTuple

__all__ = ["Cache", "CacheEntry", "CacheWarning", "MemoryCache"]


class CacheWarning(UserWarning):
    """A cached task ran uncached (an argument could not be hashed, the cache could not be
    read) or its result could not be stored. Said once per task and cause."""


class CacheEntry(NamedTuple):
    """What a cache holds under one key (the value itself is read with `Cache.get`)."""

    key: str
    task: str
    """The name of the task that stored it."""
    created_at: float
    """Epoch seconds (the runner's clock) when it was stored."""
    expires_at: float | None
    """Epoch seconds after which it is not used (``cache_ttl``); ``None``: never."""


class Cache(ABC):
    """Where a runner keeps cached results. Subclass it and implement the four methods.

    Keys are strings the runner makes; values are what tasks returned. The runner calls
    `get` and `put` on its event-loop thread, or in the thread that submits a task with
    nothing to wait for (`entries` and `delete` are for you): an implementation used from
    several threads or shared between runners must lock.
    """

    @abstractmethod
    def get(self, key: str, now: float) -> tuple[bool, Any]:
        """``(True, value)`` for a stored entry that has not expired at ``now`` (epoch
        seconds), else ``(False, None)``."""

    @abstractmethod
    def put(
        self, key: str, value: Any, *, task: str, created_at: float, expires_at: float | None
    ) -> None:
        """Store ``value`` under ``key`` (replacing what was there).

        Raise ``TypeError`` or ``ValueError`` naming the problem if the value cannot be
        stored: the runner then warns and the task's result is not cached (it still
        completes).
        """

    @abstractmethod
    def entries(self) -> list[CacheEntry]:
        """Every stored entry, expired ones included, oldest first."""

    @abstractmethod
    def delete(self, keys: Iterable[str]) -> int:
        """Remove the entries under ``keys`` (absent keys are ignored); how many went."""

    def clear(self, task: str | None = None, *, expired_at: float | None = None) -> int:
        """Remove entries: all of them, those of ``task`` (a task name), or those expired
        at ``expired_at`` (epoch seconds); both filters may be combined. How many went."""
        doomed = [
            entry.key
            for entry in self.entries()
            if (task is None or entry.task == task)
            and (
                expired_at is None
                or (entry.expires_at is not None and entry.expires_at <= expired_at)
            )
        ]
        return self.delete(doomed) if doomed else 0

    def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release files or connections; the default does nothing."""


class MemoryCache(Cache):
    """A cache in this process's memory: for tests, and for runs that repeat in one process."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[CacheEntry, Any]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<MemoryCache of {len(self._entries)} entries>"

    def get(self, key: str, now: float) -> tuple[bool, Any]:
        found = self._entries.get(key)
        if found is None:
            return False, None
        entry, value = found
        if entry.expires_at is not None and entry.expires_at <= now:
            return False, None
        return True, value

    def put(
        self, key: str, value: Any, *, task: str, created_at: float, expires_at: float | None
    ) -> None:
        with self._lock:
            self._entries.pop(key, None)  # re-stored: it is the newest now
            self._entries[key] = (CacheEntry(key, task, created_at, expires_at), value)

    def entries(self) -> list[CacheEntry]:
        with self._lock:
            return [entry for entry, _ in self._entries.values()]

    def delete(self, keys: Iterable[str]) -> int:
        with self._lock:
            return sum(self._entries.pop(key, None) is not None for key in keys)

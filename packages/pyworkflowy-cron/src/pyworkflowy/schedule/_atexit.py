"""Stopping schedulers when the program ends without `Scheduler.stop`."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._scheduler import Scheduler

__all__ = ["stop_at_exit"]

_running: weakref.WeakSet[Scheduler] | None = None


def stop_at_exit(scheduler: Scheduler) -> None:
    """Stop firing ``scheduler``'s jobs at interpreter exit, before the runner it feeds is
    closed (atexit calls the later registration first, and the runner registers in
    ``start()``, before this)."""
    global _running
    if _running is None:
        import atexit

        _running = weakref.WeakSet()
        atexit.register(_stop_all)
    _running.add(scheduler)


def _stop_all() -> None:
    for scheduler in list(_running or ()):
        with scheduler._cond:
            scheduler._stopping = True
            scheduler._wake_locked()

"""Stopping schedulers without `Scheduler.stop`: when the program ends, or when the runner
a scheduler feeds is shut down under it."""

from __future__ import annotations

import contextlib
import threading
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyworkflowy import TaskRunner

    from ._scheduler import Scheduler

__all__ = ["end_on_closed_runner", "runner_closed", "stop_at_exit"]

_EXIT_WAIT = 2.0  # seconds a scheduler thread gets to finish its tick when the program ends
_running: weakref.WeakSet[Scheduler] | None = None


def stop_at_exit(scheduler: Scheduler) -> None:
    """Stop firing ``scheduler``'s jobs when the main thread has finished, before the
    runner it feeds is closed (the runner registers in ``start()``, before this, and the
    later registration is called first).

    Called from ``threading``'s exit hooks, like ``concurrent.futures``, so it runs before
    executors' threads are joined (a job's ``asyncio.to_thread`` call waits on one): a
    scheduler firing meanwhile would fail every run, a traceback per tick. ``atexit`` is the
    fallback.
    """
    global _running
    if _running is None:
        import atexit

        _running = weakref.WeakSet()
        atexit.register(_stop_all)
        register = getattr(threading, "_register_atexit", None)
        if register is not None:
            import concurrent.futures.thread  # noqa: F401 - registered first, called after

            with contextlib.suppress(RuntimeError):  # the interpreter is shutting down
                register(_stop_all)
    _running.add(scheduler)


def _stop_all() -> None:
    schedulers = list(_running or ())
    for scheduler in schedulers:
        with scheduler._cond:
            scheduler._stopping = True
            scheduler._wake_locked()
    for scheduler in schedulers:  # a tick under way finishes before the runner closes
        thread = scheduler._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(_EXIT_WAIT)


def runner_closed(runner: TaskRunner) -> bool:
    """Whether ``runner`` was shut down (`TaskRunner.closed`, new in pyworkflowy-core 0.2)."""
    return getattr(runner, "closed", False)


def end_on_closed_runner(scheduler: Scheduler) -> None:
    """Called on `Scheduler.start`'s thread, which then ends: its runner was shut down, so
    no job can fire again. `Scheduler.running` turns false."""
    import logging

    logging.getLogger("pyworkflowy.schedule").info(
        "the scheduler stops: its runner %r was shut down", scheduler.runner
    )
    with scheduler._cond:
        scheduler._stopping = True
        if scheduler._thread is threading.current_thread():
            scheduler._thread = None
        scheduler._started_runner = False

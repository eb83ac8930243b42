"""Part of `Scheduler`: the loop `start`'s thread runs, and how `stop` completes.

The thread ticks, then waits on the scheduler's condition until the next job is due (at
most ``tick_seconds``; a clock with a ``wait`` method does the waiting itself), until
`stop` or until its runner is shut down under it. Stopping joins the thread and stops the
runner if `start` started it, on another thread when `stop` must not wait.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._atexit import end_on_closed_runner, runner_closed

if TYPE_CHECKING:
    from pyworkflowy import TaskHandle, TaskRunner

__all__ = ["RunLoop", "join"]

logger = logging.getLogger("pyworkflowy.schedule")


class RunLoop:
    """Part of `Scheduler`: the body of `start`'s thread and the end of `stop`."""

    tick_seconds: float
    clock: Callable[[], float]
    runner: TaskRunner
    _cond: threading.Condition
    _changed: bool
    _stopping: bool
    _thread: threading.Thread | None
    _started_runner: bool

    if TYPE_CHECKING:  # Scheduler's: fire what is due, and the next due time

        def _tick(self, raise_errors: bool) -> list[TaskHandle]: ...

        def _peek(self) -> float | None: ...

    def _wait_seconds(self) -> float:
        nxt = self._peek()
        if nxt is None:
            return self.tick_seconds
        return min(self.tick_seconds, max(0.0, nxt - self.clock()))

    def _thread_main(self) -> None:
        cond = self._cond
        while True:
            with cond:
                if self._stopping:
                    return
                self._changed = False
            if runner_closed(self.runner):  # shut down under it (a `with` left on Ctrl-C)
                end_on_closed_runner(self)  # type: ignore[arg-type]
                return
            try:
                self._tick(raise_errors=False)
            except Exception:  # pragma: no cover - _tick logs and swallows submit errors
                logger.exception("scheduler tick failed")
            with cond:
                if self._stopping:
                    return
                if not self._changed:
                    clock_wait = getattr(self.clock, "wait", None)
                    if clock_wait is not None:  # a clock of its own (VirtualClock): its time
                        clock_wait(cond, self._peek())
                        continue
                    timeout = self._wait_seconds()
                    if timeout > 0:
                        cond.wait(timeout)

    def _stop_in_background(self) -> None:
        try:
            self._finish_stop()
        except Exception:
            logger.exception("stopping the scheduler failed")

    def _finish_stop(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            join(self._thread, timeout, "the scheduler thread")
            self._thread = None
        if self._started_runner:
            self._started_runner = False
            self.runner.stop(timeout)


def join(thread: threading.Thread, timeout: float | None, what: str) -> None:
    """Wait for ``thread`` to end; `TimeoutError` naming ``what`` if it runs on."""
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"{what} did not stop within {timeout} s")

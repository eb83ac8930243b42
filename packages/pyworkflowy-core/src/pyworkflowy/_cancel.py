"""Cancellation: of one handle (from any thread), and of a whole run when it is aborted
(``on_task_error="raise"``: the first failure aborts it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._errors import TaskCancelledError
from ._types import TERMINAL, TaskStatus

if TYPE_CHECKING:
    from ._handle import TaskHandle
    from .backends import Attempt

__all__ = ["Cancellation"]

_UNSTARTED = (TaskStatus.PENDING, TaskStatus.READY, TaskStatus.RETRYING)
_RUNNING, _CANCELLED = TaskStatus.RUNNING, TaskStatus.CANCELLED


class Cancellation:
    """Part of `Engine`: how handles end cancelled."""

    if TYPE_CHECKING:  # provided by Engine
        handles: dict[str, TaskHandle]
        aborting: bool
        pumping: bool
        serving: bool
        on_task_error: str
        first_error: BaseException | None
        failed_id: str

        def on_loop_thread(self) -> bool:
            raise NotImplementedError

        def _call_soon(self, fn: Any, *args: Any) -> bool:
            raise NotImplementedError

        def finish(self, h: TaskHandle, status: TaskStatus, value: Any, error: Any) -> None:
            raise NotImplementedError

        def detach(self, h: TaskHandle) -> Attempt | None:
            raise NotImplementedError

        def pump(self) -> None:
            raise NotImplementedError

        loop: Any

    def request_cancel(self, h: TaskHandle) -> None:
        h._set_cancel_flag()
        if self.loop is not None and not self.on_loop_thread():
            self._call_soon(self.cancel, h)
        else:
            self.cancel(h)

    def cancel(self, h: TaskHandle) -> None:
        status = h._status
        x = h._x
        items = None if x is None or x.inputs is None else x.inputs.children
        if status in _UNSTARTED:
            if x is not None and x.timer is not None:
                x.timer.cancel()
                x.timer = None
            error = TaskCancelledError(f"task {h.id!r} was cancelled before it ran")
            self.finish(h, _CANCELLED, None, error)
        elif status is _RUNNING and h._attempt is not None:
            h._lane.backend.stop(h._attempt)
        for item in items or ():  # a map that has expanded: its items go with it
            if item._status not in TERMINAL:
                item._set_cancel_flag()
                self.cancel(item)
        if not self.pumping:
            self.pump()

    def abort(self, reason: str) -> None:
        """End every unfinished handle as CANCELLED now (first failure under "raise")."""
        if self.aborting:
            return
        self.aborting = True
        for h in list(self.handles.values()):
            if h._status in TERMINAL:
                continue
            h._set_cancel_flag()
            x = h._x
            if x is not None and x.timer is not None:
                x.timer.cancel()
                x.timer = None
            attempt = self.detach(h) if h._attempt is not None else None
            h._dependents = None  # everything downstream is cancelled here too
            error = TaskCancelledError(
                f"task {h.id!r} was cancelled: the run was aborted because {reason}"
            )
            self.finish(h, _CANCELLED, None, error)
            if attempt is not None:
                h._lane.backend.stop(attempt)

    def on_failure(self, h: TaskHandle, waited: bool) -> None:
        """``h`` failed: abort the run (``on_task_error="raise"``), log it, or go on.

        ``waited``: somebody was waiting for ``h`` (``await handle``, ``handle.result()``)
        and has its error now. A serving runner under ``"raise"`` logs only the failures
        nobody waited for; under ``"log"`` every failure is logged, once.
        """
        policy = self.on_task_error
        if policy == "raise" and self.serving:
            if waited:
                return  # handed to the caller, who decides whether it is worth a log
            policy = "log"  # nobody to raise to: keep serving, say so in the log
        if policy == "raise":
            if self.first_error is None:
                self.first_error, self.failed_id = h._error, h.id
                if self.loop is not None:
                    self.abort(f"task {h.id!r} failed")
        elif policy == "log":
            from ._logs import failed

            failed(h)

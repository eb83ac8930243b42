"""What running task bodies send the engine from any thread: their outcomes (batched to the
loop thread), a slot given back while they wait on another handle (and taken again), and
progress."""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio
    from collections import deque
    from types import ModuleType

    from ._types import Progress
    from .backends import Attempt

__all__ = ["BodyRequests"]

_new_tuple: Any = tuple.__new__
_INF = float("inf")


class BodyRequests:
    """Part of `Engine`: outcomes from other threads, and the calls a body makes through
    its handle or `TaskContext`."""

    if TYPE_CHECKING:  # provided by Engine
        loop: asyncio.AbstractEventLoop | None
        loop_thread: int | None
        subscribers: tuple[Any, ...] | None
        events: ModuleType | None
        inbox: deque[tuple[Attempt, bool, Any]]
        wake_due: bool
        pumping: bool

        def report(self, attempt: Attempt, ok: bool, value: Any) -> None:
            raise NotImplementedError

        def now(self) -> float:
            raise NotImplementedError

        def pump(self) -> None:
            raise NotImplementedError

        def emit(self, event: Any) -> None:
            raise NotImplementedError

    def post(self, attempt: Attempt, ok: bool, value: Any) -> None:
        """An outcome from another thread: queued, with one loop wake-up per batch."""
        loop = self.loop
        if loop is None:
            return  # no run: that attempt was settled when its run ended
        self.inbox.append((attempt, ok, value))
        if not self.wake_due:
            self.wake_due = True
            try:
                loop.call_soon_threadsafe(self.drain)
            except RuntimeError:  # the loop closed: nothing waits for this outcome
                self.wake_due = False

    def drain(self) -> None:
        self.wake_due = False
        inbox, settle = self.inbox, self.report
        self.pumping = True
        try:
            while inbox:
                settle(*inbox.popleft())
        finally:
            self.pumping = False
        self.pump()

    def secede(self, attempt: Attempt) -> None:
        """A body waits on another handle: give its slot back meanwhile (from any thread)."""
        if not self.on_loop_thread():
            self._call_soon(self.secede, attempt)
            return
        h = attempt.handle
        if h._attempt is attempt and h._lane.limit != _INF:
            x = h._extra()
            if not x.seceded:
                x.seceded = True
                h._lane.running -= 1
                self.pump()

    def rejoin(self, attempt: Attempt) -> None:
        """The wait is over: the body holds a slot again (the lane may briefly exceed it)."""
        if not self.on_loop_thread():
            self._call_soon(self.rejoin, attempt)
            return
        h, x = attempt.handle, attempt.handle._x
        if h._attempt is attempt and x is not None and x.seceded:
            x.seceded = False
            h._lane.running += 1

    def progress(self, attempt: Attempt, progress: Progress) -> None:
        """A body reported progress (from any thread); observers get the latest figures."""
        h = attempt.handle
        if h._attempt is not attempt:
            return  # a body abandoned at its timeout (or by an aborted run) reports on
        x = h._extra()
        x.progress = progress
        if self.subscribers is None or x.progress_due:
            return
        if self.on_loop_thread():
            event = (h, self.now(), attempt.number, progress)
            self.emit(_new_tuple(self.events.TaskProgress, event))  # type: ignore[union-attr]
        elif self.loop is not None:
            x.progress_due = True
            if not self._call_soon(self._progress_event, attempt):
                x.progress_due = False

    def _progress_event(self, attempt: Attempt) -> None:
        x = attempt.handle._extra()
        x.progress_due = False
        if attempt.current and x.progress is not None and self.subscribers is not None:
            event = (attempt.handle, self.now(), attempt.number, x.progress)
            self.emit(_new_tuple(self.events.TaskProgress, event))  # type: ignore[union-attr]

    def _call_soon(self, fn: Any, *args: Any) -> bool:
        """``fn(*args)`` on the loop thread soon; False if no run is there to do it."""
        loop = self.loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # closed: that run is over
                loop.call_soon_threadsafe(fn, *args)
                return True
        return False

    def on_loop_thread(self) -> bool:
        return self.loop is not None and threading.get_ident() == self.loop_thread

"""Event subscribers of a runner: who watches, and how an event reaches them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import ModuleType

    from ._handle import TaskHandle

__all__ = ["Observers"]

_new_tuple: Any = tuple.__new__  # makes a NamedTuple event without its __new__


class Observers:
    """Part of `Engine`: its subscribers (``None`` while nobody watches: no event is made)."""

    now: Any  # the runner's clock, set by Engine
    subscribers: tuple[Any, ...] | None = None
    events: ModuleType | None = None  # pyworkflowy.events, imported by subscribe()
    started_event: Any = None  # its two most frequent event classes, at hand
    finished_event: Any = None

    def submitted(self, h: TaskHandle) -> None:
        """``h`` joined the graph (it is born pending: not a status change)."""
        assert self.events is not None
        now = self.now()
        self.emit(_new_tuple(self.events.TaskSubmitted, (h, now)))
        x = h._x
        if x is not None and x.in_doubt is not None:  # resumed: it may have run before
            record = x.in_doubt
            event = (h, now, record["attempts"], record["started_at"])
            self.emit(_new_tuple(self.events.TaskInDoubt, event))

    def emit(self, event: Any) -> None:
        """Give ``event`` to every subscriber; one that raises is logged and dropped."""
        for callback in self.subscribers or ():
            try:
                callback(event)
            except Exception as exc:
                self.drop(callback, exc)

    def drop(self, callback: Any, exc: Exception) -> None:
        self.unsubscribe(callback)
        import logging

        logging.getLogger("pyworkflowy").error(
            "event subscriber %r raised and was unsubscribed: %s", callback, exc, exc_info=exc
        )

    def subscribe(self, callback: Any) -> None:
        if self.events is None:
            from . import events  # imported with the first subscriber: most runs have none

            self.events = events
            self.started_event, self.finished_event = events.TaskStarted, events.TaskFinished
        self.subscribers = (*(self.subscribers or ()), callback)

    def unsubscribe(self, callback: Any) -> None:
        rest = tuple(c for c in self.subscribers or () if c is not callback)
        self.subscribers = rest or None

    # -- ready handles and slots -----------------------------------------------------------

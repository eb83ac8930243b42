"""The registry of a runner's handles, and what it lets go of.

``handles`` holds handles strongly by id: every handle while the runner is used with
``run()`` (its result covers them all), only the unfinished ones while it serves. A handle
that finishes while serving moves to ``ended``, which refers to it weakly: it lives on only
while something else needs it (a pending dependent, the caller, the checkpoint's next save),
and its id stays taken as long as it lives. Dead entries are swept once ``ended`` has
doubled since the last sweep, so its size follows the handles still alive.

A finished handle keeps its dependencies by id (`TaskHandle.deps` looks them up here), so
it does not pin their values; `release` drops a value itself.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from ._extra import RELEASED
from ._types import TERMINAL, TaskStatus

if TYPE_CHECKING:
    import asyncio

    from ._handle import TaskHandle
    from ._journal import Journal

__all__ = ["RELEASED", "Registry"]

_COMPLETED = TaskStatus.COMPLETED
_SWEEP_MIN = 1024  # entries of `ended` before the first sweep
_ref = weakref.ref


class Registry:
    """Part of `Engine`: the handles by id, and letting finished ones go."""

    if TYPE_CHECKING:  # provided by Engine
        handles: dict[str, TaskHandle]
        journal: Journal | None
        loop: asyncio.AbstractEventLoop | None

        def on_loop_thread(self) -> bool:
            raise NotImplementedError

    ended: dict[str, weakref.ref[TaskHandle]] | None = None
    _sweep_at = _SWEEP_MIN

    # -- serving: finished handles are held weakly ----------------------------------------
    def let_go(self, h: TaskHandle) -> None:
        """``h`` finished while serving: keep it only as long as something else does."""
        handles, hid = self.handles, h.id
        if handles.get(hid) is h:
            del handles[hid]
        ended = self.ended
        if ended is None:
            ended = self.ended = {}
        ended[hid] = _ref(h)
        if len(ended) >= self._sweep_at:
            self.ended = ended = {k: r for k, r in ended.items() if r() is not None}
            self._sweep_at = max(_SWEEP_MIN, 2 * len(ended))
        journal = self.journal
        if journal is not None:
            journal.repeats = True  # its id may be submitted and finish again

    def let_go_finished(self) -> None:
        """Serving begins: the finished handles of earlier runs are held weakly too."""
        for h in [h for h in self.handles.values() if h._status in TERMINAL]:
            self.let_go(h)

    def lookup(self, hid: str) -> TaskHandle | None:
        """The handle with id ``hid`` if the runner has it or it is still alive."""
        h = self.handles.get(hid)
        if h is None and self.ended is not None:
            ref = self.ended.get(hid)
            h = None if ref is None else ref()
        return h

    def taken(self, hid: str) -> bool:
        """Whether a live handle has id ``hid`` (a finished one let go included)."""
        if hid in self.handles:
            return True
        ref = None if self.ended is None else self.ended.get(hid)
        return ref is not None and ref() is not None

    def ended_alive(self) -> list[TaskHandle]:
        """The finished handles let go of that are still alive, oldest first."""
        if self.ended is None:
            return []
        return [h for ref in self.ended.values() if (h := ref()) is not None]

    def drop_ended(self, h: TaskHandle) -> None:
        """``forget(h)`` of a handle let go: its id is free again."""
        ended = self.ended
        if ended is not None:
            ref = ended.get(h.id)
            if ref is not None and ref() is h:
                del ended[h.id]

    # -- release ---------------------------------------------------------------------------
    def release(self, h: TaskHandle) -> None:
        """Drop ``h``'s value; one the checkpoint has yet to write is dropped after it."""
        if h._status is not _COMPLETED or h._value is RELEASED:
            return
        journal = self.journal
        if journal is not None and journal.finished:
            journal.to_release.append(h)  # `Journal.flush` drops it once written
        else:
            h._value = RELEASED

"""Test helpers: `VirtualClock`, a clock that tests move (or that jumps by itself).

``TaskRunner(clock=VirtualClock())`` runs its event loop on virtual time: retry backoffs,
timeouts, ``checkpoint_interval``, ``asyncio.sleep`` in coroutine bodies, and the times on
handles and events all read the clock. With ``autojump=True`` (the default), whenever the
runner has nothing to do but wait for the clock, the clock jumps to the next deadline, so
a backoff of an hour takes no real time. Bodies that run on threads or processes keep real
time inside themselves; while one runs, the clock does not jump: a deadline that comes
meanwhile is waited for in real seconds. A `Scheduler` given the same clock
(``Scheduler(runner, clock=clock)``) waits in virtual time too. The pytest plugin offers
the fixtures ``virtual_clock`` and ``runner``.

    >>> from pyworkflowy import TaskRunner, task
    >>> from pyworkflowy.testing import VirtualClock
    >>> calls = []
    >>> @task(retries=3, backoff="exponential", backoff_base=60.0, backoff_max=3600.0)
    ... async def flaky() -> str:
    ...     calls.append(clock())
    ...     if len(calls) < 4:
    ...         raise ConnectionError("down")
    ...     return "up"
    >>> clock = VirtualClock(start=1_000_000.0)
    >>> with TaskRunner(clock=clock) as runner:
    ...     handle = runner.submit(flaky)
    ...     _ = runner.run()
    >>> handle.result(), [t - 1_000_000.0 for t in calls]
    ('up', [0.0, 60.0, 180.0, 420.0])
"""

from __future__ import annotations

import asyncio
import math
import selectors
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ._validate import is_number

__all__ = ["VirtualClock"]

_CATCH_UP = 0.005  # real seconds to let a woken thread act before the clock may jump again


class VirtualClock:
    """Epoch seconds that move only when told, or (``autojump``) when all work waits.

    ``clock()`` is the current virtual time, like ``time.time()``; ``advance(seconds)``
    moves it. ``start`` is an epoch time or an aware datetime (default: the real time now).
    """

    def __init__(self, start: float | datetime | None = None, autojump: bool = True) -> None:
        if start is None:
            start = time.time()
        elif isinstance(start, datetime):
            if start.tzinfo is None:
                raise ValueError("VirtualClock(start=...) needs an aware datetime or epoch seconds")
            start = start.timestamp()
        if not is_number(start):
            raise TypeError(f"start must be epoch seconds or a datetime, got {start!r}")
        if not math.isfinite(start):
            raise ValueError(f"start must be finite, got {start!r}")
        self._now = float(start)
        self.autojump = bool(autojump)
        self._lock = threading.Lock()
        self._loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
        self._sleepers: dict[object, tuple[threading.Condition, float]] = {}

    def __call__(self) -> float:
        """The current virtual time in epoch seconds."""
        return self._now

    def monotonic(self) -> float:
        """The same time, as the clock's monotonic reading (it never goes back)."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (>= 0) and wake whatever waits on it."""
        if not is_number(seconds):
            raise TypeError(f"advance() takes a number of seconds, got {seconds!r}")
        if not seconds >= 0 or not math.isfinite(seconds):
            raise ValueError(f"advance() takes seconds >= 0, got {seconds!r}")
        with self._lock:
            self._now += seconds
        self._wake()

    def __repr__(self) -> str:
        mode = "autojump" if self.autojump else "manual"
        return f"<VirtualClock {self._now:.6f} {mode}>"

    # -- for threads that wait on the clock (the scheduler's) ---------------------------
    def wait(self, condition: threading.Condition, deadline: float | None) -> None:
        """Wait on ``condition`` (held by the caller) until notified or ``deadline`` comes.

        While a thread waits here, an autojumping clock may jump to its ``deadline``.
        """
        if deadline is not None and self._now >= deadline:
            return
        token = object()
        with self._lock:
            self._sleepers[token] = (condition, math.inf if deadline is None else deadline)
        self._wake_loops()
        try:
            condition.wait()
        finally:
            with self._lock:
                del self._sleepers[token]
            self._wake_loops()

    # -- for the runner ------------------------------------------------------------------
    def new_event_loop(self, busy: Callable[[], bool]) -> asyncio.AbstractEventLoop:
        """An event loop on this clock; ``busy()`` says whether work runs off the loop."""
        loop = _VirtualLoop(self, busy)
        self._loops.add(loop)
        return loop

    def _jump_to(self, when: float) -> None:
        with self._lock:
            if when > self._now:
                self._now = when
        self._notify_sleepers()

    def _next_sleeper(self) -> tuple[float | None, bool]:
        """The earliest deadline of a waiting thread, and whether one is due already."""
        with self._lock:
            deadlines = [deadline for _, deadline in self._sleepers.values()]
        if not deadlines:
            return None, False
        earliest = min(deadlines)
        return (None if earliest == math.inf else earliest), earliest <= self._now

    def _wake(self) -> None:
        self._notify_sleepers()
        self._wake_loops()

    def _notify_sleepers(self) -> None:
        with self._lock:
            conditions = [condition for condition, _ in self._sleepers.values()]
        for condition in conditions:
            with condition:
                condition.notify_all()

    def _wake_loops(self) -> None:
        for loop in list(self._loops):
            if not loop.is_closed():
                loop.call_soon_threadsafe(_nothing)


def _nothing() -> None:
    """Scheduled only to wake a loop blocked in select()."""


class _VirtualSelector(selectors.DefaultSelector):  # type: ignore[misc, valid-type]
    """The loop's selector: waits in virtual time, jumping the clock when all work waits."""

    def __init__(self, clock: VirtualClock, busy: Callable[[], bool]) -> None:
        super().__init__()
        self._clock = clock
        self._busy = busy

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        clock = self._clock
        if timeout is not None and timeout <= 0:
            return super().select(0)
        if not clock.autojump:  # only advance() moves time; it also wakes the loop
            return super().select(None)
        if self._busy():  # bodies off the loop: no jump; wait for them in real time
            events = super().select(timeout)
            if not events and timeout is not None:  # a real wait that long: time is up
                clock._jump_to(clock() + timeout)
            return events
        events = super().select(0)
        if events:
            return events
        sleeper, due = clock._next_sleeper()
        if due:  # a woken thread is about to act: give it a moment
            return super().select(_CATCH_UP)
        loop_due = None if timeout is None else clock() + timeout
        targets = [t for t in (sleeper, loop_due) if t is not None]
        if not targets:  # nothing waits on the clock: only a submission can wake us
            return super().select(None)
        clock._jump_to(min(targets))
        return []


class _VirtualLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose time is a `VirtualClock`'s."""

    def __init__(self, clock: VirtualClock, busy: Callable[[], bool]) -> None:
        super().__init__(selector=_VirtualSelector(clock, busy))
        self._virtual_clock = clock
        # A timer is due when its time is below the loop's time plus this resolution. The
        # clock jumps exactly to a timer's time, and at epoch magnitudes time.monotonic's
        # 1e-9 s would vanish in the addition: 1 µs stays above a float's step until 2242.
        self._clock_resolution = 1e-6

    def time(self) -> float:
        return self._virtual_clock._now

"""Flow control by tag: concurrency limits and rate limits (``TaskRunner(limits=...,
rate_limits=...)``), checked where an attempt starts.

State (on the event-loop thread; none of it exists for a runner without limits):

* ``gates``: one `Gate` per limited tag: how many of its tasks run, its limit, and for a
  rate limit a GCRA clock (``tat``, the time the bucket is empty again). A tag with both
  kinds of limit has one gate.
* A handle whose tags have gates takes a slot in each at `Gating.gate` (from
  ``Engine.start``), all or none: if any gate is full or has others waiting, the handle is
  parked: READY, in every one of its gates' ``waiting`` queues (``parked`` counts them),
  not counted as running,
  its timeout not started. Its ``Extra.parked`` is those gates; ``Extra.held`` the gates
  it holds while an attempt runs (given back when the attempt ends: `release`).
* `unpark` admits parked handles in order: a handle goes when it is first in every one of
  its queues, each gate has room and its lane has a free slot. All handles are parked in
  one order (each joins all its queues at once), so the earliest parked handle is first
  in all of its queues: it goes as soon as its gates free, which is why a handle with
  several tags can neither deadlock nor starve.
* A rate-limited gate that is empty sets one timer (the runner's loop clock: a virtual
  one in tests) for when its next start is allowed; no polling.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

from ._types import TaskStatus

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Mapping

    from ._handle import TaskHandle
    from ._lanes import Lane
    from ._limits import RateLimit

__all__ = ["Gate", "Gating"]

_INF = math.inf
_READY, _RUNNING = TaskStatus.READY, TaskStatus.RUNNING
_EARLY = 1e-9  # seconds: a loop timer may fire this early (its clock resolution)


class Gate:
    """One limited tag: its running count, limit, rate clock and parked handles."""

    __slots__ = ("burst", "interval", "limit", "running", "tag", "tat", "timer", "waiting")

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.limit: float = _INF
        self.running = 0
        self.interval = 0.0  # seconds between starts; 0: no rate limit
        self.burst = 1
        self.tat = -_INF  # GCRA: when the bucket is empty again
        self.waiting: deque[TaskHandle] = deque()
        self.timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"<Gate {self.tag!r} {self.running}/{self.limit} waiting={len(self.waiting)}>"

    def set_rate(self, rate: RateLimit | None) -> None:
        """A new rate counts from the last start: it is ``1 / rate`` after that one."""
        old = self.interval
        if rate is None:
            self.interval, self.burst = 0.0, 1
        else:
            self.interval, self.burst = 1.0 / rate.per_second, rate.burst
        if self.tat != -_INF:
            self.tat += self.interval - old

    def allowed_at(self) -> float:
        """The loop time from which the next start keeps the rate."""
        return self.tat - (self.burst - 1) * self.interval

    def free(self, now: float) -> bool:
        return self.running < self.limit and (
            not self.interval or now + _EARLY >= self.allowed_at()
        )

    def take(self, now: float) -> None:
        self.running += 1
        if self.interval:
            self.tat = max(self.tat, now) + self.interval


class Gating:
    """Part of `Engine`: the tag gates (see the module docstring)."""

    if TYPE_CHECKING:  # provided by Engine
        loop: asyncio.AbstractEventLoop | None
        handles: dict[str, TaskHandle]
        pumping: bool
        backlog: bool

        def to(self, h: TaskHandle, status: TaskStatus) -> None: ...
        def start(self, h: TaskHandle, lane: Lane) -> None: ...
        def pump(self) -> None: ...

    gates: dict[str, Gate] | None = None
    parked = 0  # handles parked in any gate: while there are some, every pump unparks
    gate_sets: dict[frozenset[str], tuple[Gate, ...]] | None = None  # tags -> their gates

    def gate(self, h: TaskHandle, lane: Lane) -> bool:
        """``h`` is about to start: take a slot in each of its gates (True), or park it."""
        x = h._x
        assert x is not None
        if x.parked is not None:
            return False  # it waits in its gates already
        tags = x.tags
        assert tags is not None
        sets = self.gate_sets
        if sets is None:
            sets = self.gate_sets = {}
        want = sets.get(tags)
        if want is None:
            gates = self.gates
            assert gates is not None
            want = sets[tags] = tuple([gates[tag] for tag in sorted(tags) if tag in gates])
        if not want:
            return True
        now = 0.0
        for g in want:
            if g.waiting or g.running >= g.limit:
                break
            if g.interval:
                loop = self.loop
                assert loop is not None
                now = loop.time()
                if not g.free(now):
                    break
        else:
            for g in want:
                g.running += 1
                if g.interval:
                    g.tat = max(g.tat, now) + g.interval
            x.held = want
            return True
        x.parked = want
        for g in want:
            g.waiting.append(h)
        self.parked += 1
        if h._status is not _READY:
            self.to(h, _READY)
        for g in want:
            if g.interval:  # it may only wait for a rate: time it
                loop = self.loop
                assert loop is not None
                self.time_gates(want, loop.time())
                break
        return False

    def time_gates(self, want: tuple[Gate, ...], now: float) -> None:
        """Set a timer on each rate gate in ``want`` that is only waiting for its clock."""
        loop = self.loop
        assert loop is not None
        for g in want:
            if g.interval and g.timer is None and g.running < g.limit and not g.free(now):
                g.timer = loop.call_at(g.allowed_at(), self._gate_timer, g)

    def _gate_timer(self, g: Gate) -> None:
        g.timer = None
        if not self.pumping:
            self.pump()  # which unparks

    def give_back(self, h: TaskHandle) -> None:
        """``h``'s attempt ended (or it ended unstarted): give its gate slots back."""
        x = h._x
        assert x is not None
        held, x.held = x.held, None
        if held:
            for g in held:
                g.running -= 1

    def unqueue(self, h: TaskHandle) -> None:
        """Take a parked handle out of its gates' queues (it ended, or waits again)."""
        x = h._x
        assert x is not None
        parked, x.parked = x.parked, None
        if parked:
            for g in parked:
                g.waiting.remove(h)
            self.parked -= 1

    def unpark(self) -> None:
        """Start the parked handles that may go now, in order (see the module docstring).

        Called by ``Engine.pump`` while any handle is parked; what a start readies
        meanwhile is queued for it.
        """
        gates, loop = self.gates, self.loop
        if not gates or loop is None:
            return
        pumping, self.pumping = self.pumping, True  # starts below must not pump meanwhile
        now = loop.time()
        try:
            again = True
            while again:
                again = False
                for g in tuple(gates.values()):  # a body may add a gate (set_limit)
                    waiting = g.waiting
                    while waiting and g.running < g.limit:
                        h = waiting[0]
                        x = h._x
                        want = None if x is None else x.parked
                        if want is None or h._status is not _READY:
                            self.unqueue(h) if want else waiting.popleft()
                            again = True  # the heads of its other gates changed
                            continue
                        if len(want) == 1:
                            if g.interval and now + _EARLY < g.allowed_at():
                                self.time_gates(want, now)
                                break
                        elif any(other.waiting[0] is not h for other in want):
                            break  # it waits behind another handle in one of its gates
                        elif not all(other.free(now) for other in want):
                            self.time_gates(want, now)
                            break
                        lane = h._lane
                        if lane.running >= lane.limit:
                            break  # its lane frees a slot later, and pumps then
                        for other in want:
                            other.waiting.popleft()
                            other.take(now)
                        x.parked, x.held = None, want  # type: ignore[union-attr]
                        self.parked -= 1
                        self.start(h, lane)
                        if len(want) > 1:
                            again = True  # the heads of its other gates changed
        finally:
            self.pumping = pumping

    # -- changing limits -----------------------------------------------------------------
    def set_gate(
        self, tag: str, limit: float | None = None, rate: RateLimit | None = None, *, which: str
    ) -> None:
        """Change ``tag``'s concurrency limit (``which="limit"``) or rate (``"rate"``)."""
        gates = self.gates
        if gates is None:
            gates = self.gates = {}
        g = gates.get(tag)
        if g is None:
            g = gates[tag] = Gate(tag)
            self.gate_sets = None  # tag sets that include it have one more gate now
            self._count_running(g)
            if self.parked:
                self._repark()
        if which == "limit":
            g.limit = _INF if limit is None else limit
        else:
            g.set_rate(rate)
            if g.timer is not None:
                g.timer.cancel()
                g.timer = None
        if self.loop is not None and not self.pumping:
            self.pump()

    def _repark(self) -> None:
        """A new gate: the parked handles of its tag wait in it too, in the same order.

        The queues agree with one order (the order of parking), so taking, again and
        again, a handle that is first in every queue it is in gives that order back.
        """
        gates = self.gates
        assert gates is not None
        order: list[TaskHandle] = []
        queues = [g.waiting for g in gates.values() if g.waiting]
        while queues:
            for queue in queues:
                h = queue[0]
                x = h._x
                parked = () if x is None or x.parked is None else x.parked
                if all(other.waiting[0] is h for other in parked):
                    break
            else:  # cannot happen: the queues agree with the order of parking
                raise AssertionError("gate queues disagree on the order of parking")
            for other in parked:
                other.waiting.popleft()
            if not parked:
                queue.popleft()
            order.append(h)
            queues = [queue for queue in queues if queue]
        for h in order:
            x = h._x
            assert x is not None
            assert x.tags is not None
            want = tuple([gates[tag] for tag in sorted(x.tags) if tag in gates])
            x.parked = want
            for g in want:
                g.waiting.append(h)

    def _count_running(self, g: Gate) -> None:
        """A gate made while tasks of its tag run: they count (and give it back later)."""
        for h in self.handles.values():
            x = h._x
            if (
                x is not None
                and x.tags is not None
                and g.tag in x.tags
                and h._status is _RUNNING
                and h._attempt is not None
            ):
                g.running += 1
                x.held = (*(x.held or ()), g)

    def gate_limits(self) -> Mapping[str, int]:
        return {t: int(g.limit) for t, g in (self.gates or {}).items() if g.limit != _INF}

    def gate_rates(self) -> Mapping[str, RateLimit]:
        from ._limits import RateLimit

        return {
            t: RateLimit(1.0 / g.interval, g.burst)
            for t, g in (self.gates or {}).items()
            if g.interval
        }

    def reset_gate_timers(self) -> None:
        """A new run (a new loop, perhaps): timers of the last one are gone."""
        for g in (self.gates or {}).values():
            if g.timer is not None:
                g.timer.cancel()  # of the last loop: it must not fire in this run
                g.timer = None

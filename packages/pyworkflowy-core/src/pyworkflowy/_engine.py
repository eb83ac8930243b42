"""The per-task path: lanes, attempts and the one transition function every status goes through.

State (all touched on the event-loop thread while a run goes on):

* ``handles``: the runner's handles by id (while serving, the unfinished ones: see
  `_registry`); ``unfinished`` counts those not terminal.
* ``lanes``: one `Lane` per backend in use: ready handles, running count and limit.
  `pump` starts ready handles while their lane has a free slot.
* A handle's ``_attempt`` is the `Attempt` its backend runs now. Backends report through
  it (`report`, from any thread): reports from other threads are batched in ``inbox``
  and drained with one loop wake-up per batch (`_bodies`). The first report of the current attempt
  wins; any other is stale and ignored.
* `finish` makes a handle terminal and releases its dependents iteratively (chains are
  deep); `to` is the single place where a handle's status changes, and where events are
  made (only when somebody subscribed; `start` and `finish` inline its no-subscriber
  case, which only sets the status).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from ._bodies import BodyRequests
from ._cancel import Cancellation
from ._errors import (
    CheckpointError,
    TaskCancelledError,
)
from ._failures import Failures
from ._gates import Gating
from ._graph import blocked_outcome
from ._observers import Observers
from ._registry import Registry
from ._types import TERMINAL, TaskStatus
from .backends import Attempt

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from ._gates import Gate
    from ._handle import TaskHandle
    from ._journal import Journal
    from ._lanes import Lane
    from ._runner import TaskRunner
    from .cache import Cache
    from .testing import VirtualClock

__all__ = ["Engine"]

PENDING, READY, RUNNING, RETRYING = (
    TaskStatus.PENDING,
    TaskStatus.READY,
    TaskStatus.RUNNING,
    TaskStatus.RETRYING,
)
COMPLETED, FAILED, CANCELLED, SKIPPED = (
    TaskStatus.COMPLETED,
    TaskStatus.FAILED,
    TaskStatus.CANCELLED,
    TaskStatus.SKIPPED,
)
NO_KWARGS: dict[str, Any] = {}  # shared by every handle submitted without keywords
_now = time.time
_monotonic = time.monotonic
_get_ident = threading.get_ident
_PUMP_BATCH = 64  # starts per pump pass; a small batch keeps live objects under the GC threshold
_new_tuple: Any = tuple.__new__  # makes a NamedTuple event without its __new__


class Engine(Observers, BodyRequests, Cancellation, Failures, Registry, Gating):
    """Runs a runner's handles: see the module docstring for its state."""

    def __init__(self, runner: TaskRunner, on_task_error: str, journal: Journal | None) -> None:
        self.runner = runner
        self.on_task_error = on_task_error
        self.journal = journal
        if journal is not None:
            journal.engine = self
        self._run_id = os.urandom(12).hex()  # of keys, when no checkpoint keeps the run's
        self.handles: dict[str, TaskHandle] = {}
        self.lanes: dict[str, Lane] = {}
        self.unfinished = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.loop_thread: int | None = None
        self.idle: asyncio.Future[None] | None = None
        self.first_error: BaseException | None = None
        self.failed_id = ""  # the task whose failure set first_error
        self.aborting = self.serving = self.pumping = self.pump_due = self.wake_due = False
        self.interrupted = False  # a run ended on Ctrl-C (SIGTERM, a cancel): bodies abandoned
        self.backlog = False  # a handle was queued while pumping: pump again after
        self.gates: dict[str, Gate] | None = None  # by tag: TaskRunner(limits=...) (`_gates`)
        self.gate_sets: dict[frozenset[str], tuple[Gate, ...]] | None = None
        self.parked = 0  # handles waiting in gates: pump unparks while there are some
        self.cache: Cache | None = None  # TaskRunner(cache=...) (`_caching`)
        self.owns_cache = False  # made from a path: closed at shutdown
        self.cache_warned: set[tuple[str, str]] = set()  # (task, cause): warned once
        self.cache_identities: dict[Any, bytes] = {}  # task -> its hashed identity, per run
        self.inbox: deque[tuple[Attempt, bool, Any]] = deque()
        self.clock: VirtualClock | None = None  # TaskRunner(clock=...); None: real time
        self.now: Callable[[], float] = _now
        self.monotonic: Callable[[], float] = _monotonic

    # -- the transition function -----------------------------------------------------------
    def to(
        self,
        h: TaskHandle,
        status: TaskStatus,
        attempt: int = 0,
        error: BaseException | None = None,
        delay: float = 0.0,
    ) -> None:
        """Set ``h``'s status; the one place a status changes (and events are made)."""
        h._status = status
        subscribers = self.subscribers
        if subscribers is None:
            return
        if status is RUNNING:
            event = _new_tuple(self.started_event, (h, _now(), attempt))
        elif status in TERMINAL:
            finished = h._finished_at or _now()  # a resumed handle keeps its stored time
            event = _new_tuple(self.finished_event, (h, finished, h._attempts, status, error))
        elif status is RETRYING:
            assert self.events is not None
            event = _new_tuple(self.events.TaskRetrying, (h, _now(), attempt, error, delay))
        else:
            return
        for callback in subscribers:  # emit(), inlined: this is per task
            try:
                callback(event)
            except Exception as exc:
                self.drop(callback, exc)

    def deps_done(self, h: TaskHandle) -> None:
        """All dependencies have finished: queue the handle, or end it per its policy."""
        if h._x is None:
            self.make_ready(h)
            return
        outcome = self.unblocked(h)
        if outcome is not None:
            self.finish(h, *outcome)

    def unblocked(self, h: TaskHandle) -> tuple[TaskStatus, Any, BaseException] | None:
        """`deps_done` for a handle with extra state: the outcome that ends it, or ``None``
        once it is queued (or, a map that has just expanded, waits for its items)."""
        outcome = blocked_outcome(h)
        if outcome is not None:
            return outcome
        x = h._x
        if x is not None:
            if x.caching:  # a hit completes it here, unrun
                from ._caching import lookup

                outcome = lookup(self, h, x)
                if outcome is not None:
                    return outcome
            if x.inputs is not None:
                from ._outputs import inputs_met

                return inputs_met(self, h, x.inputs)
        self.make_ready(h)
        return None

    def make_ready(self, h: TaskHandle) -> None:
        """Its dependencies are done: start it now if its lane has room, else queue it."""
        lane = h._lane
        if (
            self.pumping
            or lane.ready
            or lane.running >= lane.limit
            or self.pump_due
            or self.loop is None
            or (self.journal is not None and self.journal.holding)
        ):
            self.to(h, READY)
            lane.ready.append(h)
            self.backlog = True
            if not self.pumping:
                self.pump()
            return
        self.pumping = True  # its slot is free and nobody waits ahead: start it now
        try:
            self.start(h, lane)
        finally:
            self.pumping = False
        if self.backlog:  # an eager start finished and readied others meanwhile
            self.pump()

    def pump(self) -> None:
        """Start ready handles while their lanes have room (a retry first, then FIFO).

        At most `_PUMP_BATCH` starts per pass: a pass that reaches it lets the loop run
        what it started before the next pass, so a fan of a million coroutines keeps only
        a batch of them alive at once (their memory, and the collector's work, stay small).
        """
        if self.pumping or self.pump_due or self.loop is None:
            return
        journal = self.journal
        if journal is not None and journal.holding:
            return  # the pending checkpoint write goes first; it pumps when done
        self.pumping, self.backlog, budget, again = True, False, _PUMP_BATCH, True
        try:
            while again:
                again = False
                if self.parked:
                    self.unpark()  # parked handles go first (see _gates)
                for lane in tuple(self.lanes.values()):  # an eager body may add a lane
                    ready, start = lane.ready, self.start
                    while ready and lane.running < lane.limit:
                        h = ready.popleft()
                        if h._status is READY:
                            start(h, lane)
                            again = True
                            budget -= 1
                            if not budget:  # let the started ones run; go on next pass
                                if not self.pump_due:
                                    self.pump_due = True
                                    self.loop.call_soon(self._pump_later)
                                return
        finally:
            self.pumping = False

    def _pump_later(self) -> None:
        self.pump_due = False
        self.pump()

    def start(self, h: TaskHandle, lane: Lane) -> None:
        x = h._x
        if (
            x is not None
            and x.tags is not None
            and x.held is None
            and self.gates is not None
            and not self.gate(h, lane)
        ):
            return  # parked until its tags' gates let it go
        lane.running += 1
        h._attempts = number = h._attempts + 1
        attempt = h._attempt = Attempt(h, number)
        if h._started_at is None:
            h._started_at = _now()
        elif number > 1 and h._x is not None and h._x.attempt_times is not None:
            h._x.attempt_times.append(_now())  # a retry (see failed_attempt)
        if self.subscribers is None:
            h._status = RUNNING  # to(), inlined for the run nobody watches
        else:
            self.to(h, RUNNING, number)
        x = h._x
        if x is not None and x.cancel_requested:  # a subscriber of TaskStarted cancelled it
            error = TaskCancelledError(f"task {h.id!r} was cancelled before it ran")
            self.settle(attempt, False, error)
            return
        journal = self.journal
        if journal is not None and (journal.starts or not h._task.options.idempotent):
            from ._starts import record

            record(self, attempt)  # its body starts once its start is written
            return
        if h._task.timeout is not None:
            self.launch(attempt)
            return
        try:  # launch(), inlined for the attempt with no timer: this is per task
            lane.backend.start(attempt)
        except Exception as exc:
            self.broken(lane, attempt, exc)

    def run_id(self) -> str:
        """The id that idempotency keys are made of: the checkpoint's run, else this runner's."""
        journal = self.journal
        return self._run_id if journal is None else journal.run_id

    def launch(self, attempt: Attempt) -> None:
        """Give ``attempt`` to its backend, its timeout counting from now."""
        h = attempt.handle
        lane = h._lane
        timeout = h._task.timeout
        if timeout is not None:
            loop = self.loop
            assert loop is not None
            x = h._extra()
            x.began = None if lane.backend.reports_begin else _monotonic()
            x.timer = loop.call_later(timeout, self.on_timeout, attempt)
        try:
            lane.backend.start(attempt)
        except Exception as exc:
            self.broken(lane, attempt, exc)

    def broken(self, lane: Lane, attempt: Attempt, exc: Exception) -> None:
        """A backend's `start` raised: the attempt fails, not the loop."""
        exc.add_note(f"raised by backend {lane.name!r} starting task {attempt.handle.id!r}")
        self.settle(attempt, False, exc)

    # -- outcomes --------------------------------------------------------------------------
    def report(self, attempt: Attempt, ok: bool, value: Any) -> None:
        """An attempt's outcome, from any thread: on the loop thread it is settled now,
        from others it is batched (`post`). Only the current attempt's first report counts.
        """
        if _get_ident() != self.loop_thread:
            self.post(attempt, ok, value)
            return
        self.settle(attempt, ok, value)

    def settle(self, attempt: Attempt, ok: bool, value: Any) -> None:
        """`report`, for a caller on the loop thread (the engine, the asyncio backend)."""
        h = attempt.handle
        if h._attempt is not attempt:
            return  # already settled: a timeout, a cancel before it ran, an abort
        attempt._context = None  # its TaskContext refers back to it: no cycle left behind
        x = h._x
        if x is None:  # the common case of `detach`: no timer, no wait
            h._attempt = None
            h._lane.running -= 1
        else:
            self.detach(h)
            if ok and x.caching and x.cache_key is not None:  # it ran: keep its value
                from ._caching import store

                try:
                    store(self, h, x.cache_key, value)
                except Exception as exc:  # a CacheWarning the filters made an error
                    ok, value = False, exc
        journal = self.journal
        if ok and value is not None and journal is not None:  # None stores anywhere
            try:
                journal.check_value(h, value)
            except CheckpointError as exc:  # the result cannot be stored: the task fails
                ok, value = False, exc
        if ok:
            self.finish(h, COMPLETED, value, None)
        else:
            self.failed_attempt(h, attempt.number, value)
        if journal is not None and journal.holding and not self.any_running():
            journal.write_held()  # nothing running: no other task can join the batch
        if (h._lane.ready or self.parked) and not self.pumping:
            self.pump()  # its slot is free for the next one

    def detach(self, h: TaskHandle) -> Attempt | None:
        """Take the running attempt off ``h``: its slot and timer are freed."""
        attempt, h._attempt = h._attempt, None
        if attempt is not None:
            attempt._context = None
        x = h._x
        if x is None:
            h._lane.running -= 1
            return attempt
        if x.timer is not None:
            x.timer.cancel()
            x.timer = None
        if x.held is not None:
            self.give_back(h)
        if x.seceded:
            x.seceded = False  # its slot was given back while it waited
        else:
            h._lane.running -= 1
        return attempt

    def any_running(self) -> bool:
        return any(lane.running for lane in self.lanes.values())

    def finish(
        self, h: TaskHandle, status: TaskStatus, value: Any, error: BaseException | None
    ) -> None:
        """Make ``h`` terminal and release its dependents (iteratively: chains are deep)."""
        stack: list[tuple[TaskHandle, TaskStatus, Any, BaseException | None]] | None = None
        journal = self.journal
        while True:
            if h._status not in TERMINAL:  # else it ended meanwhile (an abort, say)
                h._value, h._error, h._finished_at = value, error, _now()
                h._args, h._kwargs = (), NO_KWARGS  # it never runs again: let them go
                deps = h._deps  # kept by id from now on: they must not pin their values
                if deps is not None:
                    h._deps = deps.id if deps.__class__ is not tuple else _ids(deps)  # type: ignore[union-attr]
                if self.subscribers is None:
                    h._status = status  # to(), inlined for the run nobody watches
                else:
                    self.to(h, status, 0, error)
                self.unfinished -= 1
                x = h._x
                waited = False
                if x is not None:
                    x.payload = x.inputs = None  # an item list, upstreams: let them go
                    if x.parked is not None:
                        self.unqueue(h)
                    if x.waiters is not None:
                        waited = True
                        h._wake()
                if journal is not None:
                    journal.finished.append(h)
                    if journal.timer is None:
                        journal.on_finish(self.loop, self.pump)
                if status is FAILED:
                    self.on_failure(h, waited)
                if self.serving:
                    self.let_go(h)
                dependents, h._dependents = h._dependents, None
                if dependents is not None:
                    for d in dependents if isinstance(dependents, list) else (dependents,):
                        if status is not COMPLETED and (
                            d._blocker is None or status is not SKIPPED
                        ):
                            d._blocker = h
                        d._pending -= 1
                        if d._pending == 0 and d._status is PENDING:
                            if d._x is None:
                                self.make_ready(d)
                                continue
                            outcome = self.unblocked(d)
                            if outcome is not None:  # it ends too: on the stack, not recursion
                                if stack is None:
                                    stack = []
                                stack.append((d, *outcome))
            if not stack:
                break
            h, status, value, error = stack.pop()
        if self.unfinished == 0 and not self.serving:
            idle = self.idle
            if idle is not None and not idle.done():
                idle.set_result(None)


def _ids(deps: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple([d.id for d in deps])

"""Waiting for a `TaskHandle` to end, and waking whoever waits once it has.

``await handle`` (`await_end`) and a thread blocked in ``handle.result()`` or ``wait()``
(`block`) each put a waiter on the handle's `Extra` (`add_waiter`); the runner calls
`wake` once the handle has ended. A task body that waits gives its slot back meanwhile
(the engine's ``secede``) and takes one again once woken (``rejoin``). `TaskHandle` binds
these functions as its methods (``__await__``, ``_wait``, ``_add_waiter``, ...), hence
their first parameter, ``self``: the handle.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, TypeVar

from ._context import _current_task
from ._extra import LOCK
from ._types import TERMINAL as _TERMINAL
from ._types import TaskContext

if TYPE_CHECKING:
    from ._handle import TaskHandle
    from .backends import Attempt

__all__ = ["add_waiter", "await_end", "block", "remove_waiter", "wake"]

R = TypeVar("R")


def await_end(self: TaskHandle[R]) -> Generator[Any, None, R]:
    """``await handle``: its value once it has ended (`TaskHandle.__await__`)."""
    if self._status not in _TERMINAL:
        import asyncio

        engine = self._lane.engine
        if engine.loop is None:
            yield  # one step for a run started on this loop (gather(h, runner.arun()))
            if engine.loop is None and self._status not in _TERMINAL:
                raise RuntimeError(
                    f"task {self.id!r} is {self._status.value} and its runner is not "
                    "running, so awaiting it would wait forever: start a run first "
                    "(runner.start(), a run() in another thread, or "
                    "asyncio.create_task(runner.arun()) before the await)"
                )

        loop = asyncio.get_running_loop()
        future = loop.create_future()
        waiter = (loop, future)
        add_waiter(self, waiter)
        waiting = _waiting_attempt()
        try:
            if self._status not in _TERMINAL:
                if waiting is not None:  # a task body waits: its slot is given back
                    waiting.handle._lane.engine.secede(waiting)
                yield from future.__await__()
        finally:  # the await may have been cancelled: don't keep its loop alive
            remove_waiter(self, waiter)
            if waiting is not None:
                waiting.handle._lane.engine.rejoin(waiting)
    return self.result()


def block(self: TaskHandle, timeout: float | None) -> None:
    """Block this thread until the handle has ended (`TaskHandle._wait`); `TimeoutError`
    after ``timeout`` seconds."""
    engine = self._lane.engine
    if engine.on_loop_thread():
        raise RuntimeError(
            f"handle.result() on the runner's own event loop would block it: "
            f"use 'await handle' for {self.id!r}"
        )
    if timeout is None and engine.loop is None:
        raise RuntimeError(
            f"task {self.id!r} is {self._status.value} and its runner is not running: "
            "call runner.run() first, or pass timeout= to wait for another thread's run"
        )
    event = threading.Event()
    add_waiter(self, event)
    if self._status in _TERMINAL:
        return
    waiting = _waiting_attempt()  # a task body waits: its slot is given back meanwhile
    if waiting is not None:
        waiting.handle._lane.engine.secede(waiting)
    try:
        if not event.wait(timeout):
            remove_waiter(self, event)
            raise TimeoutError(
                f"task {self.id!r} did not finish within {timeout} s (status {self._status.value})"
            )
    finally:
        if waiting is not None:
            waiting.handle._lane.engine.rejoin(waiting)


def add_waiter(self: TaskHandle, waiter: Any) -> None:
    x = self._extra()
    with LOCK:
        if x.waiters is None:
            x.waiters = []
        x.waiters.append(waiter)
    if self._status in _TERMINAL:  # finished while we registered: wake ourselves
        wake(self)


def remove_waiter(self: TaskHandle, waiter: Any) -> None:
    x = self._extra()
    with LOCK:
        if x.waiters is not None and waiter in x.waiters:
            x.waiters.remove(waiter)


def wake(self: TaskHandle) -> None:
    """Wake every waiter; called once the status is terminal (from any thread)."""
    x = self._extra()
    with LOCK:
        waiters, x.waiters = x.waiters, None
    for waiter in waiters or ():
        if isinstance(waiter, threading.Event):
            waiter.set()
        else:
            loop, future = waiter
            # A loop closed since its await began has nobody left to wake.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, future)


def _waiting_attempt() -> Attempt | None:
    """The attempt whose body is running here, if it is still the current one."""
    context = _current_task.get()
    if context is None:
        return None
    attempt = context._attempt if isinstance(context, TaskContext) else context
    return attempt if attempt is not None and attempt.current else None


def _resolve(future: Any) -> None:
    if not future.done():
        future.set_result(None)

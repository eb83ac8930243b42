"""`TaskHandle`: one submission of a task to a runner, and the way to its outcome."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._context import _current_task
from ._errors import TaskCancelledError
from ._extra import Extra as _Extra
from ._outputs import OutputAttribute as _OutputAttribute
from ._registry import RELEASED as _RELEASED
from ._types import TERMINAL as _TERMINAL
from ._types import Progress, TaskContext, TaskResult, TaskStatus

if TYPE_CHECKING:
    from ._lanes import Lane
    from ._runner import TaskRunner
    from ._task import Task
    from .backends import Attempt

__all__ = ["TaskHandle"]

R = TypeVar("R")

_PENDING = TaskStatus.PENDING
_COMPLETED = TaskStatus.COMPLETED
_new_tuple: Any = tuple.__new__
_flag_lock = threading.Lock()  # guards _Extra creation, waiters and the cancel flag


class TaskHandle(Generic[R]):
    """A submitted task: its status, attempts and, once done, its value or error.

    Handles are awaitable (``await handle``) and thread-safe to wait on
    (``handle.result(timeout=...)``).
    """

    __slots__ = (
        "__weakref__",  # a serving runner holds finished handles weakly
        "_args",
        "_attempt",
        "_attempts",
        "_dependents",
        "_deps",
        "_error",
        "_finished_at",
        "_kwargs",
        "_lane",
        "_pending",
        "_started_at",
        "_status",
        "_task",
        "_value",
        "_x",
        "id",
    )

    def __init__(
        self,
        task: Task,
        handle_id: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        lane: Lane,
        deps: tuple[TaskHandle, ...],
    ) -> None:
        self._task = task
        self.id = handle_id
        """Deterministic: the ``key=`` given to submit, or ``"{task name}#{n}"``."""
        self._args = args
        self._kwargs = kwargs
        self._lane = lane
        # One dependency is kept bare, like one dependent: a chain's million 1-tuples
        # would otherwise stay alive for nothing.
        # Once it has ended, they are kept by id (see `deps`).
        self._deps: TaskHandle | tuple[TaskHandle, ...] | str | tuple[str, ...] | None = (
            (deps[0] if len(deps) == 1 else deps) if deps else None
        )
        self._status = _PENDING
        self._attempts = 0
        self._pending = 0
        self._dependents: TaskHandle | list[TaskHandle] | None = None
        self._value: Any = None
        self._error: BaseException | None = None
        self._started_at: float | None = None
        self._finished_at: float | None = None
        self._attempt: Attempt | None = None  # the attempt running now
        self._x: _Extra | None = None

    def _extra(self) -> _Extra:
        x = self._x
        if x is None:
            with _flag_lock:  # cancel() may come from another thread at the same moment
                x = self._x
                if x is None:
                    x = self._x = _Extra()
        return x

    @property
    def _runner(self) -> TaskRunner:
        return self._lane.engine.runner

    @property
    def _blocker(self) -> TaskHandle | None:
        x = self._x
        return None if x is None else x.blocker

    @_blocker.setter
    def _blocker(self, value: TaskHandle) -> None:
        self._extra().blocker = value

    @property
    def _cancel_requested(self) -> bool:
        x = self._x
        return x is not None and x.cancel_requested

    def _set_deps(self, deps: tuple[TaskHandle, ...]) -> None:
        self._deps = (deps[0] if len(deps) == 1 else deps) if deps else None

    # -- read side ---------------------------------------------------------------------
    @property
    def deps(self) -> tuple[TaskHandle, ...]:
        """The handles this one depends on, in the order they were given.

        Once it has ended, a handle keeps its dependencies by id only, so that it does not
        keep their results alive: ``deps`` then lists those its runner still has (every one
        after ``run()``; while serving, those still referenced somewhere).
        """
        deps = self._deps
        if deps is None:
            return ()
        if deps.__class__ is tuple:
            if deps[0].__class__ is not str:  # type: ignore[index]
                return deps  # type: ignore[return-value]
            ids: tuple[str, ...] = deps  # type: ignore[assignment]
        elif deps.__class__ is str:
            ids = (deps,)  # type: ignore[assignment]
        else:
            return (deps,)  # type: ignore[return-value]
        lookup = self._lane.engine.lookup
        return tuple(h for h in map(lookup, ids) if h is not None)

    output = _OutputAttribute()
    """A reference to this handle's value, to pass as an argument of another task.

    ``runner.submit(f, h.output)`` (also inside lists, tuples and dict values) makes the
    new task depend on ``h`` and gives its body ``h``'s value; ``task.map(h.output)`` runs
    one task per item of it. A handle passed as itself stays a handle.
    """

    @property
    def depends_on(self) -> tuple[TaskHandle, ...]:
        """The same as `deps` (upstream pyworkflowy 0.x's name)."""
        return self.deps

    @property
    def name(self) -> str:
        """The task's name (several handles may share it; ``id`` is unique)."""
        return self._task.name

    @property
    def task(self) -> Task:
        """The `Task` this handle runs."""
        return self._task

    @property
    def status(self) -> TaskStatus:
        """The current `TaskStatus`."""
        return self._status

    @property
    def attempts(self) -> int:
        """How many attempts have started so far."""
        return self._attempts

    @property
    def args(self) -> tuple[Any, ...]:
        """The positional arguments it was submitted with (``()`` once it has ended)."""
        return self._args

    @property
    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments it was submitted with (empty once it has ended)."""
        return dict(self._kwargs)

    @property
    def backend(self) -> str:
        """The name of the backend it runs on."""
        return self._lane.name

    @property
    def tags(self) -> frozenset[str]:
        """Its task's tags and those given to ``submit`` (see ``TaskRunner(limits=...)``)."""
        x = self._x
        return self._task.options.tags if x is None or x.tags is None else x.tags

    @property
    def cached(self) -> bool:
        """Whether it completed with a cached result, without running."""
        x = self._x
        return x is not None and x.cache_hit

    @property
    def progress(self) -> Progress | None:
        """What its body last reported with ``current_task().report_progress``, or ``None``."""
        x = self._x
        return None if x is None else x.progress

    @property
    def progress_message(self) -> str | None:
        """``progress.message`` (upstream 0.x's name), or ``None``."""
        progress = self.progress
        return None if progress is None else progress.message

    @property
    def retry_at(self) -> float | None:
        """While retrying: when the next attempt starts (``time.time()``), else ``None``."""
        x = self._x
        timer = None if x is None else x.timer
        loop = self._lane.engine.loop
        if self._status is not TaskStatus.RETRYING or timer is None or loop is None:
            return None
        return self._lane.engine.now() + max(0.0, timer.when() - loop.time())

    @property
    def released(self) -> bool:
        """True once `release` has dropped the value."""
        return self._value is _RELEASED

    def release(self) -> None:
        """Drop the value of this finished handle, to free its memory.

        For a result that has been used (by its dependents, say) and is needed no more:
        `result` then raises `RuntimeError`, and `get_result` reports the value as ``None``.
        The status stays what it was. A value the checkpoint has not written yet is dropped
        once it is written, so a resumed run still finds it. Raises `RuntimeError` for a
        handle that has not finished; a failed or cancelled handle has no value to drop.
        """
        if self._status not in _TERMINAL:
            raise RuntimeError(
                f"task {self.id!r} is {self._status.value}: release() drops the value of a "
                "finished handle; call it once the handle is done"
            )
        engine = self._lane.engine
        loop = engine.loop
        if loop is not None and not engine.on_loop_thread():
            loop.call_soon_threadsafe(engine.release, self)
        else:
            engine.release(self)

    def done(self) -> bool:
        """True once the status is terminal (completed, failed, cancelled or skipped)."""
        return self._status in _TERMINAL

    def get_result(self, timeout: float | None = None) -> TaskResult[R]:
        """A `TaskResult` snapshot of this handle; never raises a task's failure.

        With ``timeout``, it first waits up to that many seconds for the handle to end
        (`TimeoutError` if it does not); without, it never waits.
        """
        if timeout is not None and self._status not in _TERMINAL:
            self._wait(timeout)
        value = self._value
        return _new_tuple(  # TaskResult(...) without its slower __new__: all fields given
            TaskResult,
            (
                self._task.name,
                self._status,
                None if value is _RELEASED else value,
                self._error,
                self._attempts,
                self._started_at,
                self._finished_at,
            ),
        )

    def result(self, timeout: float | None = None) -> R:
        """The return value; raises the task's failure. Waits up to ``timeout`` seconds.

        Raises `TimeoutError` if the handle is not done in time.
        """
        if self._status not in _TERMINAL:
            self._wait(timeout)
        if self._status is _COMPLETED:
            value = self._value
            if value is _RELEASED:
                raise RuntimeError(
                    f"the result of task {self.id!r} was released (handle.release()); keep "
                    "the value yourself, or do not release a result that is still needed"
                )
            return value  # type: ignore[no-any-return]
        raise self._failure()

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The failure, or ``None`` if the task completed. Waits like `result`."""
        if self._status not in _TERMINAL:
            self._wait(timeout)
        return None if self._status is _COMPLETED else self._failure()

    def _failure(self) -> BaseException:
        if self._error is not None:
            return self._error
        return TaskCancelledError(f"task {self.id!r} was {self._status}")

    def __await__(self) -> Generator[Any, None, R]:
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
            self._add_waiter(waiter)
            waiting = _waiting_attempt()
            try:
                if self._status not in _TERMINAL:
                    if waiting is not None:  # a task body waits: its slot is given back
                        waiting.handle._lane.engine.secede(waiting)
                    yield from future.__await__()
            finally:  # the await may have been cancelled: don't keep its loop alive
                self._remove_waiter(waiter)
                if waiting is not None:
                    waiting.handle._lane.engine.rejoin(waiting)
        return self.result()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the handle has ended; False if ``timeout`` seconds passed first.

        Like `result`, it needs a run going on (here or in another thread).
        """
        if self._status in _TERMINAL:
            return True
        try:
            self._wait(timeout)
        except TimeoutError:
            return False
        return True

    def _wait(self, timeout: float | None) -> None:
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
        self._add_waiter(event)
        if self._status in _TERMINAL:
            return
        waiting = _waiting_attempt()  # a task body waits: its slot is given back meanwhile
        if waiting is not None:
            waiting.handle._lane.engine.secede(waiting)
        try:
            if not event.wait(timeout):
                self._remove_waiter(event)
                raise TimeoutError(
                    f"task {self.id!r} did not finish within {timeout} s "
                    f"(status {self._status.value})"
                )
        finally:
            if waiting is not None:
                waiting.handle._lane.engine.rejoin(waiting)

    def _add_waiter(self, waiter: Any) -> None:
        x = self._extra()
        with _flag_lock:
            if x.waiters is None:
                x.waiters = []
            x.waiters.append(waiter)
        if self._status in _TERMINAL:  # finished while we registered: wake ourselves
            self._wake()

    def _remove_waiter(self, waiter: Any) -> None:
        x = self._extra()
        with _flag_lock:
            if x.waiters is not None and waiter in x.waiters:
                x.waiters.remove(waiter)

    def _wake(self) -> None:
        """Wake every waiter; called once the status is terminal (from any thread)."""
        x = self._extra()
        with _flag_lock:
            waiters, x.waiters = x.waiters, None
        for waiter in waiters or ():
            if isinstance(waiter, threading.Event):
                waiter.set()
            else:
                loop, future = waiter
                # A loop closed since its await began has nobody left to wake.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_resolve, future)

    # -- cancellation ------------------------------------------------------------------
    def cancel(self) -> bool:
        """Request cancellation; returns False if the handle had already finished.

        A task that has not started never starts and ends ``CANCELLED``. A running async
        task gets `asyncio.CancelledError` at its next ``await``; a running thread task sees
        ``current_task().cancel_event`` set.
        """
        if self._status in _TERMINAL:
            return False
        self._set_cancel_flag()
        self._lane.engine.request_cancel(self)
        return True

    def _set_cancel_flag(self) -> None:
        x = self._extra()
        with _flag_lock:
            x.cancel_requested = True
            event = x.cancel_event
        if event is not None:
            event.set()

    def _cancel_flag(self) -> threading.Event:
        """The handle's cancel event, created on first use (most tasks never look)."""
        x = self._extra()
        with _flag_lock:
            event = x.cancel_event
            if event is None:
                event = x.cancel_event = threading.Event()
                if x.cancel_requested:
                    event.set()
        return event

    def __repr__(self) -> str:
        return f"<TaskHandle {self.id!r} task={self._task.name!r} status={self._status.value}>"


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

"""`TaskHandle`: one submission of a task to a runner, and the way to its outcome."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import _waits
from ._errors import TaskCancelledError
from ._extra import LOCK as _flag_lock
from ._extra import RELEASED as _RELEASED
from ._extra import Extra as _Extra
from ._outputs import OutputAttribute as _OutputAttribute
from ._types import TERMINAL as _TERMINAL
from ._types import Progress, TaskResult, TaskStatus

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

    # Waiting for the end (``await handle``, `result` and `wait` blocking a thread) and
    # waking the waiters: the functions of `_waits`, bound as methods (no call between).
    __await__ = _waits.await_end
    _wait = _waits.block
    _add_waiter = _waits.add_waiter
    _remove_waiter = _waits.remove_waiter
    _wake = _waits.wake

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

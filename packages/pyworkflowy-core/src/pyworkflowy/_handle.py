"""`TaskHandle`: one submission of a task to a runner, and the way to its outcome."""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from ._errors import TaskCancelledError
from ._types import TaskResult, TaskStatus

if TYPE_CHECKING:
    from ._runner import TaskRunner, _Lane
    from ._task import Task

__all__ = ["TaskHandle"]

_PENDING = TaskStatus.PENDING
_COMPLETED = TaskStatus.COMPLETED
_TERMINAL = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.SKIPPED}
)
_flag_lock = threading.Lock()


class TaskHandle:
    """A submitted task: its status, attempts and, once done, its value or error.

    Handles are awaitable (``await handle``) and thread-safe to wait on
    (``handle.result(timeout=...)``).
    """

    __slots__ = (
        "__weakref__",
        "_args",
        "_attempts",
        "_blocker",
        "_cancel_event",
        "_cancel_requested",
        "_dependents",
        "_error",
        "_exec",
        "_fingerprint",
        "_finished_at",
        "_kwargs",
        "_lane",
        "_payload",
        "_pending",
        "_runner",
        "_started_at",
        "_status",
        "_task",
        "_timer",
        "_value",
        "_waiters",
        "deps",
        "id",
    )

    def __init__(
        self,
        runner: TaskRunner,
        task: Task,
        handle_id: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        lane: _Lane,
        deps: tuple[TaskHandle, ...],
    ) -> None:
        self._runner = runner
        self._task = task
        self.id = handle_id
        self._args = args
        self._kwargs = kwargs
        self._lane = lane
        self.deps = deps
        self._status = _PENDING
        self._attempts = 0
        self._pending = 0
        self._dependents: TaskHandle | list[TaskHandle] | None = None
        self._blocker: TaskHandle | None = None
        self._value: Any = None
        self._error: BaseException | None = None
        self._started_at: float | None = None
        self._finished_at: float | None = None
        self._exec: Any = None
        self._payload: Any = None
        self._fingerprint: str | None = None
        self._timer: Any = None
        self._waiters: list[Any] | None = None
        self._cancel_requested = False
        self._cancel_event: threading.Event | None = None

    # -- read side ---------------------------------------------------------------------
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

    def done(self) -> bool:
        """True once the status is terminal (completed, failed, cancelled or skipped)."""
        return self._status in _TERMINAL

    def get_result(self) -> TaskResult:
        """A `TaskResult` snapshot of this handle; never raises and never waits."""
        return TaskResult(
            self._task.name,
            self._status,
            self._value,
            self._error,
            self._attempts,
            self._started_at,
            self._finished_at,
        )

    def result(self, timeout: float | None = None) -> Any:
        """The return value; raises the task's failure. Waits up to ``timeout`` seconds.

        Raises `TimeoutError` if the handle is not done in time.
        """
        if self._status not in _TERMINAL:
            self._wait(timeout)
        if self._status is _COMPLETED:
            return self._value
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

    def __await__(self) -> Generator[Any, None, Any]:
        if self._status not in _TERMINAL:
            import asyncio

            loop = asyncio.get_running_loop()
            future = loop.create_future()
            self._add_waiter((loop, future))
            if self._status not in _TERMINAL:
                yield from future.__await__()
        return self.result()

    def _wait(self, timeout: float | None) -> None:
        runner = self._runner
        if runner._on_loop_thread():
            raise RuntimeError(
                f"handle.result() on the runner's own event loop would block it: "
                f"use 'await handle' for {self.id!r}"
            )
        if timeout is None and not runner.running:
            raise RuntimeError(
                f"task {self.id!r} is {self._status.value} and its runner is not running: "
                "call runner.run() first, or pass timeout= to wait for another thread's run"
            )
        event = threading.Event()
        self._add_waiter(event)
        if self._status not in _TERMINAL and not event.wait(timeout):
            raise TimeoutError(
                f"task {self.id!r} did not finish within {timeout} s (status {self._status.value})"
            )

    def _add_waiter(self, waiter: Any) -> None:
        with _flag_lock:
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
        if self._status in _TERMINAL:  # finished while we registered: wake ourselves
            self._wake()

    def _wake(self) -> None:
        """Wake every waiter; called once the status is terminal (from any thread)."""
        with _flag_lock:
            waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if isinstance(waiter, threading.Event):
                waiter.set()
            else:
                loop, future = waiter
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
        self._runner._request_cancel(self)
        return True

    def _set_cancel_flag(self) -> None:
        with _flag_lock:
            self._cancel_requested = True
            event = self._cancel_event
        if event is not None:
            event.set()

    def _cancel_flag(self) -> threading.Event:
        """The handle's cancel event, created on first use (most tasks never look)."""
        with _flag_lock:
            event = self._cancel_event
            if event is None:
                event = self._cancel_event = threading.Event()
                if self._cancel_requested:
                    event.set()
        return event

    def __repr__(self) -> str:
        return f"<TaskHandle {self.id!r} task={self._task.name!r} status={self._status.value}>"


def _resolve(future: Any) -> None:
    if not future.done():
        future.set_result(None)

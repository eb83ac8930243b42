"""Small public value types: statuses, option literals, results and the task context."""

from __future__ import annotations

import enum
import threading
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:
    from ._handle import TaskHandle

__all__ = [
    "Backend",
    "Backoff",
    "DepFailurePolicy",
    "OnTaskError",
    "TaskContext",
    "TaskResult",
    "TaskStatus",
]

Backend = Literal["asyncio", "thread", "process"]
Backoff = Literal["none", "linear", "exponential"]
DepFailurePolicy = Literal["fail", "skip", "run-anyway"]
OnTaskError = Literal["raise", "log", "continue"]

BACKOFFS: tuple[str, ...] = ("none", "linear", "exponential")
DEP_FAILURE_POLICIES: tuple[str, ...] = ("fail", "skip", "run-anyway")
ON_TASK_ERROR: tuple[str, ...] = ("raise", "log", "continue")


class TaskStatus(enum.StrEnum):
    """Where a task handle is in its life; the last four are terminal."""

    PENDING = "pending"
    READY = "ready"
    RUNNING = "running"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

    @property
    def terminal(self) -> bool:
        """True once the status can no longer change."""
        return self in TERMINAL


TERMINAL = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.SKIPPED}
)


class TaskResult(NamedTuple):
    """The outcome of one handle: an immutable snapshot that never raises."""

    name: str
    status: TaskStatus
    value: Any = None
    error: BaseException | None = None
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def ok(self) -> bool:
        """True when the task completed."""
        return self.status is TaskStatus.COMPLETED


class TaskContext:
    """What a running task body can learn about itself through `current_task()`."""

    __slots__ = ("_handle", "attempt")

    def __init__(self, handle: TaskHandle, attempt: int) -> None:
        self._handle = handle
        self.attempt = attempt

    @property
    def name(self) -> str:
        """The task's name."""
        return self._handle.name

    @property
    def id(self) -> str:
        """The handle id (deterministic: ``key`` or ``"{name}#{n}"``)."""
        return self._handle.id

    @property
    def cancel_event(self) -> threading.Event:
        """Set when cancellation of this handle was requested; poll it in long loops."""
        return self._handle._cancel_flag()

    def __repr__(self) -> str:
        return f"TaskContext(name={self.name!r}, id={self.id!r}, attempt={self.attempt})"

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
"""Where a task body runs: ``"asyncio"`` (the default), ``"thread"`` or ``"process"``."""
Backoff = Literal["none", "linear", "exponential"]
"""The delay before a retry: none, ``backoff_base * k`` or ``backoff_base * 2**(k-1)``."""
DepFailurePolicy = Literal["fail", "skip", "run-anyway"]
"""What a task does when a dependency did not complete (``on_dep_failure=``)."""
OnTaskError = Literal["raise", "log", "continue"]
"""What the runner does after a task fails (``TaskRunner(on_task_error=...)``)."""

BACKOFFS: tuple[str, ...] = ("none", "linear", "exponential")
DEP_FAILURE_POLICIES: tuple[str, ...] = ("fail", "skip", "run-anyway")
ON_TASK_ERROR: tuple[str, ...] = ("raise", "log", "continue")


class TaskStatus(enum.StrEnum):
    """Where a task handle is in its life; the last four are terminal."""

    PENDING = "pending"
    """Submitted; waiting for its dependencies."""
    READY = "ready"
    """Its dependencies are done; waiting for a slot of its backend."""
    RUNNING = "running"
    """An attempt is running."""
    RETRYING = "retrying"
    """An attempt failed; waiting for the backoff delay before the next one."""
    COMPLETED = "completed"
    """Returned a value (terminal)."""
    FAILED = "failed"
    """Failed for good: its error is on the handle (terminal)."""
    CANCELLED = "cancelled"
    """Cancelled, or ended unrun because the run was aborted (terminal)."""
    SKIPPED = "skipped"
    """Not run: a dependency did not complete and its policy says skip (terminal)."""

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
    """The task's name."""
    status: TaskStatus
    """The handle's status when the snapshot was taken."""
    value: Any = None
    """The return value, if the task completed."""
    error: BaseException | None = None
    """The failure (or the cancellation or skip reason); ``None`` if it completed."""
    attempts: int = 0
    """How many attempts were started."""
    started_at: float | None = None
    """When the first attempt started (``time.time()``), or ``None``."""
    finished_at: float | None = None
    """When the handle ended (``time.time()``), or ``None``."""

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
        """The attempt running now: 1 for the first, 2 for the first retry, ..."""

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

"""Context variables: the task being run (for `current_task`) and the active runner."""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING

from ._types import TaskContext

if TYPE_CHECKING:
    from ._runner import TaskRunner
    from .backends import Attempt

__all__ = ["current_task", "get_current_runner"]

# An asyncio body binds its Attempt itself: its TaskContext is made only if asked for.
_current_task: contextvars.ContextVar[TaskContext | Attempt | None] = contextvars.ContextVar(
    "pyworkflowy_current_task", default=None
)
_current_runner: contextvars.ContextVar[TaskRunner | None] = contextvars.ContextVar(
    "pyworkflowy_current_runner", default=None
)


def current_task() -> TaskContext | None:
    """The `TaskContext` of the task body running here, or ``None`` outside a task."""
    value = _current_task.get()
    if value is None or isinstance(value, TaskContext):
        return value
    return value.task_context()


def get_current_runner() -> TaskRunner | None:
    """The runner bound by the innermost ``with TaskRunner()`` block, or ``None``."""
    return _current_runner.get()

"""pyworkflowy: async and parallel Python tasks with dependencies, retries and timeouts."""

__path__ = __import__("pkgutil").extend_path(__path__, __name__)

from typing import Any

from ._checkpoint import Checkpointer
from ._context import current_task, get_current_runner
from ._errors import (
    CheckpointError,
    CycleError,
    DependencyFailedError,
    RetryExhaustedError,
    TaskCancelledError,
    TaskError,
    TaskTimeoutError,
)
from ._handle import TaskHandle
from ._runner import TaskRunner
from ._task import Task, TaskBase, task
from ._types import (
    Backend,
    Backoff,
    DepFailurePolicy,
    OnTaskError,
    TaskContext,
    TaskResult,
    TaskStatus,
)

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "Backoff",
    "CheckpointError",
    "Checkpointer",
    "CycleError",
    "DepFailurePolicy",
    "DependencyFailedError",
    "OnTaskError",
    "RetryExhaustedError",
    "Task",
    "TaskBase",
    "TaskCancelledError",
    "TaskContext",
    "TaskError",
    "TaskHandle",
    "TaskResult",
    "TaskRunner",
    "TaskStatus",
    "TaskTimeoutError",
    "current_task",
    "get_current_runner",
    "task",
]

# Names that live in optional distributions, re-exported lazily when those are installed.
_OPTIONAL = {
    "JSONCheckpointer": ("pyworkflowy.persist", "pyworkflowy-core[persist]"),
    "PickleCheckpointer": ("pyworkflowy.persist", "pyworkflowy-core[persist]"),
    "SQLiteCheckpointer": ("pyworkflowy.persist", "pyworkflowy-core[persist]"),
    "Scheduler": ("pyworkflowy.schedule", "pyworkflowy-core[cron]"),
}


def __getattr__(name: str) -> Any:
    if name in _OPTIONAL:
        module_name, extra = _OPTIONAL[name]
        import importlib

        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ImportError(
                f"{name} lives in {module_name}, which is not installed: pip install '{extra}'"
            ) from exc
        return getattr(module, name)
    raise AttributeError(f"module 'pyworkflowy' has no attribute {name!r}")

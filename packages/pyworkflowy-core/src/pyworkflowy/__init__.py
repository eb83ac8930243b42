"""pyworkflowy: async and parallel Python tasks with dependencies, retries and timeouts."""

# The other distributions' subpackages (pyworkflowy.process, ...) may live in other
# directories of sys.path (editable installs): extend_path finds them. It does what
#     __path__ = __import__("pkgutil").extend_path(__path__, __name__)
# does (the line above is how tools such as Griffe recognise this layout), without the
# 10 ms that importing pkgutil costs.
from ._nspath import extend_path

__path__ = extend_path(__path__, __name__)

from typing import TYPE_CHECKING, Any

from . import backends
from ._context import current_task, get_current_runner
from ._errors import (
    CheckpointError,
    CycleError,
    DependencyFailedError,
    InDoubtError,
    RetryExhaustedError,
    TaskCancelledError,
    TaskError,
    TaskTimeoutError,
)
from ._handle import TaskHandle
from ._optional import install_hint_finder, missing
from ._options import TaskOptions
from ._runner import TaskRunner
from ._task import AsyncTask, Task, TaskBase, task
from ._types import (
    Backend,
    Backoff,
    DepFailurePolicy,
    OnTaskError,
    Progress,
    TaskContext,
    TaskResult,
    TaskStatus,
)

if TYPE_CHECKING:
    from ._checkpoint import Checkpointer, RecordBatch, RecordColumns
    from ._limits import RateLimit

__version__ = "0.2.0"

__all__ = [
    "AsyncTask",
    "Backend",
    "Backoff",
    "CheckpointError",
    "Checkpointer",
    "CycleError",
    "DepFailurePolicy",
    "DependencyFailedError",
    "InDoubtError",
    "OnTaskError",
    "Progress",
    "RateLimit",
    "RecordBatch",
    "RecordColumns",
    "RetryExhaustedError",
    "Task",
    "TaskBase",
    "TaskCancelledError",
    "TaskContext",
    "TaskError",
    "TaskHandle",
    "TaskOptions",
    "TaskResult",
    "TaskRunner",
    "TaskStatus",
    "TaskTimeoutError",
    "backends",
    "cache",
    "current_task",
    "events",
    "get_current_runner",
    "task",
]

# Names that live in optional distributions, re-exported lazily when those are installed.
_OPTIONAL = {
    "EventHandler": "pyworkflowy.schedule",  # upstream 0.x's names, kept at the top level
    "EventSource": "pyworkflowy.schedule",
    "JSONCheckpointer": "pyworkflowy.persist",
    "PickleCheckpointer": "pyworkflowy.persist",
    "SQLiteCheckpointer": "pyworkflowy.persist",
    "Scheduler": "pyworkflowy.schedule",
}
install_hint_finder()


def __getattr__(name: str) -> Any:
    if name in ("events", "cache"):  # imported on first use: most programs never need them
        import importlib

        return importlib.import_module(f"pyworkflowy.{name}")
    if name == "RateLimit":  # imported when limits are used
        from ._limits import RateLimit

        return RateLimit
    if name in ("Checkpointer", "RecordBatch", "RecordColumns"):  # when checkpointing
        from . import _checkpoint

        return getattr(_checkpoint, name)
    if name in ("Pool", "PoolKind"):  # upstream 0.2-0.4's names, deprecated
        from . import _compat

        return getattr(_compat, name)
    if name in _OPTIONAL:
        import importlib

        module_name = _OPTIONAL[name]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ImportError(f"{name}: {missing(module_name)}") from exc
        return getattr(module, name)
    raise AttributeError(f"module 'pyworkflowy' has no attribute {name!r}")

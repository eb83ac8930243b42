"""The exception classes, importable as ``pyworkflowy.exceptions`` (upstream 0.x's home).

The same classes as ``from pyworkflowy import TaskError, ...``: not copies.

    >>> import pyworkflowy
    >>> from pyworkflowy.exceptions import TaskTimeoutError
    >>> TaskTimeoutError is pyworkflowy.TaskTimeoutError
    True
"""

from ._errors import (
    CheckpointError,
    CycleError,
    DependencyFailedError,
    RetryExhaustedError,
    TaskCancelledError,
    TaskError,
    TaskTimeoutError,
)

__all__ = [
    "CheckpointError",
    "CycleError",
    "DependencyFailedError",
    "RetryExhaustedError",
    "TaskCancelledError",
    "TaskError",
    "TaskTimeoutError",
]

"""Errors that only the dask backend raises; all derive from `pyworkflowy.TaskError`."""

from __future__ import annotations

from pyworkflowy import TaskError

__all__ = ["SerializationError", "TaskLostError", "WorkerDiedError"]


class SerializationError(TaskError, TypeError):
    """A task's function or an argument cannot be sent to a dask worker.

    Raised by ``submit`` (nothing is registered then), naming the argument; stored as the
    task's failure when a value put in later (an upstream's output) cannot travel. Never
    retried: the same value would fail again. A `TypeError` too, as `pickle` raises.
    """

    _terminal = True


class TaskLostError(TaskError):
    """Dask dropped an attempt without a result: the scheduler cancelled its future, or
    the client lost the cluster. Retried like any exception (``retries=``)."""


class WorkerDiedError(TaskLostError):
    """The dask worker running an attempt died (dask's `KilledWorker`).

    ``worker`` is the worker's address when dask names it. The original `KilledWorker` is
    the ``__cause__``.
    """

    def __init__(self, message: str, worker: str | None = None) -> None:
        super().__init__(message)
        self.worker = worker

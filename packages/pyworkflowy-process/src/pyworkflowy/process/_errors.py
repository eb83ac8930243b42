"""Errors that only the process backend raises; both derive from `pyworkflowy.TaskError`."""

from __future__ import annotations

from pyworkflowy import TaskError

__all__ = ["SerializationError", "WorkerDiedError"]


class SerializationError(TaskError, TypeError):
    """A task's function, an argument or its result cannot cross the process boundary.

    Raised by ``submit`` for the function and arguments (nothing is registered then), and
    stored as the task's failure when a result (or an upstream handle's result) cannot
    travel. Never retried: the same value would fail again. It is a `TypeError` too, the
    type `pickle` itself uses for unpicklable objects.
    """

    _terminal = True


class WorkerDiedError(TaskError):
    """The worker process running a task died: ``os._exit``, a signal, the OOM killer.

    ``exitcode`` follows `subprocess.Popen.returncode`: the exit status, or minus the
    number of the signal that killed the process.
    """

    def __init__(self, message: str, exitcode: int | None = None) -> None:
        super().__init__(message)
        self.exitcode = exitcode

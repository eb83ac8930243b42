"""`FinishedHandle`: what a process task receives for a `TaskHandle` argument.

A handle cannot travel to a worker process (it belongs to the runner), but a finished one
can be described: its id, status and outcome. Passing an upstream handle to a task and
calling ``.result()`` inside therefore works on the process backend as on the others.
"""

from __future__ import annotations

from typing import Any

from pyworkflowy import TaskCancelledError, TaskResult, TaskStatus

__all__ = ["FinishedHandle"]


class FinishedHandle:
    """A read-only copy of a finished `TaskHandle`, as a worker process sees it."""

    __slots__ = ("_result", "id")

    def __init__(self, handle_id: str, result: TaskResult) -> None:
        self.id = handle_id
        """The handle id, as in the parent."""
        self._result = result

    @property
    def name(self) -> str:
        """The task's name."""
        return self._result.name

    @property
    def status(self) -> TaskStatus:
        """The handle's final status."""
        return self._result.status

    @property
    def attempts(self) -> int:
        """How many attempts the task made."""
        return self._result.attempts

    def done(self) -> bool:
        """Always true: only finished handles travel."""
        return True

    def cancel(self) -> bool:
        """Always false, as for any finished handle."""
        return False

    def result(self, timeout: float | None = None) -> Any:
        """The value; raises the task's failure, like `TaskHandle.result`."""
        error = self.exception()
        if error is not None:
            raise error
        return self._result.value

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The failure, or ``None`` if the task completed."""
        if self._result.status is TaskStatus.COMPLETED:
            return None
        error = self._result.error
        if error is None:
            return TaskCancelledError(f"task {self.id!r} was {self._result.status}")
        return error

    def get_result(self) -> TaskResult:
        """The outcome as a `TaskResult`; never raises."""
        return self._result

    def __repr__(self) -> str:
        return f"<FinishedHandle {self.id!r} status={self._result.status.value}>"

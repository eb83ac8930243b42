"""The exception hierarchy: everything pyworkflowy raises derives from `TaskError`."""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "CycleError",
    "DependencyFailedError",
    "InDoubtError",
    "RetryExhaustedError",
    "TaskCancelledError",
    "TaskError",
    "TaskTimeoutError",
]


class TaskError(Exception):
    """Base class of every error pyworkflowy raises; catch it to handle them all."""

    # An attempt that fails with a terminal error ends its task: no retry can help.
    _terminal = False


class TaskTimeoutError(TaskError):
    """An attempt ran past its task's ``timeout=``; timeouts are never retried.

    ``elapsed`` is how long the attempt's body had run, in seconds (``None`` if unknown).
    """

    _terminal = True

    def __init__(self, message: str = "", *, elapsed: float | None = None) -> None:
        super().__init__(message)
        self.elapsed = elapsed


class TaskCancelledError(TaskError):
    """The task was cancelled by ``handle.cancel()``, ``runner.cancel_all()`` or a failed run."""


class CycleError(TaskError, ValueError):
    """Adding a dependency would close a cycle in the task graph."""


class DependencyFailedError(TaskError):
    """A dependency of a task with ``on_dep_failure="fail"`` did not complete.

    ``failed`` names the tasks of the dependencies that had ended without completing,
    ``failed_ids`` gives their handle ids (the same order).
    """

    def __init__(
        self, message: str = "", *, failed: tuple[str, ...] = (), failed_ids: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.failed = tuple(failed)
        self.failed_ids = tuple(failed_ids)
        # (task id, "Type: message") where the failure began, for a one-line log.
        self._origin: tuple[str, str] | None = None

    def _blame(self, upstream_id: str, cause: BaseException | None) -> DependencyFailedError:
        """Chain ``cause`` (the upstream's error) and note where the failure began: in
        O(1), so a chain of dependents never walks the whole chain again."""
        self.__cause__ = cause
        origin = cause._origin if isinstance(cause, DependencyFailedError) else None
        self._origin = origin or (upstream_id, describe(cause))
        return self


def describe(error: BaseException | None) -> str:
    """``"Type: message"`` (or the type alone) of ``error``, for one line of a log."""
    if error is None:
        return "no error recorded"
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class RetryExhaustedError(TaskError):
    """Every attempt failed; the last attempt's exception is the ``__cause__``.

    ``attempts`` is how many attempts were made, the first one included.
    """

    def __init__(self, message: str = "", *, attempts: int = 0) -> None:
        super().__init__(message)
        self.attempts = attempts


class CheckpointError(TaskError):
    """Serialising, writing or reading a checkpoint failed; never retried."""

    _terminal = True


class InDoubtError(CheckpointError):
    """A resumed checkpoint holds tasks marked ``idempotent=False`` that are *in doubt*:
    an attempt started and no outcome was recorded, so it may or may not have taken effect.

    ``in_doubt`` maps each such handle id to its record. Find out whether each took effect,
    then resume with ``rerun_in_doubt=`` those that may run again (or ``True`` for all).
    """

    def __init__(self, message: str, in_doubt: dict[str, dict[str, object]]) -> None:
        super().__init__(message)
        self.in_doubt = in_doubt

"""What a dask attempt's outcome becomes here: dask's errors as pyworkflowy's, and the
records its body logged on the worker relayed to this process's logging."""

from __future__ import annotations

import concurrent.futures
import logging
from typing import Any

from pyworkflowy import TaskCancelledError
from pyworkflowy.backends import Attempt

from ._errors import TaskLostError, WorkerDiedError

__all__ = ["failure", "has_dict", "logger_levels", "relay_logs"]

_log = logging.getLogger("pyworkflowy.dask")


def failure(exc: BaseException, handle_id: str, key: str, stopped: bool) -> BaseException:
    """What to report for a dask error: the body's own exceptions as they are."""
    import asyncio

    from distributed import KilledWorker

    if isinstance(exc, (concurrent.futures.CancelledError, asyncio.CancelledError)):
        if stopped:
            return TaskCancelledError(
                f"task {handle_id!r} was cancelled: its dask future was cancelled and a "
                "body already running was interrupted on its worker"
            )
        error: BaseException = TaskLostError(
            f"dask dropped task {handle_id!r} (key {key!r}) without a result: {exc}"
        )
    elif isinstance(exc, KilledWorker):
        worker = getattr(getattr(exc, "last_worker", None), "address", None)
        where = f"the dask worker {worker}" if worker else "its dask worker"
        error = WorkerDiedError(
            f"{where} died while running task {handle_id!r} (dask's KilledWorker: it "
            f"gave up after {getattr(exc, 'allowed_failures', 0) + 1} worker death(s); "
            "see that worker's log)",
            worker,
        )
    else:
        return exc
    error.__cause__ = exc
    return error


def has_dict(exc: BaseException) -> bool:
    return isinstance(getattr(exc, "__dict__", None), dict)


def relay_logs(attempt: Attempt, records: Any) -> None:
    """The records a body logged on its worker: to this process's logging."""
    if not isinstance(records, list):
        return
    for data in records:
        try:
            attempt.log(logging.makeLogRecord(data))
        except Exception as exc:  # a record that cannot be rebuilt costs no outcome
            _log.warning("task %r: a log record from dask was refused: %s", attempt.handle.id, exc)


def logger_levels() -> tuple[tuple[str, int], ...]:
    """The levels set on this process's loggers (the root's first, as ``""``)."""
    levels = [("", logging.getLogger().level)]
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET:
            levels.append((name, logger.level))
    return tuple(levels)

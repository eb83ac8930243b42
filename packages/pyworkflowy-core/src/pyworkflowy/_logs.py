"""What the runner logs, and the logger task bodies get (``current_task().logger``).

The runner logs on the ``pyworkflowy`` logger, bodies on ``pyworkflowy.task``; every
record about a task carries its ``task_id``, ``task_name`` and ``attempt`` as attributes
(``extra``), so formatters and log aggregators can filter by task. Nothing here runs on the
per-task path of a task that succeeds: only retries and failures are logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from ._errors import DependencyFailedError, describe

if TYPE_CHECKING:
    from ._handle import TaskHandle

__all__ = [
    "TaskLogger",
    "dependency_failed",
    "failed",
    "fields",
    "portable",
    "relay",
    "retrying",
]

runner_logger = logging.getLogger("pyworkflowy")
TASK_LOGGER = "pyworkflowy.task"


def fields(task_id: str, task_name: str, attempt: int) -> dict[str, Any]:
    """The ``extra`` of a record about one attempt of a task."""
    return {"task_id": task_id, "task_name": task_name, "attempt": attempt}


def retrying(h: TaskHandle, attempt: int, error: BaseException, delay: float) -> None:
    """Attempt ``attempt`` failed with ``error``; the next starts in ``delay`` seconds."""
    if runner_logger.isEnabledFor(logging.WARNING):
        runner_logger.warning(
            "task %r attempt %d failed: %s; retrying in %g s",
            h.id,
            attempt,
            describe(error),
            delay,
            extra=fields(h.id, h.name, attempt),
        )


def failed(h: TaskHandle) -> None:
    """``h`` failed for good: its own failure at ERROR with the traceback; a dependency's
    failure in one WARNING line naming where it started (not its traceback again)."""
    error = h._error
    if isinstance(error, DependencyFailedError) and h._attempts == 0:
        dependency_failed(h, error)
        return
    if runner_logger.isEnabledFor(logging.ERROR):
        runner_logger.error(
            "task %r failed: %s",
            h.id,
            describe(error),
            exc_info=error,
            extra=fields(h.id, h.name, h._attempts),
        )


def dependency_failed(h: TaskHandle, error: DependencyFailedError) -> None:
    if not runner_logger.isEnabledFor(logging.WARNING):
        return
    origin = error._origin
    if origin is None:
        runner_logger.warning("%s", error, extra=fields(h.id, h.name, 0))
        return
    extra = fields(h.id, h.name, 0)
    if origin[0] in error.failed_ids:  # the dependency itself failed: just say how
        runner_logger.warning("%s: %s", error, origin[1], extra=extra)
    else:
        runner_logger.warning("%s; the failure started at task %r: %s", error, *origin, extra=extra)


class TaskLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """``current_task().logger``: the ``pyworkflowy.task`` logger, its records carrying
    ``task_id``, ``task_name`` and ``attempt`` (an ``extra=`` of the call is added to them).
    """

    def __init__(self, task_id: str, task_name: str, attempt: int) -> None:
        super().__init__(logging.getLogger(TASK_LOGGER), fields(task_id, task_name, attempt))

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = kwargs.get("extra")
        base: Mapping[str, object] = self.extra or {}
        kwargs["extra"] = dict(base) if extra is None else {**base, **extra}
        return msg, kwargs


def relay(record: logging.LogRecord, task_id: str, task_name: str, attempt: int) -> None:
    """`Attempt.log`: hand a record logged elsewhere to the logger it names, here."""
    attrs = record.__dict__
    attrs.setdefault("task_id", task_id)
    attrs.setdefault("task_name", task_name)
    attrs.setdefault("attempt", attempt)
    name = record.name
    logger = logging.getLogger(None if name == "root" else name)
    if logger.isEnabledFor(record.levelno):
        logger.handle(record)


def portable(record: logging.LogRecord) -> dict[str, Any]:
    """`pyworkflowy.backends.portable_record`."""
    import pickle

    data = dict(record.__dict__)
    data["msg"], data["args"] = record.getMessage(), None
    if record.exc_info and not record.exc_text:
        data["exc_text"] = _formatter.formatException(record.exc_info)
    data["exc_info"] = None
    data.pop("message", None)
    try:
        pickle.dumps(data)
    except Exception:
        for key, value in data.items():
            try:
                pickle.dumps(value)
            except Exception:
                data[key] = repr(value)
    return data


_formatter = logging.Formatter()

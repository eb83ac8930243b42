"""Small public value types: statuses, option literals, results and the task context."""

from __future__ import annotations

import enum
import threading
from typing import TYPE_CHECKING, Any, Generic, Literal, NamedTuple, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._logs import TaskLogger
    from .backends import Attempt

__all__ = [
    "Backend",
    "Backoff",
    "DepFailurePolicy",
    "OnTaskError",
    "Progress",
    "TaskContext",
    "TaskResult",
    "TaskStatus",
]

Backend = Literal["asyncio", "thread", "process"]
"""The built-in backend names: ``"asyncio"`` (the default), ``"thread"`` or ``"process"``.

Any other name works too when the runner has a backend of that name (``backends=`` or the
``pyworkflowy.backends`` entry-point group)."""
Backoff = Literal["none", "linear", "exponential"]
"""The delay before a retry: none, ``backoff_base * k`` or ``backoff_base * 2**(k-1)``."""
DepFailurePolicy = Literal["fail", "skip", "run-anyway"]
"""What a task does when a dependency did not complete (``on_dep_failure=``)."""
OnTaskError = Literal["raise", "log", "continue"]
"""What the runner does after a task fails (``TaskRunner(on_task_error=...)``)."""

ON_TASK_ERROR: tuple[str, ...] = ("raise", "log", "continue")


class TaskStatus(enum.StrEnum):
    """Where a task handle is in its life; the last four are terminal."""

    PENDING = "pending"
    """Submitted; waiting for its dependencies."""
    READY = "ready"
    """Its dependencies are done; waiting for a slot of its backend."""
    RUNNING = "running"
    """An attempt is running."""
    RETRYING = "retrying"
    """An attempt failed; waiting for the backoff delay before the next one."""
    COMPLETED = "completed"
    """Returned a value (terminal)."""
    FAILED = "failed"
    """Failed for good: its error is on the handle (terminal)."""
    CANCELLED = "cancelled"
    """Cancelled, or ended unrun because the run was aborted (terminal)."""
    SKIPPED = "skipped"
    """Not run: a dependency did not complete and its policy says skip (terminal)."""

    @property
    def terminal(self) -> bool:
        """True once the status can no longer change."""
        return self in TERMINAL


TERMINAL = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.SKIPPED}
)


_R = TypeVar("_R")


class TaskResult(NamedTuple, Generic[_R]):
    """The outcome of one handle: an immutable snapshot that never raises."""

    name: str
    """The task's name."""
    status: TaskStatus
    """The handle's status when the snapshot was taken."""
    value: _R | None = None
    """The return value, if the task completed."""
    error: BaseException | None = None
    """The failure (or the cancellation or skip reason); ``None`` if it completed."""
    attempts: int = 0
    """How many attempts were started."""
    started_at: float | None = None
    """When the first attempt started (``time.time()``), or ``None``."""
    finished_at: float | None = None
    """When the handle ended (``time.time()``), or ``None``."""

    @property
    def ok(self) -> bool:
        """True when the task completed."""
        return self.status is TaskStatus.COMPLETED

    @property
    def duration(self) -> float | None:
        """``finished_at - started_at`` in seconds; ``None`` if the task never started."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


class Progress(NamedTuple):
    """What a task body last reported through ``current_task().report_progress``."""

    done: float
    """Units done so far."""
    total: float | None = None
    """Units in all, if known."""
    message: str | None = None
    """A short note on what it is doing."""

    @property
    def fraction(self) -> float | None:
        """``done / total`` (0.0 to 1.0 when ``done <= total``), or ``None`` without a total."""
        return None if not self.total else self.done / self.total

    # Upstream pyworkflowy 0.2-0.4's handle.progress was a float (the fraction). Code that
    # treats a Progress as a number gets `fraction` (``done`` without a total) with a
    # DeprecationWarning; as a tuple it behaves as the NamedTuple it is.
    def _as_float(self) -> float:
        import warnings

        warnings.warn(
            "handle.progress is a Progress(done, total, message), not a float as in upstream "
            "pyworkflowy 0.x; use handle.progress.fraction",
            DeprecationWarning,
            stacklevel=3,
        )
        fraction = self.fraction
        return float(self.done if fraction is None else fraction)

    def __float__(self) -> float:
        return self._as_float()

    def __round__(self, ndigits: int | None = None) -> float:
        return round(self._as_float(), ndigits)

    def __format__(self, spec: str) -> str:
        if spec and spec[-1] in "eEfFgG%n":
            return format(self._as_float(), spec)
        return format(str(self), spec)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            return self._as_float() == other
        return tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = tuple.__hash__

    def __lt__(self, other: Any) -> bool:
        if isinstance(other, (int, float)):
            return self._as_float() < other
        return tuple.__lt__(self, other)

    def __le__(self, other: Any) -> bool:
        if isinstance(other, (int, float)):
            return self._as_float() <= other
        return tuple.__le__(self, other)

    def __gt__(self, other: Any) -> bool:
        if isinstance(other, (int, float)):
            return self._as_float() > other
        return tuple.__gt__(self, other)

    def __ge__(self, other: Any) -> bool:
        if isinstance(other, (int, float)):
            return self._as_float() >= other
        return tuple.__ge__(self, other)

    def __mul__(self, other: Any) -> Any:  # a fraction times 100, not a repeated tuple
        if isinstance(other, float) or (isinstance(other, int) and not isinstance(other, bool)):
            return self._as_float() * other
        return NotImplemented

    __rmul__ = __mul__


class TaskContext:
    """What a running task body can learn about itself through `current_task()`.

    The runner makes one per attempt. A backend that runs bodies elsewhere (a worker
    process, a cluster) builds its own with the same values and binds it around the body
    with `pyworkflowy.backends.task_context`.
    """

    __slots__ = (
        "_attempt",
        "_cancel",
        "_id",
        "_key",
        "_logger",
        "_name",
        "_on_progress",
        "attempt",
    )

    def __init__(
        self,
        name: str,
        id: str,
        attempt: int,
        cancel_event: threading.Event | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        self._attempt: Attempt | None = None
        self._key = idempotency_key
        self._name, self._id = name, id
        self.attempt = attempt
        """The attempt running now: 1 for the first, 2 for the first retry, ..."""
        self._cancel = cancel_event
        self._on_progress = on_progress
        self._logger: TaskLogger | None = None

    @classmethod
    def _of(cls, attempt: Attempt) -> TaskContext:
        context = cls.__new__(cls)
        context._attempt, context.attempt = attempt, attempt.number
        context._logger = None
        return context

    @property
    def name(self) -> str:
        """The task's name."""
        attempt = self._attempt
        return self._name if attempt is None else attempt.handle.name

    @property
    def id(self) -> str:
        """The handle id (deterministic: ``key`` or ``"{name}#{n}"``)."""
        attempt = self._attempt
        return self._id if attempt is None else attempt.handle.id

    @property
    def idempotency_key(self) -> str:
        """The same string for every attempt of this handle, and across resumes of its
        checkpoint: hand it to services that deduplicate requests (payments, e-mails), so
        that a body run again after a crash or a retry is recognised as a repeat.

        It is ``"{run id}:{handle id}"``; the run id is kept by the start records a
        checkpoint holds (``checkpoint_interval=0``, a durable checkpointer such as
        SQLite, ``record_starts=True``, or ``@task(idempotent=False)``). Elsewhere a
        resumed run makes a new one: reading the key then warns.
        """
        attempt = self._attempt
        if attempt is None:
            if self._key is None:
                raise RuntimeError(
                    f"task {self._id!r} has no idempotency key: the backend that runs it "
                    "must pass TaskContext(..., idempotency_key=attempt.idempotency_key)"
                )
            return self._key
        engine = attempt.handle._lane.engine
        journal = engine.journal
        if journal is not None and not journal.starts and attempt.task.options.idempotent:
            from ._starts import warn_key_unrecorded

            warn_key_unrecorded(engine, attempt)
        return attempt.idempotency_key

    @property
    def logger(self) -> TaskLogger:
        """A logger for the body (a `logging.LoggerAdapter` of the ``pyworkflowy.task``
        logger): its records carry ``task_id``, ``task_name`` and ``attempt`` as attributes,
        for formatters and log aggregators to filter by. In a worker process they reach the
        parent's handlers (see the process backend)."""
        logger = self._logger
        if logger is None:
            from ._logs import TaskLogger

            logger = self._logger = TaskLogger(self.id, self.name, self.attempt)
        return logger

    @property
    def cancel_event(self) -> threading.Event:
        """Set when cancellation of this handle was requested; poll it in long loops."""
        attempt = self._attempt
        if attempt is not None:
            return attempt.cancel_event
        if self._cancel is None:
            self._cancel = threading.Event()
        return self._cancel

    def report_progress(
        self, done: float, total: float | None = None, message: str | None = None
    ) -> None:
        """Say how far the body has got: sets ``handle.progress``, emits a `TaskProgress`.

        Cheap enough to call in a loop: observers get the latest figures, not every call.
        """
        progress = make_progress(done, total, message)
        attempt = self._attempt
        if attempt is not None:
            attempt.handle._lane.engine.progress(attempt, progress)
        elif self._on_progress is not None:
            self._on_progress(progress)

    def update_progress(self, fraction: float, message: str | None = None) -> None:
        """Deprecated (upstream pyworkflowy 0.2-0.4): ``report_progress(fraction, 1.0, message)``.

        ``fraction`` is clamped to 0.0-1.0, as upstream did.
        """
        import warnings

        warnings.warn(
            "TaskContext.update_progress(fraction, message) is upstream pyworkflowy 0.x's "
            "spelling; use current_task().report_progress(done, total, message)",
            DeprecationWarning,
            stacklevel=2,
        )
        from ._validate import is_number

        if not is_number(fraction) or fraction != fraction:
            raise ValueError(f"update_progress: fraction must be a number, got {fraction!r}")
        attempt = self._attempt
        if message is None and attempt is not None:  # upstream kept the last message
            last = attempt.handle.progress
            message = None if last is None else last.message
        self.report_progress(min(max(float(fraction), 0.0), 1.0), 1.0, message)

    async def offload(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Deprecated (upstream 0.4): run sync ``fn`` on a thread; use `asyncio.to_thread`.

        Upstream's ``pool=`` keyword is accepted and ignored.
        """
        import asyncio
        import warnings

        warnings.warn(
            "TaskContext.offload(fn, ...) is upstream pyworkflowy 0.4's spelling; use "
            "await asyncio.to_thread(fn, ...)",
            DeprecationWarning,
            stacklevel=2,
        )
        kwargs.pop("pool", None)
        return await asyncio.to_thread(fn, *args, **kwargs)

    def __repr__(self) -> str:
        return f"TaskContext(name={self.name!r}, id={self.id!r}, attempt={self.attempt})"


def make_progress(done: object, total: object = None, message: object = None) -> Progress:
    """A checked `Progress`: numbers >= 0 (a total > 0), a str message."""
    from ._validate import is_number

    if not is_number(done) or not done >= 0:  # type: ignore[operator]
        raise ValueError(f"report_progress: done must be a number >= 0, got {done!r}")
    if total is not None and (not is_number(total) or not total > 0):  # type: ignore[operator]
        raise ValueError(f"report_progress: total must be a number > 0 or None, got {total!r}")
    if message is not None and not isinstance(message, str):
        raise TypeError(f"report_progress: message must be a str or None, got {message!r}")
    return Progress(done, total, message)  # type: ignore[arg-type]

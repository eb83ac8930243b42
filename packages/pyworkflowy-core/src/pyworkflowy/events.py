"""What happens in a run, as small immutable events: watch with ``runner.subscribe(callback)``.

A handle produces `TaskSubmitted` when it joins the graph (then `TaskInDoubt` if a resumed
checkpoint says an attempt of it started and never finished), `TaskStarted` when an attempt
is given to its backend, `TaskRetrying` when an attempt failed and the next one waits
``delay`` seconds, `TaskCached` when a cached result completes it without running, and
`TaskFinished` once it ends (completed, failed, cancelled or
skipped). Waiting for a slot (ready) produces none. A body's
``current_task().report_progress(...)`` produces `TaskProgress`; a run that ends produces
`RunFinished`, and each checkpoint write `CheckpointSaved`.

Events are delivered in order, on the runner's event-loop thread while a run goes on (a
submission made before a run is delivered in the submitting thread), whatever backend ran
the body. A subscriber that raises is logged and unsubscribed; it never breaks the run.
With no subscriber, no event is ever made.

    >>> from pyworkflowy import TaskRunner, events
    >>> seen = []
    >>> with TaskRunner() as runner:
    ...     unsubscribe = runner.subscribe(seen.append)
    ...     handle = runner.submit(pow, 2, 8)
    ...     _ = runner.run()
    >>> [type(event).__name__ for event in seen]
    ['TaskSubmitted', 'TaskStarted', 'TaskFinished', 'RunFinished']
    >>> seen[2].status, seen[2].handle.result()
    (<TaskStatus.COMPLETED: 'completed'>, 256)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ._types import Progress, TaskStatus

if TYPE_CHECKING:
    from ._handle import TaskHandle

__all__ = [
    "CheckpointSaved",
    "Event",
    "Progress",
    "RunFinished",
    "Subscriber",
    "TaskCached",
    "TaskFinished",
    "TaskInDoubt",
    "TaskProgress",
    "TaskRetrying",
    "TaskStarted",
    "TaskSubmitted",
]


class TaskSubmitted(NamedTuple):
    """A handle was added to the runner (status pending)."""

    handle: TaskHandle
    time: float
    """``time.time()`` of the event."""


class TaskInDoubt(NamedTuple):
    """A resumed checkpoint says attempt ``attempt`` of ``handle`` started at
    ``started_at`` and no outcome was recorded: its body may have taken effect, and the
    handle runs again. Follows its `TaskSubmitted`."""

    handle: TaskHandle
    time: float
    attempt: int
    started_at: float | None


class TaskStarted(NamedTuple):
    """Attempt number ``attempt`` (1-based) of ``handle`` was given to its backend."""

    handle: TaskHandle
    time: float
    attempt: int


class TaskCached(NamedTuple):
    """``handle`` (``@task(cache=True)``) completes with the value stored under ``key``,
    without running; its `TaskFinished` follows."""

    handle: TaskHandle
    time: float
    key: str


class TaskRetrying(NamedTuple):
    """Attempt ``attempt`` failed with ``error``; the next one starts after ``delay`` s."""

    handle: TaskHandle
    time: float
    attempt: int
    error: BaseException
    delay: float


class TaskProgress(NamedTuple):
    """The body of ``handle`` reported ``progress`` (also on ``handle.progress``)."""

    handle: TaskHandle
    time: float
    attempt: int
    progress: Progress


class TaskFinished(NamedTuple):
    """``handle`` ended: ``status`` is completed, failed, cancelled or skipped.

    ``error`` is the failure, cancellation or skip reason (``None`` when completed);
    a timeout is a failure with a `TaskTimeoutError`.
    """

    handle: TaskHandle
    time: float
    attempt: int
    status: TaskStatus
    error: BaseException | None


class RunFinished(NamedTuple):
    """``run()``/``arun()`` (or serving) ended; ``counts`` is handles per status."""

    time: float
    counts: Mapping[TaskStatus, int]
    error: BaseException | None
    """The failure that ``run()`` raises (``on_task_error="raise"``), if any."""


class CheckpointSaved(NamedTuple):
    """A checkpoint write stored ``records`` finished handles."""

    time: float
    records: int


Event = (
    TaskSubmitted
    | TaskInDoubt
    | TaskCached
    | TaskStarted
    | TaskRetrying
    | TaskProgress
    | TaskFinished
    | RunFinished
    | CheckpointSaved
)
"""Any of the events above."""

Subscriber = Callable[[Any], object]
"""A callable that takes one event; what it returns is ignored."""

"""`Job` and its builder: a job's options and run state, kept apart from the Scheduler's heap."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, overload

from pyworkflowy import Task, TaskHandle

from ._cron import CronExpression
from ._events import _OnEvent
from ._triggers import _Cron, _Interval, _Once, _seconds, _Trigger
from ._tz import local_time

if TYPE_CHECKING:
    from ._scheduler import Scheduler

__all__ = ["Job", "JobBuilder", "Misfire"]

Misfire = Literal["skip", "coalesce"]
MISFIRE_POLICIES: tuple[str, ...] = ("skip", "coalesce")
_RESERVED = ("depends_on", "key")  # runner.submit options: they never reach the task
HANDLE_HISTORY = 100
logger = logging.getLogger("pyworkflowy.schedule")


class Job:
    """A scheduled task: its schedule, its options and the handles its fires produced."""

    def __init__(
        self,
        scheduler: Scheduler,
        job_id: int,
        trigger: _Trigger,
        task: Task | Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        misfire: str,
        grace: float,
        max_instances: int,
        added: float,
    ) -> None:
        self._scheduler = scheduler
        self._added = added  # clock time the job was added: it cannot be late before that
        self.id = job_id
        self._trigger = trigger
        self.task = task
        self.args = args
        self.kwargs = kwargs
        self.misfire = misfire
        self.grace = grace
        self.max_instances = max_instances
        self._next: float | None = None  # guarded by the scheduler's lock
        self._entry = -1  # the sequence number of this job's live heap entry
        self._active = True
        # Only recent runs are kept: a job firing every second must not grow without bound.
        self._handles: deque[TaskHandle] = deque(maxlen=HANDLE_HISTORY)
        self.fired = 0  # runs started, all time
        self._live: list[TaskHandle] = []

    @property
    def schedule(self) -> str:
        """The schedule in words: ``every 60s``, ``cron '0 * * * *'``, ``at <time>``."""
        return self._trigger.describe(self._scheduler.tz)

    @property
    def next_run_at(self) -> float | None:
        """When the job fires next, in the clock's epoch seconds; ``None`` once it is over."""
        return self._next if self._active else None

    @property
    def next_run(self) -> datetime | None:
        """`next_run_at` as an aware datetime in the scheduler's time zone."""
        t = self.next_run_at
        return None if t is None else local_time(t, self._scheduler.tz)

    @property
    def handles(self) -> list[TaskHandle]:
        """The handles of the job's most recent runs (up to 100), oldest first."""
        return list(self._handles)

    @property
    def active(self) -> bool:
        """False once the job was cancelled or, for a one-shot job, has fired or been skipped."""
        return self._active

    def cancel(self) -> bool:
        """Remove the job from its scheduler (see `Scheduler.cancel`)."""
        return self._scheduler.cancel(self)

    @property
    def task_name(self) -> str:
        """The name of the task the job runs."""
        return self.task.name if isinstance(self.task, Task) else _callable_name(self.task)

    def _label(self) -> str:
        return f"job {self.id} ({self.schedule}, task {self.task_name!r})"

    # -- upstream pyworkflowy 0.x's names -------------------------------------------------
    @property
    def cancelled(self) -> bool:
        """The opposite of `active`: cancelled, or a one-shot job that is over.

        Setting it to True cancels the job (upstream's way); it cannot be set back.
        """
        return not self._active

    @cancelled.setter
    def cancelled(self, value: bool) -> None:
        if value:
            self.cancel()
        elif not self._active:
            raise ValueError(f"{self._label()} is over; add it again to run it again")

    @property
    def one_shot(self) -> bool:
        """True for a job of `Scheduler.at`, which fires once."""
        return isinstance(self._trigger, _Once)

    @property
    def interval(self) -> float | None:
        """The period in seconds of a job of `Scheduler.every`; ``None`` for the others."""
        trigger = self._trigger
        return trigger.seconds if isinstance(trigger, _Interval) else None

    @property
    def cron(self) -> CronExpression | None:
        """The expression of a job of `Scheduler.cron`; ``None`` for the others."""
        trigger = self._trigger
        return trigger.expr if isinstance(trigger, _Cron) else None

    @property
    def next_fire(self) -> float | None:
        """Upstream's name for `next_run_at`."""
        return self.next_run_at

    @property
    def last_handle(self) -> TaskHandle | None:
        """The handle of the job's most recent run, ``None`` before the first."""
        return self._handles[-1] if self._handles else None

    @property
    def event_name(self) -> str | None:
        """The event a job of `Scheduler.on` fires on; ``None`` for the others."""
        trigger = self._trigger
        return trigger.name if isinstance(trigger, _OnEvent) else None

    @property
    def payload_map(self) -> dict[str, str] | None:
        """Payload key to keyword argument, for a job of `Scheduler.on`; ``None`` otherwise."""
        trigger = self._trigger
        return dict(trigger.payload_map) if isinstance(trigger, _OnEvent) else None

    @property
    def is_event_driven(self) -> bool:
        """True for a job of `Scheduler.on`: events fire it, not the clock."""
        return isinstance(self._trigger, _OnEvent)

    def _fire(
        self, when: float, now: float, kwargs: dict[str, Any] | None = None
    ) -> TaskHandle | None:
        # A one-shot added after its time is late from when it was added, not from its time.
        late = now - max(when, self._added)
        if late > self.grace:
            if self.misfire == "skip":
                logger.warning(
                    "%s missed its run at %s by %.3f s (grace %g s): skipped",
                    self._label(),
                    local_time(when, self._scheduler.tz).isoformat(),
                    late,
                    self.grace,
                )
                return None
            logger.info(
                "%s is %.3f s late for its run at %s (grace %g s): running it once "
                "for every run missed",
                self._label(),
                late,
                local_time(when, self._scheduler.tz).isoformat(),
                self.grace,
            )
        live = self._live = [h for h in self._live if not h.done()]
        if len(live) >= self.max_instances:
            logger.warning(
                "%s: %d run(s) still going (max_instances=%d): skipped the run due at %s",
                self._label(),
                len(live),
                self.max_instances,
                local_time(when, self._scheduler.tz).isoformat(),
            )
            return None
        kwargs = self.kwargs if kwargs is None else kwargs
        handle = self._scheduler.runner.submit(self.task, *self.args, **kwargs)
        if len(self._handles) == self._handles.maxlen:
            # leaves the history: the runner may drop it
            self._scheduler.runner.forget(self._handles[0])
        self._handles.append(handle)
        self.fired += 1
        live.append(handle)
        return handle

    def __repr__(self) -> str:
        nxt = self.next_run
        when = "-" if nxt is None else nxt.isoformat()
        return (
            f"<Job {self.id} {self.schedule} task={self.task_name!r} next_run_at={when} "
            f"fired={self.fired}>"
        )


def _callable_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


_P = ParamSpec("_P")


class JobBuilder:
    """What `Scheduler.every`/`cron`/`at` return: ``.do(task, *args, **kwargs)`` adds the job."""

    def __init__(
        self,
        scheduler: Scheduler,
        trigger: _Trigger,
        misfire: str,
        grace: float | None,
        max_instances: int,
    ) -> None:
        self._scheduler = scheduler
        self._trigger = trigger
        self._misfire = misfire
        self._grace = grace
        self._max_instances = max_instances

    @overload
    def do(
        self,
        task: Task[..., Any] | Callable[..., Any],
        /,
        *args: Any,
        payload_map: Any,
        **kwargs: Any,
    ) -> Job: ...
    @overload
    def do(
        self, task: Task[_P, Any] | Callable[_P, Any], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> Job: ...
    def do(self, task: Task[..., Any] | Callable[..., Any], /, *args: Any, **kwargs: Any) -> Job:
        """Schedule ``task(*args, **kwargs)``; every keyword argument goes to the task.

        For a job of `Scheduler.on`, ``payload_map={payload key: keyword}`` adds those
        payload values of each event to the keyword arguments.
        """
        if not callable(task):
            raise TypeError(f"do() needs a task or a callable, got {task!r}")
        reserved = [k for k in _RESERVED if k in kwargs]
        if reserved:
            raise TypeError(
                f"do() got {', '.join(map(repr, reserved))}: those are runner.submit options, "
                "not task arguments; bind a task parameter of that name with functools.partial"
            )
        trigger = self._trigger
        if isinstance(trigger, _OnEvent):  # each job maps the payload its own way
            trigger = _OnEvent(trigger.name, kwargs.pop("payload_map", None))
        return self._scheduler._add(
            trigger, task, args, kwargs, self._misfire, self._grace, self._max_instances
        )

    def __repr__(self) -> str:
        return f"<JobBuilder {self._trigger.describe(self._scheduler.tz)}; call .do(task)>"


def _builder(
    scheduler: Scheduler, trigger: _Trigger, misfire: str, grace: float | None, max_instances: int
) -> JobBuilder:
    if misfire not in MISFIRE_POLICIES:
        raise ValueError(f"misfire must be one of {MISFIRE_POLICIES}, got {misfire!r}")
    if grace is not None:
        grace = _seconds(grace, "grace", 0.0, strict=False)
    if not isinstance(max_instances, int) or isinstance(max_instances, bool) or max_instances < 1:
        raise ValueError(f"max_instances must be an integer >= 1, got {max_instances!r}")
    return JobBuilder(scheduler, trigger, misfire, grace, max_instances)

"""`Scheduler`: interval, cron and one-shot jobs submitted to a `TaskRunner` when due.

Jobs sit in a heap keyed by their next fire time (cancelled jobs are dropped lazily when
they surface), so a tick with nothing due is O(1) and each fire is O(log n). Every time
comes from the injected clock. The background thread waits on a condition until the next
job is due (at most ``tick_seconds``); adding or cancelling a job and `stop` wake it.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Literal

from pyworkflowy import Task, TaskHandle, TaskRunner, current_task, get_current_runner

from ._cron import CronExpression, parse_cron
from ._tz import local_time, resolve_tz, wall_to_instant

if TYPE_CHECKING:
    import asyncio

__all__ = ["Job", "JobBuilder", "Misfire", "Scheduler"]

Misfire = Literal["skip", "coalesce"]
MISFIRE_POLICIES: tuple[str, ...] = ("skip", "coalesce")
_RESERVED = ("depends_on", "key")  # runner.submit options: they never reach the task
logger = logging.getLogger("pyworkflowy.schedule")


def _seconds(value: object, what: str, minimum: float, strict: bool) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number of seconds, got {value!r}")
    if value < minimum or (strict and value == minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{what} must be {relation} {minimum:g} seconds, got {value!r}")
    return float(value)


# -- triggers: when a job is due ---------------------------------------------------------
class _Interval:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def first(self, now: float) -> float:
        return now + self.seconds

    def after(self, due: float, now: float) -> float | None:
        """The next due time in phase with ``due`` that is later than ``now``."""
        step = self.seconds
        missed = math.floor((now - due) / step) + 1 if now >= due else 1
        nxt = due + missed * step
        while nxt <= now:  # float rounding
            nxt += step
        return nxt

    def describe(self, tz: tzinfo) -> str:
        return f"every {self.seconds:g}s"


class _Cron:
    def __init__(self, expr: CronExpression, tz: tzinfo) -> None:
        self.expr = expr
        self.tz = tz

    def first(self, now: float) -> float:
        return self.expr.next_instant(now, self.tz)

    def after(self, due: float, now: float) -> float | None:
        return self.expr.next_instant(max(due, now), self.tz, fired=due)

    def describe(self, tz: tzinfo) -> str:
        return f"cron {self.expr.expression!r}"


class _Once:
    def __init__(self, when: float) -> None:
        self.when = when

    def first(self, now: float) -> float:
        return self.when

    def after(self, due: float, now: float) -> float | None:
        return None

    def describe(self, tz: tzinfo) -> str:
        return f"at {local_time(self.when, tz).isoformat()}"


_Trigger = _Interval | _Cron | _Once


HANDLE_HISTORY = 100


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
    ) -> None:
        self._scheduler = scheduler
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

    def __repr__(self) -> str:
        nxt = self.next_run
        when = "-" if nxt is None else nxt.isoformat()
        return (
            f"<Job {self.id} {self.schedule} task={self.task_name!r} next_run_at={when} "
            f"fired={self.fired}>"
        )


def _callable_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


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

    def do(self, task: Task | Callable[..., Any], /, *args: Any, **kwargs: Any) -> Job:
        """Schedule ``task(*args, **kwargs)``; every keyword argument goes to the task."""
        if not callable(task):
            raise TypeError(f"do() needs a task or a callable, got {task!r}")
        reserved = [k for k in _RESERVED if k in kwargs]
        if reserved:
            raise TypeError(
                f"do() got {', '.join(map(repr, reserved))}: those are runner.submit options, "
                "not task arguments; bind a task parameter of that name with functools.partial"
            )
        return self._scheduler._add(
            self._trigger, task, args, kwargs, self._misfire, self._grace, self._max_instances
        )

    def __repr__(self) -> str:
        return f"<JobBuilder {self._trigger.describe(self._scheduler.tz)}; call .do(task)>"


class Scheduler:
    """Submits tasks to a `TaskRunner` at intervals, on cron schedules or once at a time.

    ``runner=None`` uses the runner of the enclosing ``with TaskRunner()`` block, else a
    runner the scheduler creates and owns. ``clock`` returns epoch seconds (``time.time``
    by default) and is the only source of time; ``tz`` (a zone name or tzinfo, default
    local time) governs cron schedules and naive `at` datetimes.
    """

    def __init__(
        self,
        runner: TaskRunner | None = None,
        tick_seconds: float = 0.5,
        clock: Callable[[], float] = time.time,
        tz: str | tzinfo | None = None,
    ) -> None:
        self.tick_seconds = _seconds(tick_seconds, "tick_seconds", 0.0, strict=True)
        if not callable(clock):
            raise TypeError(f"clock must be a callable returning epoch seconds, got {clock!r}")
        self.clock = clock
        self.tz = resolve_tz(tz)
        self._owns_runner = False
        if runner is None:
            runner = get_current_runner()
            if runner is None:
                runner = TaskRunner()
                self._owns_runner = True
        elif not isinstance(runner, TaskRunner):
            raise TypeError(f"runner must be a TaskRunner, got {type(runner).__name__}")
        self.runner = runner
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, Job]] = []
        self._stale = 0  # heap entries of cancelled or rescheduled jobs, dropped lazily
        self._jobs: dict[int, Job] = {}
        self._seq = itertools.count()
        self._job_ids = itertools.count(1)
        self._changed = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._started_runner = False
        self._stopper: threading.Thread | None = None
        self._async_wake: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None

    # -- building jobs -------------------------------------------------------------------
    def every(
        self,
        interval: float | timedelta,
        *,
        misfire: Misfire = "skip",
        grace: float | None = None,
        max_instances: int = 1,
    ) -> JobBuilder:
        """Fire every ``interval`` seconds (or a timedelta), first one interval from now."""
        seconds = _seconds(interval, "every() interval", 0.0, strict=True)
        return self._builder(_Interval(seconds), misfire, grace, max_instances)

    def cron(
        self,
        expr: str,
        *,
        misfire: Misfire = "skip",
        grace: float | None = None,
        max_instances: int = 1,
    ) -> JobBuilder:
        """Fire at the times matching the cron expression ``expr``, in the scheduler's tz."""
        return self._builder(_Cron(parse_cron(expr), self.tz), misfire, grace, max_instances)

    def at(
        self,
        when: datetime | float,
        *,
        misfire: Misfire = "skip",
        grace: float | None = None,
        max_instances: int = 1,
    ) -> JobBuilder:
        """Fire once at ``when``: an aware datetime, a naive one (scheduler's tz) or epoch."""
        if isinstance(when, datetime):
            if when.tzinfo is not None and when.utcoffset() is not None:
                instant = when.timestamp()
            else:
                instant = wall_to_instant(when.replace(tzinfo=None), self.tz)
        elif isinstance(when, (int, float)) and not isinstance(when, bool):
            if not math.isfinite(when):
                raise ValueError(f"at() needs a finite epoch time, got {when!r}")
            instant = float(when)
        else:
            raise TypeError(f"at() takes a datetime or epoch seconds, got {type(when).__name__}")
        return self._builder(_Once(instant), misfire, grace, max_instances)

    def _builder(
        self, trigger: _Trigger, misfire: str, grace: float | None, max_instances: int
    ) -> JobBuilder:
        if misfire not in MISFIRE_POLICIES:
            raise ValueError(f"misfire must be one of {MISFIRE_POLICIES}, got {misfire!r}")
        if grace is not None:
            grace = _seconds(grace, "grace", 0.0, strict=False)
        if (
            not isinstance(max_instances, int)
            or isinstance(max_instances, bool)
            or max_instances < 1
        ):
            raise ValueError(f"max_instances must be an integer >= 1, got {max_instances!r}")
        return JobBuilder(self, trigger, misfire, grace, max_instances)

    @property
    def default_grace(self) -> float:
        """The grace window of jobs that do not set one: ``max(1.0, tick_seconds)``."""
        return max(1.0, self.tick_seconds)

    def _add(
        self,
        trigger: _Trigger,
        task: Task | Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        misfire: str,
        grace: float | None,
        max_instances: int,
    ) -> Job:
        first = trigger.first(self.clock())
        job = Job(
            self,
            next(self._job_ids),
            trigger,
            task,
            args,
            dict(kwargs),
            misfire,
            self.default_grace if grace is None else grace,
            max_instances,
        )
        with self._cond:
            self._jobs[job.id] = job
            self._push(job, first)
            self._wake_locked()
        return job

    # -- the job table -------------------------------------------------------------------
    def jobs(self) -> list[Job]:
        """The active jobs, in the order they were added."""
        with self._cond:
            return list(self._jobs.values())

    def cancel(self, job: Job) -> bool:
        """Remove ``job``; False if it was already over. Runs it already started go on."""
        if not isinstance(job, Job):
            raise TypeError(f"cancel() takes a Job, got {type(job).__name__}")
        if job._scheduler is not self:
            raise ValueError(f"{job!r} belongs to another Scheduler")
        with self._cond:
            if not job._active:
                return False
            job._active = False
            del self._jobs[job.id]
            if job._entry >= 0:
                job._entry = -1
                self._stale += 1
                self._compact()
            self._wake_locked()
        return True

    def _push(self, job: Job, due: float) -> None:
        seq = next(self._seq)
        job._next, job._entry = due, seq
        heapq.heappush(self._heap, (due, seq, job))

    def _compact(self) -> None:
        if self._stale > 64 and self._stale * 2 > len(self._heap):
            self._heap = [e for e in self._heap if e[2]._entry == e[1]]
            heapq.heapify(self._heap)
            self._stale = 0

    def _wake_locked(self) -> None:
        self._changed = True
        self._cond.notify_all()
        wake = self._async_wake
        if wake is not None:
            loop, event = wake
            loop.call_soon_threadsafe(event.set)

    def next_due(self) -> float | None:
        """The earliest next fire time of any job (epoch seconds), or ``None``."""
        with self._cond:
            return self._peek()

    def _peek(self) -> float | None:
        heap = self._heap
        while heap and heap[0][2]._entry != heap[0][1]:
            heapq.heappop(heap)
            self._stale -= 1
        return heap[0][0] if heap else None

    # -- firing --------------------------------------------------------------------------
    def tick(self) -> list[TaskHandle]:
        """Fire every job that is due now, once each; return the handles of the runs started.

        A job more than its grace window late follows its misfire policy; one whose
        earlier runs are still going at ``max_instances`` is skipped (with a log line).
        Each job is then rescheduled to its next time after now: nothing is backfilled.
        """
        return self._tick(raise_errors=True)

    def _tick(self, raise_errors: bool) -> list[TaskHandle]:
        now = self.clock()
        due: list[tuple[Job, float]] = []
        with self._cond:
            heap = self._heap
            while heap and heap[0][0] <= now:
                when, seq, job = heapq.heappop(heap)
                if job._entry != seq:
                    self._stale -= 1
                    continue
                job._entry = -1  # in flight: no heap entry until rescheduled
                due.append((job, when))
        handles: list[TaskHandle] = []
        error: BaseException | None = None
        for job, when in due:
            try:
                handle = self._fire(job, when, now)
            except Exception as exc:
                logger.exception("%s could not be submitted", job._label())
                if error is None:
                    error = exc
                handle = None
            if handle is not None:
                handles.append(handle)
            nxt = job._trigger.after(when, now)
            with self._cond:
                if not job._active:
                    continue
                if nxt is None:
                    job._active = False
                    job._next = None
                    del self._jobs[job.id]
                else:
                    self._push(job, nxt)
        if error is not None and raise_errors:
            raise error
        return handles

    def _fire(self, job: Job, when: float, now: float) -> TaskHandle | None:
        late = now - when
        if late > job.grace:
            if job.misfire == "skip":
                logger.warning(
                    "%s missed its run at %s by %.3f s (grace %g s): skipped",
                    job._label(),
                    local_time(when, self.tz).isoformat(),
                    late,
                    job.grace,
                )
                return None
            logger.info(
                "%s is %.3f s late for its run at %s (grace %g s): running it once "
                "for every run missed",
                job._label(),
                late,
                local_time(when, self.tz).isoformat(),
                job.grace,
            )
        live = job._live = [h for h in job._live if not h.done()]
        if len(live) >= job.max_instances:
            logger.warning(
                "%s: %d run(s) still going (max_instances=%d): skipped the run due at %s",
                job._label(),
                len(live),
                job.max_instances,
                local_time(when, self.tz).isoformat(),
            )
            return None
        handle = self.runner.submit(job.task, *job.args, **job.kwargs)
        if len(job._handles) == job._handles.maxlen:
            self.runner.forget(job._handles[0])  # leaves the history: the runner may drop it
        job._handles.append(handle)
        job.fired += 1
        live.append(handle)
        return handle

    # -- running -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while `start`'s thread or `arun` is driving the scheduler."""
        return self._thread is not None or self._async_wake is not None

    def _wait_seconds(self) -> float:
        nxt = self._peek()
        if nxt is None:
            return self.tick_seconds
        return min(self.tick_seconds, max(0.0, nxt - self.clock()))

    def start(self) -> None:
        """Run the scheduler on a background thread; the runner serves if it is not running.

        `stop` ends the thread and stops the runner again if `start` started it.
        """
        thread = threading.Thread(target=self._thread_main, name="pyworkflowy-scheduler")
        thread.daemon = True
        with self._cond:
            if self.running:
                raise RuntimeError("this Scheduler is already running")
            self._stopping = False
            self._thread = thread  # claims the scheduler before the lock is released
        try:
            if not self.runner.running:
                self.runner.start()
                self._started_runner = True
        except BaseException:
            self._thread = None
            raise
        thread.start()

    def _thread_main(self) -> None:
        cond = self._cond
        while True:
            with cond:
                if self._stopping:
                    return
                self._changed = False
            try:
                self._tick(raise_errors=False)
            except Exception:  # pragma: no cover - _tick logs and swallows submit errors
                logger.exception("scheduler tick failed")
            with cond:
                if self._stopping:
                    return
                if not self._changed:
                    timeout = self._wait_seconds()
                    if timeout > 0:
                        cond.wait(timeout)

    def stop(self, timeout: float | None = None) -> None:
        """Stop `start`'s thread (or end `arun`); waits for the thread to finish.

        If `start` started the runner, the runner is stopped too, once the runs already
        submitted have finished. Called from inside a task, it cannot wait for that task:
        it returns at once and the stopping completes on another thread (a later `stop`
        from outside the tasks waits for it).
        """
        with self._cond:
            self._stopping = True
            self._wake_locked()
        if current_task() is not None and (self._thread is not None or self._started_runner):
            stopper = threading.Thread(
                target=self._stop_in_background, name="pyworkflowy-scheduler-stop"
            )
            self._stopper = stopper
            stopper.start()
            return
        stopper = self._stopper
        if stopper is not None:
            stopper.join(timeout)
            if stopper.is_alive():
                raise TimeoutError(f"the scheduler did not stop within {timeout} s")
            self._stopper = None
        self._finish_stop(timeout)

    def _stop_in_background(self) -> None:
        try:
            self._finish_stop()
        except Exception:
            logger.exception("stopping the scheduler failed")

    def _finish_stop(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"the scheduler thread did not stop within {timeout} s")
            self._thread = None
        if self._started_runner:
            self._started_runner = False
            self.runner.stop(timeout)

    async def arun(self) -> None:
        """Run the scheduler on the current event loop until `stop` or cancellation.

        If the runner is not running it serves on this loop for as long; on `stop` it
        finishes the runs already submitted, on cancellation they are cancelled.
        """
        import asyncio

        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        with self._cond:
            if self.running:
                raise RuntimeError("this Scheduler is already running")
            self._stopping = False
            self._async_wake = (loop, wake)
        serving: asyncio.Task[None] | None = None
        cancelled = False
        try:
            if not self.runner.running:
                serving = loop.create_task(self.runner.serve())
                await asyncio.sleep(0)  # let serve() take the loop before the first submit
                if serving.done():  # it could not start (say the runner was shut down)
                    serving.result()
            while True:
                wake.clear()
                with self._cond:
                    if self._stopping:
                        break
                self._tick(raise_errors=False)
                with self._cond:
                    if self._stopping:
                        break
                    timeout = self._wait_seconds()
                if timeout > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), timeout)
                else:
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            with self._cond:
                self._async_wake = None
            if serving is not None:
                if cancelled:
                    serving.cancel()
                else:
                    self.runner.stop()
                try:
                    await serving
                except asyncio.CancelledError:
                    if not cancelled:
                        raise

    def close(self) -> None:
        """`stop`, then shut down the runner if this scheduler created it."""
        self.stop()
        if self._owns_runner:
            self.runner.shutdown()

    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Scheduler {state} jobs={len(self._jobs)} tz={self.tz}>"

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
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from pyworkflowy import Task, TaskHandle, TaskRunner, current_task, get_current_runner

from ._atexit import runner_closed, stop_at_exit
from ._cron import parse_cron
from ._events import EventJobs, EventSource, subscribe
from ._jobs import Job, JobBuilder, Misfire, _builder
from ._running import RunLoop, join
from ._triggers import _Cron, _interval, _once, _seconds, _Trigger
from ._tz import resolve_tz

if TYPE_CHECKING:
    import asyncio

__all__ = ["Scheduler"]

logger = logging.getLogger("pyworkflowy.schedule")


class Scheduler(EventJobs, RunLoop):
    """Submits tasks to a `TaskRunner` at intervals, on cron schedules or once at a time.

    ``runner=None`` uses the runner of the enclosing ``with TaskRunner()`` block, else a
    runner the scheduler creates and owns. ``clock`` returns epoch seconds (``time.time``
    by default) and is the only source of time; a clock with a ``wait(condition,
    deadline)`` method (`pyworkflowy.testing.VirtualClock`) also does the waiting. ``tz``
    (a zone name or tzinfo, default local time) governs cron schedules and naive `at`
    datetimes. ``event_source`` feeds the jobs of `on` (see `bind_event_source`).
    """

    def __init__(
        self,
        runner: TaskRunner | None = None,
        tick_seconds: float = 0.5,
        clock: Callable[[], float] = time.time,
        tz: str | tzinfo | None = None,
        *,
        event_source: EventSource | None = None,
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
        self._event_source: EventSource | None = None
        self._unsubscribe: dict[int, Callable[[], None]] = {}  # by job id, for `on` jobs
        if event_source is not None:
            self.bind_event_source(event_source)

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
        return _builder(self, _interval(seconds, self.clock()), misfire, grace, max_instances)

    def cron(
        self,
        expr: str | None = None,
        *,
        misfire: Misfire = "skip",
        grace: float | None = None,
        max_instances: int = 1,
        expression: str | None = None,
    ) -> JobBuilder:
        """Fire at the times matching the cron expression ``expr``, in the scheduler's tz.

        ``expression=`` is upstream pyworkflowy 0.x's name for ``expr`` (deprecated)."""
        if expression is not None:
            if expr is not None:
                raise TypeError("cron() takes the expression once: pass expr, not expression=")
            import warnings

            warnings.warn(
                "cron(expression=...) is upstream pyworkflowy 0.x's spelling; pass the "
                "expression positionally or as expr=",
                DeprecationWarning,
                stacklevel=2,
            )
            expr = expression
        if expr is None:
            raise TypeError("cron() needs a cron expression, e.g. sched.cron('*/5 * * * *')")
        return _builder(self, _Cron(parse_cron(expr), self.tz), misfire, grace, max_instances)

    def at(
        self,
        when: datetime | float,
        *,
        misfire: Misfire = "skip",
        grace: float | None = None,
        max_instances: int = 1,
    ) -> JobBuilder:
        """Fire once at ``when``: an aware datetime, a naive one (scheduler's tz) or epoch."""
        return _builder(self, _once(when, self.tz), misfire, grace, max_instances)

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
        now = self.clock()
        first = trigger.first(now)
        if first is None and self._event_source is None:
            raise RuntimeError(
                f"Scheduler.{trigger.describe(self.tz)}: no event source; pass "
                "Scheduler(event_source=...) or call bind_event_source(source) first"
            )
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
            now,
        )
        if first is None:  # a job of on(): events fire it
            assert self._event_source is not None
            unsubscribe = subscribe(job, self._event_source)
            with self._cond:
                self._jobs[job.id] = job
                self._unsubscribe[job.id] = unsubscribe
            return job
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
            unsubscribe = self._unsubscribe.pop(job.id, None)
            if job._entry >= 0:
                job._entry = -1
                self._stale += 1
                self._compact()
            self._wake_locked()
        if unsubscribe is not None:  # outside the lock: the source may take its own
            try:
                unsubscribe()
            except Exception:
                logger.exception("%s: unsubscribing from the event source failed", job._label())
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
                handle = job._fire(when, now)
            except Exception as exc:
                handle = None
                if raise_errors or not runner_closed(self.runner):  # closed: the thread ends next
                    logger.exception("%s could not be submitted", job._label())
                    error = error or exc
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

    # -- running -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while `start`'s thread or `arun` is driving the scheduler."""
        return self._thread is not None or self._async_wake is not None

    def start(self) -> None:
        """Run on a thread (a daemon); the runner serves if it was not. `stop` ends both."""
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
        stop_at_exit(self)
        thread.start()

    def stop(self, timeout: float | None = None, *, wait: bool = True) -> None:
        """Stop `start`'s thread (or end `arun`); waits for the thread to finish.

        If `start` started the runner, the runner is stopped too, once the runs already
        submitted have finished. With ``wait=False``, or called from inside a task (which
        it cannot wait for), it returns at once and the stopping completes on another
        thread (a later `stop` that waits, waits for it).
        """
        with self._cond:
            self._stopping = True
            self._wake_locked()
        background = not wait or current_task() is not None
        if background and (self._thread is not None or self._started_runner):
            stopper = threading.Thread(
                target=self._stop_in_background, name="pyworkflowy-scheduler-stop"
            )
            self._stopper = stopper
            stopper.start()
            return
        if self._stopper is not None:
            join(self._stopper, timeout, "the scheduler")
            self._stopper = None
        self._finish_stop(timeout)

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
        """`stop`, cancel the jobs of `on`, and shut down the runner if this created it."""
        self.stop()
        for job in [j for j in self.jobs() if j.is_event_driven]:
            self.cancel(job)
        if self._owns_runner:
            self.runner.shutdown()

    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Scheduler {state} jobs={len(self._jobs)} tz={self.tz}>"

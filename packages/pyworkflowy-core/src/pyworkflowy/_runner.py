"""`TaskRunner`: owns the task graph, orders execution and applies the failure policies.

One asyncio loop orchestrates. Each handle keeps a count of unfinished dependencies and a
list of dependents; a finishing handle decrements its dependents' counts and those that
reach zero become ready. Each backend has a lane: a ready deque plus a running count
bounded by ``max_workers``. Nothing on the per-task path scans all handles or polls.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from ._backends import ExecutionBackend, check_backend_name, create_backend
from ._checkpoint import Checkpointer
from ._context import _current_runner
from ._errors import (
    CheckpointError,
    CycleError,
    DependencyFailedError,
    RetryExhaustedError,
    TaskCancelledError,
    TaskError,
    TaskTimeoutError,
)
from ._graph import path_between
from ._handle import TaskHandle
from ._task import Task
from ._types import ON_TASK_ERROR, TaskResult, TaskStatus
from ._types import TERMINAL as _TERMINAL

if TYPE_CHECKING:
    import asyncio
    from contextvars import Token

    from ._journal import Journal

__all__ = ["TaskRunner"]

PENDING, READY, RUNNING, RETRYING = (
    TaskStatus.PENDING,
    TaskStatus.READY,
    TaskStatus.RUNNING,
    TaskStatus.RETRYING,
)
COMPLETED, FAILED, CANCELLED, SKIPPED = (
    TaskStatus.COMPLETED,
    TaskStatus.FAILED,
    TaskStatus.CANCELLED,
    TaskStatus.SKIPPED,
)
_now = time.time
_monotonic = time.monotonic
_TIMER_SLACK = 0.001  # seconds: a deadline closer than this has come (coarse loop clocks)
_T = TypeVar("_T")
_NO_KWARGS: dict[str, Any] = {}  # shared by every handle submitted without keywords; never mutated
_PLAIN_TASK_CACHE = 1024  # plain callables whose Task is kept for reuse


class _Lane:
    """One backend's queue of ready handles and its count of running attempts."""

    __slots__ = ("backend", "ready", "runner", "running")

    def __init__(self, backend: ExecutionBackend, runner: TaskRunner) -> None:
        self.backend = backend
        self.runner = runner
        self.ready: deque[TaskHandle] = deque()
        self.running = 0


class TaskRunner:
    """Runs submitted tasks in dependency order on asyncio, thread or process backends.

    ``run()`` is ``asyncio.run(arun())``; ``arun()`` runs on the caller's loop. Both return
    ``{handle id: TaskResult}`` for every handle submitted to this runner.
    """

    def __init__(
        self,
        max_workers: int = 8,
        backend: str = "asyncio",
        on_task_error: str = "raise",
        checkpoint_path: str | os.PathLike[str] | None = None,
        checkpoint_interval: float = 5.0,
        checkpointer: Checkpointer | None = None,
    ) -> None:
        if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
            raise ValueError(f"max_workers must be an integer >= 1, got {max_workers!r}")
        check_backend_name(backend, "TaskRunner")
        if on_task_error not in ON_TASK_ERROR:
            raise ValueError(f"on_task_error must be one of {ON_TASK_ERROR}, got {on_task_error!r}")
        if (
            not isinstance(checkpoint_interval, (int, float))
            or isinstance(checkpoint_interval, bool)
            or not checkpoint_interval >= 0
        ):
            raise ValueError(
                f"checkpoint_interval must be a number of seconds >= 0, got {checkpoint_interval!r}"
            )
        if checkpoint_path is not None and checkpointer is not None:
            raise ValueError("pass checkpoint_path= or checkpointer=, not both")
        if checkpointer is not None and not isinstance(checkpointer, Checkpointer):
            raise TypeError(
                f"checkpointer must be a Checkpointer, got {type(checkpointer).__name__}"
            )
        if checkpoint_path is not None:
            checkpointer = _checkpointer_for_path(checkpoint_path)
        self._journal: Journal | None = None
        if checkpointer is not None:
            from ._journal import Journal  # imported on first use: most runs never need it

            self._journal = Journal(checkpointer, float(checkpoint_interval), None)
        self.max_workers = max_workers
        self.backend = backend
        self.on_task_error = on_task_error
        self.checkpoint_interval = float(checkpoint_interval)
        self.checkpointer = checkpointer
        self._lanes: dict[str, _Lane] = {}
        self._handles: dict[str, TaskHandle] = {}
        self._name_counts: dict[str, int] = {}
        self._plain_tasks: dict[Any, Task] = {}
        self._unfinished = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._idle: asyncio.Future[None] | None = None
        self._first_error: BaseException | None = None
        self._failed_id = ""  # the task whose failure set _first_error
        self._aborting = False
        self._serving = False
        self._server: tuple[threading.Thread, list[BaseException]] | None = None
        self._closed = False
        self._tokens: list[Token[TaskRunner | None]] = []
        self._lane(backend)  # an optional backend that is missing fails here, not mid-run

    # -- public API ----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while ``run()``/``arun()`` is executing tasks."""
        return self._loop is not None

    def handles(self) -> list[TaskHandle]:
        """Every handle submitted to this runner, in submission order."""
        return list(self._handles.values())

    def forget(self, *handles: TaskHandle) -> None:
        """Drop finished handles from this runner's registry (`handles`, run() results).

        The handle objects stay valid for whoever holds them; unfinished ones are kept.
        A serving runner would otherwise keep every handle it ever ran.
        """
        if self._loop is not None and threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self.forget, *handles)
            return
        for handle in handles:
            self._check_own(handle, "forget")
            if handle._status in _TERMINAL and self._handles.get(handle.id) is handle:
                del self._handles[handle.id]
                if self._journal is not None:
                    self._journal.repeats = True  # its id may be submitted and finish again

    def submit(
        self,
        fn_or_task: Task | Callable[..., Any],
        /,
        *args: Any,
        depends_on: Iterable[TaskHandle] = (),
        key: str | None = None,
        **kwargs: Any,
    ) -> TaskHandle:
        """Add a task (or a plain callable) to the graph and return its handle.

        It starts once every handle in ``depends_on`` has finished; ``key`` fixes the
        handle id (default ``"{task name}#{n}"``), which is what resume matches on.
        """
        if self._closed:
            raise RuntimeError("this TaskRunner was shut down; create a new one to submit")
        task = fn_or_task if isinstance(fn_or_task, Task) else self._plain_task(fn_or_task)
        deps = tuple(depends_on)
        if self._loop is not None and threading.get_ident() != self._loop_thread:
            return self._call_on_loop(self._add, task, args, kwargs, deps, key)
        return self._add(task, args, kwargs, deps, key)

    def map(
        self,
        fn_or_task: Task | Callable[..., Any],
        /,
        *iterables: Iterable[Any],
        depends_on: Iterable[TaskHandle] = (),
    ) -> list[TaskHandle]:
        """Submit one task per item, like the builtin ``map``; returns the handles in order.

        ``runner.map(f, xs, ys)`` submits ``f(x, y)`` for each pair; every handle waits for
        ``depends_on``. The faster way to submit many tasks: the cyclic garbage collector is
        paused while the batch is built (a million handles would otherwise be rescanned by
        every full collection). If an item is refused, the handles before it stay submitted.
        """
        if not iterables:
            raise TypeError("map() needs at least one iterable of arguments")
        if self._closed:
            raise RuntimeError("this TaskRunner was shut down; create a new one to submit")
        task = fn_or_task if isinstance(fn_or_task, Task) else self._plain_task(fn_or_task)
        deps = tuple(depends_on)
        if self._loop is not None and threading.get_ident() != self._loop_thread:
            return self._call_on_loop(self._add_many, task, zip(*iterables, strict=False), deps)
        return self._add_many(task, zip(*iterables, strict=False), deps)

    def _add_many(
        self, task: Task, arg_tuples: Iterable[tuple[Any, ...]], deps: tuple[TaskHandle, ...]
    ) -> list[TaskHandle]:
        with _gc_paused():
            add = self._add
            return [add(task, args, _NO_KWARGS, deps, None) for args in arg_tuples]

    def add_dependency(self, handle: TaskHandle, *depends_on: TaskHandle) -> None:
        """Make a not-yet-started ``handle`` also wait for ``depends_on``.

        Raises `CycleError` if an edge would close a cycle (nothing is changed then).
        """
        self._check_own(handle, "add_dependency")
        if handle._status not in (PENDING, READY):
            raise ValueError(
                f"task {handle.id!r} is {handle._status.value}; dependencies can only be "
                "added before it starts"
            )
        for dep in depends_on:
            self._check_own(dep, "depends_on")
            path = path_between(handle, dep)
            if path is not None:
                cycle = " -> ".join(h.id for h in (handle, *path))
                raise CycleError(f"depending {handle.id!r} on {dep.id!r} closes a cycle: {cycle}")
        if handle._status is READY:
            handle._status = PENDING  # leaves the ready deque lazily: _pump skips it
        handle._set_deps(handle.deps + depends_on)
        for dep in depends_on:
            self._link(handle, dep)
        if handle._pending == 0:
            self._deps_done(handle)

    def run(self) -> dict[str, TaskResult]:
        """Run until every submitted task has finished: ``asyncio.run(self.arun())``."""
        import asyncio

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.arun())
        raise RuntimeError(
            "run() was called inside a running event loop; use 'await runner.arun()'"
        )

    async def arun(self) -> dict[str, TaskResult]:
        """Run on the current event loop until every submitted task has finished."""
        await self._drive(serving=False)
        error = self._first_error
        if error is not None and self.on_task_error == "raise":
            self._first_error = None
            raise error
        return self._results()

    def _results(self) -> dict[str, TaskResult]:
        # Building a million results creates no reference cycles, yet the allocations would
        # trigger full collections that rescan every handle: pause the collector meanwhile.
        # A copy of the handles dict has its final size at once: filling it never resizes
        # (a growing dict briefly holds its old and new tables at the peak of a big run).
        with _gc_paused():
            results: dict[str, Any] = self._handles.copy()
            for hid, handle in results.items():
                results[hid] = handle.get_result()
            return results

    async def serve(self) -> None:
        """Run tasks as they are submitted, from any thread, until `stop` is called.

        The long-running mode a scheduler needs. There is no caller to raise to, so with
        ``on_task_error="raise"`` a failure is logged and serving goes on. A long-lived
        service should `forget` handles it is done with. When stopped, the tasks already
        submitted finish first.
        """
        await self._drive(serving=True)

    def start(self) -> None:
        """Serve on a background thread (see `serve`); returns once submissions are live."""
        if self._loop is not None or self._server is not None:
            raise RuntimeError("this TaskRunner is already running")
        import asyncio

        ready = threading.Event()
        errors: list[BaseException] = []

        def main() -> None:
            try:
                asyncio.run(self._drive(serving=True, ready=ready))
            except BaseException as exc:  # surfaced by start() or stop()
                errors.append(exc)
                ready.set()

        self._server = (threading.Thread(target=main, name="pyworkflowy-runner"), errors)
        self._server[0].start()
        ready.wait()
        if errors:
            self._server = None
            raise errors[0]

    def stop(self, timeout: float | None = None) -> None:
        """End serving once the submitted tasks have finished; joins a `start` thread."""
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._stop_serving)
        server, self._server = self._server, None
        if server is not None:
            thread, errors = server
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"the runner did not stop within {timeout} s")
            if errors:
                raise errors[0]

    def _stop_serving(self) -> None:
        self._serving = False
        if self._unfinished == 0 and self._idle is not None and not self._idle.done():
            self._idle.set_result(None)

    async def _drive(self, serving: bool, ready: threading.Event | None = None) -> None:
        import asyncio

        if self._closed:
            raise RuntimeError("this TaskRunner was shut down; create a new one to run tasks")
        if self._loop is not None:
            raise RuntimeError("this TaskRunner is already running")
        loop = asyncio.get_running_loop()
        self._loop, self._loop_thread = loop, threading.get_ident()
        self._aborting, self._serving = False, serving
        for lane in self._lanes.values():
            lane.backend.bind(loop)
        try:
            if self._first_error is not None and self.on_task_error == "raise" and not serving:
                # a failure was decided while idle (e.g. a dependency failed)
                self._abort(f"task {self._failed_id!r} failed")
            if self._unfinished or serving:
                self._idle = loop.create_future()
                self._pump_all()
                if ready is not None:
                    ready.set()
                await self._idle
        except BaseException as exc:
            self._abort(f"it was interrupted by {type(exc).__name__}")
            raise
        finally:
            self._loop = self._loop_thread = self._idle = None
            self._serving = False
            if self._journal is not None:
                self._journal.flush()
        if self._journal is not None:
            self._journal.run_completed = True

    @classmethod
    def resume(
        cls, path_or_checkpointer: str | os.PathLike[str] | Checkpointer, **kwargs: Any
    ) -> TaskRunner:
        """A runner that continues from a checkpoint.

        Re-submit the same tasks (same names and order, or the same ``key=``s): a handle
        whose id completed before with the same arguments is primed with its stored result
        and does not run; failed, cancelled and changed ones run again. ``kwargs`` go to the
        constructor. Raises `CheckpointError` if the checkpoint cannot be read.
        """
        if "checkpoint_path" in kwargs or "checkpointer" in kwargs:
            raise ValueError("resume() takes the checkpoint as its first argument only")
        if isinstance(path_or_checkpointer, Checkpointer):
            checkpointer = path_or_checkpointer
        else:
            checkpointer = _checkpointer_for_path(path_or_checkpointer)
        runner = cls(checkpointer=checkpointer, **kwargs)
        from ._journal import Journal

        runner._journal = Journal.resume(checkpointer, runner.checkpoint_interval)
        return runner

    def cancel_all(self) -> int:
        """Request cancellation of every unfinished handle; returns how many were asked."""
        return sum(h.cancel() for h in list(self._handles.values()) if h._status not in _TERMINAL)

    def shutdown(self, wait: bool = True) -> None:
        """Tear down the worker pools and flush the checkpoint; later submits raise."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._server is not None:
                self.stop()
            if self._journal is not None:
                self._journal.close()
        finally:
            for lane in self._lanes.values():
                lane.backend.shutdown(wait)

    def __enter__(self) -> TaskRunner:
        self._tokens.append(_current_runner.set(self))
        return self

    def __exit__(self, *exc_info: object) -> None:
        _current_runner.reset(self._tokens.pop())
        self.shutdown()

    def __repr__(self) -> str:
        return (
            f"<TaskRunner backend={self.backend} max_workers={self.max_workers} "
            f"tasks={len(self._handles)} unfinished={self._unfinished}>"
        )

    # -- submission ----------------------------------------------------------------------
    def _plain_task(self, fn: Callable[..., Any]) -> Task:
        try:
            task = self._plain_tasks.get(fn)
        except TypeError:  # unhashable callable: no caching
            return Task(fn)
        if task is None:
            if len(self._plain_tasks) >= _PLAIN_TASK_CACHE:
                self._plain_tasks.clear()  # a serving runner fed new lambdas: stay bounded
            task = self._plain_tasks[fn] = Task(fn)
        return task

    def _lane(self, name: str) -> _Lane:
        lane = self._lanes.get(name)
        if lane is None:
            lane = self._lanes[name] = _Lane(create_backend(name, self), self)
            if self._loop is not None:
                lane.backend.bind(self._loop)
        return lane

    def _check_own(self, handle: object, what: str) -> None:
        if not isinstance(handle, TaskHandle):
            raise TypeError(f"{what} takes TaskHandles, got {handle!r}")
        if handle._lane.runner is not self:
            raise ValueError(f"{what}: handle {handle.id!r} belongs to another TaskRunner")

    def _add(
        self,
        task: Task,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        deps: tuple[TaskHandle, ...],
        key: str | None,
    ) -> TaskHandle:
        name = task.name
        n = -1
        if key is None:
            n = self._name_counts.get(name, 0)
            handle_id = f"{name}#{n}"
        elif not isinstance(key, str) or not key:
            raise ValueError(f"key must be a non-empty string, got {key!r}")
        else:
            handle_id = str.__str__(key)  # a plain str, even from a StrEnum or other subclass
        if handle_id in self._handles:
            raise ValueError(
                f"handle id {handle_id!r} is already used in this runner; pass a unique key="
            )
        if task.is_async and task.backend is None:
            backend = "asyncio"  # coroutines need the loop whatever the runner default is
        else:
            backend = task.backend or self.backend
        lane = self._lanes.get(backend) or self._lane(backend)
        for dep in deps:
            self._check_own(dep, "depends_on")
        handle = TaskHandle(task, handle_id, args, kwargs or _NO_KWARGS, lane, deps)
        # Both hooks may refuse the submission: nothing is registered before they pass.
        journal = self._journal
        record = None
        if journal is not None and (args or kwargs or journal.resumed):
            record = journal.on_submit(handle)
        if lane.backend.prepares and record is None:
            handle._payload = lane.backend.prepare(handle)
        self._handles[handle_id] = handle
        if n >= 0:
            self._name_counts[name] = n + 1
        if record is not None:  # resumed: completed earlier with the same arguments
            handle._args, handle._kwargs = (), _NO_KWARGS  # it will not run
            handle._status, handle._value = COMPLETED, record["value"]
            handle._attempts = record["attempts"]
            handle._started_at, handle._finished_at = record["started_at"], record["finished_at"]
            return handle
        self._unfinished += 1
        for dep in deps:
            self._link(handle, dep)
        if handle._pending == 0:
            self._deps_done(handle)
        return handle

    def _link(self, handle: TaskHandle, dep: TaskHandle) -> None:
        status = dep._status
        if status in _TERMINAL:
            if status is not COMPLETED and (handle._blocker is None or status is not SKIPPED):
                handle._blocker = dep
            return
        # One dependent is stored bare, more in a list: most nodes have at most one, and a
        # list per node is a million extra objects for the garbage collector in a big fan.
        dependents = dep._dependents
        if dependents is None:
            dep._dependents = handle
        elif isinstance(dependents, list):
            dependents.append(handle)
        else:
            dep._dependents = [dependents, handle]
        handle._pending += 1

    def _call_on_loop(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn`` on the loop thread (submissions from other threads while running)."""
        from concurrent.futures import Future

        loop = self._loop
        assert loop is not None
        future: Future[_T] = Future()

        def call() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(call)
        return future.result()

    # -- the per-task path ---------------------------------------------------------------
    def _deps_done(self, handle: TaskHandle) -> None:
        """All dependencies have finished: queue the handle, or end it per its policy."""
        outcome = self._blocked_outcome(handle)
        if outcome is not None:
            self._finish(handle, *outcome)
        else:
            self._make_ready(handle)

    def _blocked_outcome(
        self, handle: TaskHandle
    ) -> tuple[TaskStatus, None, DependencyFailedError] | None:
        """The terminal outcome ``on_dep_failure`` gives a handle whose dependency failed."""
        x = handle._x
        blocker = None if x is None else x.blocker
        if blocker is None or handle._task.on_dep_failure == "run-anyway":
            return None
        ended = blocker._status.value
        if handle._task.on_dep_failure == "skip" or blocker._status is SKIPPED:
            message = f"task {handle.id!r} was skipped: dependency {blocker.id!r} ended {ended}"
            return SKIPPED, None, DependencyFailedError(message)
        error = DependencyFailedError(
            f"task {handle.id!r} did not run: dependency {blocker.id!r} ended {ended}"
        )
        error.__cause__ = blocker._error
        return FAILED, None, error

    def _make_ready(self, handle: TaskHandle) -> None:
        handle._status = READY
        lane = handle._lane
        if (
            self._loop is not None
            and lane.running < self.max_workers
            and not lane.ready
            and (self._journal is None or not self._journal.holding)
        ):
            self._start(handle)
        else:
            lane.ready.append(handle)

    def _pump_all(self) -> None:
        for lane in self._lanes.values():
            self._pump(lane)

    def _pump(self, lane: _Lane) -> None:
        if self._journal is not None and self._journal.holding:
            return  # the pending checkpoint write goes first; it pumps when done
        ready, limit = lane.ready, self.max_workers
        while ready and lane.running < limit:
            handle = ready.popleft()
            if handle._status is READY:
                self._start(handle)

    def _start(self, handle: TaskHandle) -> None:
        lane = handle._lane
        lane.running += 1
        handle._status = RUNNING
        handle._attempts = attempt = handle._attempts + 1
        if handle._started_at is None:
            handle._started_at = _now()
        timeout = handle._task.timeout
        if timeout is not None:
            loop = self._loop
            assert loop is not None
            x = handle._extra()
            x.began = _monotonic()  # a backend whose body waits for a worker sets None
            x.timer = loop.call_later(timeout, self._on_timeout, handle, attempt)
        lane.backend.start(handle, attempt)

    def _settle(self, handle: TaskHandle, attempt: int, ok: bool, value: Any) -> None:
        """A backend reports an attempt's outcome (on the loop thread)."""
        if handle._attempts != attempt or handle._status is not RUNNING:
            return  # that attempt was already settled (timeout, abort)
        lane = handle._lane
        lane.running -= 1
        handle._exec = None
        x = handle._x
        if x is not None and x.timer is not None:
            x.timer.cancel()
            x.timer = None
        if ok and value is not None and self._journal is not None:  # None stores anywhere
            try:
                self._journal.check_value(handle, value)
            except CheckpointError as exc:  # the result cannot be stored: the task fails
                ok, value = False, exc
        if ok:
            self._finish(handle, COMPLETED, value, None)
        else:
            self._failed_attempt(handle, attempt, value)
        journal = self._journal
        if journal is not None and journal.holding and not lane.running and not self._any_running():
            journal.write_held()  # nothing running: no other task can join the batch
        elif lane.ready:
            self._pump(lane)

    def _any_running(self) -> bool:
        return any(lane.running for lane in self._lanes.values())

    def _failed_attempt(self, handle: TaskHandle, attempt: int, exc: BaseException) -> None:
        task = handle._task
        if isinstance(exc, TaskError) and exc._terminal:  # a timeout, ...: never retried
            self._finish(handle, FAILED, None, exc)
            return
        if _is_cancellation(exc):
            if not isinstance(exc, TaskCancelledError):
                exc = TaskCancelledError(f"task {handle.id!r} was cancelled while running")
            self._finish(handle, CANCELLED, None, exc)
            return
        retryable = isinstance(exc, task.retry_on) and not handle._cancel_requested
        if retryable and attempt <= task.retries:
            handle._status = RETRYING
            delay = task.backoff_delay(attempt)
            loop = self._loop
            assert loop is not None
            if delay > 0:
                handle._extra().timer = loop.call_later(delay, self._retry, handle)
            else:
                self._retry(handle)
            return
        if retryable and task.retries:  # every attempt was made and failed
            error: BaseException = RetryExhaustedError(
                f"task {handle.id!r} failed {attempt} attempts; last error: {exc!r}"
            )
            error.__cause__ = exc
        else:
            error = exc
            if isinstance(exc, Exception):
                exc.add_note(f"raised by pyworkflowy task {handle.id!r} (attempt {attempt})")
        self._finish(handle, FAILED, None, error)

    def _retry(self, handle: TaskHandle) -> None:
        handle._extra().timer = None
        if handle._status is RETRYING:
            handle._status = READY
            lane = handle._lane
            lane.ready.append(handle)
            self._pump(lane)

    def _on_timeout(self, handle: TaskHandle, attempt: int) -> None:
        if handle._attempts != attempt or handle._status is not RUNNING:
            return
        x = handle._extra()
        timeout, loop = handle._task.timeout, self._loop
        assert timeout is not None
        assert loop is not None
        # The attempt's time counts from when its body began (a thread body may wait a
        # moment for its pool thread); not begun yet: wait again. One clock for both
        # (time.monotonic), whatever clock the loop keeps.
        began = x.began
        left = timeout if began is None else began + timeout - _monotonic()
        if left > _TIMER_SLACK:
            x.timer = loop.call_later(left, self._on_timeout, handle, attempt)
            return
        x.timer = None
        handle._set_cancel_flag()  # lets a thread body that polls the flag stop too
        handle._lane.backend.stop(handle)
        error = TaskTimeoutError(
            f"task {handle.id!r} timed out after {timeout:g} s (attempt {attempt})"
        )
        self._settle(handle, attempt, False, error)

    def _finish(
        self, handle: TaskHandle, status: TaskStatus, value: Any, error: BaseException | None
    ) -> None:
        """Make ``handle`` terminal and release its dependents (iteratively: chains are deep)."""
        stack = [(handle, status, value, error)]
        while stack:
            h, status, value, error = stack.pop()
            if h._status in _TERMINAL:
                continue  # ended meanwhile (an abort cancelled everything unfinished)
            h._status, h._value, h._error = status, value, error
            h._finished_at = _now()
            h._exec = None
            h._args, h._kwargs = (), _NO_KWARGS  # it never runs again: let them go
            self._unfinished -= 1
            x = h._x
            if x is not None:
                x.payload = None
                if x.waiters is not None:
                    h._wake()
            journal = self._journal
            if journal is not None:
                journal.finished.append(h)
                if journal.timer is None:
                    journal.on_finish(self._loop, self._pump_all)
            if status is FAILED:
                self._on_failure(h)
            dependents, h._dependents = h._dependents, None
            if dependents is None:
                continue
            for d in dependents if isinstance(dependents, list) else (dependents,):
                if status is not COMPLETED and (d._blocker is None or status is not SKIPPED):
                    d._blocker = h
                d._pending -= 1
                if d._pending == 0 and d._status is PENDING:
                    outcome = self._blocked_outcome(d)
                    if outcome is None:
                        self._make_ready(d)
                    else:  # ends too: on the stack, not by recursion (chains are deep)
                        stack.append((d, *outcome))
        if (
            self._unfinished == 0
            and not self._serving
            and self._idle is not None
            and not self._idle.done()
        ):
            self._idle.set_result(None)

    def _on_failure(self, handle: TaskHandle) -> None:
        policy = self.on_task_error
        if policy == "raise" and self._serving:
            policy = "log"  # nobody to raise to: keep serving, say so in the log
        if policy == "raise":
            if self._first_error is None:
                self._first_error, self._failed_id = handle._error, handle.id
                if self._loop is not None:
                    self._abort(f"task {handle.id!r} failed")
        elif policy == "log":
            import logging

            logging.getLogger("pyworkflowy").error(
                "task %r failed: %s", handle.id, handle._error, exc_info=handle._error
            )

    # -- cancellation --------------------------------------------------------------------
    def _request_cancel(self, handle: TaskHandle) -> None:
        if self._loop is not None and threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self._cancel, handle)
        else:
            self._cancel(handle)

    def _cancel(self, handle: TaskHandle) -> None:
        status = handle._status
        if status in (PENDING, READY, RETRYING):
            x = handle._x
            if x is not None and x.timer is not None:
                x.timer.cancel()
                x.timer = None
            error = TaskCancelledError(f"task {handle.id!r} was cancelled before it ran")
            self._finish(handle, CANCELLED, None, error)
        elif status is RUNNING:
            handle._lane.backend.stop(handle)

    def _abort(self, reason: str) -> None:
        """End every unfinished handle as CANCELLED now (first failure under "raise")."""
        if self._aborting:
            return
        self._aborting = True
        for h in list(self._handles.values()):
            if h._status in _TERMINAL:
                continue
            h._set_cancel_flag()
            if h._status is RUNNING:
                h._lane.running -= 1
                h._lane.backend.stop(h)
            x = h._x
            if x is not None and x.timer is not None:
                x.timer.cancel()
                x.timer = None
            h._dependents = None  # everything downstream is cancelled here too
            self._finish(
                h,
                CANCELLED,
                None,
                TaskCancelledError(
                    f"task {h.id!r} was cancelled: the run was aborted because {reason}"
                ),
            )

    def _on_loop_thread(self) -> bool:
        return self._loop is not None and threading.get_ident() == self._loop_thread


@contextlib.contextmanager
def _gc_paused() -> Generator[None, None, None]:
    """Pause the cyclic garbage collector for a bulk build that creates no garbage cycles.

    Every full collection rescans all live objects; creating a million long-lived ones
    would trigger many. The collector's previous state is restored.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _is_cancellation(exc: BaseException) -> bool:
    if isinstance(exc, TaskCancelledError):
        return True
    import asyncio

    return isinstance(exc, asyncio.CancelledError)


def _checkpointer_for_path(path: str | os.PathLike[str]) -> Checkpointer:
    try:
        from pyworkflowy.persist import checkpointer_for_path  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ImportError(
            "checkpoint_path needs pyworkflowy-persist: pip install 'pyworkflowy-core[persist]'"
        ) from exc
    return checkpointer_for_path(path)

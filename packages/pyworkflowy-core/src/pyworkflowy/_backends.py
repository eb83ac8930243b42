"""Execution backends: where a task body runs once the runner has started an attempt.

A backend gets ``start(handle, attempt)`` on the event-loop thread and must report the
outcome exactly once through ``runner._settle(handle, attempt, ok, value)``, also on the
loop thread and never from inside ``start`` or ``stop`` themselves (the runner settles a
timed-out attempt right after calling ``stop``; the first settle of an attempt wins).
The runner owns ordering, slots, retries and timeouts; a backend only runs bodies and,
when asked, stops a running one (``stop``). A backend with ``prepares = True`` also gets
``prepare(handle)`` at submit time, to validate or serialise the call early; whatever it
returns is kept in ``handle._payload``.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from ._context import _current_runner, _current_task
from ._errors import TaskCancelledError
from ._types import TaskContext

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable
    from concurrent.futures import Future, ThreadPoolExecutor

    from ._handle import TaskHandle
    from ._runner import TaskRunner

__all__ = ["BUILTIN_BACKENDS", "ExecutionBackend", "check_backend_name", "create_backend"]

BUILTIN_BACKENDS: tuple[str, ...] = ("asyncio", "thread", "process")
ENTRY_POINT_GROUP = "pyworkflowy.backends"
PROCESS_HINT = (
    "backend 'process' needs pyworkflowy-process: pip install 'pyworkflowy-core[process]'"
)


class ExecutionBackend:
    """Base class for backends; third-party ones register under ``pyworkflowy.backends``."""

    name: str = ""
    prepares: bool = False

    def __init__(self, runner: TaskRunner) -> None:
        self.runner = runner

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called when a run starts on ``loop``; completions must be delivered there."""

    def prepare(self, handle: TaskHandle) -> Any:
        """Check or serialise a submission (only called when ``prepares`` is true).

        Raise to refuse the submission: the error reaches the caller of ``submit``.
        """
        return None

    def start(self, handle: TaskHandle, attempt: int) -> None:
        """Begin running ``handle``'s body; report through ``runner._settle`` later.

        Take the arguments (``handle._args``, ``handle._kwargs``) here: a handle that
        ends, a timed-out attempt's included, lets go of them.
        """
        raise NotImplementedError

    def stop(self, handle: TaskHandle) -> None:
        """Stop the running attempt of ``handle`` as far as this backend can."""

    def shutdown(self, wait: bool = True) -> None:
        """Release pools and workers; the runner may create the backend again later."""


class ThreadBackend(ExecutionBackend):
    """Sync bodies on a lazily created `ThreadPoolExecutor` of ``max_workers`` threads.

    Each lane has its own pool (the asyncio lane one for its sync bodies), so a lane's
    ``max_workers`` running attempts have threads. A body abandoned at its timeout (or by
    an aborted run) keeps its thread until it returns, though its slot is free again: when
    every thread of the pool is taken that way, the next attempt gets a fresh pool and
    the old one is left to its abandoned bodies. No attempt waits for a thread behind one.

    Completions are batched: worker threads append to a deque and wake the loop once per
    batch instead of once per task (what ``run_in_executor`` would cost).
    """

    name = "thread"

    def __init__(self, runner: TaskRunner) -> None:
        super().__init__(runner)
        self._pool: ThreadPoolExecutor | None = None
        self._busy = 0  # calls given to the current pool and not reported yet (loop thread)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: deque[tuple[ThreadPoolExecutor, tuple[TaskHandle, int, bool, Any]]] = deque()
        self._wake_scheduled = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is loop:
            return
        self._loop = loop
        self._done.clear()
        self._wake_scheduled = False

    def start(self, handle: TaskHandle, attempt: int) -> None:
        pool = self._pool
        if pool is None or self._busy >= self.runner.max_workers:
            from concurrent.futures import ThreadPoolExecutor

            if pool is not None:  # every thread is held by an abandoned body
                pool.shutdown(wait=False)
            pool = self._pool = ThreadPoolExecutor(
                max_workers=self.runner.max_workers, thread_name_prefix="pyworkflowy"
            )
            self._busy = 0
        loop = self._loop
        assert loop is not None, "bind() comes before start()"
        # The arguments are taken now: a handle that ends (a timeout) lets go of its own.
        call = (handle._task.fn, handle._args, handle._kwargs)
        x = handle._x
        if x is not None and handle._task.timeout is not None:
            x.began = None  # the timeout counts from when a pool thread takes the body
        self._busy += 1
        handle._exec = (pool.submit(self._call, handle, attempt, loop, call, pool), pool)

    def _call(
        self,
        handle: TaskHandle,
        attempt: int,
        loop: asyncio.AbstractEventLoop,
        call: tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]],
        pool: ThreadPoolExecutor,
    ) -> None:
        fn, args, kwargs = call
        x = handle._x
        if x is not None and handle._attempts == attempt:
            x.began = time.monotonic()  # the clock the runner's timeout reads too
        token = _current_task.set(TaskContext(handle, attempt))
        runner_token = _current_runner.set(self.runner)  # task.submit() finds its runner
        try:
            outcome = (handle, attempt, True, fn(*args, **kwargs))
        except BaseException as exc:  # reported to the handle, never lost
            outcome = (handle, attempt, False, exc)
        finally:
            _current_runner.reset(runner_token)
            _current_task.reset(token)
        self._report(loop, pool, outcome)

    def _report(
        self,
        loop: asyncio.AbstractEventLoop,
        pool: ThreadPoolExecutor,
        outcome: tuple[TaskHandle, int, bool, Any],
    ) -> None:
        """Hand an outcome to the loop, waking it once per batch (from any thread)."""
        if loop is not self._loop:
            return  # that run has ended; the handle was settled when it timed out
        self._done.append((pool, outcome))
        if not self._wake_scheduled:
            self._wake_scheduled = True
            # A closed loop means that run ended and nothing waits for this outcome.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._wake_scheduled = False
        done, settle = self._done, self.runner._settle
        while done:
            pool, outcome = done.popleft()
            if pool is self._pool:
                self._busy -= 1
            settle(*outcome)

    def stop(self, handle: TaskHandle) -> None:
        running: tuple[Future[None], ThreadPoolExecutor] | None = handle._exec
        # cancel() only takes while the call waits for a pool thread to pick it up; then the
        # body never runs and this reports the attempt. A running body is told by its
        # cancel flag instead.
        if running is not None and running[0].cancel() and self._loop is not None:
            error = TaskCancelledError(f"task {handle.id!r} was cancelled before it ran")
            self._report(self._loop, running[1], (handle, handle._attempts, False, error))

    def shutdown(self, wait: bool = True) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)


class AsyncioBackend(ExecutionBackend):
    """Coroutines run as tasks on the runner's loop; sync bodies go to a thread pool.

    Sync functions never run on the loop itself: one slow call would stall every other
    task and make timeouts unenforceable. Their pool is this lane's own, not the thread
    lane's: each lane runs up to ``max_workers`` attempts at once.
    """

    name = "asyncio"

    def __init__(self, runner: TaskRunner) -> None:
        super().__init__(runner)
        self._threads = ThreadBackend(runner)
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._threads.bind(loop)  # sync bodies of this lane run there

    def start(self, handle: TaskHandle, attempt: int) -> None:
        if handle._task.is_async:
            loop = self._loop
            assert loop is not None
            handle._exec = loop.create_task(
                self._run(handle, attempt, handle._args, handle._kwargs)
            )
        else:
            self._threads.start(handle, attempt)

    async def _run(
        self, handle: TaskHandle, attempt: int, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        _current_task.set(TaskContext(handle, attempt))  # this asyncio task's own context
        if _current_runner.get() is not self.runner:  # started from a callback without it
            _current_runner.set(self.runner)  # task.submit() in the body finds its runner
        try:
            value = await handle._task.fn(*args, **kwargs)
        except BaseException as exc:  # CancelledError included: the runner asked for it
            self.runner._settle(handle, attempt, False, exc)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
        else:
            self.runner._settle(handle, attempt, True, value)

    def stop(self, handle: TaskHandle) -> None:
        if handle._task.is_async:
            if handle._exec is not None:
                handle._exec.cancel()
        else:
            self._threads.stop(handle)

    def shutdown(self, wait: bool = True) -> None:
        self._threads.shutdown(wait)


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def check_backend_name(name: object, where: str) -> None:
    """Raise `ValueError` unless ``name`` is a built-in or registered backend."""
    if name in BUILTIN_BACKENDS:
        return
    if isinstance(name, str) and name in _entry_points():
        return
    raise ValueError(
        f"{where}: unknown backend {name!r}; choose one of {BUILTIN_BACKENDS} or install a "
        f"package that registers it in the {ENTRY_POINT_GROUP!r} entry-point group"
    )


def create_backend(name: str, runner: TaskRunner) -> ExecutionBackend:
    """Instantiate backend ``name`` for ``runner``; optional ones fail with an install hint."""
    if name == "asyncio":
        return AsyncioBackend(runner)
    if name == "thread":
        return ThreadBackend(runner)
    if name == "process":
        try:
            from pyworkflowy.process import ProcessBackend  # type: ignore[import-not-found]
        except ImportError as exc:
            raise ImportError(PROCESS_HINT) from exc
        return ProcessBackend(runner)
    entry = _entry_points().get(name)
    if entry is None:
        check_backend_name(name, "runner")  # raises: the name is unknown
        raise AssertionError(name)
    backend = entry.load()(runner)
    if not isinstance(backend, ExecutionBackend):
        raise TypeError(
            f"entry point {name!r} in {ENTRY_POINT_GROUP!r} must return an ExecutionBackend, "
            f"got {type(backend).__name__}"
        )
    return backend

"""The backends that ship with core: `ThreadBackend`, `AsyncioBackend` and `ExecutorBackend`.

They are public from `pyworkflowy.backends` (whose docstring states the contract they keep),
which imports them from here once its own classes are defined.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from ._context import _current_runner, _current_task
from ._errors import TaskCancelledError
from .backends import Attempt, Backend

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable
    from concurrent.futures import Executor, Future

    from ._threads import ThreadPool

__all__ = ["AsyncioBackend", "ExecutorBackend", "ThreadBackend"]


class ThreadBackend(Backend):
    """Sync bodies on a pool of ``max_workers`` threads of its own, started as needed.

    A body abandoned at its timeout, or one waiting on another handle, keeps its thread
    but gives its slot back; the pool then starts another thread, so no attempt waits
    behind such a body. Bodies see `current_task()`; a timeout counts from when a thread
    takes the body.
    """

    __module__ = "pyworkflowy.backends"  # where it is public (and pickles from)

    reports_begin = True

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers
        self._size = max_workers or 8
        self._pool: ThreadPool | None = None

    def open(self, loop: asyncio.AbstractEventLoop, max_workers: int | None) -> None:
        self._size = max_workers or self.max_workers or 8

    def start(self, attempt: Attempt) -> None:
        pool = self._pool
        if pool is None:
            from ._threads import ThreadPool

            pool = self._pool = ThreadPool(self._size)
        pool.submit(attempt, attempt.fn, attempt.args, attempt.kwargs)
        attempt.state = pool

    def stop(self, attempt: Attempt) -> None:
        # Only a call no thread has taken yet can be taken back; a running body is told
        # by its cancel event instead.
        pool = attempt.state
        if pool is not None and pool.cancel(attempt):
            error = TaskCancelledError(f"task {attempt.handle.id!r} was cancelled before it ran")
            attempt.fail(error)

    def shutdown(self, wait: bool = True) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait)


class AsyncioBackend(Backend):
    """Coroutines as tasks on the runner's event loop, not bounded unless
    ``TaskRunner(max_concurrency=...)``. The runner gives the sync bodies of an
    ``"asyncio"`` task to a `ThreadBackend` of their own: on the loop, one slow call
    would stall every other task and make timeouts unenforceable.

    On Python 3.12+ a coroutine starts eagerly: one that finishes without waiting is
    done before `start` returns, without a pass through the loop.
    """

    __module__ = "pyworkflowy.backends"  # where it is public (and pickles from)

    runs_coroutines = True
    runs_sync = False
    can_stop = True

    def __init__(self) -> None:
        self._create: Callable[[Any], Any] | None = None

    def open(self, loop: asyncio.AbstractEventLoop, max_workers: int | None) -> None:
        import asyncio
        import sys

        if loop.get_task_factory() is not None:  # the loop's owner decides how tasks are made
            self._create = loop.create_task
        elif sys.version_info >= (3, 12):
            self._create = lambda coro: asyncio.Task(coro, loop=loop, eager_start=True)
        else:  # what loop.create_task does without a factory, minus its Python-level steps
            self._create = functools.partial(asyncio.Task, loop=loop)

    def start(self, attempt: Attempt) -> None:
        create = self._create
        assert create is not None, "open() comes before start()"
        made = create(_run_coroutine(attempt))
        if attempt.state is _STOP_ASKED:  # stop() came during an eager first step
            made.cancel()
        attempt.state = made

    def stop(self, attempt: Attempt) -> None:
        state = attempt.state
        if state is None:  # its eager first step runs now (3.12+): cancel it once made
            attempt.state = _STOP_ASKED
        elif state is not _STOP_ASKED:
            state.cancel()


_STOP_ASKED = object()  # AsyncioBackend: stop() before the task of the attempt existed


async def _run_coroutine(attempt: Attempt) -> None:
    # attempt.bind(), call() and succeed(), inlined: this is the per-task path of coroutines.
    handle = attempt.handle
    engine = handle._lane.engine
    _current_task.set(attempt)  # this asyncio task runs in a context of its own
    runner = engine.runner
    if _current_runner.get(None) is not runner:  # mostly set already: the context it was
        _current_runner.set(runner)  # copied from was another task's (a get costs less)
    try:
        value = await handle._task.fn(*handle._args, **handle._kwargs)
    except BaseException as exc:  # CancelledError included: the runner asked for it
        attempt.state = None  # the task's context refers to the attempt: no cycle left
        attempt.fail(exc)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
    else:
        attempt.state = None
        engine.settle(attempt, True, value)  # on the loop thread: report() minus its check


class ExecutorBackend(Backend):
    """Any `concurrent.futures.Executor` as a backend: ``backends={"io": ExecutorBackend(pool)}``.

    A timeout ends the attempt even if its body runs on; a cancel also cancels the call if
    it still waits in the executor's queue. With a `ThreadPoolExecutor`, bodies see
    `current_task()` and a timeout counts from when a thread takes the body; with other
    executors, from the submission. The executor stays the caller's: `shutdown` leaves it
    open unless ``shutdown_executor=True``. Its size is the executor's own: a body that
    waits on another handle of the same executor needs a spare worker.
    """

    __module__ = "pyworkflowy.backends"  # where it is public (and pickles from)

    def __init__(
        self, executor: Executor, *, max_workers: int | None = None, shutdown_executor: bool = False
    ) -> None:
        from concurrent.futures import Executor, ThreadPoolExecutor

        if not isinstance(executor, Executor):
            raise TypeError(
                f"ExecutorBackend takes a concurrent.futures.Executor, got {executor!r}"
            )
        self.executor = executor
        self.max_workers = max_workers or getattr(executor, "_max_workers", None)
        self.reports_begin = isinstance(executor, ThreadPoolExecutor)
        self._shutdown_executor = shutdown_executor

    def start(self, attempt: Attempt) -> None:
        if self.reports_begin:
            future = self.executor.submit(
                _in_thread, attempt, attempt.fn, attempt.args, attempt.kwargs
            )
        else:
            future = self.executor.submit(attempt.fn, *attempt.args, **attempt.kwargs)
        attempt.state = future
        future.add_done_callback(lambda done: _report(attempt, done))

    def stop(self, attempt: Attempt) -> None:
        future = attempt.state
        if future is not None:
            future.cancel()  # only work still queued; a running body is left to finish

    def shutdown(self, wait: bool = True) -> None:
        if self._shutdown_executor:
            self.executor.shutdown(wait=wait, cancel_futures=True)

    def __repr__(self) -> str:
        return f"ExecutorBackend({self.executor!r})"


def _in_thread(attempt: Attempt, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    attempt.began()
    with attempt.context():
        return fn(*args, **kwargs)


def _report(attempt: Attempt, future: Future[Any]) -> None:
    if future.cancelled():
        attempt.fail(TaskCancelledError(f"task {attempt.handle.id!r} was cancelled before it ran"))
        return
    error = future.exception()
    if error is not None:
        attempt.fail(error)
    else:
        attempt.succeed(future.result())

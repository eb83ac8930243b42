"""`ProcessBackend`: task bodies in worker processes that can be killed one by one.

`concurrent.futures.ProcessPoolExecutor` cannot stop one running call, so this backend
keeps its own small pool (`._pool.Worker`): at most ``max_workers`` processes,
started on demand, each running one call at a time. Everything happens on the runner's
event loop: the parent writes a call to an idle worker's pipe, and the loop calls back
when the reply is readable or when the process has exited. Stopping a task (timeout,
cancel, an aborted run) kills its worker; the next task that needs one starts a new one.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import weakref
from typing import TYPE_CHECKING, Any

from pyworkflowy import TaskCancelledError
from pyworkflowy.backends import Attempt, Backend

from ._errors import SerializationError, WorkerDiedError
from ._pool import Worker, exit_description
from ._serialize import Call, CallEncoder
from ._sharing import BufferSharing
from ._worker import LOG, OK, PROGRESS, REQUEST

if TYPE_CHECKING:
    import asyncio

    from pyworkflowy import TaskHandle

__all__ = ["ProcessBackend"]

_EXIT_GRACE = 0.5  # seconds a worker whose reply pipe ended may take to exit


class ProcessBackend(BufferSharing, Backend):
    """Runs sync task bodies in worker processes; functions and arguments go by cloudpickle.

    At submit (``prepare``) the call is checked, not kept: an argument that cannot travel
    fails there, naming itself. It is serialised when its attempt starts and let go once
    written to the worker; large buffers (numpy arrays, ...) are written from the
    arguments' own memory, never copied. A timeout or a cancel kills the task's worker.
    """

    can_stop = True

    def __init__(self, max_workers: int | None = None) -> None:
        if os.name != "posix":
            raise OSError(
                "backend 'process' needs a POSIX system (Linux, macOS): it watches its "
                "worker pipes with loop.add_reader; use backend='thread' here"
            )
        self.max_workers = max_workers
        self._encoder = CallEncoder()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._live: list[Worker] = []  # started and not killed: busy or idle
        self._idle: list[Worker] = []
        self._dying: list[Worker] = []  # killed, waiting to be reaped
        self._unreaped: set[Worker] = set()
        self._tokens: dict[int, int] = {}  # id() of a read-only buffer's owner -> token
        self._owners: dict[int, weakref.ref[Any]] = {}  # token -> the owner, weakly
        self._next_token = 0
        self._levels: tuple[tuple[str, int], ...] = ()  # this process's, at the run's start
        self._finalizer = weakref.finalize(self, _kill_all, self._unreaped)

    # -- the backend contract ----------------------------------------------------------
    def prepare(self, handle: TaskHandle) -> Any:
        self._encoder.check(handle)
        return None

    def open(self, loop: asyncio.AbstractEventLoop, max_workers: int | None) -> None:
        old = self._loop
        if old is not None and old is not loop and not old.is_closed():
            for worker in (*self._live, *self._dying):
                _unwatch(old, worker)
        self._loop = loop
        self._levels = _logger_levels()
        for worker in (*self._live, *self._dying):
            self._watch(worker)

    def start(self, attempt: Attempt) -> None:
        handle = attempt.handle
        try:
            call = self._encoder.encode(handle)
        except SerializationError as exc:
            attempt.fail(exc)
            return
        # The runner starts at most max_workers attempts per backend and stops (so frees
        # the worker of) every attempt it settles itself: a worker is always free or due.
        for _ in range(len(self._idle) + 3):  # a dead idle worker is found by writing to it
            worker = self._idle.pop() if self._idle else None
            if worker is None:
                try:
                    worker = self._spawn()
                except Exception as exc:
                    exc.add_note(f"pyworkflowy could not start a worker process for {handle.id!r}")
                    attempt.fail(exc)
                    return
            if self._dispatch(worker, attempt, call):
                return
            self._retire(worker)
        attempt.fail(WorkerDiedError(f"no worker process would accept task {handle.id!r}"))

    def stop(self, attempt: Attempt) -> None:
        worker = attempt.state
        if not isinstance(worker, Worker) or worker.job is not attempt:
            return
        messages, eof = worker.read()
        if eof:
            self._forget(worker)
        worker.job = None
        for kind, body in messages:
            if kind == LOG:
                _relay_log(attempt, worker.pid, body)
            if kind in (PROGRESS, LOG):
                continue
            # It had finished: the reply was waiting in the pipe.
            ok, value = self._decode(attempt.handle, worker.pid, kind, body)
            self._release(worker)
            _report(attempt, ok, value)
            return
        self._retire(worker)
        attempt.fail(
            TaskCancelledError(
                f"task {attempt.handle.id!r} was cancelled while running; its worker "
                "process was killed"
            )
        )

    def shutdown(self, wait: bool = True) -> None:
        loop, workers = self._loop, [*self._live, *self._dying]
        if loop is not None and not loop.is_closed():
            for worker in workers:
                _unwatch(loop, worker)
        self._live, self._idle, self._dying = [], [], []
        for worker in workers:
            if worker.job is not None or not wait:
                worker.kill()
            elif worker.wfd is not None:  # an idle worker exits on EOF
                worker.close_pipes()
        for worker in workers:
            _reap(worker, 5.0 if wait else None)
            self._unreaped.discard(worker)

    # -- workers -----------------------------------------------------------------------
    def _spawn(self) -> Worker:
        worker = Worker()
        self._live.append(worker)
        self._unreaped.add(worker)
        self._watch(worker)
        return worker

    def _watch(self, worker: Worker) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if worker.rfd is not None:
            loop.add_reader(worker.rfd, self._on_readable, worker)
        if worker.pidfd is not None:
            loop.add_reader(worker.pidfd, self._on_exit, worker)
        if worker.outbuf is not None and worker.wfd is not None:
            loop.add_writer(worker.wfd, self._on_writable, worker)

    def _dispatch(self, worker: Worker, attempt: Attempt, encoded: Call) -> bool:
        handle = attempt.handle
        fn_bytes, call, buffers = encoded
        key = attempt.idempotency_key
        meta = pickle.dumps((handle.id, handle.name, attempt.number, key, self._levels))
        tokens, sent, evicted = self._share(worker, buffers)
        head = REQUEST.pack(len(meta), len(fn_bytes), len(call), len(buffers), len(evicted))
        n = len(buffers)
        table = struct.pack(f"!{n}Q{n}q{len(evicted)}Q", *(len(b) for b in sent), *tokens, *evicted)
        # The frame goes from these views; the rest of it waits in the worker's outbuf.
        if not worker.send([head, table, meta, fn_bytes, call, *sent]):
            worker.shared.clear()
            return False
        worker.job = attempt
        attempt.state = worker
        if worker.outbuf is not None and worker.wfd is not None:
            loop = self._loop
            assert loop is not None
            loop.add_writer(worker.wfd, self._on_writable, worker)
        return True

    def _release(self, worker: Worker) -> None:
        """``worker`` has finished its attempt: it waits for the next one."""
        if not worker.exited and worker in self._live:
            self._idle.append(worker)

    def _forget(self, worker: Worker) -> None:
        """Take ``worker`` out of the pool; it stays watched until it is reaped."""
        if worker in self._live:
            self._live.remove(worker)
        if worker in self._idle:
            self._idle.remove(worker)
        if worker not in self._dying:
            self._dying.append(worker)

    def _retire(self, worker: Worker) -> None:
        """Kill ``worker`` (its job, if any, was already taken off it); reaped on exit."""
        self._forget(worker)
        worker.kill()
        loop = self._loop
        if loop is not None and not loop.is_closed() and worker.wfd is not None:
            loop.remove_writer(worker.wfd)
        if worker.pidfd is not None:  # the pidfd tells when it is gone; drop the pipes now
            if loop is not None and not loop.is_closed() and worker.rfd is not None:
                loop.remove_reader(worker.rfd)
            worker.close_pipes()

    # -- loop callbacks ----------------------------------------------------------------
    def _on_readable(self, worker: Worker) -> None:
        messages, eof = worker.read()
        if eof:  # the worker is exiting: it gets no new work
            loop = self._loop
            if loop is not None and worker.rfd is not None:
                loop.remove_reader(worker.rfd)
            self._forget(worker)
        for kind, body in messages:
            self._deliver(worker, kind, body)
        if eof and worker.pidfd is None:
            self._on_exit(worker)

    def _on_writable(self, worker: Worker) -> None:
        try:
            done = worker.flush()
        except OSError:  # the worker is gone; its exit is reported separately
            done = True
            worker.outbuf = None
        if done and self._loop is not None and worker.wfd is not None:
            self._loop.remove_writer(worker.wfd)

    def _on_exit(self, worker: Worker) -> None:
        if worker.exited:
            return
        loop = self._loop
        if loop is not None and not loop.is_closed():
            _unwatch(loop, worker)
        messages, _ = worker.read()  # a reply written just before the end still counts
        worker.exited = True
        for kind, body in messages:
            self._deliver(worker, kind, body)
        # Without a pidfd this runs at EOF on the reply pipe, usually as the process ends:
        # give it a moment to finish exiting, without blocking the loop.
        if worker.proc.poll() is None and loop is not None and not loop.is_closed():
            loop.call_later(_EXIT_GRACE, self._ended, worker)
        else:
            self._ended(worker)

    def _ended(self, worker: Worker) -> None:
        """Reap ``worker`` and fail the attempt it was running, if any.

        A process that closed its reply pipe but lives on can never reply: it is killed.
        """
        alive = worker.proc.poll() is None
        if alive:
            worker.kill()
        code = _reap(worker, None)
        self._unreaped.discard(worker)
        for pool in (self._live, self._idle, self._dying):
            if worker in pool:
                pool.remove(worker)
        attempt, worker.job = worker.job, None
        if attempt is not None:
            handle = attempt.handle
            how = (
                "closed its reply pipe, so it was killed"
                if alive
                else f"died: {exit_description(code)}"
            )
            error = WorkerDiedError(
                f"worker process {worker.pid} running task {handle.id!r} {how}", code
            )
            attempt.fail(error)

    def _deliver(self, worker: Worker, kind: int, body: bytes) -> None:
        attempt = worker.job
        if attempt is None:
            return  # the attempt was stopped meanwhile
        if kind == LOG:
            _relay_log(attempt, worker.pid, body)
            return
        if kind == PROGRESS:
            try:
                attempt.report_progress(*pickle.loads(body))
            except Exception as exc:  # a bad report must not cost the task its result
                logging.getLogger("pyworkflowy").warning(
                    "task %r: progress from worker process %s was refused: %s",
                    attempt.handle.id,
                    worker.pid,
                    exc,
                    extra=_fields(attempt),
                )
            return
        worker.job = None
        ok, value = self._decode(attempt.handle, worker.pid, kind, body)
        self._release(worker)
        _report(attempt, ok, value)

    # -- helpers -----------------------------------------------------------------------
    def _decode(self, handle: TaskHandle, pid: int, kind: int, body: bytes) -> tuple[bool, Any]:
        try:
            obj = pickle.loads(body)
        except Exception as exc:
            what = "result" if kind == OK else "exception"
            return False, SerializationError(
                f"task {handle.id!r}: its {what} came back from worker process {pid} but "
                f"cannot be loaded here: {type(exc).__name__}: {exc}"
            )
        if kind == OK:
            return True, obj
        error, tb = obj
        if not isinstance(error, BaseException):
            error = RuntimeError(f"worker process {pid} sent back {error!r} as an exception")
        if tb:
            error.add_note(f"Traceback in worker process {pid}:\n{tb.rstrip()}")
        return False, error


def _logger_levels() -> tuple[tuple[str, int], ...]:
    """The levels set on this process's loggers (the root's first, as ``""``): workers set
    theirs to them, so that they do not send records this process would drop."""
    levels = [("", logging.getLogger().level)]
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET:
            levels.append((name, logger.level))
    return tuple(levels)


def _relay_log(attempt: Attempt, pid: int, body: bytes) -> None:
    """A record a body logged in worker ``pid``: to this process's logging."""
    try:
        record = logging.makeLogRecord(pickle.loads(body))
    except Exception as exc:
        logging.getLogger("pyworkflowy").warning(
            "task %r: a log record from worker process %s could not be loaded: %s",
            attempt.handle.id,
            pid,
            exc,
            extra=_fields(attempt),
        )
        return
    attempt.log(record)


def _fields(attempt: Attempt) -> dict[str, Any]:
    """The ``extra`` of a record about ``attempt``, as the runner's own records have it."""
    handle = attempt.handle
    return {"task_id": handle.id, "task_name": handle.name, "attempt": attempt.number}


def _report(attempt: Attempt, ok: bool, value: Any) -> None:
    if ok:
        attempt.succeed(value)
    else:
        attempt.fail(value)


def _unwatch(loop: asyncio.AbstractEventLoop, worker: Worker) -> None:
    for fd in (worker.rfd, worker.pidfd):
        if fd is not None:
            loop.remove_reader(fd)
    if worker.wfd is not None:
        loop.remove_writer(worker.wfd)


def _reap(worker: Worker, timeout: float | None) -> int:
    import subprocess

    try:
        return worker.reap(timeout)
    except subprocess.TimeoutExpired:
        worker.kill()
        return worker.reap(None)


def _kill_all(workers: set[Worker]) -> None:
    """Finalizer: no worker outlives a backend that was never shut down."""
    for worker in list(workers):
        worker.kill()
        _reap(worker, None)
    workers.clear()

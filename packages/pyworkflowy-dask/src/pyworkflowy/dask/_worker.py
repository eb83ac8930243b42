"""What runs on a dask worker: one attempt's body inside its own `TaskContext`.

Workers import this module by reference, so every worker needs pyworkflowy-dask installed
(as it needs any library its tasks use). Each worker process keeps the bodies it runs,
keyed by dask key (`_running`): `cancel_keys`, which the client sends with ``client.run``,
sets a body's cancel event and interrupts it (an exception raised in a sync body's thread
with ``PyThreadState_SetAsyncExc``; an async body's task cancelled), and `still_running`
tells the client which bodies outlived their stop. A key cancelled before its body
started is remembered (`_cancelled`, the last `CANCELLED_KEPT`), and that body then never
starts.

A body with a timeout says it begins with a ``[key]`` event on the backend's topic (its
timeout counts from there, not while it waits in the cluster's queues). Progress goes
home as structured events (``Worker.log_event``) on the backend's topic,
at most every `PROGRESS_INTERVAL` seconds per attempt; the last report is always sent.

A small value goes home the same way, as a ``[key, pickled value]`` event (at most
`HOME_LIMIT` bytes; the scheduler keeps the last events of a topic, so they stay small):
the runner has it before dask says the task is done, without fetching it.

Logs go home with the outcome: in a worker process other than the runner's, what a body
logs (while it runs, in its own thread or event loop) is caught by a handler on the
worker's root logger, kept as `pyworkflowy.backends.portable_record` makes it, and sent
back with the value (`Logged`) or on the exception (``_LOGS_ATTR``). The worker's logger
levels are set to the runner's (`Call.levels`) so what the runner would drop is not kept.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import pickle
import sys
import threading
import time
from collections import OrderedDict
from typing import Any

from pyworkflowy import Progress, TaskCancelledError, TaskContext
from pyworkflowy.backends import portable_record, task_context

__all__ = [
    "CANCELLED_KEPT",
    "HOME_LIMIT",
    "LOGS_ATTR",
    "PROGRESS_INTERVAL",
    "Call",
    "Logged",
    "SentHome",
    "allowed_failures",
    "cancel_keys",
    "run_attempt",
    "still_running",
]

PROGRESS_INTERVAL = 0.1  # seconds between two progress events of one attempt
CANCELLED_KEPT = 10_000  # keys cancelled before they started that a worker remembers
HOME_LIMIT = 8192  # bytes: a pickled value up to this size goes home in an event

_lock = threading.Lock()
_running: dict[str, _Body] = {}
_cancelled: OrderedDict[str, None] = OrderedDict()
LOGS_ATTR = "_pyworkflowy_logs"  # on a body's exception: the records it logged
_caught: contextvars.ContextVar[list[dict[str, Any]] | None] = contextvars.ContextVar(
    "pyworkflowy_dask_logs", default=None
)
_levels: list[tuple[tuple[str, int], ...]] = [()]  # the runner's levels, last applied


class _Catch(logging.Handler):
    """On a worker process's root logger: keeps what a body logs, for its outcome; other
    records go where they went before (Python's last-resort handler)."""

    def emit(self, record: logging.LogRecord) -> None:
        caught = _caught.get()
        if caught is None:
            last, alone = logging.lastResort, len(logging.getLogger().handlers) == 1
            if last is not None and alone and record.levelno >= last.level:
                last.handle(record)
        else:
            try:
                caught.append(portable_record(record))
            except Exception:
                self.handleError(record)


_catch = _Catch()


class Logged:
    """A body's value with the records it logged, as it travels home."""

    __slots__ = ("records", "value")

    def __init__(self, value: Any, records: list[dict[str, Any]]) -> None:
        self.value, self.records = value, records

    def __reduce__(self) -> tuple[Any, ...]:
        return (Logged, (self.value, self.records))


def _use_levels(levels: tuple[tuple[str, int], ...]) -> None:
    """Set this process's logger levels to the runner's (once per change); catch logs."""
    with _lock:
        if _catch not in logging.getLogger().handlers:
            logging.getLogger().addHandler(_catch)
        if levels == _levels[0]:
            return
        now = dict(levels)
        for name, _ in _levels[0]:  # levels the runner no longer sets
            if name not in now:
                logging.getLogger(name or None).setLevel(logging.NOTSET)
        for name, level in levels:
            logging.getLogger(name or None).setLevel(level)
        _levels[0] = levels


class Call:
    """One attempt as it travels: the pickled call and what `current_task()` says.

    A plain object rather than a tuple or dict: dask does not look inside it for keys.
    """

    __slots__ = (
        "handle_id",
        "home",
        "idempotency_key",
        "is_async",
        "key",
        "levels",
        "name",
        "number",
        "payload",
        "timed",
        "topic",
    )

    def __init__(
        self,
        payload: bytes,
        key: str,
        name: str,
        handle_id: str,
        number: int,
        is_async: bool,
        topic: str,
        idempotency_key: str,
        home: int = 0,
        levels: tuple[tuple[str, int], ...] = (),
        timed: bool = False,
    ) -> None:
        self.payload = payload  # pickled (fn, args, kwargs)
        self.key = key
        self.name = name
        self.handle_id = handle_id
        self.number = number
        self.is_async = is_async
        self.topic = topic
        self.idempotency_key = idempotency_key
        self.home = home  # the runner's process id: logs are caught in other processes
        self.levels = levels  # the runner's logger levels when its run started
        self.timed = timed  # it has a timeout: say when the body begins (``[key]`` event)

    def __reduce__(self) -> tuple[Any, ...]:
        fields = (self.payload, self.key, self.name, self.handle_id, self.number)
        extra = (
            self.is_async,
            self.topic,
            self.idempotency_key,
            self.home,
            self.levels,
            self.timed,
        )
        return (Call, (*fields, *extra))


def run_attempt(call: Call) -> Any:
    """The dask task of every attempt: run the body, bound to a `TaskContext`.

    A sync body runs on the worker thread dask gives the task; an async body in an event
    loop of its own (`asyncio.run`) on that thread. Either can be stopped (`cancel_keys`).
    """
    body = _Body()
    with _lock:
        if call.key in _cancelled:
            del _cancelled[call.key]
            raise TaskCancelledError(
                f"task {call.handle_id!r} was cancelled before its body started on a dask worker"
            )
        _running[call.key] = body
    sender = _ProgressSender(call.key, call.topic)
    sender.worker = worker = _this_worker()
    if call.timed and worker is not None:  # its timeout counts from now, not from submit
        worker.log_event(call.topic, [call.key])
    context = TaskContext(
        call.name,
        call.handle_id,
        call.number,
        cancel_event=body.cancel,
        on_progress=sender.send,
        idempotency_key=call.idempotency_key,
    )
    caught: list[dict[str, Any]] | None = None
    token = None
    if call.home and call.home != os.getpid():  # in the runner's process logs are home
        _use_levels(call.levels)
        caught = []
        token = _caught.set(caught)
    try:
        try:
            fn, args, kwargs = pickle.loads(call.payload)
        except Exception as exc:
            exc.add_note(
                f"pyworkflowy could not load the call of task {call.handle_id!r} on this dask "
                "worker: are the modules it uses installed there?"
            )
            raise
        with task_context(context):
            if call.is_async:
                value = _run_async(body, fn, args, kwargs)
            else:
                value = _run_sync(body, fn, args, kwargs)
    except _Stop:
        raise TaskCancelledError(
            f"task {call.handle_id!r} was stopped on its dask worker"
        ) from None
    except BaseException as exc:
        if caught:
            with contextlib.suppress(Exception):  # an exception without a __dict__
                setattr(exc, LOGS_ATTR, caught)
        raise
    finally:
        if token is not None:
            _caught.reset(token)
        with _lock:
            _running.pop(call.key, None)
        sender.flush()
    if caught:
        return Logged(value, caught)
    return _send_home(sender.worker, call, value)


class SentHome:
    """What dask keeps of a value that went home in an event (`_send_home`)."""

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, ...]:
        return (SentHome, ())


def _send_home(worker: Any, call: Call, value: Any) -> Any:
    """A small value goes home at once, in a ``[key, pickled value]`` event on the
    backend's topic: it reaches the client ahead of dask's "done", and the client need
    not fetch it (a round trip through the scheduler). Dask keeps a `SentHome` instead.
    A large or unpicklable value is returned for dask to keep and the client to fetch."""
    if worker is None or sys.getsizeof(value) > HOME_LIMIT:
        return value
    try:
        data = pickle.dumps(value, protocol=5)
    except Exception:
        return value
    if len(data) > HOME_LIMIT:
        return value
    worker.log_event(call.topic, [call.key, data])
    return SentHome()


class _Stop(BaseException):
    """Raised inside a sync body to stop it: a `BaseException`, so ``except Exception``
    in the body does not swallow it."""


class _Body:
    """A body running on this worker, and how to stop it. Fields change under `_lock`."""

    __slots__ = ("cancel", "done", "loop", "stopped", "task", "thread")

    def __init__(self) -> None:
        self.cancel = threading.Event()  # the body's current_task().cancel_event
        self.thread: int | None = None  # a sync body's thread
        self.loop: Any = None  # an async body's event loop and task
        self.task: Any = None
        self.stopped = False  # an interruption was sent
        self.done = False  # the body has returned: nothing may be interrupted now


def _run_sync(body: _Body, fn: Any, args: Any, kwargs: Any) -> Any:
    with _lock:
        if body.stopped:
            raise _Stop
        body.thread = threading.get_ident()
    try:
        return fn(*args, **kwargs)
    finally:
        _settle(body)


def _run_async(body: _Body, fn: Any, args: Any, kwargs: Any) -> Any:
    import asyncio

    async def main() -> Any:
        with _lock:
            if body.stopped:
                raise _Stop
            body.loop, body.task = asyncio.get_running_loop(), asyncio.current_task()
        return await fn(*args, **kwargs)

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        if body.stopped:
            raise _Stop from None
        raise
    finally:
        _settle(body)


def _settle(body: _Body) -> None:
    """The body has returned: no interruption may reach its thread after this."""
    with _lock:
        body.done = True
        if body.stopped and body.thread is not None:
            _async_exc(body.thread, None)  # drop one not delivered yet


def _async_exc(thread: int, exc: type[BaseException] | None) -> None:
    """Raise ``exc`` in ``thread`` at its next Python instruction (None: clear)."""
    import ctypes

    target = ctypes.c_ulong(thread)
    ctypes.pythonapi.PyThreadState_SetAsyncExc(target, ctypes.py_object(exc) if exc else None)


def _interrupt(body: _Body) -> None:
    """Stop a running body: an exception in its thread, or its asyncio task cancelled.

    Python code stops at once; a body blocked in C (a sleep, a socket read, numpy) stops
    when that call returns, or by a worker restart (the backend's ``stop_grace``).
    """
    if body.done or body.stopped:
        return
    body.stopped = True
    if body.loop is not None:
        with contextlib.suppress(RuntimeError):  # its loop closed as it returned
            body.loop.call_soon_threadsafe(body.task.cancel)
    elif body.thread is not None:
        _async_exc(body.thread, _Stop)


def cancel_keys(keys: list[str]) -> int:
    """Run by ``client.run`` on each worker: stop the bodies of ``keys``.

    Sets each body's cancel event and interrupts it. Returns how many bodies of this
    worker process were told (the others are remembered, so that a body that has not
    started yet does not start).
    """
    told = 0
    with _lock:
        for key in keys:
            body = _running.get(key)
            if body is not None:
                body.cancel.set()
                _interrupt(body)
                told += 1
            else:
                _cancelled[key] = None
        while len(_cancelled) > CANCELLED_KEPT:
            _cancelled.popitem(last=False)
    return told


def still_running(keys: list[str]) -> list[str]:
    """Run by ``client.run`` after the stop grace: which of ``keys`` still run here."""
    with _lock:
        return [key for key in keys if (body := _running.get(key)) is not None and not body.done]


def allowed_failures(dask_scheduler: Any) -> int:
    """Run by ``client.run_on_scheduler``: how often it re-runs a dead worker's task."""
    return dask_scheduler.allowed_failures


class _ProgressSender:
    """Sends a body's progress home as structured events, throttled, the last one kept."""

    __slots__ = ("key", "last", "pending", "topic", "worker")

    def __init__(self, key: str, topic: str) -> None:
        self.key, self.topic = key, topic
        self.last = float("-inf")
        self.pending: Progress | None = None
        self.worker: Any = None  # the dask Worker (None: run outside a worker)

    def send(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_INTERVAL:
            self.pending = progress
            return
        self.pending = None
        self.last = now
        self._log(progress)

    def flush(self) -> None:
        progress, self.pending = self.pending, None
        if progress is not None:
            self._log(progress)

    def _log(self, progress: Progress) -> None:
        if self.worker is not None:
            message = [self.key, progress.done, progress.total, progress.message]
            self.worker.log_event(self.topic, message)  # from any thread


def _this_worker() -> Any:
    """The dask `Worker` running this task thread (``None`` outside one)."""
    from distributed import get_worker

    try:
        return get_worker()
    except ValueError:
        return None

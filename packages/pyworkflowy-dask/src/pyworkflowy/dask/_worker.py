"""What runs on a dask worker: one attempt's body inside its own `TaskContext`.

Workers import this module by reference, so every worker needs pyworkflowy-dask installed
(as it needs any library its tasks use). Each worker process keeps the cancel events of the
bodies it runs, keyed by dask key (`_running`): `cancel_keys`, which the client sends with
``client.run``, sets them. A key cancelled before its body started is remembered
(`_cancelled`, the last `CANCELLED_KEPT`), and that body then never starts.

Progress goes home as structured events (``Worker.log_event``) on the backend's topic,
at most every `PROGRESS_INTERVAL` seconds per attempt; the last report is always sent.
"""

from __future__ import annotations

import pickle
import threading
import time
from collections import OrderedDict
from typing import Any

from pyworkflowy import Progress, TaskCancelledError, TaskContext
from pyworkflowy.backends import task_context

__all__ = ["CANCELLED_KEPT", "PROGRESS_INTERVAL", "Call", "cancel_keys", "run_attempt"]

PROGRESS_INTERVAL = 0.1  # seconds between two progress events of one attempt
CANCELLED_KEPT = 10_000  # keys cancelled before they started that a worker remembers

_lock = threading.Lock()
_running: dict[str, threading.Event] = {}
_cancelled: OrderedDict[str, None] = OrderedDict()


class Call:
    """One attempt as it travels: the pickled call and what `current_task()` says.

    A plain object rather than a tuple or dict: dask does not look inside it for keys.
    """

    __slots__ = ("handle_id", "is_async", "key", "name", "number", "payload", "topic")

    def __init__(
        self,
        payload: bytes,
        key: str,
        name: str,
        handle_id: str,
        number: int,
        is_async: bool,
        topic: str,
    ) -> None:
        self.payload = payload  # pickled (fn, args, kwargs)
        self.key = key
        self.name = name
        self.handle_id = handle_id
        self.number = number
        self.is_async = is_async
        self.topic = topic

    def __reduce__(self) -> tuple[Any, ...]:
        fields = (self.payload, self.key, self.name, self.handle_id, self.number)
        return (Call, (*fields, self.is_async, self.topic))


def run_attempt(call: Call) -> Any:
    """The dask task of every attempt: run the body, bound to a `TaskContext`.

    An async body runs in an event loop of its own (`asyncio.run`) on the worker thread.
    """
    cancel = threading.Event()
    with _lock:
        if call.key in _cancelled:
            del _cancelled[call.key]
            raise TaskCancelledError(
                f"task {call.handle_id!r} was cancelled before its body started on a dask worker"
            )
        _running[call.key] = cancel
    sender = _ProgressSender(call.key, call.topic)
    sender.worker = _this_worker()
    context = TaskContext(
        call.name, call.handle_id, call.number, cancel_event=cancel, on_progress=sender.send
    )
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
                import asyncio

                return asyncio.run(fn(*args, **kwargs))
            return fn(*args, **kwargs)
    finally:
        with _lock:
            _running.pop(call.key, None)
        sender.flush()


def cancel_keys(keys: list[str]) -> int:
    """Run by ``client.run`` on each worker: set the cancel events of ``keys``.

    Returns how many bodies of this worker process were told (the others are remembered,
    so that a body that has not started yet does not start).
    """
    told = 0
    with _lock:
        for key in keys:
            event = _running.get(key)
            if event is not None:
                event.set()
                told += 1
            else:
                _cancelled[key] = None
        while len(_cancelled) > CANCELLED_KEPT:
            _cancelled.popitem(last=False)
    return told


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

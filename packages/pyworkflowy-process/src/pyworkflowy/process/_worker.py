"""What a worker process runs: read a call from the parent, run it, send the outcome back.

A worker is a fresh interpreter started by `pyworkflowy.process._pool`; it talks to its
parent over two pipes, one call at a time. Frames: a call is ``REQUEST`` (the lengths of
the meta, function and call parts, the number of out-of-band buffers and of evicted
tokens), the buffers' lengths (``!Q`` each) and tokens (``!q`` each), the evicted tokens
(``!Q`` each), then the meta, function and call parts and the buffers (the protocol 5
buffers the call's pickle refers to: numpy arrays travel so, uncopied). A buffer's token
is 0 for one used once, ``t`` for a read-only one the worker keeps as ``t``, and ``-t`` for
one it already keeps (nothing is sent). A reply
is ``REPLY`` (kind and length) followed by a pickle: the value (``OK``) or ``(exception,
traceback text)`` (``ERROR``); before the reply, a body may send ``PROGRESS`` frames of
``(done, total, message)`` and ``LOG`` frames (a record the body logged, as
`pyworkflowy.backends.portable_record` makes it). The call's meta carries the levels the
parent's loggers had when its run started; the worker sets its own to them, so a record
the parent would drop is not sent. The parent kills a worker to stop its task; a worker
whose pipe reaches EOF (the parent closed it or died) exits; one whose parent dies while it
runs a task is ended by its lifeline thread (`_watch_parent`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import struct
import sys
import threading
import time
import traceback
from typing import Any

from pyworkflowy import TaskContext
from pyworkflowy.backends import portable_record, task_context
from pyworkflowy.events import Progress

__all__ = ["ERROR", "LOG", "OK", "PROGRESS", "REPLY", "REQUEST", "main", "resolve_task_fn"]

REQUEST = struct.Struct("!QQQQQ")
REPLY = struct.Struct("!BQ")
OK, ERROR, PROGRESS, LOG = 0, 1, 2, 3
_PROTOCOL = 5
_PROGRESS_EVERY = 0.1  # seconds: progress is sent home at most this often (and at the end)
_write_lock = threading.Lock()  # a body's own threads may report progress too


class _ProgressSender:
    """Sends a body's progress to the parent, throttled; the last report is never lost."""

    __slots__ = ("last", "pending", "wfd")

    def __init__(self, wfd: int) -> None:
        self.wfd, self.last = wfd, float("-inf")
        self.pending: Progress | None = None

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self.last < _PROGRESS_EVERY:
            self.pending = progress
            return
        self.last, self.pending = now, None
        self._send(progress)

    def flush(self) -> None:
        if self.pending is not None:
            progress, self.pending = self.pending, None
            self._send(progress)

    def _send(self, progress: Progress) -> None:
        body = pickle.dumps(tuple(progress), protocol=_PROTOCOL)
        # If the parent went away, the reply write notices and ends the worker.
        with contextlib.suppress(OSError):
            _write_all(self.wfd, REPLY.pack(PROGRESS, len(body)), body)


class _LogSender(logging.Handler):
    """On the worker's root logger: while a body runs, each record goes to the parent;
    between bodies, Python's last-resort handler prints it (as it would have)."""

    def __init__(self) -> None:
        super().__init__()
        self.wfd = -1  # the reply pipe while a body runs
        self.levels: tuple[tuple[str, int], ...] = ()

    def emit(self, record: logging.LogRecord) -> None:
        wfd = self.wfd
        if wfd < 0:
            last = logging.lastResort
            if last is not None and record.levelno >= last.level:
                last.handle(record)
            return
        try:
            body = pickle.dumps(portable_record(record), protocol=_PROTOCOL)
            _write_all(wfd, REPLY.pack(LOG, len(body)), body)
        except OSError:
            pass  # the parent went away: the reply write notices and ends the worker
        except Exception:
            self.handleError(record)

    def use_levels(self, levels: tuple[tuple[str, int], ...]) -> None:
        """Set this process's logger levels to the parent's (when they changed)."""
        if levels == self.levels:
            return
        now = dict(levels)
        for name, _ in self.levels:  # levels the parent no longer sets
            if name not in now:
                logging.getLogger(name or None).setLevel(logging.NOTSET)
        for name, level in levels:
            logging.getLogger(name or None).setLevel(level)
        self.levels = levels


_log_sender = _LogSender()


def resolve_task_fn(module: str, qualname: str, attr: str | None) -> Any:
    """Load a by-reference task body: a module-level `Task` or a `TaskBase` subclass."""
    import importlib

    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if attr is None:
        return obj.fn
    return getattr(object.__new__(obj), attr)  # TaskBase() itself returns a Task


def main(rfd: int, wfd: int, lifeline: int = -1) -> None:
    """Serve calls from the parent until it closes the pipe (or dies: see `_watch_parent`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    for fd in (rfd, wfd, lifeline):  # subprocesses started by task bodies do not get them
        if fd >= 0:
            os.set_inheritable(fd, False)
    if lifeline >= 0:
        threading.Thread(
            target=_watch_parent, args=(lifeline,), name="pyworkflowy-lifeline", daemon=True
        ).start()
    for stream in (sys.stdout, sys.stderr):  # a killed worker's last lines still show
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
    logging.getLogger().addHandler(_log_sender)
    with open(rfd, "rb", buffering=1 << 16) as reader:
        _serve(reader, wfd)


def _watch_parent(lifeline: int) -> None:
    """End this worker, and what its task started, once the parent has died.

    The parent holds the write end of ``lifeline`` and never writes to it: the read
    returns (EOF) only when every copy is closed, that is when the parent has exited,
    however it ended (SIGKILL included). The worker leads its own process group (the
    parent starts it so), which also holds the processes its task started; the whole
    group is killed, so a body that never returns does not outlive its parent either.
    """
    try:
        if os.read(lifeline, 1):
            return  # not our pipe any more: a body closed it and the number was reused
    except OSError:  # a body closed it (as a daemonising library does): no lifeline left
        return
    with contextlib.suppress(OSError):
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(1)


def _serve(reader: Any, wfd: int) -> None:
    read = reader.read
    shared: dict[int, memoryview] = {}  # read-only buffers kept for later calls, by token
    while True:
        head = read(REQUEST.size)
        if len(head) < REQUEST.size:
            return  # EOF: the parent is done with this worker
        meta_len, fn_len, call_len, count, dropped = REQUEST.unpack(head)
        table = struct.unpack(f"!{count}Q{count}q{dropped}Q", read(16 * count + 8 * dropped))
        for token in table[2 * count :]:
            shared.pop(token, None)
        meta = read(meta_len)
        fn_bytes = read(fn_len) if fn_len else b""
        call = read(call_len)
        if len(call) < call_len:
            return
        buffers: list[Any] = []
        for size, token in zip(table[:count], table[count : 2 * count], strict=True):
            if token < 0:
                buffers.append(shared[-token])
                continue
            buffer = bytearray(size)  # writable: a numpy array loaded on it is writable too
            if reader.readinto(buffer) < size:  # type: ignore[attr-defined]
                return
            if token:  # read-only in the parent, and here: every task shares this copy
                shared[token] = memoryview(buffer).toreadonly()
                buffers.append(shared[token])
            else:
                buffers.append(buffer)
        kind, body = run_call(meta, fn_bytes, call, wfd, buffers)
        del buffers
        try:
            _write_all(wfd, REPLY.pack(kind, len(body)), body)
        except OSError:
            return  # the parent went away


def run_call(
    meta: bytes, fn_bytes: bytes, call: bytes, wfd: int = -1, buffers: list[Any] | None = None
) -> tuple[int, bytes]:
    """Load and run one call; returns the reply kind and body."""
    task_id, name, attempt, key, levels = pickle.loads(meta)
    _log_sender.use_levels(levels)
    try:
        if fn_bytes:
            fn = pickle.loads(fn_bytes)
            args, kwargs = pickle.loads(call, buffers=buffers)
        else:
            fn, args, kwargs = pickle.loads(call, buffers=buffers)
    except BaseException as exc:
        from ._errors import SerializationError

        error = SerializationError(
            f"task {task_id!r} could not be loaded in the worker process: "
            f"{type(exc).__name__}: {exc}"
        )
        return ERROR, encode_error(error, _format(exc, skip=0))
    # cancel_event stays clear: cancelling a running process task kills its worker.
    sender = _ProgressSender(wfd) if wfd >= 0 else None
    context = TaskContext(name, task_id, attempt, on_progress=sender, idempotency_key=key)
    _log_sender.wfd = wfd
    try:
        with task_context(context):
            value = fn(*args, **kwargs)
    except BaseException as exc:
        return ERROR, encode_error(exc, _format(exc, skip=1))
    finally:
        _log_sender.wfd = -1
        if sender is not None:
            sender.flush()
        _flush()
    return encode_value(value, task_id)


def encode_value(value: Any, task_id: str) -> tuple[int, bytes]:
    """Pickle a return value (plain pickle first, cloudpickle for by-value objects)."""
    try:
        return OK, pickle.dumps(value, protocol=_PROTOCOL)
    except Exception:
        pass
    from ._diagnose import describe_unpicklable
    from ._serialize import dumps

    try:
        return OK, dumps(value)
    except Exception as exc:
        error: BaseException = exc
    from ._errors import SerializationError

    detail, error = describe_unpicklable(value, "result") or ("", error)
    message = (
        f"task {task_id!r}: its result, a {type(value).__qualname__}, cannot be sent back "
        f"from the worker process{detail}: {error}"
    )
    return ERROR, encode_error(SerializationError(message), "")


def encode_error(exc: BaseException, tb: str) -> bytes:
    """Pickle ``(exc, tb)``; an exception that cannot make the trip becomes a RuntimeError."""
    try:
        return _round_trip((exc, tb))
    except Exception as why:
        try:
            text = f"{type(exc).__qualname__}: {exc}"
        except Exception:
            text = type(exc).__qualname__
        substitute = RuntimeError(
            f"{text} (the original {type(exc).__qualname__} could not be sent back from "
            f"the worker process: {why})"
        )
        return pickle.dumps((substitute, tb), protocol=_PROTOCOL)


def _round_trip(obj: Any) -> bytes:
    """Bytes that are known to load (an exception's __init__ may not accept its args)."""
    try:
        data = pickle.dumps(obj, protocol=_PROTOCOL)
    except Exception:
        from ._serialize import dumps

        data = dumps(obj)
    pickle.loads(data)
    return data


def _format(exc: BaseException, skip: int) -> str:
    tb = exc.__traceback__
    for _ in range(skip):  # drop this module's own frame
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass


def _write_all(fd: int, head: bytes, body: bytes) -> None:
    with _write_lock:
        _write_frame(fd, head, body)


def _write_frame(fd: int, head: bytes, body: bytes) -> None:
    written = os.writev(fd, [head, body])
    total = len(head) + len(body)
    if written < total:
        rest = memoryview(head + body)[written:]
        while rest:
            rest = rest[os.write(fd, rest) :]

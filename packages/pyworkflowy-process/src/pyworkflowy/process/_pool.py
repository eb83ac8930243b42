"""One worker process and its pipes, as the parent sees them.

Start method: every worker is a fresh interpreter (``sys.executable -c ...`` through
`subprocess`, the parent's ``sys.path`` handed over), the equivalent of multiprocessing's
"spawn" without its re-import of ``__main__``. Not "fork": forking a process that runs
threads (the runner has a thread pool) can deadlock the child. Not "forkserver" or
"spawn": both re-run an unguarded ``__main__`` script in every worker, and cloudpickle
makes that unnecessary, since functions from ``__main__`` travel by value.

The parent's ends of the pipes are non-blocking and watched with ``loop.add_reader``; a
worker's death is seen through a pidfd on Linux (readable when the process exits) and
through EOF on its reply pipe elsewhere. No helper threads, no polling.

Each worker leads a process group of its own, so that killing it (a timeout, a cancel, an
aborted run) kills the processes its task started too; and it holds the read end of a
lifeline pipe the parent never writes to, so that it ends itself, and its group, when the
parent dies, even while a task runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from typing import Any

from ._worker import REPLY

__all__ = ["Worker", "exit_description"]

_READ_CHUNK = 1 << 16
_IOV_MAX = 512  # chunks per writev call (POSIX guarantees at least 16; Linux takes 1024)
_have_pidfd = hasattr(os, "pidfd_open")


def _interpreter_flags() -> list[str]:
    flags = getattr(subprocess, "_args_from_interpreter_flags", None)  # what multiprocessing uses
    try:
        return list(flags()) if flags is not None else []
    except Exception:
        return []


class Worker:
    """A worker process: its pipes, its pidfd, the job it runs and the bytes in flight."""

    __slots__ = (
        "exited",
        "inbuf",
        "job",
        "lifeline",
        "outbuf",
        "pid",
        "pidfd",
        "proc",
        "rfd",
        "shared",
        "wfd",
    )

    def __init__(self) -> None:
        executable = sys.executable
        if not executable:
            raise RuntimeError(
                "the process backend needs sys.executable to start worker processes, "
                "and it is empty in this interpreter"
            )
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        life_r, life_w = os.pipe()  # never written: its EOF tells the worker we are gone
        boot = (
            f"import sys; sys.path[:] = {list(sys.path)!r}; "
            "from pyworkflowy.process._worker import main; "
            "main(*map(int, sys.argv[1:]))"
        )
        child_fds = (to_child_r, from_child_w, life_r)
        try:
            self.proc = subprocess.Popen(
                [executable, *_interpreter_flags(), "-c", boot, *map(str, child_fds)],
                stdin=subprocess.DEVNULL,
                pass_fds=child_fds,
                # its own process group: `kill` ends the processes its task started too
                process_group=0,
            )
        except BaseException:
            for fd in (*child_fds, to_child_w, from_child_r, life_w):
                os.close(fd)
            raise
        for fd in child_fds:
            os.close(fd)
        self.lifeline: int | None = life_w
        os.set_blocking(to_child_w, False)
        os.set_blocking(from_child_r, False)
        self.pid = self.proc.pid
        self.wfd: int | None = to_child_w
        self.rfd: int | None = from_child_r
        self.pidfd: int | None = None
        if _have_pidfd:
            with contextlib.suppress(OSError):  # an old kernel: EOF on the pipe tells instead
                self.pidfd = os.pidfd_open(self.pid)
        self.job: Any = None
        self.inbuf = bytearray()
        self.outbuf: list[Any] | None = None  # bytes and views not written yet
        self.exited = False
        #: tokens of the read-only buffers this worker keeps (`ProcessBackend._share`), with
        #: their sizes, least recently used first
        self.shared: dict[int, int] = {}

    def send(self, chunks: list[Any]) -> bool:
        """Write a frame without blocking; the rest waits in ``outbuf`` for ``flush``.

        ``chunks`` are bytes or memoryviews; what is not written yet is kept as views of
        them, never copied. False if the worker is gone (broken pipe).
        """
        fd = self.wfd
        if fd is None:
            return False
        try:
            written = _writev(fd, chunks)
        except BlockingIOError:
            written = 0
        except OSError:  # BrokenPipeError: the worker has exited
            return False
        rest = _after(chunks, written)
        self.outbuf = rest or None
        return True

    def flush(self) -> bool:
        """Write more of ``outbuf``; True once it is empty. Raises OSError if the pipe broke."""
        rest = self.outbuf
        if rest is None or self.wfd is None:
            self.outbuf = None
            return True
        try:
            written = _writev(self.wfd, rest)
        except BlockingIOError:
            return False
        rest = _after(rest, written)
        self.outbuf = rest or None
        return not rest

    def read(self) -> tuple[list[tuple[int, bytes]], bool]:
        """Read what is available: the complete replies, and whether EOF was reached."""
        fd = self.rfd
        if fd is None:
            return [], True
        buf = self.inbuf
        eof = False
        while True:
            try:
                chunk = os.read(fd, _READ_CHUNK)
            except BlockingIOError:
                break
            except OSError:
                eof = True
                break
            if not chunk:
                eof = True
                break
            buf += chunk
            if len(chunk) < _READ_CHUNK:
                break  # drained for now; the loop calls again when more arrives
        messages: list[tuple[int, bytes]] = []
        size, pos, have = REPLY.size, 0, len(buf)
        while have - pos >= size:
            kind, length = REPLY.unpack_from(buf, pos)
            end = pos + size + length
            if have < end:
                break
            with memoryview(buf) as view:
                messages.append((kind, bytes(view[pos + size : end])))
            pos = end
        if pos:
            del buf[:pos]
        return messages, eof

    def kill(self) -> None:
        """SIGKILL the process and its process group, which holds the processes its task
        started (a ``subprocess.Popen`` in the body); it is reaped later, by `reap`."""
        if self.proc.returncode is None:  # not reaped: its pid is still its group's id
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)

    def close_pipes(self) -> None:
        for name in ("wfd", "rfd"):
            fd = getattr(self, name)
            if fd is not None:
                setattr(self, name, None)
                os.close(fd)
        self.outbuf = None

    def reap(self, timeout: float | None = None) -> int:
        """Wait for the exit status and release every descriptor."""
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.returncode is not None:
                self.close_pipes()
                for name in ("pidfd", "lifeline"):
                    fd = getattr(self, name)
                    if fd is not None:
                        setattr(self, name, None)
                        os.close(fd)
        self.exited = True
        return code


def _writev(fd: int, chunks: list[Any]) -> int:
    """``os.writev`` of at most ``_IOV_MAX`` chunks (the system's limit per call)."""
    return os.writev(fd, chunks if len(chunks) <= _IOV_MAX else chunks[:_IOV_MAX])


def _after(chunks: list[Any], written: int) -> list[Any]:
    """What is left of ``chunks`` (bytes, or 1-D byte views) once ``written`` bytes went."""
    for i, chunk in enumerate(chunks):
        size = len(chunk)
        if written < size:
            rest = chunks[i:]
            if written:
                rest[0] = memoryview(chunk)[written:]
            return rest
        written -= size
    return []


def exit_description(code: int) -> str:
    """``exited with code 3`` / ``killed by signal SIGKILL``."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by signal {name}"
    return f"exited with code {code}"

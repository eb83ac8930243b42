"""One run at a time per checkpoint: a lock file beside it, held with ``flock``.

A runner made with a file checkpointer takes the hold (`Checkpointer.acquire`) and gives it
back on ``close()``. The hold is ``<checkpoint>.lock``, locked with an exclusive ``flock``
and holding the holder's pid; the kernel drops the lock when its process ends however it
ends (even ``kill -9``), so a stale lock file is simply locked again by the next run. Runners
of one process share their process's hold (they take turns on one event loop or know of
each other); only another process is refused. Where ``fcntl`` is missing (Windows) there
is no hold.
"""

from __future__ import annotations

import os
import threading
import weakref
from pathlib import Path

from pyworkflowy import CheckpointError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["Hold"]

_lock = threading.Lock()
_held: dict[str, tuple[int, int]] = {}  # lock file -> (its fd, how many holders here)


class Hold:
    """A checkpointer's share of its process's hold on ``path``."""

    __slots__ = ("_finalizer", "_key")

    def __init__(self) -> None:
        self._key: str | None = None
        self._finalizer: weakref.finalize[..., None] | None = None

    @property
    def held(self) -> bool:
        return self._key is not None

    def acquire(self, owner: object, path: Path, where: str) -> None:
        """Take the hold for ``owner`` (released when it is collected, if not before), or
        raise `CheckpointError` naming the live process that has it."""
        if self._key is not None or fcntl is None:
            return
        key = os.path.realpath(path) + ".lock"
        with _lock:
            fd, count = _held.get(key, (-1, 0))
            if count == 0:
                fd = _lock_file(key, where)
            _held[key] = (fd, count + 1)
        self._key = key
        self._finalizer = weakref.finalize(owner, self.release)

    def release(self) -> None:
        """Give the hold back (the last holder in this process unlocks and removes it)."""
        key, self._key = self._key, None
        if key is None:
            return
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        with _lock:
            fd, count = _held.pop(key)
            if count > 1:
                _held[key] = (fd, count - 1)
                return
            try:
                os.unlink(key)  # still locked: nobody else can be holding this file
            except OSError:
                pass  # gone already, or its folder went read-only: the lock is what counts
            finally:
                os.close(fd)


def _lock_file(key: str, where: str) -> int:
    """Open, lock and stamp ``key`` with this pid; the fd stays open while held."""
    assert fcntl is not None
    while True:
        try:
            fd = os.open(key, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        except OSError as exc:
            raise CheckpointError(
                f"cannot use {where}: its lock file {key!r} cannot be created ({exc}); the "
                "checkpoint's folder must be writable"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise CheckpointError(
                f"{where} is in use by a live run (pid {holder}): wait for that run to end "
                "or stop it, or give this run another checkpoint path"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(key).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # its holder removed it as we opened it: lock the new one
            os.close(fd)
            continue
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise CheckpointError(f"cannot use {where}: writing {key!r} failed: {exc}") from exc
        return fd


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "unknown"

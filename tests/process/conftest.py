"""Shared fixtures for the process-backend tests: cross-process handshakes, no sleeps.

A worker process cannot share a `threading.Event` with the test, so handshakes go through
a named pipe: the task body writes to it, a watcher thread in the test reads it.
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

Watch = Callable[[str, Callable[[str], object]], threading.Thread]


@pytest.fixture
def fifo(tmp_path: Path) -> str:
    """The path of a fresh named pipe."""
    path = tmp_path / "handshake"
    os.mkfifo(path)
    return str(path)


@pytest.fixture
def watch() -> Watch:
    """``watch(path, then)``: a daemon thread waits for one message on ``path``, calls ``then``."""

    def start(path: str, then: Callable[[str], object]) -> threading.Thread:
        def run() -> None:
            with open(path) as pipe:
                then(pipe.read())

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    return start


@pytest.fixture
def children() -> Callable[[], set[int]]:
    """A function listing the pids of this process's live children (Linux /proc)."""
    root = Path("/proc/self/task")
    if not (root / str(os.getpid()) / "children").exists():
        pytest.skip("needs /proc/<pid>/task/<tid>/children")

    def pids() -> set[int]:
        found: set[int] = set()
        for task_dir in root.iterdir():
            try:
                found.update(int(p) for p in (task_dir / "children").read_text().split())
            except FileNotFoundError:  # that thread ended meanwhile
                continue
        return found

    return pids


def _ended(pid: int, timeout: float = 10.0) -> bool:
    """True once process ``pid`` has exited (reaped or a zombie), waiting up to ``timeout``."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True  # already reaped
    try:
        readable, _, _ = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    return bool(readable)


@pytest.fixture
def ended() -> Callable[..., bool]:
    """``ended(pid, timeout=10.0)``: waits for a process to exit; False if it did not in time."""
    if not hasattr(os, "pidfd_open"):
        pytest.skip("needs os.pidfd_open (Linux)")
    return _ended

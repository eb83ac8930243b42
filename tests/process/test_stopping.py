"""Stopping cleanly: a stopped process task takes the processes it started with it, a
worker does not outlive its parent, and workers leave no unclosed files behind.

Handshakes go through named pipes (see conftest); a process is seen to end through a
pidfd, with a generous bound as the only guard against a hang.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pyworkflowy import TaskCancelledError, TaskRunner, TaskTimeoutError, task

Watch = Callable[[str, Callable[[str], object]], threading.Thread]  # the conftest fixture


def start_sleep_then_hang(path: str) -> None:
    """Start ``sleep 60``, tell its pid through ``path``, and never return."""
    child = subprocess.Popen(["sleep", "60"])
    with open(path, "w") as pipe:
        pipe.write(str(child.pid))
    threading.Event().wait()


@pytest.fixture
def leftovers() -> Iterator[list[int]]:
    """Pids to SIGKILL after the test, should it fail and leave them running."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def test_a_timed_out_task_takes_the_processes_it_started_with_it(
    fifo: str, watch: Watch, ended: Callable[..., bool], leftovers: list[int]
) -> None:
    watch(fifo, lambda pid: leftovers.append(int(pid)))
    with TaskRunner(backend="process", on_task_error="continue") as runner:
        handle = runner.submit(task(timeout=5)(start_sleep_then_hang), fifo)
        runner.run()
    assert isinstance(handle.exception(), TaskTimeoutError)
    assert ended(leftovers[0], timeout=30)  # the `sleep 60` was killed with the worker


def test_a_cancelled_task_takes_the_processes_it_started_with_it(
    fifo: str, watch: Watch, ended: Callable[..., bool], leftovers: list[int]
) -> None:
    def cancel(pid: str) -> None:
        leftovers.append(int(pid))
        handle.cancel()

    with TaskRunner(backend="process") as runner:
        handle = runner.submit(task(timeout=60)(start_sleep_then_hang), fifo)
        watch(fifo, cancel)
        runner.run()
    assert isinstance(handle.exception(), TaskCancelledError)
    assert ended(leftovers[0], timeout=30)


ORPHANED = textwrap.dedent(
    """
    import os, subprocess, threading
    from pyworkflowy import TaskRunner, task

    @task(name="forever", backend="process")
    def forever() -> None:
        child = subprocess.Popen(["sleep", "60"])
        print("worker", os.getpid(), "child", child.pid, "group", os.getpgrp(), flush=True)
        threading.Event().wait()  # never returns

    with TaskRunner() as runner:
        runner.submit(forever)
        runner.run()
    """
)


def test_a_parent_killed_with_sigkill_leaves_no_worker_behind(
    tmp_path: Path, ended: Callable[..., bool], leftovers: list[int]
) -> None:
    script = tmp_path / "parent.py"
    script.write_text(ORPHANED)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    _, worker, _, child, _, group = parent.stdout.readline().split()
    leftovers.extend((int(worker), int(child)))
    assert group == worker  # a group of its own: the terminal's Ctrl-C goes to the parent
    parent.kill()  # no cleanup of any kind runs in the parent
    parent.wait(timeout=30)
    assert ended(int(worker), timeout=30)  # the worker, busy in a body that never returns
    assert ended(int(child), timeout=30)  # and what its task started
    parent.stdout.close()


CLEAN = textwrap.dedent(
    """
    from pyworkflowy import TaskRunner, task

    @task(name="double", backend="process")
    def double(x: int) -> int:
        return 2 * x

    @task(name="hang", backend="process", timeout=0.5)
    def hang() -> None:
        import threading
        threading.Event().wait()

    with TaskRunner(max_workers=3, on_task_error="continue") as runner:
        doubled = [runner.submit(double, i) for i in range(6)]
        runner.submit(hang)
        runner.run()
    print(sum(h.result() for h in doubled), flush=True)
    """
)


def test_workers_and_their_parent_leave_no_resource_warnings(tmp_path: Path) -> None:
    script = tmp_path / "clean.py"
    script.write_text(CLEAN)
    done = subprocess.run(  # -X dev shows unclosed files; workers get the same flags
        [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "30\n"
    assert "ResourceWarning" not in done.stderr, done.stderr

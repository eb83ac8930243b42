"""A worker that dies fails only its own task, says how it died, and is replaced."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pyworkflowy import TaskError, TaskRunner, TaskStatus, current_task, task
from pyworkflowy.process import WorkerDiedError


def getpid() -> int:
    return os.getpid()


def exit_with(code: int) -> None:
    os._exit(code)


def kill_self(signum: int) -> None:
    os.kill(os.getpid(), signum)


def crash_on_first_attempt() -> int:
    ctx = current_task()
    assert ctx is not None
    if ctx.attempt == 1:
        os._exit(1)
    return ctx.attempt


def died(fn: Callable[..., object], *args: object) -> WorkerDiedError:
    with TaskRunner(max_workers=1, backend="process", on_task_error="continue") as runner:
        handle = runner.submit(fn, *args)
        runner.run()
    assert handle.status is TaskStatus.FAILED
    error = handle.exception()
    assert isinstance(error, WorkerDiedError)
    return error


def test_os_exit_fails_the_task_naming_the_exit_code() -> None:
    error = died(exit_with, 3)
    assert "exited with code 3" in str(error)
    assert error.exitcode == 3


def test_a_kill_signal_fails_the_task_naming_the_signal() -> None:
    # What the kernel's out-of-memory killer does to a process.
    error = died(kill_self, signal.SIGKILL)
    assert "killed by signal SIGKILL" in str(error)
    assert error.exitcode == -signal.SIGKILL


def test_a_terminating_signal_is_named_too() -> None:
    assert "killed by signal SIGTERM" in str(died(kill_self, signal.SIGTERM))


def test_the_error_names_the_task_and_is_a_task_error() -> None:
    error = died(exit_with, 3)
    assert "running task 'tests.process.test_crashes.exit_with#0' died" in str(error)
    assert isinstance(error, TaskError)


def test_a_crash_fails_only_its_own_task() -> None:
    def double(x: int) -> int:
        return 2 * x

    with TaskRunner(max_workers=2, backend="process", on_task_error="continue") as runner:
        crashed = runner.submit(exit_with, 9)
        others = [runner.submit(double, i) for i in range(30)]
        runner.run()
    assert crashed.status is TaskStatus.FAILED
    assert [h.result() for h in others] == [2 * i for i in range(30)]


def test_the_dead_worker_is_replaced() -> None:
    with TaskRunner(max_workers=1, backend="process", on_task_error="continue") as runner:
        before = runner.submit(getpid)
        runner.run()
        runner.submit(exit_with, 1)
        after = runner.submit(getpid)
        runner.run()
    assert after.result() != before.result()


def test_a_crashed_attempt_is_retried_in_a_new_worker() -> None:
    with TaskRunner(max_workers=1, backend="process") as runner:
        handle = runner.submit(task(retries=1)(crash_on_first_attempt))
        runner.run()
    assert handle.result() == 2


def test_a_crash_under_the_raise_policy_makes_run_raise() -> None:
    with TaskRunner(max_workers=1, backend="process") as runner:
        runner.submit(exit_with, 4)
        with pytest.raises(WorkerDiedError, match="exited with code 4"):
            runner.run()


def test_many_crashes_in_a_row_never_hang_the_run() -> None:
    with TaskRunner(max_workers=2, backend="process", on_task_error="continue") as runner:
        handles = [runner.submit(exit_with, code) for code in range(1, 9)]
        runner.run()
    assert [h.exception().exitcode for h in handles] == list(range(1, 9))  # type: ignore[union-attr]


def exhaust_memory() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (512 * 1024 * 1024, hard))
    try:
        bytearray(1024 * 1024 * 1024)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is enforced on Linux")
def test_running_out_of_memory_inside_python_is_a_memory_error() -> None:
    with TaskRunner(max_workers=1, backend="process", on_task_error="continue") as runner:
        handle = runner.submit(exhaust_memory)
        runner.run()
    assert isinstance(handle.exception(), MemoryError)


def test_a_worker_that_cannot_be_started_fails_the_task(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    with TaskRunner(max_workers=1, backend="process", on_task_error="continue") as runner:
        handle = runner.submit(getpid)
        runner.run()
    error = handle.exception()
    assert isinstance(error, FileNotFoundError)
    assert any("could not start a worker process" in n for n in error.__notes__)


def test_a_worker_whose_interpreter_fails_to_boot_fails_the_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Workers get this process's sys.path: without it they cannot import pyworkflowy.
    monkeypatch.setattr(sys, "path", [])
    with TaskRunner(max_workers=1, backend="process", on_task_error="continue") as runner:
        handle = runner.submit(getpid)
        runner.run()
    assert "exited with code 1" in str(handle.exception())


@pytest.fixture
def without_pidfd(monkeypatch: pytest.MonkeyPatch) -> None:
    """Watch workers the way systems without pidfd do: EOF on the reply pipe."""
    from pyworkflowy.process import _pool

    monkeypatch.setattr(_pool, "_have_pidfd", False)


@pytest.mark.usefixtures("without_pidfd")
def test_without_pidfd_a_crash_is_still_reported_with_its_exit_code() -> None:
    assert "exited with code 5" in str(died(exit_with, 5))


@pytest.mark.usefixtures("without_pidfd")
def test_without_pidfd_a_timeout_still_replaces_the_worker() -> None:
    def hang() -> None:
        import threading

        threading.Event().wait()

    with TaskRunner(max_workers=1, backend="process", on_task_error="continue") as runner:
        before = runner.submit(getpid)
        runner.run()
        stuck = runner.submit(task(timeout=0.5)(hang))
        after = runner.submit(getpid)
        runner.run()
    assert stuck.status is TaskStatus.FAILED
    assert after.result() != before.result()


@pytest.mark.usefixtures("without_pidfd")
def test_without_pidfd_a_worker_that_closes_its_reply_pipe_is_killed_not_waited_for() -> None:
    # Without a pidfd, EOF on the reply pipe is how a death is seen. A body that closes
    # every inherited descriptor (as a daemonising library does) and lives on cannot reply:
    # its task fails at once and its worker is killed (waiting for it hung the loop).
    def close_descriptors_and_hang() -> None:
        import os
        import threading

        os.closerange(3, 1024)
        threading.Event().wait()

    with TaskRunner(max_workers=1, backend="process", on_task_error="continue") as runner:
        stuck = runner.submit(close_descriptors_and_hang)
        runner.run()
        after = runner.submit(getpid)
        runner.run()
    error = stuck.exception()
    assert isinstance(error, WorkerDiedError)
    assert "closed its reply pipe, so it was killed" in str(error)
    assert after.result() > 0  # a fresh worker took the next task

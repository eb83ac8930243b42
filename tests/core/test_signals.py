"""Ctrl-C (and SIGTERM with ``handle_signals=True``) during ``run()``: the run is aborted,
its tasks cancelled, the checkpoint written, ``KeyboardInterrupt`` raised, and the program
exits without waiting for a body blocked in a thread."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests._children import read_line, running

PROGRAM = textwrap.dedent(
    """
    import asyncio, sys, threading
    from pyworkflowy import Checkpointer, TaskRunner, task

    class Recorder(Checkpointer):
        def __init__(self):
            self.records = {}
        def save(self, records, removed=()):
            self.records.update({hid: r["status"] for hid, r in records.items()})
        def load(self):
            return {}

    @task(name="blocked", backend="thread")
    def blocked() -> None:
        print("running", flush=True)
        threading.Event().wait()  # never returns

    @task(name="waiting")
    async def waiting() -> None:
        await asyncio.Event().wait()

    recorder = Recorder()
    with TaskRunner(checkpointer=recorder, handle_signals=HANDLE) as runner:
        runner.submit(blocked)
        runner.submit(waiting)
        try:
            runner.run()
        except KeyboardInterrupt as exc:
            print("interrupted", repr(exc), flush=True)
    print("checkpoint", sorted(recorder.records.items()), flush=True)
    """
)


def interrupt(tmp_path: Path, signum: int, handle: bool) -> subprocess.CompletedProcess[str]:
    with running(tmp_path / "work.py", PROGRAM.replace("HANDLE", str(handle))) as child:
        assert read_line(child) == "running\n"  # the blocked body has begun
        child.send_signal(signum)
        out, err = child.communicate(timeout=60)  # it exits although the body never returns
    return subprocess.CompletedProcess(child.args, child.returncode, "running\n" + out, err)


CANCELLED = "checkpoint [('blocked#0', 'cancelled'), ('waiting#0', 'cancelled')]"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_cancels_the_run_writes_the_checkpoint_and_exits(tmp_path: Path) -> None:
    done = interrupt(tmp_path, signal.SIGINT, handle=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["running", "interrupted KeyboardInterrupt()", CANCELLED]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_with_handle_signals_is_treated_as_ctrl_c(tmp_path: Path) -> None:
    done = interrupt(tmp_path, signal.SIGTERM, handle=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "running",
        "interrupted KeyboardInterrupt('SIGTERM')",
        CANCELLED,
    ]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_without_handle_signals_keeps_its_default(tmp_path: Path) -> None:
    done = interrupt(tmp_path, signal.SIGTERM, handle=False)
    assert done.returncode == -signal.SIGTERM


CAUGHT_ELSEWHERE = textwrap.dedent(
    """
    import asyncio, os, signal, threading
    from pyworkflowy import TaskRunner, task

    @task(name="blocked", backend="thread")
    def blocked() -> None:
        os.write(1, b"running\\n")  # one write: the two threads' lines do not mix
        threading.Event().wait()

    @task(name="masking")
    async def masking() -> None:  # on the loop's (the main) thread
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        os.write(1, b"masked\\n")
        await asyncio.Event().wait()

    with TaskRunner() as runner:
        runner.submit(blocked)
        runner.submit(masking)
        try:
            runner.run()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_caught_on_a_body_thread_still_wakes_the_idle_loop(tmp_path: Path) -> None:
    """The kernel may give Ctrl-C to any thread: here it can only take the body's, while
    the main thread sleeps in the loop's select() with nothing due. Its handler must still
    run (a wakeup fd), or the Ctrl-C is lost and the program hangs."""
    with running(tmp_path / "work.py", CAUGHT_ELSEWHERE) as child:
        started = {read_line(child), read_line(child)}
        assert started == {"running\n", "masked\n"}
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert out.splitlines() == ["interrupted"]


STUCK_FLUSH = textwrap.dedent(
    """
    import threading
    from pyworkflowy import Checkpointer, TaskRunner, task

    class StuckDisk(Checkpointer):
        def save(self, records, removed=()):
            if any(r["status"] == "cancelled" for r in records.values()):
                print("flushing", flush=True)
                threading.Event().wait()  # the checkpoint write after Ctrl-C never ends
        def load(self):
            return {}

    @task(name="blocked", backend="thread")
    def blocked() -> None:
        print("running", flush=True)
        threading.Event().wait()

    with TaskRunner(checkpointer=StuckDisk()) as runner:
        runner.submit(blocked)
        try:
            runner.run()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            raise
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_second_ctrl_c_while_stopping_ends_the_program_at_once(tmp_path: Path) -> None:
    with running(tmp_path / "work.py", STUCK_FLUSH) as child:
        assert read_line(child) == "running\n"
        child.send_signal(signal.SIGINT)
        assert read_line(child) == "flushing\n"  # the first Ctrl-C's cleanup is stuck
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)  # the second one ends it: no second flush
    assert out.splitlines() == ["interrupted"]
    assert child.returncode == -signal.SIGINT, err
    assert err.rstrip().endswith("KeyboardInterrupt")
    assert "never retrieved" not in err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_handle_signals_takes_sigterm_only_while_run_executes() -> None:
    from pyworkflowy import TaskRunner, task

    seen: list[object] = []

    @task
    async def look() -> None:
        seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    with TaskRunner(handle_signals=True) as runner:
        runner.submit(look)
        runner.run()
        assert signal.getsignal(signal.SIGTERM) == before  # given back after run()
    assert seen[0] != before  # taken during it


USED_AGAIN = textwrap.dedent(
    """
    import threading
    from pyworkflowy import TaskRunner, task

    @task(name="blocked", backend="thread")
    def blocked() -> None:
        print("running", flush=True)
        threading.Event().wait()

    @task(name="quick", backend="thread")
    def quick() -> int:
        return 1

    with TaskRunner() as runner:
        runner.submit(blocked)
        try:
            runner.run()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        again = runner.submit(quick)  # the program goes on with this runner
        runner.run()
        print("quick", again.result(), flush=True)
    print("closed", flush=True)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_runner_used_again_after_ctrl_c_still_does_not_wait_for_the_abandoned_body(
    tmp_path: Path,
) -> None:
    with running(tmp_path / "work.py", USED_AGAIN) as child:
        assert read_line(child) == "running\n"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)  # closing does not wait for `blocked`
    assert child.returncode == 0, err
    assert out.splitlines() == ["interrupted", "quick 1", "closed"]

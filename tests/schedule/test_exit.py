"""A program that ends while a scheduler fires jobs still exits, quietly: the scheduler stops
firing at interpreter exit before the runner it feeds is closed."""

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
    import threading
    from pyworkflowy import TaskRunner, task
    from pyworkflowy.schedule import Scheduler

    fired = threading.Event()

    @task(name="beat")
    def beat() -> None:
        fired.set()

    scheduler = Scheduler(TaskRunner(), tick_seconds=0.01)
    scheduler.every(0.05).do(beat)
    scheduler.start()
    fired.wait(30)
    print("main ends", flush=True)
    """
)


def test_a_program_that_ends_while_its_scheduler_fires_exits_without_errors(
    tmp_path: Path,
) -> None:
    script = tmp_path / "service.py"
    script.write_text(PROGRAM)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "main ends\n"
    assert "Traceback" not in done.stderr  # no tick failed after the runner closed
    assert "cannot schedule" not in done.stderr


SERVICE_LOOP = textwrap.dedent(
    """
    import asyncio, logging, time
    from pyworkflowy import current_task, task
    from pyworkflowy.schedule import Scheduler

    logging.basicConfig()

    @task(name="poll")
    async def poll() -> None:
        print("polling", flush=True)
        # a body waiting in asyncio's default executor until its run is cancelled
        await asyncio.to_thread(current_task().cancel_event.wait)

    scheduler = Scheduler(tick_seconds=0.01)
    scheduler.every(0.02, max_instances=1000).do(poll)
    scheduler.start()
    while True:  # the service's main loop, left by Ctrl-C
        time.sleep(0.05)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_in_a_service_loop_stops_the_scheduler_and_exits_without_errors(
    tmp_path: Path,
) -> None:
    with running(tmp_path / "service.py", SERVICE_LOOP) as child:
        assert read_line(child) == "polling\n"  # a run waits in an executor thread
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)  # it exits: the waiting run was cancelled
    assert child.returncode == -signal.SIGINT, err
    assert err.count("Traceback") == 1, err  # Ctrl-C's own, out of time.sleep
    assert "cannot schedule new futures" not in err
    assert "ERROR" not in err


RUNNER_CLOSED = textwrap.dedent(
    """
    import logging, threading
    from pyworkflowy import TaskRunner, task
    from pyworkflowy.schedule import Scheduler

    errors = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = errors.append
    logging.getLogger("pyworkflowy").addHandler(handler)
    fired = threading.Event()

    @task(name="beat", backend="thread")
    def beat() -> None:
        fired.set()

    with TaskRunner() as runner:
        scheduler = Scheduler(runner, tick_seconds=0.01)
        scheduler.every(0.01).do(beat)
        scheduler.start()
        fired.wait(30)
    # the runner is shut down (as when Ctrl-C leaves the with block): the scheduler ends
    for thread in threading.enumerate():
        if thread.name == "pyworkflowy-scheduler":
            thread.join(30)
            print("still firing" if thread.is_alive() else "scheduler ended", flush=True)
    print("running", scheduler.running, "errors logged", len(errors), flush=True)
    """
)


def test_a_scheduler_whose_runner_is_shut_down_stops_firing_without_errors(
    tmp_path: Path,
) -> None:
    script = tmp_path / "service.py"
    script.write_text(RUNNER_CLOSED)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=90, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "running False errors logged 0", done.stdout
    assert "still firing" not in done.stdout
    assert "Traceback" not in done.stderr

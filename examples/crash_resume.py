"""Crash and resume: a checkpointed workflow is killed with SIGKILL mid-run, then resumed.

1. A child process runs the workflow below with a SQLite checkpoint written after every
   batch of finished tasks (``checkpoint_interval=0``).
2. When the child starts ``fetch`` of day 4, it tells this process through a pipe, and this
   process kills it with ``SIGKILL``: no ``finally`` blocks, no ``atexit``, nothing flushed.
   The trigger is the pipe, not a timer, so the kill always lands at the same point.
3. This process builds the same workflow on ``TaskRunner.resume(checkpoint)`` and runs it:
   the days fetched before the crash come from the checkpoint and are not fetched again.

Every task body appends a line to a log file, so the output shows which process ran what.

    uv run python examples/crash_resume.py
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from pyworkflowy import TaskHandle, TaskRunner, current_task, task
from pyworkflowy.persist import SQLiteCheckpointer

DAYS = range(1, 7)
CRASH_AT = 4  # the child is killed while it fetches this day

# Set in the child only: where the task bodies log, and the pipe that signals the crash point.
_log: Path | None = None
_signal_fd: int | None = None


def _record_run() -> None:
    ctx = current_task()
    if _log is not None and ctx is not None:
        with _log.open("a") as f:
            f.write(f"{os.getpid()} {ctx.id}\n")


@task(name="fetch")  # fixed names: the child runs this file as __main__, others may import it
def fetch(day: int) -> dict[str, int]:
    """Stands in for a slow download: the orders of one day."""
    _record_run()
    if _signal_fd is not None and day == CRASH_AT:
        os.write(_signal_fd, b"!")  # "I am in the middle of day 4": the parent kills us now
        threading.Event().wait()  # never returns; SIGKILL ends the process here
    return {"day": day, "orders": 10 * day}


@task(name="report")
def report(days: list[TaskHandle]) -> str:
    """Sums the days; the upstream handles are arguments (a checkpoint records them by id)."""
    _record_run()
    orders = sum(d.result()["orders"] for d in days)
    return f"{orders} orders over {len(days)} days"


def workflow() -> TaskHandle:
    """Submit the workflow to the current runner; the same code for the first run and resume."""
    days = [fetch.submit(day, key=f"fetch-{day}") for day in DAYS]
    return report.submit(days, depends_on=days, key="report")


def child(checkpoint: str, log: str, signal_fd: int) -> None:
    """The first run, in its own process; it never returns (it is killed)."""
    global _log, _signal_fd
    _log, _signal_fd = Path(log), signal_fd
    # max_workers=1: one day at a time, so the days before CRASH_AT are done when it starts.
    # checkpoint_interval=0: a finished task's record is committed before the next one starts.
    runner = TaskRunner(max_workers=1, checkpoint_path=checkpoint, checkpoint_interval=0)
    with runner:
        workflow()
        runner.run()


def ran(log: Path, pid: int) -> list[str]:
    """The handle ids that process ``pid`` ran, in order."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [hid for p, hid in (line.split() for line in lines) if int(p) == pid]


def main() -> None:
    global _log
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / "orders.db"
        _log = log = Path(folder) / "runs.log"

        # 1-2: run the workflow in a child process and kill it at the crash point.
        read_end, write_end = os.pipe()
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", str(checkpoint), str(log), str(write_end)],
            pass_fds=(write_end,),
        )
        os.close(write_end)  # the child holds the only write end: EOF if it dies early
        ready, _, _ = select.select([read_end], [], [], 60.0)
        signalled = os.read(read_end, 1) if ready else b""
        os.close(read_end)
        if signalled != b"!":
            proc.kill()
            proc.wait()
            raise SystemExit(
                f"the child stopped before day {CRASH_AT}: exit code {proc.returncode}"
            )
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        print(f"child {proc.pid} ran: {', '.join(ran(log, proc.pid))}")
        print(
            f"child {proc.pid} killed by SIGKILL in the middle of fetch-{CRASH_AT} "
            f"(exit code {proc.returncode})"
        )

        stored = SQLiteCheckpointer(checkpoint)
        records = stored.load()
        stored.close()
        done = sorted(hid for hid, record in records.items() if record["status"] == "completed")
        print(f"checkpoint after the crash: {', '.join(done)} completed")

        # 3: resume in this process; the same workflow, on TaskRunner.resume.
        with TaskRunner.resume(checkpoint) as runner:
            result = workflow()
            runner.run()
        rerun = sorted(ran(log, os.getpid()))  # days 4-6 run concurrently: any order
        print(f"resumed in {os.getpid()}, which ran: {', '.join(rerun)}")
        print(f"reused from the checkpoint, not run again: {', '.join(done)}")
        print(f"report: {result.result()}")

        assert not set(done) & set(rerun), "a completed task ran again"
        assert done == [f"fetch-{day}" for day in DAYS if day < CRASH_AT]
        assert result.result() == "210 orders over 6 days"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=3, metavar=("CHECKPOINT", "LOG", "FD"))
    options = parser.parse_args()
    if options.child:
        checkpoint, log, fd = options.child
        child(checkpoint, log, int(fd))
    else:
        main()

"""A program that ends while a runner serves still exits: its unfinished tasks are cancelled
and the runner is closed at interpreter exit, without anyone calling ``stop()``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

PROGRAM = textwrap.dedent(
    """
    import asyncio, atexit, threading
    from pyworkflowy import Checkpointer, TaskRunner, task

    class Recorder(Checkpointer):
        def __init__(self):
            self.records = {}
        def save(self, records, removed=()):
            self.records.update({hid: r["status"] for hid, r in records.items()})
        def load(self):
            return {}

    started = threading.Event()
    handles = []

    @task(name="forever")
    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    @task(name="quick")
    def quick() -> int:
        return 1

    # registered first, so it runs last: after the runner has stopped
    atexit.register(lambda: print(*(f"{h.id}={h.status.value}" for h in handles)))
    atexit.register(lambda: print("checkpoint", sorted(recorder.records.items())))
    recorder = Recorder()
    runner = TaskRunner(checkpointer=recorder)
    runner.start()
    handles.append(runner.submit(quick))
    handles[0].result(timeout=30)
    handles.append(runner.submit(forever))
    started.wait(30)
    print("main ends", flush=True)
    {ending}
    """
)


def run_program(tmp_path: Path, ending: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "serve.py"
    script.write_text(PROGRAM.replace("{ending}", ending))
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_program_that_ends_without_stop_exits_and_cancels_what_was_left(
    tmp_path: Path,
) -> None:
    done = run_program(tmp_path, ending="")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "main ends",
        "checkpoint [('forever#0', 'cancelled'), ('quick#0', 'completed')]",  # flushed
        "quick#0=completed forever#0=cancelled",
    ]


def test_a_main_thread_that_raises_still_exits(tmp_path: Path) -> None:
    done = run_program(tmp_path, ending="raise SystemExit(3)")
    assert done.returncode == 3, done.stderr
    assert done.stdout.splitlines()[-1] == "quick#0=completed forever#0=cancelled"

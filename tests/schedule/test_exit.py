"""A program that ends while a scheduler fires jobs still exits, quietly: the scheduler stops
firing at interpreter exit before the runner it feeds is closed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

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

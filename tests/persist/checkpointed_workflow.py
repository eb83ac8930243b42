"""A checkpointed workflow that the cross-process tests run as a script, and kill.

``python checkpointed_workflow.py CHECKPOINT LOG RESULTS fresh|resume [options]``

``--tasks N`` steps (``step#0`` .. ``step#{N-1}``) return ``i * i``; step i depends on step
i - W, so W chains run side by side; ``total#0`` depends on every step and returns the sum
of their results. Each step appends its id to LOG (opened, appended, fsync'd, closed) as
its first action, so LOG says exactly which bodies began. At the end the script writes
``{handle id: [status, value]}`` to RESULTS as JSON.

Options: ``--workers W``; ``--fail ID`` makes that step raise; ``--bump ID`` adds 1000 to
that step's argument; ``--signal`` writes one byte to stdout after each log line (the
parent's handshake); ``--hang`` makes ``total#0`` wait forever, so the run can only end by
being killed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from pyworkflowy import TaskHandle, TaskRunner, task

# What this run was asked to do. The tasks read it as a module global: a task's closure
# values count as its code when a checkpoint is resumed, and these differ between runs.
ARGS = argparse.Namespace()
STEPS: list[TaskHandle] = []


def log(handle_id: str) -> None:
    fd = os.open(ARGS.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{handle_id}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    if ARGS.signal:
        os.write(1, b".")


@task(name="step")
async def step(i: int) -> int:
    handle_id = f"step#{i % 1000}"
    log(handle_id)
    await asyncio.sleep(0)  # stay in flight across a loop iteration
    if handle_id in ARGS.fail:
        raise RuntimeError(f"{handle_id} failed on purpose")
    return i * i


@task(name="total")
async def total() -> int:
    log("total#0")
    if ARGS.hang:
        await asyncio.Event().wait()
    return sum(h.result() for h in STEPS)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint")
    parser.add_argument("log")
    parser.add_argument("results")
    parser.add_argument("mode", choices=["fresh", "resume"])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--fail", action="append", default=[])
    parser.add_argument("--bump", action="append", default=[])
    parser.add_argument("--signal", action="store_true")
    parser.add_argument("--hang", action="store_true")
    args = parser.parse_args(argv, namespace=ARGS)
    steps = STEPS

    options: dict[str, Any] = {
        "max_workers": args.workers,
        "checkpoint_interval": 0,
        "on_task_error": "continue",
    }
    if args.mode == "fresh":
        runner = TaskRunner(checkpoint_path=args.checkpoint, **options)
    else:
        runner = TaskRunner.resume(args.checkpoint, **options)
    with runner:
        for i in range(args.tasks):
            deps = [steps[i - args.workers]] if i >= args.workers else []
            arg = i + 1000 if f"step#{i}" in args.bump else i
            steps.append(runner.submit(step, arg, depends_on=deps))
        runner.submit(total, depends_on=steps)
        results = runner.run()
    with open(args.results, "w") as out:
        json.dump({hid: [r.status.value, r.value] for hid, r in results.items()}, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A run you can watch: 300 tasks with a live progress display.

    uv run python examples/progress.py

On a terminal with rich installed (``pip install 'pyworkflowy-core[progress]'``) a panel
at the bottom shows a bar, done of total, tasks per second, elapsed time and ETA, the
counts of running, retrying, failed and skipped tasks, and the few running tasks with the
progress they report. Lines that tasks print or log scroll above it. Without rich, or with
stderr not a terminal, a plain line every few seconds says the same.
"""

from __future__ import annotations

import asyncio
import logging

from pyworkflowy import TaskRunner, current_task, task

log = logging.getLogger("example.progress")


@task(retries=1)
async def load(part: int) -> int:
    """Reads a part in four steps, reporting each; every 100th part logs a line."""
    context = current_task()
    assert context is not None
    for step in range(4):
        context.report_progress(step, 4, f"part {part}")
        await asyncio.sleep(0.01 * (part % 7))
    if part % 100 == 0:
        log.warning("part %d is large", part)
        print(f"part {part} loaded")
    return part


@task
def total(parts: list[int]) -> int:
    return sum(parts)


def main() -> None:
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    with TaskRunner(progress=True) as runner:
        parts = load.map(range(300))
        answer = runner.submit(total, [p.output for p in parts], depends_on=parts)
        runner.run()
    print(f"sum of the parts: {answer.result()}")


if __name__ == "__main__":
    main()

"""A CPU-bound fan-out on the process backend: the longest Collatz chain below a limit.

The range of starting numbers is cut into chunks; each chunk is a task that runs in a worker
process, so the pure-Python loops use every core (threads could not: the GIL runs one at a
time). A fan-in task picks the winner. The same chunks are then run serially in this process
(calling a task directly runs the plain function), for comparison. Prints a summary.

    uv run python examples/fanout_process.py
    uv run python examples/fanout_process.py --limit 1000000 --chunks 64 --workers 4
"""

from __future__ import annotations

import argparse
import os
import time

from pyworkflowy import TaskHandle, TaskRunner, task


@task(backend="process", timeout=300.0)
def longest_chain(lo: int, hi: int) -> tuple[int, int, int]:
    """(start, steps, worker pid) of the longest Collatz chain starting in [lo, hi)."""
    best_start, best_steps = lo, -1
    for start in range(max(lo, 1), hi):
        n, steps = start, 0
        while n != 1:
            n = n // 2 if n % 2 == 0 else 3 * n + 1
            steps += 1
        if steps > best_steps:
            best_start, best_steps = start, steps
    return best_start, best_steps, os.getpid()


@task
def winner(chunks: list[TaskHandle]) -> tuple[int, int]:
    """Fan-in: the longest chain over every chunk (the smallest start on a tie)."""
    start, steps, _pid = max(chunks, key=lambda c: (c.result()[1], -c.result()[0])).result()
    return start, steps


def main(argv: list[str] | None = None) -> tuple[int, int]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=300_000, help="starting numbers below this")
    parser.add_argument("--chunks", type=int, default=32)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--no-serial", action="store_true", help="skip the serial comparison")
    args = parser.parse_args(argv)

    step = -(-args.limit // args.chunks)  # ceiling division
    bounds = [(lo, min(lo + step, args.limit)) for lo in range(1, args.limit, step)]

    started = time.perf_counter()
    with TaskRunner(max_workers=args.workers) as runner:
        chunks = longest_chain.map(*zip(*bounds, strict=True))
        best = winner.submit(chunks, depends_on=chunks)
        runner.run()
    parallel = time.perf_counter() - started

    start, steps = best.result()
    pids = {chunk.result()[2] for chunk in chunks}
    assert os.getpid() not in pids, "the chunks ran in worker processes, not here"
    print(f"longest Collatz chain below {args.limit:,}: {start:,} takes {steps} steps")
    print(
        f"fan-out: {len(chunks)} tasks on {len(pids)} worker process{'es' * (len(pids) > 1)} "
        f"(max_workers={args.workers}) in {parallel:.2f} s, worker start-up included"
    )

    if not args.no_serial:
        started = time.perf_counter()
        serial = max((longest_chain(lo, hi)[:2] for lo, hi in bounds), key=lambda r: r[1])
        elapsed = time.perf_counter() - started
        assert serial[1] == steps
        print(f"serially in this process: {elapsed:.2f} s ({elapsed / parallel:.2f}x the fan-out)")
    return start, steps


if __name__ == "__main__":
    main()

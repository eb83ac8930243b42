"""Log size benchmark: what a failed chain writes to a log file under ``on_task_error="log"``.

Run ``uv run python benchmarks/bench_logs.py`` (a few seconds). ``--check`` exits 1 when a
target fails.

A chain of n tasks whose first one raises: every other task ends failed because of its
dependency. The log goes to a file through a `logging.FileHandler` with a usual format
(time, level, logger, message). Before pyworkflowy-core logged dependency failures in one
line, each of them printed the whole chained traceback of everything upstream, so the log
grew with the square of the chain (341 MB for n = 2,000). Targets: at most
`BYTES_PER_TASK_LIMIT` bytes per task at n = 2,000, and linear: bytes per task at
n = 4,000 at most 1.2x those at n = 1,000.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
from collections.abc import Sequence

from pyworkflowy import TaskRunner

SIZES = (1_000, 2_000, 4_000)
BYTES_PER_TASK_LIMIT = 300
LINEAR_LIMIT = 1.2


def boom() -> None:
    raise ValueError("boom")


def step() -> None:
    return None


def log_bytes(n: int) -> int:
    """Bytes logged by a failed chain of ``n`` tasks under ``on_task_error="log"``."""
    fd, path = tempfile.mkstemp(suffix=".log")
    os.close(fd)
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("pyworkflowy")
    logger.addHandler(handler)
    try:
        with TaskRunner(on_task_error="log") as runner:
            previous = runner.submit(boom, key="t0")
            for i in range(1, n):
                previous = runner.submit(step, depends_on=[previous], key=f"t{i}")
            runner.run()
    finally:
        logger.removeHandler(handler)
        handler.close()
    size = os.path.getsize(path)
    os.unlink(path)
    return size


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if a target fails")
    args = parser.parse_args(argv)
    print(
        f"# log size of a failed chain ({platform.python_implementation()} "
        f"{platform.python_version()})\n"
    )
    sizes = {n: log_bytes(n) for n in SIZES}
    print("| chain | bytes logged | bytes per task |")
    print("|---:|---:|---:|")
    for n, size in sizes.items():
        print(f"| {n:,} | {size:,} | {size / n:.0f} |")
    per_task = {n: size / n for n, size in sizes.items()}
    linear = per_task[SIZES[-1]] / per_task[SIZES[0]]
    results = [
        (
            f"bytes per task at 2,000: {per_task[2_000]:.0f} <= {BYTES_PER_TASK_LIMIT}",
            per_task[2_000] <= BYTES_PER_TASK_LIMIT,
        ),
        (f"per task, 4,000 vs 1,000: {linear:.2f}x <= {LINEAR_LIMIT}x", linear <= LINEAR_LIMIT),
    ]
    print()
    for text, ok in results:
        print(f"- {'PASS' if ok else 'FAIL'}: {text}")
    return 1 if args.check and not all(ok for _, ok in results) else 0


if __name__ == "__main__":
    sys.exit(main())

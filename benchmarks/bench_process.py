"""Process backend benchmark: per-task overhead and CPU-bound speedup, against a raw pool.

Run ``uv run python benchmarks/bench_process.py`` (``--quick`` for a CI-sized pass,
``--check`` to exit 1 when a target fails). Both sides use the same number of workers
(``--workers``, default: the CPU count) and the same start method: pyworkflowy's workers
are fresh interpreters, so the raw `concurrent.futures.ProcessPoolExecutor` uses "spawn".
Rounds alternate which side goes first; the judged figures are medians over the rounds.
See benchmarks/README.md.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyworkflowy import TaskRunner

if TYPE_CHECKING:  # type checkers resolve from the repository root
    from benchmarks._common import (
        CpuTimes,
        Pair,
        against_raw_main,
        alternate,
        cpu_rounds,
        time_call,
    )
else:  # run as a script, this folder is on sys.path
    from _common import CpuTimes, Pair, against_raw_main, alternate, cpu_rounds, time_call

if __name__ == "__main__" or not __package__:  # run as a script: this folder is on sys.path
    from _process_work import cpu_bound, trivial  # type: ignore[import-not-found]
else:
    from benchmarks._process_work import cpu_bound, trivial

OVERHEAD_LIMIT = 1.5  # pyworkflowy's time per trivial task / the raw pool's
SPEEDUP_SHARE = 0.9  # pyworkflowy's CPU-bound speedup / the raw pool's


class Raw:
    """A warm `ProcessPoolExecutor` ("spawn", ``workers`` processes)."""

    def __init__(self, workers: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pool = ProcessPoolExecutor(workers, mp_context=context)
        list(self.pool.map(trivial, range(4 * workers)))  # start every worker

    def run(self, fn: Callable[[int], int], args: list[int]) -> list[int]:
        futures = [self.pool.submit(fn, a) for a in args]
        wait(futures)
        return [f.result() for f in futures]

    def close(self) -> None:
        self.pool.shutdown()


class Ours:
    """A warm `TaskRunner(backend="process")` with ``workers`` workers."""

    def __init__(self, workers: int) -> None:
        self.runner = TaskRunner(max_workers=workers, backend="process")
        for a in range(4 * workers):
            self.runner.submit(trivial, a)
        self.runner.run()  # start every worker

    def run(self, fn: Callable[[int], int], args: list[int]) -> list[int]:
        runner = self.runner
        handles = [runner.submit(fn, a) for a in args]
        runner.run()
        return [h.result() for h in handles]

    def close(self) -> None:
        self.runner.shutdown()


def cold(workers: int, n: int) -> Pair:
    """Start a pool, run n trivial tasks, shut down: what a short script pays."""
    args = list(range(n))

    def ours() -> None:
        with TaskRunner(max_workers=workers, backend="process") as runner:
            for a in args:
                runner.submit(trivial, a)
            runner.run()

    def raw() -> None:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            wait([pool.submit(trivial, a) for a in args])

    return alternate(3, ours, raw, "cold start")


@dataclass
class Results:
    """Every figure of one pass; the judged ones are medians over the rounds."""

    workers: int
    n_trivial: int
    n_cpu: int
    cpu_size: int
    rounds: int
    overhead: Pair  # the trivial tasks on warm pools
    by_value: list[float]  # pyworkflowy only: lambdas sent by value
    cpu: CpuTimes  # the CPU-bound tasks on both pools, and one after the other in this process
    start_up: Pair  # cold start: pool start, the trivial tasks, shutdown

    @property
    def us_ours(self) -> float:
        return statistics.median(self.overhead.ours) / self.n_trivial * 1e6

    @property
    def us_raw(self) -> float:
        return statistics.median(self.overhead.raw) / self.n_trivial * 1e6

    @property
    def overhead_ratio(self) -> float:
        return self.overhead.ratio()

    @property
    def speedup_share(self) -> float:
        return self.cpu.share()

    @property
    def overhead_ok(self) -> bool:
        return self.overhead_ratio <= OVERHEAD_LIMIT

    @property
    def speedup_ok(self) -> bool:
        return self.speedup_share >= SPEEDUP_SHARE

    @property
    def ok(self) -> bool:
        return self.overhead_ok and self.speedup_ok

    def table(self) -> str:
        med = statistics.median
        n_trivial, n_cpu, cpu = self.n_trivial, self.n_cpu, self.cpu
        us_ours, us_raw = self.us_ours, self.us_raw
        speedup_ours, speedup_raw = cpu.speedups()
        start_up = self.start_up
        return "\n".join(
            [
                "| Case | pyworkflowy | raw ProcessPoolExecutor | Ratio | Target | Result |",
                "|---|---|---|---|---|---|",
                f"| Overhead, {n_trivial:,} trivial tasks (warm pool) | {us_ours:.1f} µs/task | "
                f"{us_raw:.1f} µs/task | {self.overhead_ratio:.2f}x | ≤ {OVERHEAD_LIMIT}x | "
                f"{'PASS' if self.overhead_ok else 'FAIL'} |",
                f"| Speedup, {n_cpu} x sum(range({self.cpu_size:,})) "
                f"(serial {med(cpu.serial):.2f} s) | {speedup_ours:.2f}x | {speedup_raw:.2f}x | "
                f"{self.speedup_share:.2f} of raw | ≥ {SPEEDUP_SHARE} of raw | "
                f"{'PASS' if self.speedup_ok else 'FAIL'} |",
                f"| Overhead, {n_trivial:,} trivial lambdas (sent by value) | "
                f"{med(self.by_value) / n_trivial * 1e6:.1f} µs/task | - | - | reported | - |",
                f"| Cold start: pool start + {n_trivial:,} trivial tasks + shutdown | "
                f"{med(start_up.ours):.3f} s | {med(start_up.raw):.3f} s | "
                f"{med(start_up.ours) / med(start_up.raw):.2f}x | reported | - |",
                "",
                f"Medians of {self.rounds} rounds (per-round ratios for the ratio column); "
                "cold start: 3.",
            ]
        )


def measure(quick: bool, workers: int, rounds: int | None = None) -> Results:
    """Run every case (printing each round) and return the figures."""
    n_trivial = 2_000 if quick else 10_000
    n_cpu = 40 if quick else 200
    rounds = rounds or (3 if quick else 7)
    cpu_size = 1_000_000

    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {workers} workers")
    ours, raw = Ours(workers), Raw(workers)
    try:
        trivial_args = list(range(n_trivial))
        overhead = alternate(
            rounds,
            lambda: ours.run(trivial, trivial_args),
            lambda: raw.run(trivial, trivial_args),
            f"{n_trivial:,} trivial tasks",
        )
        by_value = [
            time_call(lambda: ours.run(lambda x: x, trivial_args))
            for _ in range(max(3, rounds // 2))
        ]
        cpu = cpu_rounds(rounds, cpu_bound, [cpu_size] * n_cpu, ours.run, raw.run)
    finally:
        ours.close()
        raw.close()
    start_up = cold(workers, n_trivial)
    return Results(workers, n_trivial, n_cpu, cpu_size, rounds, overhead, by_value, cpu, start_up)


def main(argv: list[str] | None = None) -> int:
    description, workers = __doc__.splitlines()[0], os.cpu_count() or 2
    return against_raw_main(argv, description, "fewer tasks and rounds", workers, measure)


if __name__ == "__main__":
    sys.exit(main())

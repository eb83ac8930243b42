"""Dask backend benchmark: per-task overhead, a chain, and CPU-bound speedup, against raw dask.

Run ``uv run python benchmarks/bench_dask.py`` (``--quick`` for a CI-sized pass, ``--check``
to exit 1 when a target fails). Both sides use the same warm `distributed.LocalCluster`
(``--workers`` single-threaded worker processes, default 2) and the same client; the raw
side is `Client.submit` and `distributed.wait`. Rounds alternate which side goes first;
the judged figures are medians over the rounds of each round's ratio. See
benchmarks/README.md.
"""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyworkflowy import TaskRunner, task

if TYPE_CHECKING:  # type checkers resolve from the repository root
    from benchmarks._common import CpuTimes, Pair, against_raw_main, alternate, cpu_rounds
else:  # run as a script, this folder is on sys.path
    from _common import CpuTimes, Pair, against_raw_main, alternate, cpu_rounds

if __name__ == "__main__" or not __package__:  # run as a script: this folder is on sys.path
    from _process_work import cpu_bound, trivial  # type: ignore[import-not-found]
else:
    from benchmarks._process_work import cpu_bound, trivial

OVERHEAD_LIMIT = 1.2  # pyworkflowy's time for the trivial tasks / raw dask's
CHAIN_LIMIT = 1.2  # pyworkflowy's time for the chain / raw futures passed as arguments
SPEEDUP_SHARE = 0.9  # pyworkflowy's CPU-bound speedup / raw dask's
CPU_SIZE = 1_000_000


class Raw:
    """Raw dask on the shared client: submit everything, then wait."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def fan(self, fn: Callable[[int], int], args: list[int]) -> list[int]:
        futures = [self.client.submit(fn, a, pure=False) for a in args]
        return self.client.gather(futures)  # waits for them all

    def chain(self, n: int) -> int:
        future = self.client.submit(trivial, 0, pure=False)
        for _ in range(n - 1):
            future = self.client.submit(trivial, future, pure=False)  # the future as argument
        return future.result()


class Ours:
    """A warm `TaskRunner` whose dask backend uses the shared client."""

    def __init__(self, client: Any) -> None:
        from pyworkflowy.dask import DaskBackend

        self.runner = TaskRunner(backends={"dask": DaskBackend(client=client)}, backend="dask")
        self.trivial = task(backend="dask", name="trivial")(trivial)
        self.cpu_bound = task(backend="dask", name="cpu_bound")(cpu_bound)

    def fan(self, fn: Callable[[int], int], args: list[int]) -> list[int]:
        made = self.trivial if fn is trivial else self.cpu_bound
        handles = [self.runner.submit(made, a) for a in args]
        self.runner.run()
        return [h.result() for h in handles]

    def chain(self, n: int) -> int:
        handle = self.runner.submit(self.trivial, 0)
        for _ in range(n - 1):
            handle = self.runner.submit(self.trivial, handle.output)  # the upstream's output
        self.runner.run()
        return handle.result()

    def close(self) -> None:
        self.runner.shutdown()


@dataclass
class Results:
    """Every figure of one pass."""

    workers: int
    n_trivial: int
    n_chain: int
    n_cpu: int
    rounds: int
    overhead: Pair
    chain: Pair
    cpu: CpuTimes

    @property
    def speedup_share(self) -> float:
        return self.cpu.share()

    @property
    def ok(self) -> bool:
        return all(met for *_, met in self.targets())

    def targets(self) -> list[tuple[str, str, str, bool]]:
        """(what, measured, limit, met) for each target."""
        overhead, chain, share = self.overhead.ratio(), self.chain.ratio(), self.speedup_share
        return [
            (
                f"{self.n_trivial:,} trivial tasks",
                f"{overhead:.2f}x",
                f"≤ {OVERHEAD_LIMIT}x",
                overhead <= OVERHEAD_LIMIT,
            ),
            (
                f"a chain of {self.n_chain}",
                f"{chain:.2f}x",
                f"≤ {CHAIN_LIMIT}x",
                chain <= CHAIN_LIMIT,
            ),
            (
                f"CPU-bound speedup on {self.workers} workers, share of raw dask's",
                f"{share:.2f}",
                f"≥ {SPEEDUP_SHARE}",
                share >= SPEEDUP_SHARE,
            ),
        ]

    def table(self) -> str:
        med = statistics.median

        def verdict(ok: bool) -> str:
            return "PASS" if ok else "FAIL"

        def per_task(times: list[float], n: int) -> str:
            return f"{med(times) / n * 1e3:.2f} ms/task"

        overhead, chain, cpu = self.overhead, self.chain, self.cpu
        speedup_ours, speedup_raw = cpu.speedups()
        return "\n".join(
            [
                "| Case | pyworkflowy on dask | raw dask | Ratio | Target | Result |",
                "|---|---|---|---|---|---|",
                f"| {self.n_trivial:,} trivial tasks (submit + wait) | "
                f"{per_task(overhead.ours, self.n_trivial)} | "
                f"{per_task(overhead.raw, self.n_trivial)} | {overhead.ratio():.2f}x | "
                f"≤ {OVERHEAD_LIMIT}x | {verdict(overhead.ratio() <= OVERHEAD_LIMIT)} |",
                f"| Chain of {self.n_chain} (upstream output / future as argument) | "
                f"{per_task(chain.ours, self.n_chain)} | {per_task(chain.raw, self.n_chain)} | "
                f"{chain.ratio():.2f}x | ≤ {CHAIN_LIMIT}x | "
                f"{verdict(chain.ratio() <= CHAIN_LIMIT)} |",
                f"| Speedup, {self.n_cpu} x sum(range({CPU_SIZE:,})) "
                f"(serial {med(cpu.serial):.2f} s) | {speedup_ours:.2f}x | {speedup_raw:.2f}x | "
                f"{self.speedup_share:.2f} of raw | ≥ {SPEEDUP_SHARE} of raw | "
                f"{verdict(self.speedup_share >= SPEEDUP_SHARE)} |",
                "",
                f"A LocalCluster of {self.workers} single-threaded worker processes; medians "
                f"of {self.rounds} rounds (per-round ratios for the ratio column).",
            ]
        )


def measure(quick: bool, workers: int, rounds: int | None = None) -> Results:
    """Run every case (printing each round) and return the figures."""
    from distributed import Client, LocalCluster

    n_trivial = 200 if quick else 2_000
    n_chain = 50 if quick else 500
    n_cpu = 20 if quick else 200
    rounds = rounds or (1 if quick else 5)
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {workers} dask workers")
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = Client(cluster, set_as_default=False)
    ours, raw = Ours(client), Raw(client)
    try:
        warm = list(range(4 * workers))
        ours.fan(trivial, warm), raw.fan(trivial, warm)  # import the work module everywhere
        trivial_args = list(range(n_trivial))
        overhead = alternate(
            rounds,
            lambda: ours.fan(trivial, trivial_args),
            lambda: raw.fan(trivial, trivial_args),
            f"{n_trivial:,} trivial tasks",
        )
        chain = alternate(
            rounds, lambda: ours.chain(n_chain), lambda: raw.chain(n_chain), f"chain of {n_chain}"
        )
        cpu = cpu_rounds(rounds, cpu_bound, [CPU_SIZE] * n_cpu, ours.fan, raw.fan)
    finally:
        ours.close()
        client.close()
        cluster.close()
    return Results(workers, n_trivial, n_chain, n_cpu, rounds, overhead, chain, cpu)


def main(argv: list[str] | None = None) -> int:
    description = __doc__.splitlines()[0]
    return against_raw_main(argv, description, "fewer tasks, one round", 2, measure)


if __name__ == "__main__":
    sys.exit(main())

"""Dask backend benchmark: per-task overhead, a chain, and CPU-bound speedup, against raw dask.

Run ``uv run python benchmarks/bench_dask.py`` (``--quick`` for a CI-sized pass, ``--check``
to exit 1 when a target fails). Both sides use the same warm `distributed.LocalCluster`
(``--workers`` single-threaded worker processes, default 2) and the same client; the raw
side is `Client.submit` and `distributed.wait`. Rounds alternate which side goes first;
the judged figures are medians over the rounds of each round's ratio. See
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyworkflowy import TaskRunner, task

if __name__ == "__main__" or not __package__:  # run as a script: this folder is on sys.path
    from _process_work import cpu_bound, trivial  # type: ignore[import-not-found]
else:
    from benchmarks._process_work import cpu_bound, trivial

OVERHEAD_LIMIT = 1.2  # pyworkflowy's time for the trivial tasks / raw dask's
CHAIN_LIMIT = 1.2  # pyworkflowy's time for the chain / raw futures passed as arguments
SPEEDUP_SHARE = 0.9  # pyworkflowy's CPU-bound speedup / raw dask's
CPU_SIZE = 1_000_000


@dataclass
class Pair:
    """Timings of the two sides over the rounds (seconds)."""

    ours: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)

    def ratio(self) -> float:
        """Median over the rounds of ours / raw."""
        return statistics.median(o / r for o, r in zip(self.ours, self.raw, strict=True))


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


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def alternate(
    rounds: int, ours: Callable[[], object], raw: Callable[[], object], label: str
) -> Pair:
    pair = Pair()
    for r in range(rounds):
        order = ((pair.ours, ours), (pair.raw, raw))
        for times, call in order if r % 2 == 0 else order[::-1]:
            times.append(timed(call))
        print(f"  {label} round {r + 1}: ours {pair.ours[-1]:.3f} s, raw {pair.raw[-1]:.3f} s")
    return pair


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
    serial: list[float]
    cpu: Pair

    @property
    def speedup_share(self) -> float:
        triples = zip(self.serial, self.cpu.ours, self.cpu.raw, strict=True)
        return statistics.median((s / o) / (s / r) for s, o, r in triples)

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

        overhead, chain, cpu, serial = self.overhead, self.chain, self.cpu, self.serial
        speedup_ours = med(s / o for s, o in zip(serial, cpu.ours, strict=True))
        speedup_raw = med(s / r for s, r in zip(serial, cpu.raw, strict=True))
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
                f"(serial {med(serial):.2f} s) | {speedup_ours:.2f}x | {speedup_raw:.2f}x | "
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
        cpu_args = [CPU_SIZE] * n_cpu
        serial: list[float] = []
        cpu = Pair()
        for r in range(rounds):
            sides: list[tuple[list[float], Callable[[], object]]] = [
                (serial, lambda: [cpu_bound(a) for a in cpu_args]),
                (cpu.ours, lambda: ours.fan(cpu_bound, cpu_args)),
                (cpu.raw, lambda: raw.fan(cpu_bound, cpu_args)),
            ]
            for times, call in sides[r % 3 :] + sides[: r % 3]:
                times.append(timed(call))
            print(
                f"  {n_cpu} CPU-bound tasks round {r + 1}: serial {serial[-1]:.3f} s, "
                f"ours {cpu.ours[-1]:.3f} s, raw {cpu.raw[-1]:.3f} s"
            )
    finally:
        ours.close()
        client.close()
        cluster.close()
    return Results(workers, n_trivial, n_chain, n_cpu, rounds, overhead, chain, serial, cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tasks, one round")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target fails")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=None)
    options = parser.parse_args(argv)
    results = measure(options.quick, options.workers, options.rounds)
    print()
    print(results.table())
    return 1 if options.check and not results.ok else 0


if __name__ == "__main__":
    sys.exit(main())

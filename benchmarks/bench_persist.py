"""What checkpointing costs: a fan of no-op tasks with and without each checkpointer.

Run ``uv run python benchmarks/bench_persist.py`` (``--quick`` for 1k and 10k only,
``--check`` to exit non-zero when a target fails, ``--profile CONFIG N`` for a cProfile of
one configuration). Prints a markdown table and writes it to benchmarks/results/persist.md.

Each configuration runs N no-op async tasks plus one task depending on all of them, from
building the runner to its shutdown (so the final flush and close are counted), writing
the checkpoint in a fresh temporary folder. Configurations alternate within each round
so that they share the machine's noise; the best round counts. Targets:

- SQLite at ``checkpoint_interval=0`` takes at most 3x the run without checkpointing,
  at every N, and grows linearly: µs/task at 100k at most 1.5x µs/task at 10k.
- JSON at the default interval adds at most 20 % at 100k.
- The start records of a durable checkpoint (written before each body runs, so that a
  resume knows which tasks are in doubt) add at most 15 µs per task on SQLite at interval
  0: the same configuration with ``record_starts=False`` is measured in the same rounds.

JSON at interval 0 rewrites the whole file after every loop iteration, so its cost grows
with the square of N; it is measured up to 10k only (one round at 10k), for reference.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import platform
import pstats
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyworkflowy import Checkpointer, TaskRunner, task
from pyworkflowy.persist import JSONCheckpointer, SQLiteCheckpointer

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "persist.md"
WORKERS = 8  # TaskRunner's default, spelled out
DEFAULT_INTERVAL = 5.0  # TaskRunner's default checkpoint_interval


@task
async def noop() -> None:
    """The no-op every task runs."""


@dataclass(frozen=True)
class Config:
    label: str
    make: Callable[[Path], Checkpointer] | None
    interval: float
    max_n: int | None = None  # larger fans are not measured (quadratic cost)
    slow_n: int | None = None  # from this size on, one round only
    record_starts: bool | None = None  # None: the runner's default


CONFIGS = (
    Config("no checkpoint", None, DEFAULT_INTERVAL),
    Config("JSON, default interval (5 s)", lambda d: JSONCheckpointer(d / "s.json"), 5.0),
    Config("JSON, interval 0", lambda d: JSONCheckpointer(d / "s.json"), 0.0, 10_000, 10_000),
    Config("SQLite, interval 0", lambda d: SQLiteCheckpointer(d / "s.db"), 0.0),
    Config(
        "SQLite, interval 0, no start records",
        lambda d: SQLiteCheckpointer(d / "s.db"),
        0.0,
        record_starts=False,
    ),
    Config("SQLite, default interval (5 s)", lambda d: SQLiteCheckpointer(d / "s.db"), 5.0),
)
BY_KEY = {
    "none": CONFIGS[0],
    "json": CONFIGS[1],
    "json0": CONFIGS[2],
    "sqlite0": CONFIGS[3],
    "sqlite0-nostarts": CONFIGS[4],
    "sqlite": CONFIGS[5],
}


def fan(
    n: int, checkpointer: Checkpointer | None, interval: float, record_starts: bool | None = None
) -> None:
    with TaskRunner(
        max_workers=WORKERS,
        checkpointer=checkpointer,
        checkpoint_interval=interval,
        record_starts=record_starts,
    ) as runner:
        handles = [runner.submit(noop) for _ in range(n)]
        runner.submit(noop, depends_on=handles)
        runner.run()


def timed(config: Config, n: int) -> float:
    """Seconds for one fan of ``n`` under ``config``, checkpoint in a fresh folder."""
    with tempfile.TemporaryDirectory(prefix="bench-persist-") as folder:
        checkpointer = None if config.make is None else config.make(Path(folder))
        gc.collect()
        start = time.perf_counter()
        fan(n, checkpointer, config.interval, config.record_starts)
        return time.perf_counter() - start


def measure(n: int, repeats: int) -> dict[str, list[float]]:
    """Every configuration ``repeats`` times at size ``n``, alternating their order."""
    configs = [c for c in CONFIGS if c.max_n is None or n <= c.max_n]
    for config in configs:  # warm-up: code paths, allocator pools, page cache
        timed(config, max(n // 100, 10))
    times: dict[str, list[float]] = {c.label: [] for c in configs}
    for i in range(repeats):
        for config in configs if i % 2 == 0 else configs[::-1]:
            if i == 0 or config.slow_n is None or n < config.slow_n:
                times[config.label].append(timed(config, n))
    return times


def us(seconds: float, n: int) -> float:
    return seconds / n * 1e6


@dataclass
class Check:
    what: str
    figure: str
    ok: bool


def report(results: dict[int, dict[str, list[float]]]) -> tuple[str, list[Check]]:
    sizes = sorted(results)
    lines = [
        "| Configuration | " + " | ".join(f"N={n:,}: µs/task (ratio)" for n in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for config in CONFIGS:
        cells = []
        for n in sizes:
            times = results[n].get(config.label)
            if not times:
                cells.append("not run (quadratic)")
                continue
            base = min(results[n][CONFIGS[0].label])
            best = min(times)
            cells.append(f"{us(best, n):.2f} ({best / base:.2f}x)")
        lines.append(f"| {config.label} | " + " | ".join(cells) + " |")

    checks: list[Check] = []
    none, sqlite0, json5 = CONFIGS[0].label, CONFIGS[3].label, CONFIGS[1].label
    nostarts = CONFIGS[4].label
    for n in sizes:
        ratio = min(results[n][sqlite0]) / min(results[n][none])
        checks.append(Check(f"SQLite interval 0 ≤ 3x, N={n:,}", f"{ratio:.2f}x", ratio <= 3.0))
    extra = us(min(results[sizes[-1]][sqlite0]) - min(results[sizes[-1]][nostarts]), sizes[-1])
    checks.append(
        Check(
            f"start records on SQLite interval 0 ≤ +15 µs/task, N={sizes[-1]:,}",
            f"{extra:+.2f} µs",
            extra <= 15.0,
        )
    )
    if 10_000 in results and 100_000 in results:
        growth = us(min(results[100_000][sqlite0]), 100_000) / us(
            min(results[10_000][sqlite0]), 10_000
        )
        checks.append(
            Check(
                "SQLite interval 0 linear: µs/task(100k) ≤ 1.5x µs/task(10k)",
                f"{growth:.2f}x",
                growth <= 1.5,
            )
        )
        ratio = min(results[100_000][json5]) / min(results[100_000][none])
        checks.append(
            Check("JSON default interval ≤ 1.2x, N=100,000", f"{ratio:.2f}x", ratio <= 1.2)
        )
    lines += ["", "| Target | Measured | Result |", "|---|---|---|"]
    lines += [f"| {c.what} | {c.figure} | {'PASS' if c.ok else 'FAIL'} |" for c in checks]
    rounds = [
        f"- N={n:,}, seconds per round: "
        + "; ".join(f"{label}: " + ", ".join(f"{t:.3f}" for t in ts) for label, ts in r.items())
        for n, r in results.items()
    ]
    return "\n".join([*lines, "", *rounds]), checks


def profile(key: str, n: int) -> str:
    config = BY_KEY[key]
    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory(prefix="bench-persist-") as folder:
        checkpointer = None if config.make is None else config.make(Path(folder))
        profiler.enable()
        fan(n, checkpointer, config.interval, config.record_starts)
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(25)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1k and 10k only")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target fails")
    parser.add_argument("--repeats", type=int, help="rounds per size (default 5; 3 at 100k)")
    parser.add_argument(
        "--profile", nargs=2, metavar=("CONFIG", "N"), help=f"cProfile one of {sorted(BY_KEY)}"
    )
    args = parser.parse_args(argv)
    if args.profile:
        print(profile(args.profile[0], int(args.profile[1])))
        return 0
    sizes = (1_000, 10_000) if args.quick else (1_000, 10_000, 100_000)
    results: dict[int, dict[str, list[float]]] = {}
    for n in sizes:
        repeats = args.repeats or (3 if n >= 100_000 else 5)
        results[n] = measure(n, repeats)
        print(f"measured N={n:,}", file=sys.stderr)
    table, checks = report(results)
    header = (
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs; "
        f"temp folder {tempfile.gettempdir()}; best of the rounds"
    )
    text = f"# Checkpointing cost\n\n{header}\n\n{table}\n"
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text)
    return 1 if args.check and not all(c.ok for c in checks) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Core benchmark suite: runner overhead against a lean floor, scaling, threads, import time.

Run ``uv run python benchmarks/run_core.py`` (``--quick`` for a CI-sized pass, ``--check``
to exit non-zero when a target fails, ``--profile`` for a cProfile of the chain case).
Prints a markdown table with PASS/FAIL per target and writes it to benchmarks/results/core.md.
See benchmarks/README.md for what each case measures and why.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pyworkflowy import TaskRunner, task

if TYPE_CHECKING:  # type checkers resolve from the repository root
    from benchmarks._common import GCClock, Workload, peak_rss_bytes, profile_top, timed
    from benchmarks._floor import run_floor
else:  # run as a script, this folder is on sys.path
    from _common import GCClock, Workload, peak_rss_bytes, profile_top, timed
    from _floor import run_floor

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "core.md"
CASES = (
    "fan",
    "chain",
    "events",
    "progress",
    "dynmap",
    "limits",
    "cache",
    "thread",
    "scale",
    "import",
)
IMPORT_CODES = ("pass", "import pyworkflowy")
WORKERS = 8  # TaskRunner's default, spelled out so both sides visibly agree


# -- workloads: each builds its graph, runs it and tears down; callers time the whole call --
@task
async def noop(i: int) -> None:
    """The async no-op every runner task executes (``i`` is the node's index)."""


async def floor_noop(i: int) -> None:
    """The floor's equivalent of `noop`."""


def sync_noop(i: int) -> None:
    """The sync no-op for the thread-backend case."""


def floor_fan(n: int) -> None:
    asyncio.run(run_floor([()] * n + [range(n)], floor_noop))


def ours_fan(n: int) -> None:
    """The fan as a user writes it: ``map`` for the many, one ``submit`` for the fan-in."""
    with TaskRunner(max_workers=WORKERS) as runner:
        handles = runner.map(noop, range(n))
        runner.submit(noop, n, depends_on=handles)
        runner.run()


def ours_fan_watched(n: int) -> None:
    """`ours_fan` with one event subscriber that appends every event to a list."""
    seen: list[object] = []
    with TaskRunner(max_workers=WORKERS) as runner:
        runner.subscribe(seen.append)
        handles = runner.map(noop, range(n))
        runner.submit(noop, n, depends_on=handles)
        runner.run()
    assert len(seen) >= 3 * n  # submitted, started, finished for each: it really watched


def ours_fan_counted(n: int) -> None:
    """`ours_fan` with one subscriber that counts the events and keeps none of them."""
    counts = [0]

    def count(event: object) -> None:
        counts[0] += 1

    with TaskRunner(max_workers=WORKERS) as runner:
        runner.subscribe(count)
        handles = runner.map(noop, range(n))
        runner.submit(noop, n, depends_on=handles)
        runner.run()
    assert counts[0] >= 3 * n


def ours_fan_progress(n: int) -> None:
    """`ours_fan` with ``progress=True``; stderr is not a terminal here, so the display is
    the plain line (the live panel's drawing happens on its own thread as well)."""
    shown = io.StringIO()
    with (
        contextlib.redirect_stderr(shown),
        TaskRunner(max_workers=WORKERS, progress=True) as runner,
    ):
        handles = runner.map(noop, range(n))
        runner.submit(noop, n, depends_on=handles)
        runner.run()
    assert f"{n + 1:,}/{n + 1:,} done" in shown.getvalue()  # it really showed the run


def keep_like_a_subscriber(n: int) -> None:
    """What the appending subscriber's list costs by itself: 3 n handle-holding tuples."""
    with TaskRunner(max_workers=WORKERS) as runner:
        handles = runner.map(noop, range(n))
        runner.submit(noop, n, depends_on=handles)
        runner.run()
        kept: list[object] = []
        keep, now = kept.append, time.time
        for handle in handles:
            keep((handle, now()))
            keep((handle, now(), 1))
            keep((handle, now(), 1, None, None))


def items(n: int) -> list[int]:
    """The upstream of the dynamic map: its value is what the map runs over."""
    return list(range(n))


def ours_static_map(n: int) -> None:
    """``map`` over a list known at submit time, after an upstream task (the baseline)."""
    with TaskRunner(max_workers=WORKERS) as runner:
        up = runner.submit(items, n)
        runner.map(noop, items(n), depends_on=up)
        runner.run()


def ours_dynamic_map(n: int) -> None:
    """``map`` over what an upstream returns: one task per item, made when it completes."""
    with TaskRunner(max_workers=WORKERS) as runner:
        up = runner.submit(items, n)
        mapped = runner.map(noop, up.output)
        runner.run()
    assert len(mapped.result()) == n


def ours_fan_submit_loop(n: int) -> None:
    """The same fan submitted one call at a time (reported for comparison, no target)."""
    with TaskRunner(max_workers=WORKERS) as runner:
        handles = [runner.submit(noop, i) for i in range(n)]
        runner.submit(noop, n, depends_on=handles)
        runner.run()


@task(tags="db")
async def tagged_noop(i: int) -> None:
    """`noop` with a tag, for the runner's ``limits``."""


def ours_fan_limited(n: int, limit: int = 64) -> None:
    """`ours_fan` with every task tagged "db" and at most ``limit`` of them at once."""
    with TaskRunner(max_workers=WORKERS, limits={"db": limit}) as runner:
        handles = runner.map(tagged_noop, range(n))
        runner.submit(noop, n, depends_on=handles)
        runner.run()


def ours_fan_limited_to_8(n: int) -> None:
    """`ours_fan_limited` at 8 at once: most tasks wait, and each loop pass runs only 8."""
    ours_fan_limited(n, limit=8)


def ours_fan_limit_unreached(n: int) -> None:
    """`ours_fan_limited` with a limit the fan never reaches: the cost of the checks."""
    ours_fan_limited(n, limit=n + 1)


@task(cache=True)
async def cached_noop(i: int) -> int:
    """`noop` whose results are cached by input."""
    return i


def cached_fan(n: int, path: Path) -> None:
    with TaskRunner(max_workers=WORKERS, cache=path) as runner:
        handles = runner.map(cached_noop, range(n))
        runner.submit(noop, n, depends_on=handles)
        runner.run()


def floor_chain(n: int) -> None:
    asyncio.run(run_floor([()] + [(i,) for i in range(n - 1)], floor_noop))


def ours_chain(n: int) -> None:
    with TaskRunner(max_workers=WORKERS) as runner:
        handle = runner.submit(noop, 0)
        for i in range(1, n):
            handle = runner.submit(noop, i, depends_on=(handle,))
        runner.run()


def pool_fan(n: int) -> None:
    with ThreadPoolExecutor(WORKERS) as pool:
        wait([pool.submit(sync_noop, i) for i in range(n)])


def ours_thread_fan(n: int) -> None:
    with TaskRunner(max_workers=WORKERS, backend="thread") as runner:
        runner.map(sync_noop, range(n))
        runner.run()


# -- measuring -----------------------------------------------------------------------------
def compare(
    base: Workload, ours: Workload, n: int, repeats: int
) -> tuple[list[float], list[float]]:
    """Time both sides ``repeats`` times, alternating which goes first, to share the noise."""
    base(max(n // 100, 10))  # warm up code paths and allocator pools
    ours(max(n // 100, 10))
    base_times: list[float] = []
    our_times: list[float] = []
    for i in range(repeats):
        if i % 2 == 0:
            base_times.append(timed(base, n))
            our_times.append(timed(ours, n))
        else:
            our_times.append(timed(ours, n))
            base_times.append(timed(base, n))
    return base_times, our_times


def child(side: str, n: int) -> None:
    """Run one fan of ``n`` tasks in this (fresh) process; print its time and memory as JSON."""
    fn = {"ours": ours_fan, "loop": ours_fan_submit_loop, "floor": floor_fan}[side]
    base = peak_rss_bytes()
    with GCClock() as clock:
        seconds = timed(fn, n)
    result = {"seconds": seconds, "gc": clock.seconds, "base": base, "peak": peak_rss_bytes()}
    print(json.dumps(result))


def run_child(side: str, n: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", side, str(n)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def process_runs(runs: int) -> dict[str, list[tuple[float, float]]]:
    """(wall, CPU) seconds of ``python -c CODE`` for CODE in `IMPORT_CODES`, alternating.

    CPU is the child's user+sys time: less disturbed than wall time by other load.
    """
    import resource
    import tempfile

    # As installed, a package has its bytecode: pip compiles it, and Python writes it on
    # first import. PYTHONDONTWRITEBYTECODE (set on some machines, CI's among them) would
    # make every run compile the sources again, so the children may write theirs, into a
    # cache of their own rather than the source tree.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="pyworkflowy-import-")

    def once(code: str) -> tuple[float, float]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime

    times: dict[str, list[tuple[float, float]]] = {code: [] for code in IMPORT_CODES}
    once(IMPORT_CODES[1])  # warm-up: writes the bytecode cache, fills the page cache
    for i in range(runs):
        for code in IMPORT_CODES if i % 2 == 0 else IMPORT_CODES[::-1]:
            times[code].append(once(code))
    return times


# -- report --------------------------------------------------------------------------------
@dataclass
class Row:
    case: str
    baseline: str
    ours: str
    ratio: str
    target: str
    ok: bool | None  # None: reported, not judged


def us_per_task(seconds: float, n: int) -> str:
    return f"{seconds / n * 1e6:.2f} µs/task"


def mb(nbytes: float) -> str:
    return f"{nbytes / 2**20:,.0f} MB"


def rounds(times: Sequence[float], n: int) -> str:
    return ", ".join(f"{t / n * 1e6:.2f}" for t in times)


class Suite:
    def __init__(self, quick: bool, repeats: int) -> None:
        self.quick = quick
        self.repeats = repeats
        scale = 10 if quick else 1
        self.fan_n = 100_000 // scale
        self.chain_n = 20_000 // scale
        self.thread_n = 100_000 // scale
        self.small_n, self.large_n = (10_000, 100_000) if quick else (100_000, 1_000_000)
        self.rows: list[Row] = []
        self.notes: list[str] = []

    def versus(
        self, case: str, name: str, base: Workload, ours: Workload, n: int, limit: float | None
    ) -> None:
        """Compare ``ours`` with ``base`` at size ``n``; judge best(ours)/best(base) <= limit.

        With ``limit=None`` the ratio is reported, not judged.
        """
        base_times, our_times = compare(base, ours, n, self.repeats)
        best_base, best_ours = min(base_times), min(our_times)
        ratio = best_ours / best_base
        self.rows.append(
            Row(
                case,
                f"{name} {us_per_task(best_base, n)}",
                us_per_task(best_ours, n),
                f"{ratio:.2f}x",
                "reported" if limit is None else f"≤ {limit}x",
                None if limit is None else ratio <= limit,
            )
        )
        median_ratio = statistics.median(our_times) / statistics.median(base_times)
        self.notes.append(
            f"{case}, µs/task per round: {name} [{rounds(base_times, n)}], "
            f"pyworkflowy [{rounds(our_times, n)}]; ratio of medians {median_ratio:.2f}x"
        )

    def fan(self) -> None:
        n = self.fan_n
        case = f"Overhead per no-op async task, fan N={n:,}"
        self.versus(case, "floor", floor_fan, ours_fan, n, 1.0)

    def chain(self) -> None:
        n = self.chain_n
        case = f"Overhead per no-op async task, chain N={n:,}"
        self.versus(case, "floor", floor_chain, ours_chain, n, 1.5)

    def events(self) -> None:
        n = self.fan_n
        case = f"Fan N={n:,} with one event subscriber (appends to a list)"
        self.versus(case, "no subscriber", ours_fan, ours_fan_watched, n, 1.15)
        case = f"Fan N={n:,} with one subscriber that counts events (keeps none)"
        self.versus(case, "no subscriber", ours_fan, ours_fan_counted, n, None)
        case = f"Fan N={n:,}, then a list of 3 tuples per handle (no subscriber)"
        self.versus(case, "no subscriber", ours_fan, keep_like_a_subscriber, n, None)
        with GCClock() as plain:
            ours_fan(n)
        with GCClock() as watched:
            ours_fan_watched(n)
        self.notes.append(
            f"events: cyclic GC during one fan of {n:,}: {us_per_task(plain.seconds, n)} with "
            f"no subscriber, {us_per_task(watched.seconds, n)} with the appending subscriber "
            "(the collector rescans the events the list keeps)"
        )

    def progress(self) -> None:
        n = self.fan_n
        case = f"Fan N={n:,} with progress=True (the plain display)"
        self.versus(case, "no display", ours_fan, ours_fan_progress, n, 1.2)

    def dynmap(self) -> None:
        n = self.fan_n
        case = f"Map over an upstream's output, N={n:,} items"
        self.versus(case, "static map", ours_static_map, ours_dynamic_map, n, 1.15)

    def limits(self) -> None:
        n = self.fan_n
        case = f"Fan N={n:,}, every task tagged, limits={{tag: 64}}"
        self.versus(case, "no limits", ours_fan, ours_fan_limited, n, 1.3)
        case = f"Fan N={n:,}, every task tagged, limits={{tag: 8}}"
        self.versus(case, "no limits", ours_fan, ours_fan_limited_to_8, n, None)
        case = f"Fan N={n:,}, every task tagged, a limit it never reaches"
        self.versus(case, "no limits", ours_fan, ours_fan_limit_unreached, n, None)

    def cache(self) -> None:
        """Cache hits on SQLite: a fan whose every result is in the cache, in µs per task."""
        import tempfile

        n = self.fan_n // 10
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "cache.db"
            first = timed(lambda k: cached_fan(k, path), n)  # every task runs and is stored
            hits = [timed(lambda k: cached_fan(k, path), n) for _ in range(self.repeats)]
        best = min(hits)
        plain = min(timed(ours_fan, n) for _ in range(self.repeats))
        per_hit = (best - plain) / n * 1e6
        self.rows.append(
            Row(
                f"Cache hit on SQLite, fan N={n:,} (all hits)",
                f"the fan uncached {us_per_task(plain, n)}",
                us_per_task(best, n),
                f"+{per_hit:.1f} µs/hit",
                "< 50 µs/hit",
                per_hit < 50,
            )
        )
        self.notes.append(
            f"cache: the first run (every task runs and is stored) took "
            f"{us_per_task(first, n)}; hits per round: [{rounds(hits, n)}]"
        )

    def thread(self) -> None:
        n = self.thread_n
        case = f"Thread backend, {n:,} no-op sync tasks"
        self.versus(case, "ThreadPoolExecutor", pool_fan, ours_thread_fan, n, 1.2)

    def scale(self) -> None:
        small_n, large_n = self.small_n, self.large_n
        repeats = min(self.repeats, 3)  # the large run takes seconds; 3 fresh processes do
        small: list[dict[str, float]] = []
        large: list[dict[str, float]] = []
        try:
            for _ in range(repeats):
                small.append(run_child("ours", small_n))
                large.append(run_child("ours", large_n))
        except subprocess.CalledProcessError as exc:
            error = (exc.stderr or "").strip().splitlines()[-1:] or [f"exit code {exc.returncode}"]
            case = f"Fan N={large_n:,} completes"
            self.rows.append(Row(case, "", f"crashed: {error[0]}", "", "completes", False))
            return
        floor_small, floor_large = run_child("floor", small_n), run_child("floor", large_n)
        t_small = min(r["seconds"] for r in small)
        t_large = min(r["seconds"] for r in large)
        ratio = t_large / t_small
        floor_ratio = floor_large["seconds"] / floor_small["seconds"]
        peak = min(r["peak"] for r in large)
        base = min(r["base"] for r in large)
        floor_peak = floor_large["peak"]
        floor_added = (floor_peak - floor_large["base"]) / large_n
        self.rows.append(
            Row(
                f"Fan scaling, time({large_n:,}) / time({small_n:,})",
                f"floor {floor_ratio:.1f}",
                f"{t_small:.2f} s → {t_large:.2f} s",
                f"{ratio:.1f}",
                "≤ 12 (full run only)" if self.quick else "≤ 12",
                None if self.quick else ratio <= 12,  # 10k→100k crosses cache sizes: noise
            )
        )
        self.rows.append(
            Row(
                f"Fan N={large_n:,} completes: peak RSS",
                f"floor {mb(floor_peak)} ({floor_added:,.0f} B/task)",
                f"{mb(peak)} ({(peak - base) / large_n:,.0f} B/task)",
                f"{peak / floor_peak:.2f}x",
                "completes",
                True,  # a crash in a child is reported above
            )
        )
        loop_small, loop_large = run_child("loop", small_n), run_child("loop", large_n)
        loop_ratio = loop_large["seconds"] / loop_small["seconds"]
        self.rows.append(
            Row(
                f"Fan scaling with one submit() call per task, {large_n:,} / {small_n:,}",
                f"floor {floor_ratio:.1f}",
                f"{loop_small['seconds']:.2f} s → {loop_large['seconds']:.2f} s",
                f"{loop_ratio:.1f}",
                "reported",
                None,
            )
        )
        small_s = ", ".join(f"{r['seconds']:.2f} (GC {r['gc']:.2f})" for r in small)
        large_s = ", ".join(f"{r['seconds']:.2f} (GC {r['gc']:.2f})" for r in large)
        self.notes.append(
            f"scale (fresh process per run), seconds: pyworkflowy {small_n:,} [{small_s}], "
            f"{large_n:,} [{large_s}]; floor {small_n:,} "
            f"{floor_small['seconds']:.2f} (GC {floor_small['gc']:.2f}), {large_n:,} "
            f"{floor_large['seconds']:.2f} (GC {floor_large['gc']:.2f}); "
            f"RSS before the run {mb(base)} (B/task counts only what the run added)"
        )

    def import_time(self) -> None:
        runs = process_runs(15)
        bare, imported = (runs[code] for code in IMPORT_CODES)
        wall_bare = statistics.median(w for w, _ in bare)
        wall_imported = statistics.median(w for w, _ in imported)
        diff_ms = (wall_imported - wall_bare) * 1e3
        cpu_bare = statistics.median(c for _, c in bare)
        cpu_imported = statistics.median(c for _, c in imported)
        self.rows.append(
            Row(
                "Import time, `python -c 'import pyworkflowy'`",
                f"`python -c pass` {wall_bare * 1e3:.1f} ms",
                f"{wall_imported * 1e3:.1f} ms",
                f"+{diff_ms:.1f} ms",
                "≤ +20 ms",
                diff_ms <= 20,
            )
        )
        self.notes.append(
            f"import: median wall time of {len(bare)} alternating runs each; child CPU time "
            f"(user+sys) medians: pass {cpu_bare * 1e3:.1f} ms, import "
            f"{cpu_imported * 1e3:.1f} ms (+{(cpu_imported - cpu_bare) * 1e3:.1f} ms)"
        )

    def table(self) -> str:
        lines = [
            "| Case | Baseline | pyworkflowy | Ratio | Target | Result |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r.case} | {r.baseline} | {r.ours} | {r.ratio} | {r.target} | "
            f"{'info' if r.ok is None else 'PASS' if r.ok else 'FAIL'} |"
            for r in self.rows
        ]
        return "\n".join(lines)


def profile_chain(n: int) -> str:
    """cProfile top 15 by own time of the chain case, and how much of it was cyclic GC."""
    return profile_top(ours_chain, n)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="N/10, no million-task run")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target fails")
    parser.add_argument("--profile", action="store_true", help="cProfile the chain case too")
    parser.add_argument("--only", nargs="+", choices=CASES, help="run only these cases")
    parser.add_argument("--repeats", type=int, help="rounds per comparison (default 5, quick 3)")
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]))
        return 0

    suite = Suite(args.quick, args.repeats or (3 if args.quick else 5))
    steps: dict[str, Callable[[], None]] = {
        "fan": suite.fan,
        "chain": suite.chain,
        "events": suite.events,
        "progress": suite.progress,
        "dynmap": suite.dynmap,
        "limits": suite.limits,
        "cache": suite.cache,
        "thread": suite.thread,
        "scale": suite.scale,
        "import": suite.import_time,
    }
    for name in args.only or CASES:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        steps[name]()

    header = (
        f"# Core benchmarks ({'quick' if args.quick else 'full'} pass)\n\n"
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.platform()}, "
        f"{os.cpu_count()} CPUs, best of {suite.repeats} rounds unless noted."
    )
    report = "\n\n".join([header, suite.table(), "\n".join(f"- {note}" for note in suite.notes)])
    if args.profile:
        print(f"profiling chain N={suite.chain_n:,} ...", file=sys.stderr, flush=True)
        report += (
            f"\n\n## cProfile: chain N={suite.chain_n:,}, top 15 by tottime\n\n"
            f"```\n{profile_chain(suite.chain_n)}\n```"
        )
    print(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report + "\n", encoding="utf-8")
    print(f"\nwritten to {RESULTS.relative_to(HERE.parent)}", file=sys.stderr)
    failed = [r.case for r in suite.rows if r.ok is False]
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())

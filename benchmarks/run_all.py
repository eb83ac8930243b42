"""The whole benchmark suite: pyworkflowy against a lean floor and its peers, every target.

Run ``uv run --group bench python benchmarks/run_all.py`` (about 20 minutes; ``--quick``
for a CI-sized pass of a few minutes, ``--check`` to exit 1 when a target fails). It writes
a markdown report and a log-log plot of µs per task against N: docs/benchmarks.md and
docs/benchmarks.png, or benchmarks/results/ with ``--quick`` (``--out DIR`` to choose).

The fan and chain cases run every engine (pyworkflowy, the floor, Dask, distributed,
Prefect) in a fresh subprocess per (engine, case, N), warm, with a 2-minute cap on the
measured runs; the other cases come from run_core.py, bench_process.py, bench_dask.py
and bench_persist.py. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # type checkers resolve from the repository root
    from benchmarks import bench_dask, bench_persist, bench_process, run_core
    from benchmarks._common import (
        GCClock,
        peak_rss_bytes,
        profile_top,
        reset_peak_rss,
        timed,
    )
    from benchmarks._peers import PEERS, Engine, prefect_environment
else:  # run as a script, this folder is on sys.path
    import bench_dask
    import bench_persist
    import bench_process
    import run_core
    from _common import GCClock, peak_rss_bytes, profile_top, reset_peak_rss, timed
    from _peers import PEERS, Engine, prefect_environment

HERE = Path(__file__).resolve().parent
CASES = ("fan", "chain")
ENGINES = {  # key: column title
    "pyworkflowy": "pyworkflowy",
    "floor": "floor",
    "dask": "Dask threads (delayed)",
    "dask-graph": "Dask threads (graph dict)",
    "distributed": "distributed LocalCluster",
    "prefect": "Prefect 3",
}
PEER_RATIOS = ("dask", "dask-graph", "distributed", "prefect")
SIZES = (1_000, 10_000, 100_000, 1_000_000)
QUICK_SIZES = (100, 1_000, 10_000)
QUICK_LIMITS = {"prefect": 100, "distributed": 1_000}  # the slowest peers, in a quick pass
CAP = 120.0  # seconds a measured run may take before it is killed
SETUP_CAP = 300.0  # imports, cluster or server start and the warm-up run
PREFIX = "@bench "  # marks the child's report lines among whatever the engines print


# -- child: one engine, one case, one size, in a fresh process -----------------------------
class Ours(Engine):
    """pyworkflowy as run_core.py runs it: ``map`` for a fan, ``submit`` for a chain."""

    def fan(self, n: int) -> None:
        run_core.ours_fan(n)

    def chain(self, n: int) -> None:
        run_core.ours_chain(n)


class Floor(Engine):
    """The 40-line graphlib-style asyncio executor of _floor.py."""

    def fan(self, n: int) -> None:
        run_core.floor_fan(n)

    def chain(self, n: int) -> None:
        run_core.floor_chain(n)


FACTORIES: dict[str, Callable[[], Engine]] = {"pyworkflowy": Ours, "floor": Floor, **PEERS}


def child(engine: str, case: str, n: int, budget: float, max_rounds: int) -> None:
    """Set up, warm up, then time rounds of ``case`` at ``n`` until ``budget`` is spent.

    Reports a line after the warm-up and one per round, so that a parent that kills a
    slow child keeps the rounds already done.
    """

    def report(**fields: float | str) -> None:
        print(PREFIX + json.dumps(fields), flush=True)

    instance = FACTORIES[engine]()
    try:
        run: Callable[[int], None] = getattr(instance, case)
        run(min(max(n // 100, 10), 1_000))  # imports, code paths, pools, server tables
        gc.collect()
        report(event="ready", base=reset_peak_rss())
        spent = 0.0
        for _ in range(max_rounds):
            with GCClock() as clock:
                seconds = timed(run, n)
            spent += seconds
            report(event="round", seconds=seconds, gc=clock.seconds, peak=peak_rss_bytes())
            if spent >= budget:
                break
    finally:
        instance.close()


# -- parent: subprocesses under a cap ------------------------------------------------------
@dataclass
class Measurement:
    engine: str
    case: str
    n: int
    status: str = "failed"  # "ok", "dnf" (killed at the cap), "failed", "skipped"
    note: str = ""
    seconds: list[float] = field(default_factory=list)
    gc: list[float] = field(default_factory=list)
    base: int = 0  # RSS after setup and warm-up (the peak so far where it cannot be reset)
    peak: int = 0  # peak RSS after the first measured round

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def us(self) -> float:
        return self.best / self.n * 1e6

    @property
    def bytes_per_task(self) -> float:
        return (self.peak - self.base) / self.n

    def cell(self) -> str:
        if self.ok:
            return f"{self.us:,.2f}"
        if self.status == "dnf":
            return "did not finish in 2 min"
        return "failed" if self.status == "failed" else "not run"


def _read_lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Kill the child's process group: the child and whatever it started (servers)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def measure(
    engine: str, case: str, n: int, cap: float, budget: float, max_rounds: int
) -> Measurement:
    """Run one child; kill it (and its process group) when a measured run exceeds ``cap``."""
    m = Measurement(engine, case, n)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", engine, case, str(n)]
    command += ["--budget", str(budget), "--max-rounds", str(max_rounds)]
    with tempfile.TemporaryDirectory(prefix="bench-all-") as folder:
        env = dict(os.environ)
        if engine == "prefect":
            env.update(prefect_environment(folder))
        with open(Path(folder) / "stderr", "w+", encoding="utf-8", errors="replace") as err:
            proc = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=err, text=True, env=env,
                start_new_session=True,
            )  # fmt: skip
            assert proc.stdout is not None
            lines: queue.Queue[str | None] = queue.Queue()
            threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
            killed, ready = "", False
            deadline = time.monotonic() + SETUP_CAP
            while True:
                try:
                    line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    killed = "run" if ready else "setup"
                    _kill_group(proc)
                    break
                if line is None:
                    break
                if not line.startswith(PREFIX):
                    continue
                event = json.loads(line[len(PREFIX) :])
                if event["event"] == "round":
                    m.seconds.append(event["seconds"])
                    m.gc.append(event["gc"])
                    m.peak = m.peak or event["peak"]
                else:
                    m.base, ready = event["base"], True
                deadline = time.monotonic() + cap
            try:
                code = proc.wait(timeout=60)  # closing clusters and servers takes a moment
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                code = proc.wait()
            _kill_group(proc)  # anything it left behind
            err.seek(0)
            last_error = next(
                (s.strip() for s in reversed(err.read().splitlines()) if s.strip()), ""
            )
    if m.seconds:
        m.status = "ok"
        if killed or code:
            m.note = f"{len(m.seconds)} round(s) before it was stopped"
    elif killed == "run":
        m.status = "dnf"
    elif killed == "setup":
        m.note = f"setup did not finish in {SETUP_CAP / 60:.0f} min"
    else:
        m.note = last_error[:200] or f"exit code {code}"
    return m


@dataclass
class Matrix:
    """Every (engine, case, N) measurement of the fan and chain cases."""

    sizes: Sequence[int]
    engines: Sequence[str]
    cap: float
    results: dict[tuple[str, str, int], Measurement] = field(default_factory=dict)

    def get(self, engine: str, case: str, n: int) -> Measurement | None:
        return self.results.get((engine, case, n))

    def ok(self, engine: str, case: str, n: int) -> Measurement | None:
        m = self.get(engine, case, n)
        return m if m is not None and m.ok else None


def run_matrix(
    engines: Sequence[str],
    sizes: Sequence[int],
    limits: dict[str, int],
    cap: float,
    budget: float,
    max_rounds: int,
    log: Callable[[str], None],
) -> Matrix:
    """Each engine up the sizes, until a size does not finish within ``cap``.

    A size is not run either when a linear extrapolation of the previous size exceeds
    twice the cap (the peers cost no less per task at larger N).
    """
    matrix = Matrix(sizes, engines, cap)
    for case in CASES:
        for engine in engines:
            previous: Measurement | None = None
            for n in sizes:
                if n > limits.get(engine, n):
                    continue
                if previous is not None and not previous.ok:
                    outcome = {"dnf": "did not finish in 2 min", "skipped": "was not run"}
                    note = f"N={previous.n:,} {outcome.get(previous.status, 'failed')}"
                    m = Measurement(engine, case, n, "skipped", note)
                elif previous is not None and previous.best * n / previous.n > 2 * cap:
                    note = (
                        f"N={previous.n:,} took {previous.best:.0f} s; {n:,} tasks at that rate "
                        "would take over twice the cap"
                    )
                    m = Measurement(engine, case, n, "skipped", note)
                else:
                    m = measure(engine, case, n, cap, budget, max_rounds)
                matrix.results[engine, case, n] = m
                log(f"{case} N={n:,} {engine}: {describe(m)}")
                previous = m
    return matrix


def describe(m: Measurement) -> str:
    if m.ok:
        text = f"{m.us:,.2f} µs/task, best of {len(m.seconds)}"
        return f"{text} ({m.note})" if m.note else text
    return f"{m.status} {m.note}".strip()


# -- targets -------------------------------------------------------------------------------
@dataclass
class Target:
    what: str
    measured: str
    limit: str
    result: str  # PASS, FAIL, info, or "not run (reason)"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def peer_targets(
    matrix: Matrix, engine: str, n: int, factor: float, label: str, judged: bool
) -> list[Target]:
    """pyworkflowy at least ``factor`` times faster per task than ``engine`` at ``n``."""
    targets = []
    for case in CASES:
        what = f"{case} N={n:,}: ≥ {factor:g}x faster per task than {label}"
        ours, peer = matrix.ok("pyworkflowy", case, n), matrix.get(engine, case, n)
        if ours is None:
            result = "FAIL" if judged else "info"
            targets.append(Target(what, "pyworkflowy did not run", f"≥ {factor:g}x", result))
        elif peer is None or not peer.ok:
            reason = "not measured" if peer is None else describe(peer)
            if peer is not None and peer.status == "dnf":  # slower than 2 min: ratio is huge
                ratio = matrix.cap / ours.best  # the peer took longer than the cap
                measured = f"> {ratio:,.0f}x ({engine} did not finish in 2 min)"
                result = "PASS" if judged and ratio >= factor else "info"  # a lower bound
                targets.append(Target(what, measured, f"≥ {factor:g}x", result))
            else:
                targets.append(Target(what, "-", f"≥ {factor:g}x", f"not run ({reason})"))
        else:
            ratio = peer.best / ours.best
            measured = f"{ratio:,.1f}x ({peer.us:,.1f} vs {ours.us:,.2f} µs/task)"
            result = verdict(ratio >= factor) if judged else "info"
            targets.append(Target(what, measured, f"≥ {factor:g}x", result))
    return targets


def scaling_targets(
    matrix: Matrix, case: str, small: int, large: int, judged: bool
) -> list[Target]:
    """time(large) / time(small) ≤ 12, and peak memory at ``large`` ≤ 2x the floor's."""
    ours_small, ours_large = (matrix.ok("pyworkflowy", case, n) for n in (small, large))
    floor_small, floor_large = (matrix.ok("floor", case, n) for n in (small, large))
    what = f"Linear scaling: {case} time({large:,}) / time({small:,})"
    if ours_small is None or ours_large is None:
        return [Target(what, "did not complete", "≤ 12", "FAIL" if judged else "info")]
    ratio = ours_large.best / ours_small.best
    floor = (
        f"; floor {floor_large.best / floor_small.best:.1f}" if floor_small and floor_large else ""
    )
    measured = f"{ratio:.1f} ({ours_small.best:.3g} s → {ours_large.best:.3g} s{floor})"
    targets = [Target(what, measured, "≤ 12", verdict(ratio <= 12) if judged else "info")]
    what = f"Peak memory, {case} N={large:,}: pyworkflowy / floor"
    if floor_large is None:
        return [*targets, Target(what, "-", "≤ 2x", "not run (the floor did not run)")]
    ratio = ours_large.peak / floor_large.peak
    measured = (
        f"{ratio:.2f}x ({mb(ours_large.peak)} vs {mb(floor_large.peak)}; "
        f"{ours_large.bytes_per_task:,.0f} vs {floor_large.bytes_per_task:,.0f} B/task)"
    )
    return [*targets, Target(what, measured, "≤ 2x", verdict(ratio <= 2) if judged else "info")]


def matrix_targets(matrix: Matrix, quick: bool) -> list[Target]:
    """The targets judged on the matrix: scaling and memory of both cases, and the peers."""
    small, large = (1_000, 10_000) if quick else (100_000, 1_000_000)
    targets = scaling_targets(matrix, "fan", small, large, judged=not quick)
    targets += scaling_targets(matrix, "chain", small, large, judged=not quick)
    targets += peer_targets(matrix, "dask", 10_000, 30, "Dask threads (dask.delayed)", True)
    targets += peer_targets(
        matrix, "dask-graph", 10_000, 30, "Dask threads, graph dict (for reference)", False
    )
    prefect_n = 100 if quick else 1_000
    targets += peer_targets(matrix, "prefect", prefect_n, 300, "Prefect", True)
    return targets


def row_target(row: run_core.Row) -> Target:
    result = "info" if row.ok is None else verdict(row.ok)
    return Target(row.case, f"{row.ratio} ({row.ours} vs {row.baseline})", row.target, result)


# -- report --------------------------------------------------------------------------------
def mb(nbytes: float) -> str:
    return f"{nbytes / 2**20:,.0f} MB"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def time_table(matrix: Matrix) -> str:
    engines = [e for e in ENGINES if e in matrix.engines]
    header = ["Case", "N", *(f"{ENGINES[e]} µs/task" for e in engines)]
    ratios = [e for e in PEER_RATIOS if e in engines]
    header += ["pyworkflowy ÷ floor"] if "floor" in engines else []
    header += [f"{ENGINES[e]} ÷ pyworkflowy" for e in ratios]
    rows = []
    for case in CASES:
        for n in matrix.sizes:
            cells = [case, f"{n:,}"]
            found = [matrix.get(e, case, n) for e in engines]
            cells += ["-" if m is None else m.cell() for m in found]
            ours = matrix.ok("pyworkflowy", case, n)
            for e in (["floor"] if "floor" in engines else []) + ratios:
                other = matrix.ok(e, case, n)
                if ours is None or other is None:
                    cells.append("-")
                elif e == "floor":
                    cells.append(f"{ours.best / other.best:.2f}x")
                else:
                    cells.append(f"{other.best / ours.best:,.1f}x")
            rows.append(cells)
    return table(header, rows)


def not_run_notes(matrix: Matrix) -> str:
    """Why a cell says "not run" or "failed"."""
    notes = [
        f"- {ENGINES[m.engine]}, {m.case} N={m.n:,}: {m.status}, {m.note}"
        for m in matrix.results.values()
        if m.status in ("skipped", "failed") or (m.ok and m.note)
    ]
    if not notes:
        return "Every cell was measured."
    intro = "Cells not measured (a larger N is not run once a smaller one failed):"
    return "\n\n".join([intro, "\n".join(notes)])


def memory_table(matrix: Matrix) -> str:
    engines = [e for e in ENGINES if e in matrix.engines]
    header = ["Case", "N", *(ENGINES[e] for e in engines)]
    rows = []
    for case in CASES:
        for n in matrix.sizes:
            cells = [case, f"{n:,}"]
            for e in engines:
                m = matrix.ok(e, case, n)
                cells.append("-" if m is None else f"{mb(m.peak)} ({m.bytes_per_task:,.0f} B)")
            rows.append(cells)
    return table(header, rows)


def versions() -> str:
    names = ("pyworkflowy-core", "dask", "distributed", "prefect")
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} not installed")
    return ", ".join(found)


def plot(matrix: Matrix, path: Path) -> str:
    """Log-log µs/task against N, fan and chain side by side; returns a note if it cannot."""
    try:
        import matplotlib
    except ImportError:
        return "matplotlib is not installed (`uv sync --group bench`): no plot"
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    for ax, case in zip(axes, CASES, strict=True):
        for engine in matrix.engines:
            points = [(n, m.us) for n in matrix.sizes if (m := matrix.ok(engine, case, n))]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", label=ENGINES[engine])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{case}: N no-op tasks" + (" + one fan-in" if case == "fan" else ""))
        ax.set_xlabel("N (tasks)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("µs per task (best round, lower is better)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize="small")
    fig.suptitle("Overhead per task against graph size (runs over 2 min are not shown)")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return ""


@dataclass
class Report:
    quick: bool
    started: float
    matrix: Matrix
    core: run_core.Suite | None = None
    process: bench_process.Results | None = None
    dask: bench_dask.Results | None = None
    persist: tuple[str, list[bench_persist.Check]] | None = None
    profile: str = ""
    profile_n: int = 0
    targets: list[Target] = field(default_factory=list)

    def render(self, plot_note: str) -> str:
        minutes = (time.perf_counter() - self.started) / 60
        parts = [
            f"# Benchmarks ({'quick' if self.quick else 'full'} pass)",
            f"Generated by `uv run --group bench python benchmarks/run_all.py"
            f"{' --quick' if self.quick else ''}` on {time.strftime('%Y-%m-%d %H:%M')} in "
            f"{minutes:.0f} min: Python {platform.python_version()}, {platform.platform()}, "
            f"{os.cpu_count()} CPUs; {versions()}. Compare the ratios, not the absolute "
            "times; benchmarks/README.md describes every case.",
            "## Targets",
            table(
                ["Target", "Measured", "Limit", "Result"],
                [(t.what, t.measured, t.limit, t.result) for t in self.targets],
            ),
            "## Overhead per task against N",
            "N no-op tasks (`fan`: plus one task depending on all of them; `chain`: each "
            "depending on the previous one), timed from building the graph to the last "
            "result. Each (engine, case, N) runs in a fresh process, set up and warmed up "
            "first (imports, clusters and servers are not timed), best of up to "
            f"{'3' if self.quick else '5'} rounds; a measured run is killed after "
            f"{self.matrix.cap / 60:g} min. Ratios over 1 for a peer mean pyworkflowy is "
            "that many times faster.",
            time_table(self.matrix),
            not_run_notes(self.matrix),
            plot_note or "![µs per task against N, log-log](benchmarks.png)",
            "## Peak memory",
            "Peak resident set of each of those processes after its first measured round, "
            "and in brackets what the run added per task (that peak minus the resident set "
            "before the run, over N). Prefect's server runs in a separate process, not "
            "counted.",
            memory_table(self.matrix),
            "### Notes on the peers",
            "\n".join(f"- {note}" for note in PEER_NOTES),
        ]
        if self.core is not None:
            notes = "\n".join(f"- {note}" for note in self.core.notes)
            parts += ["## Core cases (run_core.py)", self.core.table(), notes]
        if self.process is not None:
            parts += ["## Process backend (bench_process.py)", self.process.table()]
        if self.dask is not None:
            parts += ["## Dask backend (bench_dask.py)", self.dask.table()]
        if self.persist is not None:
            parts += ["## Checkpointing (bench_persist.py)", self.persist[0]]
        if self.profile:
            parts += [
                f"## cProfile: pyworkflowy fan N={self.profile_n:,}, top 15 by tottime",
                f"```text\n{self.profile}\n```",
            ]
        return "\n\n".join(parts) + "\n"


PEER_NOTES = (
    "floor: `benchmarks/_floor.py`, a 40-line asyncio DAG executor (indegree counters, one "
    "`asyncio` task per ready node), the stdlib lower bound pyworkflowy is held to.",
    'Dask threads (delayed): `dask.delayed` calls, then `.compute(scheduler="threads")` '
    "(the default pool, one thread per CPU). Each delayed call is a graph layer, and "
    "merging and culling the layers grows with the square of their number "
    "(dask/dask#7402), in a fan as in a chain.",
    "Dask threads (graph dict): the same scheduler (`dask.threaded.get`) on a graph "
    "written as a dict of task tuples: Dask's fastest local path, shown for reference.",
    "distributed: `Client(LocalCluster(processes=False, n_workers=1, threads_per_worker=8))`"
    "; a fan is `client.map` plus one `client.submit` taking all the futures, a chain one "
    "`client.submit` per link. Each link of a chain waits for a scheduler round trip.",
    "Prefect 3: `@flow` functions calling `task.submit()` (fan: then one task with "
    "`wait_for=` all of them; chain: each with `wait_for=` the previous), against the "
    "ephemeral local server with SQLite in a temporary PREFECT_HOME, telemetry off.",
)


# -- main ----------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="N ≤ 10k, Prefect at 100 only")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target fails")
    parser.add_argument("--out", type=Path, help="folder for benchmarks.md and .png")
    parser.add_argument("--engines", nargs="+", choices=list(ENGINES), help="only these")
    parser.add_argument("--matrix-only", action="store_true", help="skip the other suites")
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "CASE", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=float, default=10.0, help=argparse.SUPPRESS)
    parser.add_argument("--max-rounds", type=int, default=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        engine, case, n = args.child
        child(engine, case, int(n), args.budget, args.max_rounds)
        return 0

    started = time.perf_counter()

    def log(message: str) -> None:
        elapsed = time.perf_counter() - started
        print(f"[{elapsed / 60:5.1f} min] {message}", file=sys.stderr, flush=True)

    quick = args.quick
    out: Path = args.out or (HERE / "results" if quick else HERE.parent / "docs")
    out.mkdir(parents=True, exist_ok=True)
    engines = args.engines or list(ENGINES)
    matrix = run_matrix(
        engines,
        QUICK_SIZES if quick else SIZES,
        QUICK_LIMITS if quick else {},
        CAP,
        budget=2.0 if quick else 10.0,
        max_rounds=3 if quick else 5,
        log=log,
    )
    report = Report(quick, started, matrix)
    report.targets = matrix_targets(matrix, quick)
    if not args.matrix_only:
        log("run_core.py: fan, chain, events, dynmap, limits, cache, thread, import")
        suite = run_core.Suite(quick, 3 if quick else 5)
        suite.fan()
        suite.chain()
        suite.events()
        events_end = len(suite.rows)
        suite.dynmap()
        suite.limits()
        suite.cache()
        suite.thread()
        suite.import_time()
        report.core = suite
        fan_row, chain_row, events_row, *event_notes = suite.rows[:events_end]
        *flow_rows, thread_row, import_row = suite.rows[events_end:]
        report.targets[:0] = [row_target(fan_row), row_target(chain_row), row_target(events_row)]
        report.targets[3:3] = [row_target(row) for row in event_notes]  # reported, not judged
        report.targets.append(row_target(thread_row))
        report.targets += [row_target(row) for row in flow_rows]
        log("bench_process.py")
        process = bench_process.measure(quick, os.cpu_count() or 2)
        report.process = process
        report.targets += [
            Target(
                "Process backend: trivial tasks on a warm pool, against ProcessPoolExecutor",
                f"{process.overhead_ratio:.2f}x ({process.us_ours:.1f} µs/task vs "
                f"{process.us_raw:.1f} µs/task)",
                f"≤ {bench_process.OVERHEAD_LIMIT}x",
                verdict(process.overhead_ok),
            ),
            Target(
                "Process backend: CPU-bound fan-out speedup, share of the raw pool's",
                f"{process.speedup_share:.2f}",
                f"≥ {bench_process.SPEEDUP_SHARE}",
                verdict(process.speedup_ok),
            ),
            row_target(import_row),
        ]
        log("bench_dask.py")
        on_dask = bench_dask.measure(quick, 2)
        report.dask = on_dask
        report.targets += [
            Target(
                f"Dask backend: {what}, against raw dask on the same LocalCluster",
                figure,
                limit,
                verdict(ok),
            )
            for what, figure, limit, ok in on_dask.targets()
        ]
        log("bench_persist.py")
        persist_sizes = (1_000, 10_000) if quick else (1_000, 10_000, 100_000)
        persisted = {n: bench_persist.measure(n, 3 if n >= 100_000 else 5) for n in persist_sizes}
        text, checks = bench_persist.report(persisted)
        report.persist = text, checks
        report.targets += [
            Target(f"Checkpointing: {c.what}", c.figure, "see target", verdict(c.ok))
            for c in checks
        ]
        report.profile_n = 10_000 if quick else 100_000
        log(f"cProfile of the fan at {report.profile_n:,}")
        report.profile = profile_top(run_core.ours_fan, report.profile_n)

    plot_note = plot(matrix, out / "benchmarks.png")
    text = report.render(plot_note)
    (out / "benchmarks.md").write_text(text, encoding="utf-8")
    print(text)
    log(f"written to {out / 'benchmarks.md'} and benchmarks.png")
    failed = [t.what for t in report.targets if t.result == "FAIL"]
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Measuring helpers shared by the benchmark scripts: timing, peak memory, GC time, cProfile,
and the rounds of bench_process.py and bench_dask.py (pyworkflowy against a raw pool)."""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

Workload = Callable[[int], None]


def timed(fn: Workload, n: int) -> float:
    """Seconds taken by ``fn(n)``, starting from a garbage-free heap."""
    gc.collect()  # start every measurement from the same heap, garbage-free
    start = time.perf_counter()
    fn(n)
    return time.perf_counter() - start


def peak_rss_bytes() -> int:
    """This process's peak resident set size.

    On Linux, ``getrusage(RUSAGE_SELF).ru_maxrss`` starts a freshly exec'd child at its
    parent's peak (the kernel carries it over exec), so it would report this suite's own
    peak; VmHWM in /proc/self/status belongs to the new address space alone. Elsewhere
    ``ru_maxrss`` is used as is.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource  # Unix only

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # bytes on macOS, KiB elsewhere


def reset_peak_rss() -> int:
    """Lower the recorded peak RSS to the current RSS where Linux allows it; return it.

    Writing 5 to /proc/self/clear_refs resets VmHWM (Linux 4.0+), so a peak read later
    belongs to what ran since. Elsewhere the peak stays and this returns it unchanged.
    """
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass
    return peak_rss_bytes()


class GCClock:
    """Context manager adding up the time spent in cyclic garbage collection while active."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started

    def __enter__(self) -> GCClock:
        gc.collect()  # not counted: leftovers from before
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self._on_gc)


def profile_top(fn: Workload, n: int, top: int = 15) -> str:
    """cProfile of ``fn(n)``: the ``top`` functions by own time, and the cyclic GC total.

    cProfile books a GC pause to whatever function was allocating when it struck (for the
    runner usually ``_add``, which creates the handles), so the GC total is given apart.
    """
    profiler = cProfile.Profile()
    with GCClock() as clock:
        profiler.enable()
        fn(n)
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    total = getattr(stats, "total_tt", 0.0)
    summary = f"cyclic GC during the run: {clock.seconds:.3f} s of {total:.3f} s"
    return f"{out.getvalue().strip()}\n\n{summary}"


# -- pyworkflowy against a raw pool, round by round (bench_process.py, bench_dask.py) -----------


@dataclass
class Pair:
    """Timings of the two sides over the rounds (seconds)."""

    ours: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)

    def ratio(self) -> float:
        """Median over the rounds of ours / raw."""
        return statistics.median(o / r for o, r in zip(self.ours, self.raw, strict=True))


def time_call(call: Callable[[], object]) -> float:
    """Seconds taken by ``call()`` (no garbage collection first, unlike `timed`)."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def alternate(
    rounds: int, ours: Callable[[], object], raw: Callable[[], object], label: str
) -> Pair:
    """Time ``ours()`` and ``raw()`` once a round, the first to go alternating; print each."""
    pair = Pair()
    for r in range(rounds):
        order = ((pair.ours, ours), (pair.raw, raw))
        for times, call in order if r % 2 == 0 else order[::-1]:
            times.append(time_call(call))
        print(f"  {label} round {r + 1}: ours {pair.ours[-1]:.3f} s, raw {pair.raw[-1]:.3f} s")
    return pair


@dataclass
class CpuTimes(Pair):
    """Timings of the CPU-bound tasks over the rounds (seconds): on the two sides, and
    ``serial``, one after the other in this process."""

    serial: list[float] = field(default_factory=list)

    def speedups(self) -> tuple[float, float]:
        """Medians over the rounds of each side's speedup over the serial run: (ours, raw)."""
        ours = statistics.median(s / o for s, o in zip(self.serial, self.ours, strict=True))
        raw = statistics.median(s / r for s, r in zip(self.serial, self.raw, strict=True))
        return ours, raw

    def share(self) -> float:
        """Median over the rounds of pyworkflowy's speedup / raw's."""
        triples = zip(self.serial, self.ours, self.raw, strict=True)
        return statistics.median((s / o) / (s / r) for s, o, r in triples)


Fan = Callable[[Callable[[int], int], list[int]], object]  # a side running fn on each arg


def cpu_rounds(
    rounds: int, fn: Callable[[int], int], args: list[int], ours: Fan, raw: Fan
) -> CpuTimes:
    """Time ``fn`` on each of ``args`` once a round: one after the other here, by ``ours``
    and by ``raw``. The three take turns going first; each round is printed."""
    cpu = CpuTimes()
    for r in range(rounds):
        sides: list[tuple[list[float], Callable[[], object]]] = [
            (cpu.serial, lambda: [fn(a) for a in args]),
            (cpu.ours, lambda: ours(fn, args)),
            (cpu.raw, lambda: raw(fn, args)),
        ]
        for times, call in sides[r % 3 :] + sides[: r % 3]:
            times.append(time_call(call))
        print(
            f"  {len(args)} CPU-bound tasks round {r + 1}: serial {cpu.serial[-1]:.3f} s, "
            f"ours {cpu.ours[-1]:.3f} s, raw {cpu.raw[-1]:.3f} s"
        )
    return cpu


class Judged(Protocol):
    """The figures of one pass of a benchmark against a raw pool."""

    @property
    def ok(self) -> bool:
        """Whether every target is met."""
        ...

    def table(self) -> str:
        """The Markdown table of the figures."""
        ...


def against_raw_main(
    argv: list[str] | None,
    description: str,
    quick_help: str,
    workers: int,
    measure: Callable[[bool, int, int | None], Judged],
) -> int:
    """The command line of bench_process.py and bench_dask.py: measure, print the table.

    ``--quick`` (``quick_help``), ``--check`` (exit 1 if a target fails), ``--workers``
    (default ``workers``) and ``--rounds`` (default: ``measure``'s).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--check", action="store_true", help="exit 1 if a target fails")
    parser.add_argument("--workers", type=int, default=workers)
    parser.add_argument("--rounds", type=int, default=None)
    options = parser.parse_args(argv)
    results = measure(options.quick, options.workers, options.rounds)
    print()
    print(results.table())
    return 1 if options.check and not results.ok else 0

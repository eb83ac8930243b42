"""Measuring helpers shared by the benchmark scripts: timing, peak memory, GC time, cProfile."""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import sys
import time
from collections.abc import Callable

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

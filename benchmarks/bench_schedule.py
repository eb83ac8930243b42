"""Scheduler benchmark: tick() cost against the number of jobs, and background-thread latency.

Run ``uv run python benchmarks/bench_schedule.py`` (about 70 s: the latency case waits for 60
real one-second fires; ``--quick`` waits for 10). ``--check`` exits 1 when a target fails.

Cases and targets:

- tick, none due: ``tick()`` on a scheduler holding n jobs (half ``every``, half ``cron``)
  of which none is due, n = 100, 1,000 and 10,000, timed over many calls (best of several
  rounds, in µs per call). Target: O(log n) or better, judged as
  ``time(10,000) / time(100) <= 3`` (log2 10,000 / log2 100 = 2, plus noise). The jobs sit in
  a heap keyed by next fire time, so a tick that finds nothing due only peeks at its top.
- fire + reschedule: one job due per tick among n (a pop, a submit to a stopped runner and a
  push), reported for reference.
- latency: a real clock, ``Scheduler()`` with its defaults (``tick_seconds=0.5``), one
  ``every(1)`` job running an ``async def`` that records ``time.time()`` when its body
  starts; the delay of each fire is that time minus the due time. Target: p99 <= 20 ms
  (the p99 of 60 fires is in effect their maximum; with ``--quick``, of 10).
- virtual day: a runner and a scheduler on one `pyworkflowy.testing.VirtualClock`, an
  ``every(3600)`` job, real seconds until it has run 24 times (best of 3). Target: <= 1 s.
"""

from __future__ import annotations

import argparse
import gc
import platform
import sys
import threading
import time
from collections.abc import Sequence

from pyworkflowy import TaskRunner, task
from pyworkflowy.schedule import Scheduler
from pyworkflowy.testing import VirtualClock

SIZES = (100, 1_000, 10_000)
TICK_RATIO_LIMIT = 3.0
LATENCY_P99_LIMIT_MS = 20.0
VIRTUAL_DAY_LIMIT = 1.0  # seconds: "a virtual day of an hourly job in well under a second"


class FakeClock:
    """Epoch seconds that only move when the benchmark says so."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@task
def noop() -> None:
    """What the benchmark's jobs would run."""


def build(n: int) -> tuple[Scheduler, FakeClock, TaskRunner]:
    clock = FakeClock()
    runner = TaskRunner()
    sched = Scheduler(runner=runner, clock=clock, tz="UTC")
    for i in range(n):
        if i % 2:
            sched.every(3600 + i).do(noop)
        else:
            sched.cron(f"{i % 60} {i % 24} * * *").do(noop)
    return sched, clock, runner


def time_idle_tick(n: int, calls: int, rounds: int) -> float:
    """Best per-call time of tick() with nothing due, in microseconds."""
    sched, _, runner = build(n)
    assert sched.tick() == []
    best = float("inf")
    gc.disable()
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(calls):
                sched.tick()
            best = min(best, (time.perf_counter() - start) / calls)
    finally:
        gc.enable()
        runner.shutdown()
    return best * 1e6


def time_fire_one(n: int, fires: int) -> float:
    """Mean time of a tick that fires exactly one every(60) job among n, in microseconds."""
    clock = FakeClock()
    runner = TaskRunner()
    sched = Scheduler(runner=runner, clock=clock, tz="UTC")
    for i in range(n):  # n jobs, all every 60 s, due times spread 60/n apart
        clock.now = 1_800_000_000.0 + i * 60 / n
        sched.every(60, max_instances=10**9).do(noop)
    clock.now = 1_800_000_000.0 + 60
    step = 60 / n
    fired = 0
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(fires):
            fired += len(sched.tick())
            clock.now += step
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    runner.shutdown(wait=False)
    assert fired >= fires - 1, fired
    return elapsed / fires * 1e6


def measure_latency(fires: int) -> list[float]:
    """Delay (ms) between each due time and the start of the fired task's body."""
    started: list[float] = []
    done = threading.Event()

    async def beat() -> None:
        started.append(time.time())
        if len(started) >= fires:
            done.set()

    with TaskRunner() as runner:
        sched = Scheduler(runner=runner)
        sched.start()
        job = sched.every(1).do(beat)
        first_due = job.next_run_at
        assert first_due is not None
        if not done.wait(fires + 30):
            raise RuntimeError(f"only {len(started)} of {fires} fires happened")
        sched.stop()
    return [(t - (first_due + k)) * 1000 for k, t in enumerate(started[:fires])]


def time_virtual_day() -> float:
    """Real seconds for 24 runs of an hourly job, runner and scheduler on a VirtualClock."""
    clock = VirtualClock(start=1_893_456_000.0)
    runs: list[float] = []
    done = threading.Event()

    @task
    def hourly() -> None:
        runs.append(clock())
        if len(runs) == 24:
            done.set()

    started = time.perf_counter()
    with TaskRunner(clock=clock) as runner:
        sched = Scheduler(runner=runner, clock=clock, tz="UTC")
        sched.every(3600).do(hourly)
        sched.start()
        finished = done.wait(60)
        sched.stop()
    elapsed = time.perf_counter() - started
    assert finished
    assert runs[23] - runs[0] == 23 * 3600
    return elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10 latency fires instead of 60")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target fails")
    args = parser.parse_args(argv)
    calls, rounds = (20_000, 5) if not args.quick else (5_000, 3)
    fires = 10 if args.quick else 60

    print(
        f"# pyworkflowy-cron benchmark ({platform.python_implementation()} "
        f"{platform.python_version()}, {platform.machine()})\n"
    )
    idle = {n: time_idle_tick(n, calls, rounds) for n in SIZES}
    fire = {n: time_fire_one(n, 2_000 if args.quick else 5_000) for n in SIZES}
    print("| jobs | tick(), none due (µs) | vs 100 jobs | tick() firing one (µs) |")
    print("|---:|---:|---:|---:|")
    for n in SIZES:
        print(f"| {n:,} | {idle[n]:.3f} | {idle[n] / idle[SIZES[0]]:.2f}x | {fire[n]:.1f} |")
    ratio = idle[SIZES[-1]] / idle[SIZES[0]]

    print(
        f"\nlatency: every(1) on the background thread, {fires} fires, real clock ...", flush=True
    )
    delays = measure_latency(fires)
    p50, p99 = percentile(delays, 50), percentile(delays, 99)
    print("\n| fire delay | p50 (ms) | p99 (ms) | max (ms) | min (ms) |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| due -> task body starts | {p50:.2f} | {p99:.2f} | {max(delays):.2f} | "
        f"{min(delays):.2f} |"
    )

    virtual_day = min(time_virtual_day() for _ in range(3))
    print(f"\nan hourly job over a virtual day (VirtualClock): {virtual_day * 1e3:.1f} ms real")

    results = [
        (
            f"tick() none due: time(10,000)/time(100) = {ratio:.2f} <= {TICK_RATIO_LIMIT}",
            ratio <= TICK_RATIO_LIMIT,
        ),
        (
            f"virtual day of an hourly job: {virtual_day:.3f} s real <= {VIRTUAL_DAY_LIMIT} s",
            virtual_day <= VIRTUAL_DAY_LIMIT,
        ),
        (f"latency p99 = {p99:.2f} ms <= {LATENCY_P99_LIMIT_MS} ms", p99 <= LATENCY_P99_LIMIT_MS),
    ]
    print()
    for text, ok in results:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    failed = not all(ok for _, ok in results)
    return 1 if failed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())

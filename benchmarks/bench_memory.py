"""Memory benchmark: peak and held RSS of pyworkflowy against the plain-Python equivalent.

Run ``uv run --group bench python benchmarks/bench_memory.py`` (``--quick`` for a CI-sized
pass, ``--check`` to exit 1 when a target fails). Each (case, side) runs in a fresh
subprocess, so one measurement cannot inherit another's heap; RSS is read from
/proc/self/status (VmRSS, and VmHWM for peaks, reset through /proc/self/clear_refs).

* **serving**: N no-op tasks through a serving runner (``serve()`` on the caller's loop,
  submitted in batches of 1,000), no handle kept; RSS growth from after the first 10% to
  the end, against the same coroutines run with plain asyncio. Target: a few MB.
* **process**: 20 process tasks given the same 50 MB numpy array, two workers: the
  parent's peak RSS above what it held before submitting, against a "spawn"
  `ProcessPoolExecutor`. Target: ≤ 1.5x the pool's.
* **chain**: 20 thread tasks in a chain, each returning 50 MB: what is held after ``run()``
  with only the last handle kept, and the peak of a run whose steps release the upstream
  value once used, against plain Python doing the same steps. Target: ≤ 1.5x plain.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

MB = 1 << 20
VALUE = 50 * MB
STEPS = 20
SERVING_LIMIT = 5 * MB  # growth over the run, bytes
RATIO_LIMIT = 1.5


def _status(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def rss() -> int:
    gc.collect()
    return _status("VmRSS")


def reset_peak() -> int:
    with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
        clear_refs.write("5")
    return _status("VmHWM")


def peak() -> int:
    return _status("VmHWM")


# -- the cases, one side per subprocess ------------------------------------------------------
async def _noop() -> None:
    return None


def serving_ours(n: int) -> dict[str, Any]:
    from pyworkflowy import TaskRunner

    async def main() -> dict[str, Any]:
        runner = TaskRunner()
        server = asyncio.ensure_future(runner.serve())
        await asyncio.sleep(0)
        first = rss()
        warm, start = 0, time.perf_counter()
        for i in range(0, n, 1000):
            last = None
            for _ in range(1000):
                last = runner.submit(_noop)
            assert last is not None
            await last
            del last
            if i == n // 10:
                warm = rss()
        runner.stop()
        await server
        seconds = time.perf_counter() - start
        end = rss()
        held = len(runner.handles())
        runner.shutdown()
        return {"first": first, "warm": warm, "end": end, "seconds": seconds, "held": held}

    return asyncio.run(main())


def serving_plain(n: int) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        first = rss()
        warm, start = 0, time.perf_counter()
        for i in range(0, n, 1000):
            tasks = [asyncio.ensure_future(_noop()) for _ in range(1000)]
            await asyncio.gather(*tasks)
            del tasks
            if i == n // 10:
                warm = rss()
        seconds = time.perf_counter() - start
        return {"first": first, "warm": warm, "end": rss(), "seconds": seconds, "held": 0}

    return asyncio.run(main())


def _array_sum(array: Any) -> float:
    return float(array[::4096].sum())


def process_ours(_: int) -> dict[str, Any]:
    import numpy as np  # type: ignore[import-not-found]  # the bench group
    from pyworkflowy import TaskRunner

    array = np.ones(VALUE // 8)
    with TaskRunner(max_workers=2, backend="process") as runner:
        runner.submit(_array_sum, np.ones(10))
        runner.run()  # both workers... one at least: started and warm
        before = reset_peak()
        start = time.perf_counter()
        handles = [runner.submit(_array_sum, array) for _ in range(20)]
        runner.run()
        seconds = time.perf_counter() - start
        results = [h.result() for h in handles]
        top = peak()
        array.flags.writeable = False  # read-only: each worker gets it once, and keeps it
        start = time.perf_counter()
        handles = [runner.submit(_array_sum, array) for _ in range(20)]
        runner.run()
        shared_seconds = time.perf_counter() - start
        results += [h.result() for h in handles]
    assert len(set(results)) == 1
    return {"before": before, "peak": top, "seconds": seconds, "shared": shared_seconds}


def process_plain(_: int) -> dict[str, Any]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import numpy as np  # type: ignore[import-not-found]  # the bench group

    array = np.ones(VALUE // 8)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        pool.submit(_array_sum, np.ones(10)).result()
        before = reset_peak()
        start = time.perf_counter()
        futures = [pool.submit(_array_sum, array) for _ in range(20)]
        results = [f.result() for f in futures]
        seconds = time.perf_counter() - start
    assert len(set(results)) == 1
    return {"before": before, "peak": peak(), "seconds": seconds}


def _make(previous: bytes | None, n: int) -> bytes:
    fill = n.to_bytes(1, "big") if previous is None else bytes([previous[0] ^ 1])
    return fill * VALUE  # every page written: resident


def chain_ours(_: int) -> dict[str, Any]:
    from pyworkflowy import TaskHandle, TaskRunner

    def step(upstream: TaskHandle | None, n: int) -> bytes:
        return _make(None if upstream is None else upstream.result(), n)

    def released_step(upstream: TaskHandle | None, n: int) -> bytes:
        value = _make(None if upstream is None else upstream.result(), n)
        if upstream is not None:
            upstream.release()  # used: the runner need not keep it
        return value

    before = rss()
    with TaskRunner(backend="thread", max_workers=1) as runner:
        handles = [runner.submit(step, None, 0)]
        for n in range(1, STEPS):
            handles.append(runner.submit(step, handles[-1], n, depends_on=handles[-1]))
        runner.run()
        last = handles[-1]
        runner.forget(*handles[:-1])
        del handles
        held = rss() - before
        assert len(last.result()) == VALUE
        runner.forget(last)
        del last

    base = reset_peak()
    with TaskRunner(backend="thread", max_workers=1) as runner:
        upstream = runner.submit(released_step, None, 0)
        for n in range(1, STEPS):
            upstream = runner.submit(released_step, upstream, n, depends_on=upstream)
        runner.run()
        assert len(upstream.result()) == VALUE
    return {"held": held, "pipeline_peak": peak() - base}


def chain_plain(_: int) -> dict[str, Any]:
    before = rss()
    last: bytes | None = None
    for n in range(STEPS):
        last = _make(last, n)
    held = rss() - before
    del last
    base = reset_peak()
    value: bytes | None = None
    for n in range(STEPS):
        value = _make(value, n)
    assert value is not None
    return {"held": held, "pipeline_peak": peak() - base}


CASES: dict[str, dict[str, Callable[[int], dict[str, Any]]]] = {
    "serving": {"ours": serving_ours, "plain": serving_plain},
    "process": {"ours": process_ours, "plain": process_plain},
    "chain": {"ours": chain_ours, "plain": chain_plain},
}


def measure(case: str, side: str, n: int) -> dict[str, Any]:
    """Run one side of one case in a fresh interpreter; its figures."""
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--case", case, "--side", side, f"-n={n}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{case}/{side} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(n: int) -> tuple[str, bool]:
    """Every case, both sides: a markdown table and whether every target passed."""
    rows = [
        "| Case | pyworkflowy | plain Python | Ratio | Target | Result |",
        "|---|---|---|---|---|---|",
    ]
    ok = True

    def row(label: str, ours: float, plain: float, target: str, passed: bool) -> None:
        nonlocal ok
        ok = ok and passed
        ratio = f"{ours / plain:.2f}x" if plain >= MB else "-"  # not a ratio of noise
        rows.append(
            f"| {label} | {ours / MB:+.1f} MB | {plain / MB:+.1f} MB | {ratio} | {target} | "
            f"{'PASS' if passed else 'FAIL'} |"
        )

    ours, plain = measure("serving", "ours", n), measure("serving", "plain", n)
    grown_ours, grown_plain = ours["end"] - ours["warm"], plain["end"] - plain["warm"]
    row(
        f"Serving runner, {n:,} tasks, no handle kept: RSS growth after the first 10% "
        f"({ours['seconds'] / n * 1e6:.1f} vs {plain['seconds'] / n * 1e6:.1f} µs/task; "
        f"{(ours['end'] - ours['first']) / MB:+.1f} vs "
        f"{(plain['end'] - plain['first']) / MB:+.1f} MB from the start; "
        f"{ours['held']} handles held at the end)",
        grown_ours,
        grown_plain,
        f"≤ +{SERVING_LIMIT // MB} MB",
        grown_ours <= SERVING_LIMIT and ours["held"] == 0,
    )
    ours, plain = measure("process", "ours", n), measure("process", "plain", n)
    peak_ours, peak_plain = ours["peak"] - ours["before"], plain["peak"] - plain["before"]
    row(
        f"Process backend, 20 tasks given one {VALUE // MB} MB numpy array: parent peak "
        f"({ours['seconds']:.2f} s vs {plain['seconds']:.2f} s; plain: ProcessPoolExecutor)",
        peak_ours,
        peak_plain,
        f"≤ {RATIO_LIMIT}x",
        peak_ours <= RATIO_LIMIT * max(peak_plain, VALUE),
    )
    rows.append(
        f"| The same 20 tasks, the array read-only (sent once per worker): "
        f"{ours['shared']:.2f} s, against {ours['seconds']:.2f} s writable | - | - | - | "
        "reported | - |"
    )
    ours, plain = measure("chain", "ours", n), measure("chain", "plain", n)
    row(
        f"Chain of {STEPS} thread tasks returning {VALUE // MB} MB: held after run() "
        "with the last handle kept",
        ours["held"],
        plain["held"],
        f"≤ {RATIO_LIMIT}x",
        ours["held"] <= RATIO_LIMIT * plain["held"],
    )
    row(
        "The same chain, each step releasing its upstream value: peak during the run",
        ours["pipeline_peak"],
        plain["pipeline_peak"],
        f"≤ {RATIO_LIMIT}x",
        ours["pipeline_peak"] <= RATIO_LIMIT * plain["pipeline_peak"],
    )
    return "\n".join(rows), ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="200,000 serving tasks, not 10M")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target fails")
    parser.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--side", choices=["ours", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("-n", type=int, default=0, help="serving tasks (default 10,000,000)")
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(CASES[args.case][args.side](args.n)))
        return 0
    n = args.n or (200_000 if args.quick else 10_000_000)
    print(f"Python {sys.version.split()[0]}")
    table, ok = report(n)
    print(table)
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Tracing benchmark: what ``TaskRunner(tracing=...)`` adds to the no-op fan.

Run ``uv run python benchmarks/bench_tracing.py`` (``--quick``: N = 10,000; ``--repeats K``).
No target: the figures are reported. Three sides run in the same process, in rotating
order from round to round so that they share the machine's noise:

* **off**: the fan of N no-op async tasks (``runner.map``, one fan-in), no ``tracing=``;
* **api only**: ``tracing=True`` with no SDK configured: OpenTelemetry's API hands out
  non-recording spans, the cost of tracing left on in a program that never sets it up;
* **sdk**: ``tracing=`` a `TracerProvider` of the SDK whose `SimpleSpanProcessor` exports
  to an exporter that drops every span: the cost of making and ending N + 2 real spans.

Ratios are best round against best round, as in run_core.py; medians are printed too.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from pyworkflowy import TaskRunner, task

WORKERS = 8


class DropExporter(SpanExporter):
    """Exports nowhere: what is measured is making the spans, not shipping them."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


@task
async def noop(i: int) -> None:
    """The no-op every task runs."""


def fan(n: int, tracing: object) -> None:
    with TaskRunner(max_workers=WORKERS, tracing=tracing) as runner:
        handles = runner.map(noop, range(n))
        runner.submit(noop, n, depends_on=handles)
        runner.run()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 10,000")
    parser.add_argument("--repeats", type=int, default=5, help="rounds (default 5)")
    args = parser.parse_args(argv)
    n = 10_000 if args.quick else 100_000
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(DropExporter()))
    sides: dict[str, Callable[[int], None]] = {
        "off": lambda n: fan(n, False),
        "api only": lambda n: fan(n, True),  # no global provider is ever set here
        "sdk": lambda n: fan(n, provider),
    }
    rounds: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for r in range(args.repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            gc.collect()
            start = time.perf_counter()
            sides[name](n)
            rounds[name].append((time.perf_counter() - start) / (n + 1) * 1e6)
    print(f"# Tracing, fan N={n:,}, {args.repeats} rounds (µs per task)\n")
    print("| tracing | best | median | best / off |")
    print("|---|---|---|---|")
    best_off = min(rounds["off"])
    for name, values in rounds.items():
        best = min(values)
        print(f"| {name} | {best:.2f} | {statistics.median(values):.2f} | {best / best_off:.2f}x |")
    print()
    for name, values in rounds.items():
        print(f"- {name}: " + ", ".join(f"{v:.2f}" for v in values))


if __name__ == "__main__":
    main()

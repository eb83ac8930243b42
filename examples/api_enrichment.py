"""Enrich records through a paid API that allows 4 calls at once and 20 calls a second, and
never pay twice for the same question.

``lookup`` stands for the paid call (an ``async def`` that waits as a network call would).
Its tag ``"geo-api"`` is what the runner limits: ``limits`` caps the calls in flight,
``rate_limits`` spaces their starts, whatever backend runs them. ``cache=True`` keeps each
answer in a SQLite file by input: the second pass over the same cities, as a second run of
the program would, pays for nothing. ``enrich`` maps over the records it is given.

    uv run python examples/api_enrichment.py
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from pyworkflowy import TaskRunner, events, task

RECORDS = ["Lyon", "Paris", "Lille", "Paris", "Nantes", "Lyon", "Nice", "Brest"]
paid: list[str] = []
in_flight = 0
most_in_flight = 0


@task(tags="geo-api", cache=True, name="lookup")
async def lookup(city: str) -> str:
    """The paid call: 300 ms of network, answering with a postcode."""
    global in_flight, most_in_flight
    in_flight += 1
    most_in_flight = max(most_in_flight, in_flight)
    paid.append(city)
    await asyncio.sleep(0.3)
    in_flight -= 1
    return f"{sum(map(ord, city)) % 90000 + 10000}"


def enrich(cache: Path) -> tuple[list[str], int, float]:
    """One pass: every record looked up; the postcodes, the cache hits, the seconds taken."""
    hits = 0

    def count_hits(event: object) -> None:
        nonlocal hits
        hits += isinstance(event, events.TaskCached)

    started = time.perf_counter()
    with TaskRunner(limits={"geo-api": 4}, rate_limits={"geo-api": "20/s"}, cache=cache) as runner:
        runner.subscribe(count_hits)
        handles = runner.map(lookup, sorted(set(RECORDS)))
        runner.run()
        codes = dict(zip(sorted(set(RECORDS)), (h.result() for h in handles), strict=True))
    return [codes[city] for city in RECORDS], hits, time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder) / "answers.db"
        first, hits, took = enrich(cache)
        print(f"first pass: {len(paid)} paid calls, {hits} cache hits, {took:.2f} s")
        print(f"at most {most_in_flight} calls in flight (limit 4)")
        paid_before = len(paid)
        second, hits, took = enrich(cache)
        print(f"second pass: {len(paid) - paid_before} paid calls, {hits} cache hits")
        assert first == second
        for city, code in zip(RECORDS, second, strict=True):
            print(f"  {city:<7} {code}")


if __name__ == "__main__":
    main()

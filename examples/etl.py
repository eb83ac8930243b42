"""A small ETL pipeline: extract three CSV sources, clean them in threads, load into SQLite.

Shows a DAG with fan-in, retries with backoff on a flaky step, timeouts, and an
``on_dep_failure="skip"`` step that only runs when its inputs succeeded.

    uv run python examples/etl.py
"""

from __future__ import annotations

import csv
import sqlite3
import tempfile
from pathlib import Path

from pyworkflowy import TaskHandle, TaskRunner, TaskStatus, task

SOURCES = {
    "north": [("2026-11-01", "12.50"), ("2026-11-02", "7.25"), ("2026-11-03", "bad")],
    "south": [("2026-11-01", "3.00"), ("2026-11-02", "4.75")],
    "east": [("2026-11-02", "10.00"), ("2026-11-03", "2.50")],
}


class FlakyNetworkError(ConnectionError):
    """Stands in for a transient failure of a remote source."""


_calls: dict[str, int] = {}


@task(retries=3, backoff="exponential", backoff_base=0.01, retry_on=FlakyNetworkError)
def extract(folder: str, region: str) -> str:
    """Write the region's raw CSV; the 'east' source fails twice before answering."""
    _calls[region] = _calls.get(region, 0) + 1
    if region == "east" and _calls[region] < 3:
        raise FlakyNetworkError(f"{region}: connection reset")
    path = Path(folder) / f"{region}.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([("day", "amount"), *SOURCES[region]])
    return str(path)


@task(backend="thread", timeout=5.0)
def transform(raw: TaskHandle) -> list[tuple[str, float]]:
    """Parse the extracted CSV file, dropping rows whose amount is not a number."""
    rows = []
    with open(raw.result(), newline="") as f:
        for record in csv.DictReader(f):
            try:
                rows.append((record["day"], float(record["amount"])))
            except ValueError:
                continue
    return rows


@task(on_dep_failure="skip")
def load(db: str, parts: list[TaskHandle]) -> int:
    """Insert every cleaned row into SQLite; skipped if any transform failed."""
    rows = [row for part in parts for row in part.result()]
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS sales (day TEXT, amount REAL)")
        conn.executemany("INSERT INTO sales VALUES (?, ?)", rows)
    return len(rows)


def main() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder, TaskRunner(max_workers=4) as runner:
        db = str(Path(folder) / "sales.db")
        cleaned = []
        for region in SOURCES:
            raw = extract.submit(folder, region)
            # Dependencies don't pass values along: hand over the upstream handle instead.
            cleaned.append(transform.submit(raw, depends_on=[raw]))
        loaded = load.submit(db, cleaned, depends_on=cleaned)
        runner.run()
        assert loaded.status is TaskStatus.COMPLETED
        with sqlite3.connect(db) as conn:
            totals = dict(conn.execute("SELECT day, SUM(amount) FROM sales GROUP BY day"))
        print(f"loaded {loaded.result()} rows; 'east' needed {_calls['east']} attempts")
        for day, amount in sorted(totals.items()):
            print(f"  {day}: {amount:8.2f}")
        return totals


if __name__ == "__main__":
    main()

"""A small ETL pipeline: extract four CSV sources, clean them in threads, load into SQLite.

Shows a DAG with fan-in, retries with backoff on a flaky source, timeouts, and the
dependency-failure policies at work: the "west" source stays down, so its cleaning step
fails (``on_dep_failure="fail"``, the default), its load is skipped
(``on_dep_failure="skip"``), and the report still runs over what was loaded
(``on_dep_failure="run-anyway"``). The runner keeps each failure on its handle and goes
on (``on_task_error="continue"``).

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
    "west": [("2026-11-01", "99.00")],
}
DOWN = {"west"}  # never answers
FLAKY = {"east": 2}  # fails this many times, then answers


class FlakyNetworkError(ConnectionError):
    """Stands in for a failure of a remote source."""


_calls: dict[str, int] = {}


@task(retries=3, backoff="exponential", backoff_base=0.01, retry_on=FlakyNetworkError)
def extract(folder: str, region: str) -> str:
    """Write the region's raw CSV; retried with backoff while the source is unreachable."""
    _calls[region] = _calls.get(region, 0) + 1
    if region in DOWN or _calls[region] <= FLAKY.get(region, 0):
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
def load(db: str, part: TaskHandle) -> int:
    """Insert one region's cleaned rows into SQLite; skipped if its cleaning failed."""
    rows = part.result()
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS sales (day TEXT, amount REAL)")
        conn.executemany("INSERT INTO sales VALUES (?, ?)", rows)
    return len(rows)


@task(on_dep_failure="run-anyway")
def report(db: str) -> dict[str, float]:
    """Total the loaded sales per day, whatever did or did not load."""
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS sales (day TEXT, amount REAL)")
        return dict(conn.execute("SELECT day, SUM(amount) FROM sales GROUP BY day"))


def main() -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as folder,
        TaskRunner(max_workers=4, on_task_error="continue") as runner,
    ):
        db = str(Path(folder) / "sales.db")
        raws, loads = {}, {}
        for region in SOURCES:
            raws[region] = raw = extract.submit(folder, region)
            # Dependencies don't pass values along: hand over the upstream handle instead.
            cleaned = transform.submit(raw, depends_on=[raw])
            loads[region] = load.submit(db, cleaned, depends_on=[cleaned])
        totals = report.submit(db, depends_on=list(loads.values()))
        runner.run()
        assert totals.status is TaskStatus.COMPLETED
        for region, handle in loads.items():
            if handle.status is TaskStatus.COMPLETED:
                outcome = f"loaded {handle.result()} rows"
            else:  # the extract's last error is why the load was skipped
                outcome = f"load {handle.status.value} ({raws[region].exception().__cause__})"
            print(f"{region:>5}: {_calls[region]} extract attempt(s), {outcome}")
        for day, amount in sorted(totals.result().items()):
            print(f"  {day}: {amount:8.2f}")
        return totals.result()


if __name__ == "__main__":
    main()

"""A small ETL written as a dataflow: each task takes what the task before it returned.

``extract`` parses a day's order export (held in memory here) into records. A dynamic map
cleans each record in a task of its own: ``clean.map(records.output)`` is one handle,
which becomes one task per record once ``extract`` has returned them, and whose value is
the list of their results in order. ``load`` takes that list (``cleaned.output``), writes
the sales to SQLite in a temporary directory and totals them per region.

No body takes a handle or calls ``.result()``: passing ``.output`` makes each task depend
on its upstream, and the runner hands the body the value. A failed item would fail the
whole map, so ``clean`` returns a ``Rejected`` record for an order it cannot use instead
of raising, and ``load`` reports it.

    uv run python examples/dataflow_etl.py
"""

from __future__ import annotations

import csv
import io
import sqlite3
import tempfile
from pathlib import Path
from typing import NamedTuple

from pyworkflowy import TaskRunner, task

EXPORT = """\
order,region,amount,currency
1001,north,12.50,EUR
1002,south,20.00,USD
1003,north,7.25,EUR
1004,east,n/a,EUR
1005,south,3.00,GBP
1006,east,10.00,USD
1007,west,5.00,JPY
1008,north,4.75,EUR
"""
RATES = {"EUR": 1.0, "USD": 0.9, "GBP": 1.15}  # to EUR


class Sale(NamedTuple):
    order: int
    region: str
    eur: float


class Rejected(NamedTuple):
    order: int
    reason: str


class Summary(NamedTuple):
    loaded: int
    rejected: list[Rejected]
    regions: list[tuple[str, int, float]]  # region, orders, total in EUR


@task(name="etl.extract")
def extract() -> list[dict[str, str]]:
    """The day's orders as records (a real extract would query a source)."""
    return list(csv.DictReader(io.StringIO(EXPORT)))


@task(name="etl.clean", backend="thread")
def clean(record: dict[str, str]) -> Sale | Rejected:
    """One record: the amount as a number, converted to EUR; or why it cannot be used."""
    order = int(record["order"])
    try:
        amount = float(record["amount"])
    except ValueError:
        return Rejected(order, f"amount {record['amount']!r} is not a number")
    rate = RATES.get(record["currency"])
    if rate is None:
        return Rejected(order, f"no exchange rate for {record['currency']}")
    return Sale(order, record["region"], round(amount * rate, 2))


@task(name="etl.load")
def load(db: str, cleaned: list[Sale | Rejected]) -> Summary:
    """Write the sales to SQLite and total them per region; pass the rejections on."""
    sales = [row for row in cleaned if isinstance(row, Sale)]
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE sales (sale INTEGER PRIMARY KEY, region TEXT, eur REAL)")
        conn.executemany("INSERT INTO sales VALUES (?, ?, ?)", sales)
        regions = conn.execute(
            "SELECT region, COUNT(*), SUM(eur) FROM sales GROUP BY region ORDER BY region"
        ).fetchall()
    rejected = [row for row in cleaned if isinstance(row, Rejected)]
    return Summary(len(sales), rejected, regions)


def main() -> Summary:
    with tempfile.TemporaryDirectory() as folder, TaskRunner(max_workers=4) as runner:
        records = extract.submit()
        cleaned = clean.map(records.output)  # one handle: the list of results
        summary = load.submit(str(Path(folder) / "sales.db"), cleaned.output)
        runner.run()

        items = [i for i in runner.results() if i.startswith(f"{cleaned.id}[")]
        print(f"extract: {len(records.result())} records")
        print(f"clean:   {len(items)} tasks, {items[0]} .. {items[-1]}")
        result = summary.result()
        print(f"load:    {result.loaded} sales loaded, {len(result.rejected)} rejected")
        for order, reason in result.rejected:
            print(f"  rejected {order}: {reason}")
        for region, orders, total in result.regions:
            print(f"  {region:>5}: {orders} order(s) {total:8.2f} EUR")
        return result


if __name__ == "__main__":
    main()

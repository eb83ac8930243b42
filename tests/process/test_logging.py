"""Logs from process-backend bodies reach the parent's logging.

What users rely on: a record a body logs in its worker process, through
``current_task().logger`` or the plain ``logging`` module, goes through the parent's
handlers and formatters, with the task's ``task_id``, ``task_name`` and ``attempt``;
the parent's logger levels decide what shows, as they would for a body run in-process.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator

import pytest
from pyworkflowy import TaskRunner, current_task, task

from tests._logs import Collect, collecting


@pytest.fixture
def collect() -> Iterator[Collect]:
    """A handler on the parent's root logger, at INFO; restored afterwards."""
    with collecting(logging.getLogger(), logging.INFO) as handler:
        yield handler


@task(backend="process")
def import_rows(path: str) -> int:
    ctx = current_task()
    assert ctx is not None
    ctx.logger.info("reading %s", path, extra={"rows": 2})
    logging.getLogger("myapp.db").warning("slow query in pid %d", os.getpid())
    logging.info("plain logging at INFO")
    logging.getLogger("myapp.db").debug("query plan")
    return 2


@task(backend="process")
def broken() -> None:
    try:
        raise KeyError("id")
    except KeyError:
        logging.getLogger("myapp").exception("lookup failed")


def test_records_logged_in_a_worker_reach_the_parents_handlers_with_task_fields(
    collect: Collect,
) -> None:
    with TaskRunner(max_workers=1) as runner:
        handle = import_rows.submit("users.csv", key="import")
        runner.run()

    assert handle.result() == 2
    by_message = {r.getMessage().split(" in pid")[0]: r for r in collect.records}
    assert set(by_message) == {"reading users.csv", "slow query", "plain logging at INFO"}
    for record in by_message.values():
        assert (record.task_id, record.task_name, record.attempt) == (  # type: ignore[attr-defined]
            "import",
            handle.name,
            1,
        )
        assert record.process != os.getpid()  # made in the worker, stamped so
    assert by_message["reading users.csv"].name == "pyworkflowy.task"
    assert by_message["reading users.csv"].rows == 2  # type: ignore[attr-defined]
    assert by_message["slow query"].name == "myapp.db"
    assert by_message["slow query"].levelno == logging.WARNING
    assert by_message["plain logging at INFO"].name == "root"


def test_the_parents_logger_levels_decide_what_comes_through(collect: Collect) -> None:
    quiet, loud = logging.getLogger("pyworkflowy.task"), logging.getLogger("myapp.db")
    quiet.setLevel(logging.WARNING)
    loud.setLevel(logging.DEBUG)
    try:
        with TaskRunner(max_workers=1) as runner:
            import_rows.submit("users.csv")
            runner.run()
    finally:
        quiet.setLevel(logging.NOTSET)
        loud.setLevel(logging.NOTSET)

    messages = sorted(r.getMessage().split(" in pid")[0] for r in collect.records)
    assert messages == ["plain logging at INFO", "query plan", "slow query"]


def test_a_traceback_logged_in_a_worker_is_formatted_by_the_parent(collect: Collect) -> None:
    collect.setFormatter(logging.Formatter("%(levelname)s %(task_id)s %(message)s"))
    with TaskRunner(max_workers=1) as runner:
        broken.submit(key="lookup")
        runner.run()

    (record,) = collect.records
    text = collect.format(record)
    assert text.startswith("ERROR lookup lookup failed\nTraceback (most recent call last):")
    assert text.endswith("KeyError: 'id'")


def test_a_json_formatter_in_the_parent_sees_the_task_fields(collect: Collect) -> None:
    class JSONFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return json.dumps(
                {
                    "level": record.levelname,
                    "message": record.getMessage(),
                    "task_id": getattr(record, "task_id", None),
                    "attempt": getattr(record, "attempt", None),
                }
            )

    collect.setFormatter(JSONFormatter())
    with TaskRunner(max_workers=1) as runner:
        import_rows.submit("users.csv", key="import")
        runner.run()

    lines = [json.loads(collect.format(r)) for r in collect.records]
    assert {"level": "INFO", "message": "reading users.csv", "task_id": "import", "attempt": 1} in (
        lines
    )


def test_a_warning_in_a_worker_is_not_also_printed_bare_on_stderr(
    collect: Collect, capfd: pytest.CaptureFixture[str]
) -> None:
    with TaskRunner(max_workers=1) as runner:
        import_rows.submit("users.csv")
        runner.run()

    assert any(r.getMessage().startswith("slow query") for r in collect.records)
    assert "slow query" not in capfd.readouterr().err


@task(backend="process")
def levels_here() -> tuple[int, int, int]:
    return (
        logging.getLogger().getEffectiveLevel(),
        logging.getLogger("myapp.db").getEffectiveLevel(),
        logging.getLogger("myapp.db.pool").getEffectiveLevel(),
    )


def test_workers_use_the_levels_the_parents_loggers_had_when_the_run_started() -> None:
    root, db = logging.getLogger(), logging.getLogger("myapp.db")
    saved = root.level
    try:
        with TaskRunner(max_workers=1) as runner:
            root.setLevel(logging.ERROR)
            db.setLevel(logging.DEBUG)
            first = levels_here.submit()
            runner.run()
            db.setLevel(logging.NOTSET)  # the next run, in the same worker, follows
            second = levels_here.submit()
            runner.run()
    finally:
        root.setLevel(saved)
        db.setLevel(logging.NOTSET)

    assert first.result() == (logging.ERROR, logging.DEBUG, logging.DEBUG)
    assert second.result() == (logging.ERROR, logging.ERROR, logging.ERROR)

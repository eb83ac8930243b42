"""Logs from dask-backend bodies reach the runner's logging.

What users rely on: a record a body logs on a dask worker process, through
``current_task().logger`` or plain ``logging``, comes home with the attempt's outcome and
goes through the runner's process's handlers, with ``task_id``, ``task_name`` and
``attempt``; the runner's logger levels decide what comes through.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("distributed")

from pyworkflowy import TaskRunner, current_task, task
from pyworkflowy.dask import DaskBackend

from tests._logs import Collect, collecting

if TYPE_CHECKING:
    from distributed import Client


@pytest.fixture
def collect() -> Iterator[Collect]:
    with collecting(logging.getLogger(), logging.INFO) as handler:
        yield handler


def import_rows(path: str) -> int:
    ctx = current_task()
    assert ctx is not None
    ctx.logger.info("reading %s", path)
    logging.getLogger("myapp.db").warning("slow query")
    logging.getLogger("myapp.db").debug("query plan")
    return os.getpid()


def broken() -> None:
    logging.getLogger("myapp").error("about to fail")
    raise KeyError("id")


def test_records_logged_on_a_worker_process_reach_the_runners_handlers(
    process_client: Client, collect: Collect
) -> None:
    backend = DaskBackend(client=process_client)
    with TaskRunner(backends={"dask": backend}) as runner:
        handle = runner.submit(task(backend="dask")(import_rows), "users.csv", key="import")
        runner.run()

    assert handle.result() != os.getpid()  # it ran in a worker process
    messages = {r.getMessage(): r for r in collect.records if r.name != "distributed"}
    assert set(messages) >= {"reading users.csv", "slow query"}
    assert "query plan" not in messages  # below the levels here
    for message in ("reading users.csv", "slow query"):
        record = messages[message]
        assert (record.task_id, record.task_name, record.attempt) == (  # type: ignore[attr-defined]
            "import",
            handle.name,
            1,
        )
        assert record.process == handle.result()
    assert messages["reading users.csv"].name == "pyworkflowy.task"


def test_records_of_a_body_that_raises_come_home_with_its_error(
    process_client: Client, collect: Collect
) -> None:
    backend = DaskBackend(client=process_client)
    with TaskRunner(backends={"dask": backend}, on_task_error="continue") as runner:
        handle = runner.submit(task(backend="dask")(broken), key="broken")
        runner.run()

    assert isinstance(handle.exception(), KeyError)
    assert not hasattr(handle.exception(), "_pyworkflowy_logs")
    (record,) = [r for r in collect.records if r.getMessage() == "about to fail"]
    assert record.task_id == "broken"  # type: ignore[attr-defined]


def test_on_a_cluster_in_the_runners_process_each_record_comes_once(
    backend: DaskBackend, collect: Collect
) -> None:
    with TaskRunner(backends={"dask": backend}) as runner:
        handle = runner.submit(task(backend="dask")(import_rows), "users.csv", key="local")
        runner.run()

    assert handle.result() == os.getpid()  # threads of this process
    mine = [r for r in collect.records if r.getMessage() in ("reading users.csv", "slow query")]
    assert sorted(r.getMessage() for r in mine) == ["reading users.csv", "slow query"]
    assert mine[0].task_id == "local"  # type: ignore[attr-defined]

"""The cluster's life: started on first use and closed at shutdown, unless it is yours;
and a checkpointed run of dask tasks resumed by a new runner."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from distributed import Client
from pyworkflowy import TaskHandle, TaskRunner, TaskStatus, task
from pyworkflowy.dask import DaskBackend


def where() -> str:
    from distributed import get_worker

    return get_worker().address


def test_the_backend_starts_its_local_cluster_on_first_use_and_closes_it_at_shutdown() -> None:
    backend = DaskBackend(
        processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0"
    )
    with TaskRunner(backends={"dask": backend}, backend="dask") as runner:
        handle = runner.submit(where)
        assert (backend.client, backend.cluster) == (None, None)  # submitting starts nothing
        runner.run()
        client, cluster = backend.client, backend.cluster
        assert client is not None
        assert cluster is not None
        assert handle.result() in client.scheduler_info()["workers"]
    assert client.status == "closed"
    assert cluster.status.name == "closed"
    assert (backend.client, backend.cluster) == (None, None)


def test_shutdown_leaves_the_users_client_open(backend: DaskBackend, client: Client) -> None:
    with TaskRunner(backends={"dask": backend}, backend="dask") as runner:
        runner.submit(where)
        runner.run()
    assert backend.client is client
    assert client.status == "running"
    assert client.submit(lambda: "still open", pure=False).result(timeout=10) == "still open"


def test_a_backend_that_cannot_reach_its_scheduler_fails_the_attempt_naming_it() -> None:
    backend = DaskBackend(address="tcp://127.0.0.1:1")  # nothing listens on port 1
    import dask

    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        TaskRunner(backends={"dask": backend}, backend="dask", on_task_error="continue") as runner,
    ):
        handle = runner.submit(where)
        runner.run()
    assert handle.status is TaskStatus.FAILED
    assert "backend 'dask' could not connect to 'tcp://127.0.0.1:1'" in str(handle.exception())


@task(backend="dask")
def record(log: str, x: int) -> int:
    with open(log, "a") as f:
        f.write(f"{x}\n")
    if x == 2 and not Path(log + ".fixed").exists():
        raise RuntimeError("not yet")
    return 10 * x


def test_a_checkpointed_run_of_dask_tasks_resumes_where_it_stopped(
    client: Client, tmp_path: Path
) -> None:
    persist = pytest.importorskip("pyworkflowy.persist")
    db, log = tmp_path / "state.db", str(tmp_path / "runs.log")

    def submit_all(runner: TaskRunner) -> list[TaskHandle[int]]:
        return [runner.submit(record, log, x, key=f"record-{x}") for x in (1, 2, 3)]

    first = TaskRunner(
        checkpointer=persist.SQLiteCheckpointer(db),
        backends={"dask": DaskBackend(client=client)},
        on_task_error="continue",
    )
    with first:
        handles = submit_all(first)
        first.run()
    assert [h.status for h in handles] == [
        TaskStatus.COMPLETED,
        TaskStatus.FAILED,
        TaskStatus.COMPLETED,
    ]
    Path(log + ".fixed").touch()
    Path(log).write_text("")

    resumed = TaskRunner.resume(
        persist.SQLiteCheckpointer(db), backends={"dask": DaskBackend(client=client)}
    )
    with resumed:
        handles = submit_all(resumed)
        resumed.run()
    assert [h.result() for h in handles] == [10, 20, 30]
    assert Path(log).read_text().split() == ["2"]  # only the failed task ran again


def test_a_scheduler_that_reruns_dead_workers_tasks_itself_is_named_in_a_warning(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    # The session's thread cluster keeps dask's default allowed-failures (3).
    caplog.set_level(logging.WARNING, logger="pyworkflowy.dask")
    with TaskRunner(backends={"dask": DaskBackend(client=client)}, backend="dask") as runner:
        runner.submit(where)
        runner.run()
        deadline = time.monotonic() + 30  # a hang guard: the check runs on the client's loop
        while not (ours := [r for r in caplog.records if r.name == "pyworkflowy.dask"]):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    (record,) = ours
    assert "re-runs a task whose worker died up to 3 time(s)" in record.getMessage()
    assert "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=0" in record.getMessage()


def test_the_local_cluster_it_starts_leaves_dead_workers_tasks_to_the_runner() -> None:
    backend = DaskBackend(
        processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0"
    )
    with TaskRunner(backends={"dask": backend}, backend="dask") as runner:
        runner.submit(where)
        runner.run()
        assert backend.client is not None
        allowed = backend.client.run_on_scheduler(
            lambda dask_scheduler: dask_scheduler.allowed_failures
        )
    assert allowed == 0

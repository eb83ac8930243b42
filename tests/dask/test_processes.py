"""The dask backend on worker processes: bodies travel by pickle, and a worker can die.

The session's process cluster has two single-threaded workers and lets no task survive a
worker death (``allowed-failures`` 0), so a killed worker fails its attempt at once.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

pytest.importorskip("distributed")

from collections.abc import Callable

from distributed import Client, Variable
from pyworkflowy import TaskContext, TaskRunner, TaskStatus, current_task, task
from pyworkflowy.dask import DaskBackend, WorkerDiedError
from pyworkflowy.events import TaskRetrying

Name = Callable[[str], str]


def context() -> TaskContext:
    """`current_task()` in a body, where it is never None."""
    ctx = current_task()
    assert ctx is not None
    return ctx


def pid_and_attempt() -> tuple[int, int]:
    return os.getpid(), context().attempt


async def async_pid(x: int) -> tuple[int, int]:
    import asyncio

    await asyncio.sleep(0)
    return os.getpid(), 2 * x


def work_until_killed(pid_name: str) -> str:
    if context().attempt == 1:
        Variable(pid_name).set(os.getpid())
        time.sleep(30)  # simulated work: the test kills this worker meanwhile
        return "finished"
    return f"recovered on attempt {context().attempt}"


def test_bodies_run_in_worker_processes(process_client: Client) -> None:
    factor = 3
    workers = set(process_client.run(os.getpid).values())
    with TaskRunner(backends={"dask": DaskBackend(client=process_client)}, backend="dask") as r:
        module_function = r.submit(pid_and_attempt)  # this test module: sent by value
        closure = r.submit(lambda x: (os.getpid(), x * factor), 7)
        coroutine = r.submit(task(backend="dask")(async_pid), 21)
        r.run()
    pids = {module_function.result()[0], closure.result()[0], coroutine.result()[0]}
    assert pids <= workers
    assert (module_function.result()[1], closure.result()[1], coroutine.result()[1]) == (1, 21, 42)
    assert os.getpid() not in workers


def test_a_killed_worker_fails_its_attempt_and_the_runner_retries_it(
    process_client: Client, name: Name
) -> None:
    retried: list[TaskRetrying] = []
    body = task(backend="dask", retries=1)(work_until_killed)
    with TaskRunner(backends={"dask": DaskBackend(client=process_client)}) as runner:
        runner.subscribe(lambda e: retried.append(e) if isinstance(e, TaskRetrying) else None)
        handle = runner.submit(body, name("pid"))
        running = threading.Thread(target=runner.run)
        running.start()
        pid = Variable(name("pid"), client=process_client).get(timeout=30)
        os.kill(pid, signal.SIGKILL)
        running.join(30)
        assert not running.is_alive()
    assert handle.result() == "recovered on attempt 2"
    (event,) = retried
    assert isinstance(event.error, WorkerDiedError)
    assert event.error.worker is not None
    assert f"the dask worker {event.error.worker} died while running task" in str(event.error)


def sleep_in_c(pid_name: str) -> str:
    Variable(pid_name).set(os.getpid())
    time.sleep(3600)  # blocked in C: an exception raised in this thread waits for it
    return "woke"


def gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_stopped_body_blocked_in_c_has_its_worker_restarted_after_the_grace() -> None:
    # A cluster of its own: the restart must not depend on what earlier tests did to the
    # session's workers (one of them was killed).
    from distributed import LocalCluster

    with (
        LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        backend = DaskBackend(client=client, stop_grace=0.5)
        sleeper = task(backend="dask")(sleep_in_c)
        with TaskRunner(backends={"dask": backend}, on_task_error="continue") as runner:
            handle = sleeper.submit("restart-test-pid")
            running = threading.Thread(target=runner.run)
            running.start()
            pid = Variable("restart-test-pid", client=client).get(timeout=30)
            assert handle.cancel()
            running.join(30)
            assert not running.is_alive()
            deadline = time.monotonic() + 30  # a hang guard: the restart comes after 0.5 s
            while not gone(pid):
                assert time.monotonic() < deadline, f"worker process {pid} still runs the body"
                time.sleep(0.05)
        assert handle.status is TaskStatus.CANCELLED
        client.wait_for_workers(1, timeout=30)  # the nanny started a fresh worker
        assert pid not in client.run(os.getpid).values()

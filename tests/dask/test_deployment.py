"""A real deployment: ``dask scheduler`` and two ``dask worker`` commands as separate OS
processes on 127.0.0.1, and a 200-task run through ``DaskBackend(address=...)`` that
meets retries, a timeout, a cancel, a failing task and a worker killed with SIGKILL.

The scheduler runs as the docs advise, with ``allowed-failures`` 0, so a worker death
reaches pyworkflowy's retries rather than dask's own rescheduling.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("distributed")

import psutil  # a dependency of distributed
from distributed import Client, Event, Variable
from pyworkflowy import (
    TaskRunner,
    TaskStatus,
    TaskTimeoutError,
    current_task,
    task,
)
from pyworkflowy.dask import DaskBackend, WorkerDiedError
from pyworkflowy.events import TaskRetrying

pytestmark = pytest.mark.timeout(180)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Deployment:
    """The scheduler and worker commands, each in a process group of its own."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.seen: set[int] = set()  # every pid of the deployment, its worker children too

    def start(self, name: str, *args: str) -> None:
        log = (self.log_dir / f"{name}.log").open("wb")
        command = [sys.executable, "-m", f"distributed.cli.dask_{name.rstrip('0123456789')}"]
        proc = subprocess.Popen(
            [*command, *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs.append(proc)

    def note_pids(self) -> None:
        for proc in self.procs:
            self.seen.add(proc.pid)
            with contextlib.suppress(psutil.NoSuchProcess):
                self.seen.update(c.pid for c in psutil.Process(proc.pid).children(recursive=True))

    def stop(self) -> None:
        self.note_pids()
        for proc in reversed(self.procs):  # workers first, then the scheduler
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)

    def left_behind(self) -> list[int]:
        alive = []
        for pid in sorted(self.seen):
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                continue
        return alive


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    deploy = Deployment(tmp_path)
    deploy.start("scheduler", "--host", "127.0.0.1", "--port", str(deploy.port), "--no-dashboard")
    try:
        for i in (1, 2):
            deploy.start(
                f"worker{i}",
                deploy.address,
                "--host",
                "127.0.0.1",
                "--nthreads",
                "2",
                "--no-dashboard",
                "--name",
                f"worker-{i}",
            )
        with Client(deploy.address, set_as_default=False, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
        yield deploy
    finally:
        deploy.stop()


# -- the bodies ------------------------------------------------------------------------------
def square(i: int) -> int:
    ctx = current_task()
    assert ctx is not None
    if i % 40 == 0 and ctx.attempt == 1:
        raise ConnectionError(f"flaky {i}")
    return i * i


def add(*values: int) -> int:
    return sum(values)


async def halve(total: int) -> float:
    import asyncio

    await asyncio.sleep(0)
    return total / 2


def victim(pid_name: str) -> str:
    ctx = current_task()
    assert ctx is not None
    if ctx.attempt == 1:
        Variable(pid_name).set(os.getpid())
        time.sleep(3600)  # the test kills this worker process meanwhile
    return f"recovered on attempt {ctx.attempt}"


def spin(started: str, stopped: str, _after: str) -> None:
    try:  # the stop may come as soon as the test hears "started"
        if started:
            Event(started).set()
        while True:
            pass
    finally:
        Event(stopped).set()


def fail(_after: str) -> None:
    raise ValueError("this task always fails")


def test_a_200_task_run_on_a_deployment_survives_a_killed_worker_and_leaves_nothing_behind(
    deployment: Deployment,
) -> None:
    tag = f"deploy-{os.getpid()}-{deployment.port}"
    backend = DaskBackend(address=deployment.address)
    retried: list[TaskRetrying] = []
    squares_task = task(backend="dask", retries=2, name="square")(square)
    add_task = task(backend="dask", retries=2, name="add")(add)
    halve_task = task(backend="dask", retries=2, name="halve")(halve)
    with TaskRunner(backends={"dask": backend}, on_task_error="continue") as runner:
        runner.subscribe(lambda e: retried.append(e) if isinstance(e, TaskRetrying) else None)
        squares = [squares_task.submit(i) for i in range(160)]
        sums = [add_task.submit(*(s.output for s in squares[j : j + 5])) for j in range(0, 160, 5)]
        total = add_task.submit(*(s.output for s in sums), key="total")
        halves = [halve_task.submit(total.output) for _ in range(3)]
        killed = task(backend="dask", retries=1, name="victim")(victim).submit(f"{tag}-pid")
        # These start once the worker death is over, so that it cannot touch them.
        timed_out = task(backend="dask", timeout=5.0, name="timed")(spin).submit(
            "", f"{tag}-timed-stopped", killed.output
        )
        cancelled = task(backend="dask", name="cancelled")(spin).submit(
            f"{tag}-started", f"{tag}-cancel-stopped", killed.output
        )
        failed = task(backend="dask", name="fail")(fail).submit(killed.output)
        assert len(runner.handles()) == 200

        running = threading.Thread(target=runner.run)
        running.start()
        with Client(deployment.address, set_as_default=False) as client:
            pid = Variable(f"{tag}-pid", client=client).get(timeout=60)
            deployment.note_pids()
            os.kill(pid, signal.SIGKILL)
            assert Event(f"{tag}-started", client=client).wait(60)
            assert cancelled.cancel()
            assert Event(f"{tag}-cancel-stopped", client=client).wait(60)
            assert Event(f"{tag}-timed-stopped", client=client).wait(60)  # interrupted
        running.join(120)
        assert not running.is_alive()

    assert [s.result() for s in squares] == [i * i for i in range(160)]
    assert total.result() == sum(i * i for i in range(160))
    assert [h.result() for h in halves] == [total.result() / 2] * 3
    assert killed.result() == "recovered on attempt 2"
    assert any(isinstance(e.error, WorkerDiedError) and e.handle is killed for e in retried)
    flaky = [e for e in retried if isinstance(e.error, ConnectionError)]
    assert flaky  # the flaky squares were retried (those a worker death hit had one try more)
    assert {e.handle.id for e in flaky} <= {squares[i].id for i in (0, 40, 80, 120)}
    assert isinstance(timed_out.exception(), TaskTimeoutError)
    assert cancelled.status is TaskStatus.CANCELLED
    assert failed.status is TaskStatus.FAILED
    assert isinstance(failed.exception(), ValueError)

    deployment.stop()
    assert pid in deployment.seen
    assert deployment.left_behind() == []

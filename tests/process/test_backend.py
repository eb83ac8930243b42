"""Choosing the process backend, and the life of its worker pool."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import pytest
from pyworkflowy import Task, TaskBase, TaskRunner, TaskStatus, task
from pyworkflowy.process import ProcessBackend


def getpid() -> int:
    return os.getpid()


@task(backend="process")
def pid_of_process_task() -> int:
    return os.getpid()


class PidTask(TaskBase):
    backend = "process"

    def run(self, offset: int) -> int:
        return os.getpid() + offset


def test_task_with_backend_process_runs_in_another_process() -> None:
    with TaskRunner(max_workers=1) as runner:
        handle = runner.submit(pid_of_process_task)
        runner.run()
    assert handle.result() != os.getpid()


def test_taskbase_with_backend_process_runs_in_another_process() -> None:
    with TaskRunner(max_workers=1) as runner:
        handle = runner.submit(PidTask(), 0)
        runner.run()
    assert handle.result() != os.getpid()


def test_runner_default_process_runs_plain_callables_in_workers() -> None:
    with TaskRunner(max_workers=1, backend="process") as runner:
        handle = runner.submit(getpid)
        runner.run()
    assert handle.result() != os.getpid()


def test_process_and_thread_tasks_mix_in_one_run() -> None:
    with TaskRunner(max_workers=2, backend="thread") as runner:
        in_worker = runner.submit(pid_of_process_task)
        in_thread = runner.submit(getpid, depends_on=[in_worker])
        runner.run()
    assert in_thread.result() == os.getpid()
    assert in_worker.result() != os.getpid()


def test_results_flow_to_dependents_across_processes() -> None:
    def square(x: int) -> int:
        return x * x

    def add(a: int, b: int) -> int:
        return a + b

    with TaskRunner(max_workers=2, backend="process") as runner:
        a = runner.submit(square, 3)
        b = runner.submit(square, 4)
        runner.run()
        total = runner.submit(add, a.result(), b.result())
        runner.run()
    assert total.result() == 25


def test_workers_are_started_only_when_a_task_runs(children: Callable[[], set[int]]) -> None:
    before = children()
    with TaskRunner(max_workers=2, backend="process") as runner:
        runner.submit(getpid)
        assert children() == before
        runner.run()
        assert children() - before


def test_the_pool_never_exceeds_max_workers(children: Callable[[], set[int]]) -> None:
    before = children()
    with TaskRunner(max_workers=2, backend="process") as runner:
        handles = [runner.submit(getpid) for _ in range(40)]
        runner.run()
        pids = {h.result() for h in handles}
        assert len(pids) <= 2
        assert pids <= children() - before


def test_two_tasks_run_at_the_same_time_with_two_workers(fifo: str) -> None:
    # A FIFO opens only when both ends are opened: each side blocks until the other comes.
    def reader(path: str) -> str:
        with open(path) as pipe:
            return pipe.read()

    def writer(path: str) -> None:
        with open(path, "w") as pipe:
            pipe.write("hello")

    with TaskRunner(max_workers=2, backend="process") as runner:
        got = runner.submit(task(timeout=30)(reader), fifo)
        runner.submit(task(timeout=30)(writer), fifo)
        runner.run()
    assert got.result() == "hello"


def test_workers_are_reused_across_runs() -> None:
    with TaskRunner(max_workers=1, backend="process") as runner:
        first = runner.submit(getpid)
        runner.run()
        second = runner.submit(getpid)
        runner.run()
    assert first.result() == second.result()


def test_shutdown_ends_every_worker_process(
    children: Callable[[], set[int]], ended: Callable[..., bool]
) -> None:
    before = children()
    runner = TaskRunner(max_workers=2, backend="process")
    handles = [runner.submit(getpid) for _ in range(4)]
    runner.run()
    runner.shutdown()
    assert children() == before
    assert all(ended(h.result(), 0) for h in handles)


def test_a_runner_used_as_a_context_manager_ends_its_workers(
    ended: Callable[..., bool],
) -> None:
    with TaskRunner(max_workers=1, backend="process") as runner:
        handle = runner.submit(getpid)
        runner.run()
        assert not ended(handle.result(), 0)
    assert ended(handle.result(), 0)


def test_arun_on_an_existing_loop_uses_the_process_backend() -> None:
    import asyncio

    async def main(runner: TaskRunner) -> Any:
        handle = runner.submit(getpid)
        await runner.arun()
        return await handle

    with TaskRunner(max_workers=1, backend="process") as runner:
        pid = asyncio.run(main(runner))
    assert pid != os.getpid()


def test_async_functions_are_refused_for_the_process_backend() -> None:
    async def coro() -> None:
        return None

    with pytest.raises(ValueError, match="async functions need the event loop"):
        task(backend="process")(coro)


def test_async_callables_under_a_process_default_run_on_the_loop() -> None:
    async def where() -> int:
        return os.getpid()

    with TaskRunner(max_workers=1, backend="process") as runner:
        handle = runner.submit(where)
        runner.run()
    assert handle.result() == os.getpid()


def test_without_the_distribution_backend_process_raises_an_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pyworkflowy.process", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"pip install 'pyworkflowy-core\[process\]'"):
        TaskRunner(backend="process")


def test_the_backend_is_found_by_import_name_not_by_entry_point() -> None:
    registered = {ep.name for ep in entry_points(group="pyworkflowy.backends")}
    assert "process" not in registered
    with TaskRunner(backend="process") as runner:
        handle = runner.submit(os.getpid)
        runner.run()
    assert handle.backend == "process"
    assert handle.result() != os.getpid()


def test_a_process_backend_instance_runs_tasks_under_the_name_it_is_given() -> None:
    pid_on_cpu = Task(os.getpid, name="pid_on_cpu", backend="cpu")
    with TaskRunner(backends={"cpu": ProcessBackend(max_workers=1)}) as runner:
        first, second = runner.submit(pid_on_cpu), runner.submit(pid_on_cpu)
        runner.run()
    assert first.result() == second.result() != os.getpid()  # one worker, reused


def test_every_handle_of_a_process_run_completes() -> None:
    def double(x: int) -> int:
        return 2 * x

    with TaskRunner(max_workers=2, backend="process") as runner:
        handles = [runner.submit(double, i) for i in range(200)]
        results = runner.run()
    assert [h.result() for h in handles] == [2 * i for i in range(200)]
    assert all(r.status is TaskStatus.COMPLETED for r in results.values())


def test_shutdown_without_waiting_still_ends_every_worker(ended: Callable[..., bool]) -> None:
    runner = TaskRunner(max_workers=2, backend="process")
    handles = [runner.submit(getpid) for _ in range(4)]
    runner.run()
    runner.shutdown(wait=False)
    assert all(ended(h.result(), 0) for h in handles)

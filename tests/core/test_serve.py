"""The runner's long-running mode: start()/stop() on a thread, serve() on a loop, forget()."""

from __future__ import annotations

import asyncio
import threading

import pytest
from pyworkflowy import TaskRunner, TaskStatus, task

WAIT = 10.0


def test_started_runner_runs_submissions_as_they_arrive() -> None:
    ran = threading.Event()
    with TaskRunner() as runner:
        runner.start()
        handle = runner.submit(ran.set)
        assert ran.wait(WAIT)
        assert handle.result(timeout=WAIT) is None
        runner.stop()
    assert handle.status is TaskStatus.COMPLETED


def test_submissions_from_several_threads_all_run() -> None:
    with TaskRunner() as runner:
        runner.start()
        handles: list = []
        lock = threading.Lock()

        def submit_some(base: int) -> None:
            for i in range(50):
                h = runner.submit(lambda x=base + i: x * 2)
                with lock:
                    handles.append(h)

        threads = [threading.Thread(target=submit_some, args=(n * 100,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT)
        runner.stop()
    assert len({h.id for h in handles}) == 200
    assert sorted(h.result() for h in handles) == sorted(
        2 * (n * 100 + i) for n in range(4) for i in range(50)
    )


def test_stop_waits_for_the_tasks_already_submitted() -> None:
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(WAIT)
        return "finished"

    with TaskRunner(backend="thread") as runner:
        runner.start()
        handle = runner.submit(slow)
        assert started.wait(WAIT)
        threading.Timer(0, release.set).start()
        runner.stop()
        assert handle.status is TaskStatus.COMPLETED
        assert handle.result() == "finished"


def test_a_failure_while_serving_is_logged_and_serving_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def boom() -> None:
        raise ValueError("broken job")

    @task(on_dep_failure="run-anyway")
    def next_job() -> str:
        return "still serving"

    with TaskRunner(on_task_error="raise") as runner:
        runner.start()
        failed = runner.submit(boom, key="boom")
        # Nobody waits for `failed` itself (a failure handed to a waiter is not logged).
        later = next_job.submit(depends_on=[failed])
        assert later.result(timeout=WAIT) == "still serving"
        runner.stop()
    assert isinstance(failed.exception(), ValueError)
    assert any("boom" in r.getMessage() for r in caplog.records if r.name == "pyworkflowy")


def test_start_twice_is_refused() -> None:
    with TaskRunner() as runner:
        runner.start()
        with pytest.raises(RuntimeError, match="already running"):
            runner.start()
        runner.stop()


def test_serve_runs_on_the_callers_loop_until_stopped() -> None:
    async def main() -> list[int]:
        runner = TaskRunner()
        serving = asyncio.ensure_future(runner.serve())

        async def double(x: int) -> int:
            return 2 * x

        handles = [runner.submit(double, i) for i in range(3)]
        values = [await h for h in handles]
        runner.stop()
        await serving
        runner.shutdown()
        return values

    assert asyncio.run(main()) == [0, 2, 4]


def test_shutdown_stops_a_started_runner() -> None:
    runner = TaskRunner()
    runner.start()
    handle = runner.submit(lambda: 1)
    runner.shutdown()
    assert handle.result() == 1
    assert not runner.running


def test_forget_drops_finished_handles_from_the_registry() -> None:
    with TaskRunner() as runner:
        first = runner.submit(lambda: 1)
        second = runner.submit(lambda: 2)
        runner.run()
        runner.forget(first)
        assert runner.handles() == [second]
        assert first.result() == 1  # the handle itself stays usable
        assert list(runner.run()) == [second.id]


def test_forget_keeps_unfinished_handles() -> None:
    with TaskRunner() as runner:
        pending = runner.submit(lambda: 1)
        runner.forget(pending)
        assert runner.handles() == [pending]


def test_forget_keeps_ids_unique() -> None:
    with TaskRunner() as runner:
        first = runner.submit(len, "abc")
        runner.run()
        runner.forget(first)
        second = runner.submit(len, "de")
        assert second.id != first.id

"""`TaskRunner`: construction, ``on_task_error``, run/arun, lifecycle and concurrency bounds.

Concurrency is shown with events and counters (bodies hold until released), never sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Collection, Mapping
from typing import Any

import pytest
from pyworkflowy import (
    Checkpointer,
    TaskCancelledError,
    TaskHandle,
    TaskResult,
    TaskRunner,
    TaskStatus,
    task,
)

from tests.core._probes import ConcurrencyProbe

EVENT_WAIT = 10.0  # seconds: only reached if the library hangs

COMPLETED = TaskStatus.COMPLETED
FAILED = TaskStatus.FAILED
CANCELLED = TaskStatus.CANCELLED


class Boom(Exception):
    """The failure the tests' tasks raise."""


class MemoryCheckpointer(Checkpointer):
    """A checkpointer that keeps records in a dict."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    def save(self, records: Mapping[str, dict[str, Any]], removed: Collection[str] = ()) -> None:
        self.records.update(records)
        for handle_id in removed:
            self.records.pop(handle_id, None)

    def load(self) -> dict[str, dict[str, Any]]:
        return dict(self.records)


# -- construction --------------------------------------------------------------------------


@pytest.mark.parametrize("max_workers", [0, -1])
def test_max_workers_below_one_is_rejected(max_workers: int) -> None:
    with pytest.raises(ValueError, match="max_workers"):
        TaskRunner(max_workers=max_workers)


@pytest.mark.parametrize("max_workers", [2.5, "4", None])
def test_max_workers_that_is_not_an_integer_is_rejected(max_workers: Any) -> None:
    with pytest.raises(ValueError, match="max_workers"):
        TaskRunner(max_workers=max_workers)


def test_unknown_backend_is_rejected() -> None:
    with pytest.raises(ValueError, match="fibers"):
        TaskRunner(backend="fibers")


def test_unknown_on_task_error_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match="on_task_error"):
        TaskRunner(on_task_error="ignore")


def test_negative_checkpoint_interval_is_rejected() -> None:
    with pytest.raises(ValueError, match="checkpoint_interval"):
        TaskRunner(checkpoint_interval=-1.0)


def test_checkpoint_path_and_checkpointer_together_are_rejected() -> None:
    with pytest.raises(ValueError, match="not both"):
        TaskRunner(checkpoint_path="state.json", checkpointer=MemoryCheckpointer())


def test_boundary_values_are_accepted() -> None:
    runner = TaskRunner(max_workers=1, checkpoint_interval=0)
    assert (runner.max_workers, runner.checkpoint_interval) == (1, 0.0)
    runner.shutdown()


# -- on_task_error="raise" -----------------------------------------------------------------


def test_raise_policy_run_raises_the_failing_tasks_own_exception() -> None:
    error = Boom("first failure")

    def boom() -> None:
        raise error

    with TaskRunner(on_task_error="raise") as runner:
        runner.submit(boom)
        with pytest.raises(Boom) as excinfo:
            runner.run()

    assert excinfo.value is error


def test_raise_policy_cancels_every_task_that_had_not_started() -> None:
    ran: list[str] = []

    async def boom() -> None:
        raise Boom("first failure")

    async def record(name: str) -> None:
        ran.append(name)

    with TaskRunner(on_task_error="raise", max_workers=1) as runner:
        h_boom = runner.submit(boom)
        waiting = [runner.submit(record, "independent-1"), runner.submit(record, "independent-2")]
        waiting.append(runner.submit(record, "dependent", depends_on=[h_boom]))
        with pytest.raises(Boom):
            runner.run()

    assert ran == []
    assert h_boom.status is FAILED
    assert [h.status for h in waiting] == [CANCELLED] * 3


def test_raise_policy_cancels_a_task_still_running_when_another_fails() -> None:
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(EVENT_WAIT)
        return "finished after the abort"

    def boom() -> None:
        assert started.wait(EVENT_WAIT)
        raise Boom("failure while slow runs")

    with TaskRunner(on_task_error="raise", backend="thread", max_workers=2) as runner:
        h_slow = runner.submit(slow)
        runner.submit(boom)
        try:
            with pytest.raises(Boom):
                runner.run()
            status_after_abort = h_slow.status
        finally:
            release.set()

    assert status_after_abort is CANCELLED


def test_raise_policy_leaves_no_handle_unfinished() -> None:
    async def boom() -> None:
        raise Boom("first failure")

    with TaskRunner(on_task_error="raise", max_workers=1) as runner:
        h_boom = runner.submit(boom)
        h_mid = runner.submit(lambda: None, depends_on=[h_boom])
        runner.submit(lambda: None, depends_on=[h_mid])
        for _ in range(3):
            runner.submit(lambda: None)
        with pytest.raises(Boom):
            runner.run()

    assert all(h.done() for h in runner.handles())


def test_raise_policy_result_of_a_cancelled_handle_raises_task_cancelled_error() -> None:
    async def boom() -> None:
        raise Boom("first failure")

    with TaskRunner(on_task_error="raise", max_workers=1) as runner:
        runner.submit(boom)
        never_started = runner.submit(lambda: "never")
        with pytest.raises(Boom):
            runner.run()

    with pytest.raises(TaskCancelledError):
        never_started.result()  # no timeout: it must not wait, the handle is finished


def test_raise_policy_cancellation_names_the_task_whose_failure_aborted_the_run() -> None:
    async def boom() -> None:
        raise Boom("first failure")

    with TaskRunner(max_workers=1) as runner:
        failing = runner.submit(boom, key="boom")
        never_started = runner.submit(lambda: "never", key="later")
        with pytest.raises(Boom):
            runner.run()

    assert failing.status is FAILED
    message = str(never_started.exception())
    assert message == "task 'later' was cancelled: the run was aborted because task 'boom' failed"


# -- on_task_error="log" and "continue" ----------------------------------------------------


def test_log_policy_logs_the_failure_on_the_pyworkflowy_logger_naming_the_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def boom() -> None:
        raise Boom("logged failure")

    with TaskRunner(on_task_error="log") as runner:
        h = runner.submit(boom, key="nightly-import")
        with caplog.at_level(logging.ERROR, logger="pyworkflowy"):
            results = runner.run()

    records = [r for r in caplog.records if r.name == "pyworkflowy"]
    assert len(records) == 1
    assert records[0].levelno == logging.ERROR
    assert "nightly-import" in records[0].getMessage()
    assert results[h.id].status is FAILED


def test_log_policy_lets_the_other_tasks_finish() -> None:
    def boom() -> None:
        raise Boom("logged failure")

    with TaskRunner(on_task_error="log", max_workers=1) as runner:
        runner.submit(boom)
        h_other = runner.submit(lambda: "done")
        runner.run()

    assert h_other.result() == "done"


def test_continue_policy_stores_the_failure_on_the_handle_silently(
    caplog: pytest.LogCaptureFixture,
) -> None:
    error = Boom("quiet failure")

    def boom() -> None:
        raise error

    with TaskRunner(on_task_error="continue") as runner:
        h = runner.submit(boom)
        with caplog.at_level(logging.DEBUG, logger="pyworkflowy"):
            runner.run()

    assert [r for r in caplog.records if r.name.startswith("pyworkflowy")] == []
    assert h.status is FAILED
    assert h.exception() is error


# -- run() and arun() ----------------------------------------------------------------------


def test_run_returns_a_task_result_for_every_handle_keyed_by_handle_id() -> None:
    @task(name="double")
    def double(x: int) -> int:
        return 2 * x

    with TaskRunner() as runner:
        handles = [runner.submit(double, i) for i in range(3)]
        results = runner.run()

    assert list(results) == [h.id for h in handles]
    assert all(isinstance(r, TaskResult) for r in results.values())
    assert [(r.name, r.status, r.value) for r in results.values()] == [
        ("double", COMPLETED, 0),
        ("double", COMPLETED, 2),
        ("double", COMPLETED, 4),
    ]


def test_run_again_after_more_submissions_runs_only_the_new_tasks() -> None:
    calls: list[str] = []

    with TaskRunner() as runner:
        h_first = runner.submit(calls.append, "first")
        runner.run()
        h_second = runner.submit(calls.append, "second")
        results = runner.run()

    assert calls == ["first", "second"]
    assert set(results) == {h_first.id, h_second.id}
    assert h_second.status is COMPLETED


def test_run_inside_a_running_event_loop_raises_and_points_to_arun() -> None:
    async def main() -> None:
        with TaskRunner() as runner:
            runner.submit(lambda: None)
            runner.run()

    with pytest.raises(RuntimeError, match="arun"):
        asyncio.run(main())


def test_arun_runs_tasks_on_the_callers_event_loop() -> None:
    seen: list[asyncio.AbstractEventLoop] = []

    async def body() -> None:
        seen.append(asyncio.get_running_loop())

    async def main() -> tuple[asyncio.AbstractEventLoop, dict[str, TaskResult]]:
        with TaskRunner() as runner:
            runner.submit(body)
            results = await runner.arun()
        return asyncio.get_running_loop(), results

    loop, results = asyncio.run(main())

    assert seen == [loop]
    assert [r.status for r in results.values()] == [COMPLETED]


# -- lifecycle -----------------------------------------------------------------------------


def test_submit_after_shutdown_raises_runtime_error() -> None:
    runner = TaskRunner()
    runner.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        runner.submit(lambda: None)


def test_run_after_shutdown_raises_runtime_error() -> None:
    runner = TaskRunner()
    runner.submit(lambda: None)
    runner.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        runner.run()


def test_leaving_the_with_block_shuts_the_runner_down() -> None:
    with TaskRunner() as runner:
        runner.submit(lambda: None)
        runner.run()
    with pytest.raises(RuntimeError, match="shut down"):
        runner.submit(lambda: None)


# -- concurrency ---------------------------------------------------------------------------


def test_max_workers_bounds_thread_tasks_running_at_once() -> None:
    probe = ConcurrencyProbe()
    two_running, release = threading.Event(), threading.Event()

    def body() -> None:
        if probe.enter() == 2:
            two_running.set()
        release.wait(EVENT_WAIT)
        probe.leave()

    def release_when_two_run() -> None:
        # Waits for the first two bodies, then lets everything finish.
        if two_running.wait(EVENT_WAIT):
            release.set()

    controller = threading.Thread(target=release_when_two_run)
    controller.start()
    with TaskRunner(backend="thread", max_workers=2) as runner:
        for _ in range(6):
            runner.submit(body)
        runner.run()
    controller.join(EVENT_WAIT)

    assert probe.started == 6
    assert probe.peak == 2


@pytest.mark.timeout(30)
def test_max_workers_applies_to_each_backend_so_sync_bodies_of_two_lanes_run_together() -> None:
    # Two sync bodies on the asyncio lane and two on the thread lane, with max_workers=2:
    # each lane has threads of its own, so all four run at once and meet at the barrier.
    barrier = threading.Barrier(4, timeout=EVENT_WAIT)

    @task
    def on_asyncio_lane() -> str:
        barrier.wait()
        return "asyncio"

    @task(backend="thread")
    def on_thread_lane() -> str:
        barrier.wait()
        return "thread"

    with TaskRunner(max_workers=2) as runner:
        handles = [
            t.submit() for t in (on_asyncio_lane, on_asyncio_lane, on_thread_lane, on_thread_lane)
        ]
        runner.run()

    assert [h.result() for h in handles] == ["asyncio", "asyncio", "thread", "thread"]


def test_max_concurrency_bounds_async_tasks_running_at_once() -> None:
    probe = ConcurrencyProbe()

    async def main() -> None:
        two_running, release = asyncio.Event(), asyncio.Event()

        async def body() -> None:
            if probe.enter() == 2:
                two_running.set()
            await release.wait()
            probe.leave()

        async def release_when_two_run() -> None:
            # Resumes only after every body the runner started so far took its first step.
            await asyncio.wait_for(two_running.wait(), EVENT_WAIT)
            release.set()

        with TaskRunner(max_concurrency=2) as runner:
            for _ in range(6):
                runner.submit(body)
            await asyncio.gather(runner.arun(), release_when_two_run())

    asyncio.run(main())

    assert probe.started == 6
    assert probe.peak == 2


def test_runner_backend_thread_is_the_default_for_plain_callables() -> None:
    # With max_workers=1 per backend, the sync callable (thread lane) and the async one
    # (asyncio lane) can only run side by side if the sync one really is on the thread lane.
    async_ran = threading.Event()

    def sync_callable() -> bool:
        return async_ran.wait(EVENT_WAIT)

    async def async_callable() -> None:
        async_ran.set()

    with TaskRunner(backend="thread", max_workers=1) as runner:
        h_sync = runner.submit(sync_callable)
        runner.submit(async_callable)
        runner.run()

    assert h_sync.result() is True


def test_async_plain_callable_runs_on_the_loop_under_a_thread_runner() -> None:
    async def body() -> str:
        return "ran on the loop"

    with TaskRunner(backend="thread") as runner:
        h = runner.submit(body)
        runner.run()

    assert h.result() == "ran on the loop"


# -- submissions during a run --------------------------------------------------------------


def test_task_submitted_from_an_async_task_body_runs_in_the_same_run() -> None:
    children: list[TaskHandle] = []

    with TaskRunner() as runner:

        async def child() -> str:
            return "child ran"

        async def parent() -> None:
            children.append(runner.submit(child))

        runner.submit(parent)
        results = runner.run()

    assert children[0].result() == "child ran"
    assert results[children[0].id].status is COMPLETED


def test_task_submitted_from_another_thread_during_run_runs_before_run_returns() -> None:
    children: list[TaskHandle] = []

    with TaskRunner(backend="thread") as runner:

        def child() -> str:
            return "child ran"

        def parent() -> None:
            children.append(runner.submit(child))

        runner.submit(parent)
        results = runner.run()

    assert results[children[0].id].status is COMPLETED
    assert children[0].result() == "child ran"

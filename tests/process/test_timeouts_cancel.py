"""Stopping process tasks: a timeout or a cancel kills the worker; pending tasks never start.

Bodies that "hang" block on an event nobody sets: the worker is killed, so they never
need to return.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from pyworkflowy import (
    TaskCancelledError,
    TaskRunner,
    TaskStatus,
    TaskTimeoutError,
    current_task,
    task,
)

Watch = Callable[[str, Callable[[str], object]], threading.Thread]  # the conftest fixture


def getpid() -> int:
    return os.getpid()


def hang() -> None:
    threading.Event().wait()


def announce_then_hang(path: str) -> None:
    with open(path, "w") as pipe:
        pipe.write(str(os.getpid()))
    threading.Event().wait()


def touch(path: str) -> None:
    Path(path).touch()


def test_a_timeout_fails_the_attempt_with_task_timeout_error() -> None:
    with TaskRunner(max_workers=1, backend="process", on_task_error="continue") as runner:
        handle = runner.submit(task(timeout=0.5)(hang))
        runner.run()
    assert handle.status is TaskStatus.FAILED
    assert isinstance(handle.exception(), TaskTimeoutError)


def test_a_timed_out_task_is_not_retried() -> None:
    with TaskRunner(max_workers=1, backend="process", on_task_error="continue") as runner:
        handle = runner.submit(task(timeout=0.5, retries=2)(hang))
        runner.run()
    assert handle.attempts == 1


def test_a_timeout_kills_the_worker_and_a_new_one_takes_over(
    ended: Callable[..., bool],
) -> None:
    with TaskRunner(max_workers=1, backend="process", on_task_error="continue") as runner:
        before = runner.submit(getpid)
        runner.run()
        runner.submit(task(timeout=0.5)(hang))  # runs on the only worker there is
        runner.run()
        assert ended(before.result())  # killed: it would never have returned
        after = runner.submit(getpid)
        runner.run()
    assert after.result() != before.result()


def test_other_tasks_finish_while_one_times_out() -> None:
    def double(x: int) -> int:
        return 2 * x

    with TaskRunner(max_workers=2, backend="process", on_task_error="continue") as runner:
        stuck = runner.submit(task(timeout=0.5)(hang))
        others = [runner.submit(double, i) for i in range(20)]
        runner.run()
    assert isinstance(stuck.exception(), TaskTimeoutError)
    assert [h.result() for h in others] == [2 * i for i in range(20)]


def test_a_timeout_under_the_raise_policy_makes_run_raise_it() -> None:
    with TaskRunner(max_workers=1, backend="process") as runner:
        handle = runner.submit(task(timeout=0.5)(hang))
        try:
            runner.run()
        except TaskTimeoutError as exc:
            raised: BaseException | None = exc
        else:
            raised = None
    assert raised is handle.exception()


def test_cancelling_a_running_task_ends_it_cancelled(fifo: str, watch: Watch) -> None:
    with TaskRunner(max_workers=1, backend="process") as runner:
        handle = runner.submit(task(timeout=30)(announce_then_hang), fifo)
        watch(fifo, lambda _pid: handle.cancel())
        runner.run()
    assert handle.status is TaskStatus.CANCELLED
    assert isinstance(handle.exception(), TaskCancelledError)


def test_cancelling_a_running_task_kills_its_worker(
    fifo: str, watch: Watch, ended: Callable[..., bool]
) -> None:
    seen: list[int] = []

    def cancel(pid: str) -> None:
        seen.append(int(pid))
        handle.cancel()

    with TaskRunner(max_workers=1, backend="process") as runner:
        handle = runner.submit(task(timeout=30)(announce_then_hang), fifo)
        watch(fifo, cancel)
        runner.run()
        assert ended(seen[0])  # killed: the body would never have returned
        after = runner.submit(getpid)
        runner.run()
    assert after.result() != seen[0]


def test_a_cancelled_pending_task_never_starts(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with TaskRunner(max_workers=1, backend="process") as runner:
        handle = runner.submit(touch, str(marker))
        handle.cancel()
        runner.run()
    assert handle.status is TaskStatus.CANCELLED
    assert handle.attempts == 0
    assert not marker.exists()


def test_a_task_waiting_for_a_worker_never_starts_once_cancelled(
    tmp_path: Path, fifo: str, watch: Watch
) -> None:
    marker = tmp_path / "ran"
    with TaskRunner(max_workers=1, backend="process") as runner:
        blocker = runner.submit(task(timeout=30)(announce_then_hang), fifo)
        waiting = runner.submit(touch, str(marker))

        def cancel_both(_pid: str) -> None:
            waiting.cancel()
            blocker.cancel()

        watch(fifo, cancel_both)
        runner.run()
    assert waiting.status is TaskStatus.CANCELLED
    assert waiting.attempts == 0
    assert not marker.exists()


def test_cancel_all_stops_every_running_worker(tmp_path: Path, watch: Watch) -> None:
    paths = [str(tmp_path / name) for name in ("a", "b")]
    for path in paths:
        os.mkfifo(path)
    with TaskRunner(max_workers=2, backend="process") as runner:
        handles = [runner.submit(task(timeout=30)(announce_then_hang), p) for p in paths]

        def cancel_all() -> None:
            runner.cancel_all()

        both_running = threading.Barrier(2, action=cancel_all)
        for path in paths:
            watch(path, lambda _pid: both_running.wait(10))
        runner.run()
    assert [h.status for h in handles] == [TaskStatus.CANCELLED] * 2


def wait_then_fail(gate: str) -> None:
    with open(gate) as pipe:
        pipe.read()
    raise ValueError("first failure")


def test_a_failure_under_raise_kills_the_other_running_workers(
    tmp_path: Path, fifo: str, watch: Watch, ended: Callable[..., bool]
) -> None:
    gate = str(tmp_path / "gate")
    os.mkfifo(gate)
    seen: list[int] = []

    def open_gate(pid: str) -> None:  # the stuck task runs: now let the other one fail
        seen.append(int(pid))
        with open(gate, "w") as pipe:
            pipe.write("go")

    with TaskRunner(max_workers=2, backend="process") as runner:
        stuck = runner.submit(task(timeout=30)(announce_then_hang), fifo)
        failing = runner.submit(task(timeout=30)(wait_then_fail), gate)
        watch(fifo, open_gate)
        with contextlib.suppress(ValueError):
            runner.run()
        assert ended(seen[0])
    assert failing.status is TaskStatus.FAILED
    assert stuck.status is TaskStatus.CANCELLED


def test_current_task_cancel_event_in_a_worker_is_an_event_that_is_not_set() -> None:
    # Code written for threads (polling the event) runs unchanged; a cancel kills instead.
    def look() -> tuple[str, bool]:
        import threading

        ctx = current_task()
        assert ctx is not None
        return type(ctx.cancel_event).__name__, isinstance(ctx.cancel_event, threading.Event)

    with TaskRunner(max_workers=1, backend="process") as runner:
        handle = runner.submit(look)
        runner.run()
    assert handle.result() == ("Event", True)


def test_cancelling_a_task_whose_result_already_arrived_completes_it() -> None:
    import asyncio
    import select

    async def main(runner: TaskRunner) -> None:
        handle = runner.submit(getpid)
        run = asyncio.ensure_future(runner.arun())
        await asyncio.sleep(0)  # arun's first step dispatches the task to a worker
        attempt = handle._attempt
        assert attempt is not None
        reply_fd = attempt.state.rfd  # the worker's reply pipe: block the loop until it's there
        assert select.select([reply_fd], [], [], 10)[0]
        handle.cancel()  # on the loop thread, before the loop has read the reply
        await run
        assert handle.status is TaskStatus.COMPLETED
        assert handle.result() != os.getpid()

    with TaskRunner(max_workers=1, backend="process") as runner:
        asyncio.run(main(runner))


def print_announce_then_hang(path: str) -> None:
    print("got this far")
    announce_then_hang(path)


def test_what_a_killed_task_printed_is_not_lost(
    fifo: str, watch: Watch, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)  # workers buffer like a default run
    with TaskRunner(max_workers=1, backend="process") as runner:
        handle = runner.submit(task(timeout=30)(print_announce_then_hang), fifo)
        watch(fifo, lambda _pid: handle.cancel())
        runner.run()
    assert "got this far" in capfd.readouterr().out

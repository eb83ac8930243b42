"""`current_task()` inside task bodies and `get_current_runner()` around ``with`` blocks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from pyworkflowy import Task, TaskHandle, TaskRunner, current_task, get_current_runner, task

# (is the body async?, backend) for every place a body can run in core.
PLACES = [
    pytest.param(True, "asyncio", id="async-fn"),
    pytest.param(False, "asyncio", id="sync-fn-on-asyncio-backend"),
    pytest.param(False, "thread", id="thread-backend"),
]


def _probe(is_async: bool, seen: list[tuple[Any, ...]], fail_times: int = 0) -> Callable[[], Any]:
    """A body that records what `current_task()` says, failing its first ``fail_times`` calls."""

    def record() -> None:
        ctx = current_task()
        assert ctx is not None
        seen.append((ctx.name, ctx.id, ctx.attempt, ctx.cancel_event))
        if len(seen) <= fail_times:
            raise OSError(f"attempt {ctx.attempt} fails")

    if is_async:

        async def record_async() -> None:
            record()

        return record_async
    return record


def _run_probe(is_async: bool, backend: str, **options: Any) -> list[tuple[Any, ...]]:
    seen: list[tuple[Any, ...]] = []
    fail_times = options.pop("fail_times", 0)
    probe = Task(_probe(is_async, seen, fail_times), name="probe", backend=backend, **options)
    with TaskRunner() as runner:
        probe.submit(key="probe-key")
        runner.run()
    return seen


def test_current_task_is_none_outside_a_task() -> None:
    assert current_task() is None


def test_current_task_is_none_when_a_task_is_called_directly() -> None:
    @task
    def direct() -> Any:
        return current_task()

    assert direct() is None


@pytest.mark.parametrize(("is_async", "backend"), PLACES)
def test_current_task_gives_name_id_and_first_attempt(is_async: bool, backend: str) -> None:
    [(name, handle_id, attempt, _)] = _run_probe(is_async, backend)
    assert (name, handle_id, attempt) == ("probe", "probe-key", 1)


@pytest.mark.parametrize(("is_async", "backend"), PLACES)
def test_current_task_cancel_event_is_an_unset_threading_event(
    is_async: bool, backend: str
) -> None:
    [(_, _, _, cancel_event)] = _run_probe(is_async, backend)
    assert isinstance(cancel_event, threading.Event)
    assert not cancel_event.is_set()


@pytest.mark.parametrize(("is_async", "backend"), PLACES)
def test_current_task_attempt_increments_across_retries(is_async: bool, backend: str) -> None:
    seen = _run_probe(is_async, backend, retries=3, fail_times=2)
    assert [attempt for _, _, attempt, _ in seen] == [1, 2, 3]


def test_current_task_is_none_again_after_a_run() -> None:
    with TaskRunner() as runner:
        runner.submit(lambda: current_task())
        runner.run()
    assert current_task() is None


def test_concurrent_thread_tasks_each_see_their_own_context() -> None:
    both_running = threading.Barrier(2, timeout=10)

    @task(backend="thread")
    def who_am_i() -> str:
        both_running.wait()  # both bodies are in flight at once
        ctx = current_task()
        assert ctx is not None
        return ctx.id

    with TaskRunner(max_workers=2) as runner:
        first = who_am_i.submit(key="first")
        second = who_am_i.submit(key="second")
        runner.run()
    assert (first.result(), second.result()) == ("first", "second")


def test_cancel_event_is_set_when_a_running_thread_task_is_cancelled() -> None:
    started = threading.Event()
    handles: dict[str, TaskHandle] = {}

    @task(backend="thread")
    def long_loop() -> str:
        ctx = current_task()
        assert ctx is not None
        started.set()
        return "stopped early" if ctx.cancel_event.wait(10) else "never cancelled"

    def cancel_when_started() -> None:
        assert started.wait(10)
        handles["loop"].cancel()

    with TaskRunner() as runner:
        handles["loop"] = long_loop.submit()
        canceller = threading.Thread(target=cancel_when_started)
        canceller.start()
        runner.run()
        canceller.join(10)
    assert handles["loop"].result() == "stopped early"


# -- get_current_runner ------------------------------------------------------------------------


def test_get_current_runner_is_none_outside_with() -> None:
    assert get_current_runner() is None


def test_get_current_runner_is_the_runner_inside_with() -> None:
    with TaskRunner() as runner:
        assert get_current_runner() is runner


def test_get_current_runner_is_none_again_after_with() -> None:
    with TaskRunner():
        pass
    assert get_current_runner() is None


def test_nested_with_binds_the_inner_runner_and_restores_the_outer() -> None:
    with TaskRunner() as outer:
        with TaskRunner() as inner:
            assert get_current_runner() is inner
        assert get_current_runner() is outer


def test_with_restores_the_outer_runner_when_the_block_raises() -> None:
    with TaskRunner() as outer:
        with pytest.raises(KeyError), TaskRunner():
            raise KeyError("inside")
        assert get_current_runner() is outer


@pytest.mark.parametrize(("is_async", "backend"), PLACES)
def test_task_submit_inside_a_body_finds_the_runner_running_it(
    is_async: bool, backend: str
) -> None:
    @task
    def child() -> str:
        return "child"

    def spawn() -> TaskHandle:
        return child.submit()  # no runner=: the runner running this body is found

    if is_async:

        async def spawn_async() -> TaskHandle:
            return spawn()

        parent = Task(spawn_async, backend=backend)
    else:
        parent = Task(spawn, backend=backend)
    with TaskRunner() as runner:
        handle = parent.submit()
        runner.run()
        spawned = handle.result()

    assert spawned.result() == "child"
    assert get_current_runner() is None

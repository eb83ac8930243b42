"""Events: ``runner.subscribe(callback)`` and what `pyworkflowy.events` tells a watcher.

What users rely on: one event per status change, in order, on the runner's loop thread
(whatever backend ran the body); `TaskRetrying` says which attempt failed, with what, and
how long the next one waits; `TaskFinished` carries every terminal status with its error;
`TaskProgress` and ``handle.progress`` follow ``current_task().report_progress(...)``;
`RunFinished` closes each run with counts and the run's failure; a subscriber that raises
is logged and dropped without harming the run; events are immutable.

Bodies are coordinated with events and barriers, never with sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from pyworkflowy import (
    DependencyFailedError,
    Progress,
    Task,
    TaskCancelledError,
    TaskHandle,
    TaskRunner,
    TaskStatus,
    TaskTimeoutError,
    current_task,
    task,
)
from pyworkflowy.events import (
    RunFinished,
    TaskFinished,
    TaskProgress,
    TaskRetrying,
    TaskStarted,
    TaskSubmitted,
)

from tests._recorder import Recorder

EVENT_WAIT = 10.0  # seconds: only reached if the library hangs
DEADLINE = 0.05  # seconds: the task timeout under test

COMPLETED = TaskStatus.COMPLETED
FAILED = TaskStatus.FAILED
CANCELLED = TaskStatus.CANCELLED
SKIPPED = TaskStatus.SKIPPED

# Every place a body can run in core: an async body on the loop, a sync body on the
# thread backend, and a sync body of an "asyncio" task (its own thread pool).
KINDS = ["asyncio", "thread", "sync-on-asyncio"]


class Boom(Exception):
    """The failure the tests' tasks raise."""


def make_task(kind: str, body: Callable[[], Any], name: str = "job") -> Task:
    """A task that calls ``body`` from an async or sync body, on the place ``kind`` names."""
    if kind == "asyncio":

        async def run_async() -> Any:
            return body()

        return Task(run_async, name=name)
    if kind == "thread":
        return Task(body, name=name, backend="thread")
    return Task(body, name=name)  # a sync body of an "asyncio" task


async def block() -> None:
    """Await until cancelled; gives up after EVENT_WAIT so a broken cancel cannot hang a test."""
    await asyncio.wait_for(asyncio.Event().wait(), EVENT_WAIT)


def run_in_thread(runner: TaskRunner) -> int:
    """Call ``runner.run()`` on a thread of its own; returns that thread's ident."""
    idents: list[int] = []
    errors: list[BaseException] = []

    def main() -> None:
        idents.append(threading.get_ident())
        try:
            runner.run()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=main)
    thread.start()
    thread.join(EVENT_WAIT)
    assert not thread.is_alive(), "run() did not return"
    if errors:
        raise errors[0]
    return idents[0]


# -- subscribe and unsubscribe -------------------------------------------------------------


def test_subscribe_returns_a_callable_that_unsubscribes() -> None:
    seen = Recorder()
    with TaskRunner() as runner:
        unsubscribe = runner.subscribe(seen)
        runner.submit(lambda: None)
        unsubscribe()
        runner.run()

    assert callable(unsubscribe)
    assert seen.kinds() == [TaskSubmitted]


def test_after_unsubscribe_no_more_events_arrive() -> None:
    seen = Recorder()
    with TaskRunner() as runner:
        unsubscribe = runner.subscribe(seen)
        runner.submit(lambda: None)
        runner.run()
        received_while_subscribed = len(seen.events)
        unsubscribe()
        runner.submit(lambda: None)
        runner.run()

    assert received_while_subscribed == 4
    assert len(seen.events) == received_while_subscribed


def test_unsubscribe_leaves_the_other_subscribers_subscribed() -> None:
    kept, dropped = Recorder(), Recorder()
    with TaskRunner() as runner:
        runner.subscribe(kept)
        runner.subscribe(dropped)()
        runner.submit(lambda: None)
        runner.run()

    assert kept.kinds() == [TaskSubmitted, TaskStarted, TaskFinished, RunFinished]
    assert dropped.events == []


def test_subscribe_refuses_a_value_that_is_not_callable() -> None:
    with TaskRunner() as runner, pytest.raises(TypeError, match="callable"):
        runner.subscribe("not a function")  # type: ignore[arg-type]


# -- the events of one task ----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_one_task_gives_submitted_started_finished_then_run_finished(kind: str) -> None:
    seen = Recorder()
    job = make_task(kind, lambda: 42)

    with TaskRunner() as runner:
        runner.subscribe(seen)
        handle = runner.submit(job)
        runner.run()

    assert seen.kinds() == [TaskSubmitted, TaskStarted, TaskFinished, RunFinished]
    submitted, started, finished, _ = seen.events
    assert submitted.handle is handle
    assert (started.handle, started.attempt) == (handle, 1)
    assert (finished.handle, finished.attempt, finished.status) == (handle, 1, COMPLETED)
    assert finished.handle.result() == 42


def test_a_chain_of_two_tasks_gives_their_events_in_the_order_they_happened() -> None:
    seen = Recorder()
    first = task(name="first")(lambda: "a")
    second = task(name="second")(lambda: "b")

    with TaskRunner() as runner:
        runner.subscribe(seen)
        h_first = runner.submit(first)
        h_second = runner.submit(second, depends_on=[h_first])
        runner.run()

    assert [(type(e).__name__, e.handle.id) for e in seen.events if hasattr(e, "handle")] == [
        ("TaskSubmitted", h_first.id),
        ("TaskSubmitted", h_second.id),
        ("TaskStarted", h_first.id),
        ("TaskFinished", h_first.id),
        ("TaskStarted", h_second.id),
        ("TaskFinished", h_second.id),
    ]


# -- retries -------------------------------------------------------------------------------


def test_a_retry_gives_task_retrying_with_the_attempt_its_error_and_delay() -> None:
    seen = Recorder()
    errors: list[Boom] = []

    @task(retries=1, backoff="linear", backoff_base=0)
    async def flaky() -> str:
        ctx = current_task()
        assert ctx is not None
        if ctx.attempt == 1:
            errors.append(Boom("first attempt fails"))
            raise errors[0]
        return "second attempt"

    with TaskRunner() as runner:
        runner.subscribe(seen)
        handle = runner.submit(flaky)
        runner.run()

    assert seen.kinds() == [
        TaskSubmitted,
        TaskStarted,
        TaskRetrying,
        TaskStarted,
        TaskFinished,
        RunFinished,
    ]
    [retrying] = seen.of(TaskRetrying)
    assert retrying.handle is handle
    assert retrying.attempt == 1
    assert retrying.error is errors[0]
    assert retrying.delay == 0.0
    assert [started.attempt for started in seen.of(TaskStarted)] == [1, 2]
    [finished] = seen.of(TaskFinished)
    assert (finished.attempt, finished.status) == (2, COMPLETED)


def test_task_retrying_delay_is_the_backoff_before_the_next_attempt() -> None:
    seen = Recorder()

    @task(retries=2, backoff="exponential", backoff_base=0.01)
    async def always_fails() -> None:
        raise Boom("every attempt fails")

    with TaskRunner(on_task_error="continue") as runner:
        runner.subscribe(seen)
        runner.submit(always_fails)
        runner.run()

    retrying = seen.of(TaskRetrying)
    assert [(event.attempt, event.delay) for event in retrying] == [(1, 0.01), (2, 0.02)]
    assert all(isinstance(event.error, Boom) for event in retrying)


# -- terminal statuses ---------------------------------------------------------------------


def test_a_completed_task_finishes_with_status_completed_and_no_error() -> None:
    seen = Recorder()
    with TaskRunner() as runner:
        runner.subscribe(seen)
        runner.submit(lambda: "value")
        runner.run()

    [finished] = seen.of(TaskFinished)
    assert finished.status is COMPLETED
    assert finished.error is None


def test_a_failed_task_finishes_with_status_failed_and_its_error() -> None:
    seen = Recorder()
    error = Boom("failure")

    async def boom() -> None:
        raise error

    with TaskRunner(on_task_error="continue") as runner:
        runner.subscribe(seen)
        handle = runner.submit(boom)
        runner.run()

    [finished] = seen.of(TaskFinished)
    assert finished.status is FAILED
    assert finished.error is error
    assert finished.error is handle.exception()


def test_a_timed_out_task_finishes_failed_with_task_timeout_error() -> None:
    seen = Recorder()

    @task(timeout=DEADLINE)
    async def stuck() -> None:
        await block()

    with TaskRunner(on_task_error="continue") as runner:
        runner.subscribe(seen)
        runner.submit(stuck)
        runner.run()

    [finished] = seen.of(TaskFinished)
    assert finished.status is FAILED
    assert isinstance(finished.error, TaskTimeoutError)
    assert finished.attempt == 1


def test_a_task_cancelled_while_running_finishes_cancelled_with_task_cancelled_error() -> None:
    seen = Recorder()
    started = asyncio.Event()
    targets: list[TaskHandle] = []

    async def long_running() -> None:
        started.set()
        await block()

    async def canceller() -> None:
        await asyncio.wait_for(started.wait(), EVENT_WAIT)
        targets[0].cancel()

    with TaskRunner() as runner:
        runner.subscribe(seen)
        targets.append(runner.submit(long_running))
        runner.submit(canceller)
        runner.run()

    [finished] = [e for e in seen.of(TaskFinished) if e.handle is targets[0]]
    assert finished.status is CANCELLED
    assert isinstance(finished.error, TaskCancelledError)


def test_a_task_cancelled_before_the_run_finishes_cancelled_without_starting() -> None:
    seen = Recorder()
    with TaskRunner() as runner:
        runner.subscribe(seen)
        handle = runner.submit(lambda: None)
        handle.cancel()
        runner.run()

    assert seen.kinds() == [TaskSubmitted, TaskFinished, RunFinished]
    [finished] = seen.of(TaskFinished)
    assert (finished.status, finished.attempt) == (CANCELLED, 0)
    assert isinstance(finished.error, TaskCancelledError)


@pytest.mark.parametrize("kind", KINDS)
def test_a_handle_cancelled_by_a_task_started_subscriber_ends_cancelled(kind: str) -> None:
    # A watcher that cancels what it sees starting: the handle is RUNNING at that moment,
    # yet its body has not begun; it must end cancelled, not complete.
    ran: list[bool] = []

    def cancel_on_start(event: object) -> None:
        if isinstance(event, TaskStarted):
            event.handle.cancel()

    with TaskRunner() as runner:
        runner.subscribe(cancel_on_start)
        handle = runner.submit(make_task(kind, lambda: ran.append(True)))
        runner.run()

    assert handle.status is CANCELLED
    assert isinstance(handle.exception(), TaskCancelledError)
    assert ran == []


def test_a_skipped_task_finishes_skipped_with_dependency_failed_error() -> None:
    seen = Recorder()

    async def boom() -> None:
        raise Boom("upstream failure")

    downstream = task(on_dep_failure="skip")(lambda: "never")

    with TaskRunner(on_task_error="continue") as runner:
        runner.subscribe(seen)
        failing = runner.submit(boom)
        skipped = runner.submit(downstream, depends_on=[failing])
        runner.run()

    [finished] = [e for e in seen.of(TaskFinished) if e.handle is skipped]
    assert finished.status is SKIPPED
    assert isinstance(finished.error, DependencyFailedError)
    assert finished.attempt == 0
    assert [e.handle for e in seen.of(TaskStarted)] == [failing]


# -- where events are delivered ------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_events_of_a_run_are_delivered_on_the_thread_that_runs_the_loop(kind: str) -> None:
    seen = Recorder()
    body_threads: list[int] = []

    def body() -> None:
        body_threads.append(threading.get_ident())
        ctx = current_task()
        assert ctx is not None
        ctx.report_progress(1, 1)

    with TaskRunner() as runner:
        runner.subscribe(seen)
        runner.submit(make_task(kind, body))
        submitted_by = threading.get_ident()
        loop_thread = run_in_thread(runner)

    assert seen.kinds() == [TaskSubmitted, TaskStarted, TaskProgress, TaskFinished, RunFinished]
    assert seen.threads[0] == submitted_by  # submitted before the run: the submitting thread
    assert seen.threads[1:] == [loop_thread] * 4
    if kind != "asyncio":  # the body ran elsewhere, yet its events came to the loop thread
        assert body_threads != [loop_thread]


def test_a_submission_made_before_a_run_is_delivered_in_the_submitting_thread() -> None:
    seen = Recorder()
    submitter: list[int] = []

    with TaskRunner() as runner:
        runner.subscribe(seen)

        def submit() -> None:
            submitter.append(threading.get_ident())
            runner.submit(lambda: None)

        thread = threading.Thread(target=submit)
        thread.start()
        thread.join(EVENT_WAIT)
        runner.run()

    assert isinstance(seen.events[0], TaskSubmitted)
    assert seen.threads[0] == submitter[0]


def test_a_submission_from_a_body_thread_during_a_run_is_delivered_on_the_loop_thread() -> None:
    seen = Recorder()

    with TaskRunner() as runner:

        @task(backend="thread")
        def parent() -> None:
            runner.submit(lambda: "child")

        runner.submit(parent)
        runner.subscribe(seen)
        loop_thread = run_in_thread(runner)

    [child_submitted] = seen.of(TaskSubmitted)
    assert seen.threads[seen.events.index(child_submitted)] == loop_thread
    assert set(seen.threads) == {loop_thread}


def test_a_serving_runner_delivers_events_on_its_serving_thread() -> None:
    seen = Recorder()
    loop_threads: list[int] = []

    async def body() -> None:
        loop_threads.append(threading.get_ident())

    runner = TaskRunner()
    try:
        runner.subscribe(seen)
        runner.start()
        handle = runner.submit(body)
        handle.result(timeout=EVENT_WAIT)
        runner.stop(EVENT_WAIT)
    finally:
        runner.shutdown()

    assert seen.kinds() == [TaskSubmitted, TaskStarted, TaskFinished, RunFinished]
    assert loop_threads != [threading.get_ident()]
    assert seen.threads == loop_threads * 4


# -- a subscriber that raises --------------------------------------------------------------


def test_a_subscriber_that_raises_is_logged_and_unsubscribed_and_the_run_completes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    error = Boom("subscriber bug")
    calls: list[object] = []
    others = Recorder()

    def broken(event: object) -> None:
        calls.append(event)
        if isinstance(event, TaskStarted):
            raise error

    with TaskRunner() as runner:
        runner.subscribe(broken)
        runner.subscribe(others)
        handle = runner.submit(lambda: "done")
        handle_after = runner.submit(lambda: "after", depends_on=[handle])
        with caplog.at_level(logging.ERROR, logger="pyworkflowy"):
            runner.run()

    assert [type(event) for event in calls] == [TaskSubmitted, TaskSubmitted, TaskStarted]
    assert (handle.result(), handle_after.result()) == ("done", "after")
    assert others.kinds().count(TaskFinished) == 2  # the others still get every event
    records = [r for r in caplog.records if r.name == "pyworkflowy"]
    assert len(records) == 1
    assert records[0].levelno == logging.ERROR
    assert "unsubscribed" in records[0].getMessage()
    assert records[0].exc_info is not None
    assert records[0].exc_info[1] is error


# -- RunFinished ---------------------------------------------------------------------------


def test_run_finished_counts_handles_by_status_and_has_no_error_if_run_did_not_raise() -> None:
    seen = Recorder()

    async def boom() -> None:
        raise Boom("failure")

    with TaskRunner(on_task_error="continue") as runner:
        runner.subscribe(seen)
        runner.submit(lambda: "ok")
        failing = runner.submit(boom)
        runner.submit(task(on_dep_failure="skip")(lambda: None), depends_on=[failing])
        runner.run()

    assert isinstance(seen.events[-1], RunFinished)
    [finished] = seen.of(RunFinished)
    assert finished.counts == {COMPLETED: 1, FAILED: 1, SKIPPED: 1}
    assert finished.error is None


def test_run_finished_error_is_the_failure_run_raises_under_the_raise_policy() -> None:
    seen = Recorder()
    error = Boom("first failure")

    async def boom() -> None:
        raise error

    with TaskRunner(on_task_error="raise", max_concurrency=1) as runner:
        runner.subscribe(seen)
        runner.submit(boom)
        runner.submit(lambda: "cancelled by the abort")
        with pytest.raises(Boom) as raised:
            runner.run()

    [finished] = seen.of(RunFinished)
    assert finished.error is error
    assert raised.value is error
    assert finished.counts == {FAILED: 1, CANCELLED: 1}


def test_each_run_ends_with_one_run_finished() -> None:
    seen = Recorder()
    with TaskRunner() as runner:
        runner.subscribe(seen)
        runner.submit(lambda: None)
        runner.run()
        runner.submit(lambda: None)
        runner.run()

    kinds = seen.kinds()
    assert kinds.count(RunFinished) == 2
    assert kinds[3] is RunFinished
    assert kinds[-1] is RunFinished
    assert [event.counts for event in seen.of(RunFinished)] == [{COMPLETED: 1}, {COMPLETED: 2}]


# -- progress ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_report_progress_sets_handle_progress_and_emits_task_progress(kind: str) -> None:
    seen = Recorder()

    def body() -> None:
        ctx = current_task()
        assert ctx is not None
        ctx.report_progress(3, 4, "three of four")

    with TaskRunner() as runner:
        runner.subscribe(seen)
        handle = runner.submit(make_task(kind, body))
        progress_before = handle.progress
        runner.run()

    assert progress_before is None
    assert handle.progress == Progress(3, 4, "three of four")
    assert isinstance(handle.progress, Progress)
    assert handle.progress.fraction == 0.75
    [event] = seen.of(TaskProgress)
    assert (event.handle, event.attempt, event.progress) == (handle, 1, handle.progress)
    assert seen.kinds().index(TaskProgress) == seen.kinds().index(TaskFinished) - 1


def test_progress_without_a_total_has_no_fraction() -> None:
    def body() -> None:
        ctx = current_task()
        assert ctx is not None
        ctx.report_progress(7)

    with TaskRunner() as runner:
        handle = runner.submit(body)
        runner.run()

    assert handle.progress == Progress(7, None, None)
    assert handle.progress is not None
    assert handle.progress.fraction is None


@pytest.mark.parametrize("kind", ["thread", "sync-on-asyncio"])
def test_the_last_progress_event_of_a_thread_body_carries_its_last_report(kind: str) -> None:
    seen = Recorder()
    reports = 500

    def body() -> None:
        ctx = current_task()
        assert ctx is not None
        for done in range(1, reports + 1):
            ctx.report_progress(done, reports)

    with TaskRunner() as runner:
        runner.subscribe(seen)
        handle = runner.submit(make_task(kind, body))
        runner.run()

    progress_events = seen.of(TaskProgress)
    assert handle.progress == Progress(reports, reports)
    assert progress_events[-1].progress == Progress(reports, reports)
    dones = [event.progress.done for event in progress_events]
    assert dones == sorted(dones)  # in the order the body reported them


def run_a_body_abandoned_at_its_timeout() -> tuple[TaskHandle, Recorder]:
    """Run a thread body that reports progress before and after its attempt timed out."""
    seen = Recorder()
    reported_late = threading.Event()

    @task(backend="thread", timeout=DEADLINE)
    def abandoned() -> None:
        ctx = current_task()
        assert ctx is not None
        ctx.report_progress(1, 2, "before the timeout")
        ctx.cancel_event.wait(EVENT_WAIT)  # set when the attempt timed out
        ctx.report_progress(2, 2, "after the timeout")
        reported_late.set()

    @task(backend="thread")
    def keeper() -> None:
        reported_late.wait(EVENT_WAIT)  # the run goes on until the late report was made

    with TaskRunner(on_task_error="continue") as runner:
        runner.subscribe(seen)
        handle = runner.submit(abandoned)
        runner.submit(keeper)
        runner.run()

    assert isinstance(handle.exception(), TaskTimeoutError)
    assert reported_late.is_set()
    return handle, seen


def test_progress_from_a_body_abandoned_at_its_timeout_does_not_change_the_handle() -> None:
    handle, _ = run_a_body_abandoned_at_its_timeout()

    assert handle.progress == Progress(1, 2, "before the timeout")


def test_no_task_progress_follows_the_task_finished_of_a_handle() -> None:
    handle, seen = run_a_body_abandoned_at_its_timeout()

    of_handle = [type(e) for e in seen.events if getattr(e, "handle", None) is handle]
    assert of_handle[-1] is TaskFinished
    assert of_handle.count(TaskFinished) == 1


@pytest.mark.parametrize(
    ("args", "error", "named"),
    [
        pytest.param((-1,), ValueError, "-1", id="negative-done"),
        pytest.param((float("nan"),), ValueError, "nan", id="nan-done"),
        pytest.param(("3",), ValueError, "'3'", id="str-done"),
        pytest.param((True,), ValueError, "True", id="bool-done"),
        pytest.param((1, 0), ValueError, "total.*0", id="zero-total"),
        pytest.param((1, -2), ValueError, "total.*-2", id="negative-total"),
        pytest.param((1, 2, 3), TypeError, "message.*3", id="int-message"),
    ],
)
def test_a_bad_progress_value_raises_naming_the_value(
    args: tuple[Any, ...], error: type[Exception], named: str
) -> None:
    def body() -> None:
        ctx = current_task()
        assert ctx is not None
        ctx.report_progress(*args)

    with TaskRunner(on_task_error="continue") as runner:
        handle = runner.submit(body)
        runner.run()

    with pytest.raises(error, match=named):
        handle.result()
    assert handle.progress is None  # a refused report is not kept


# -- events are values ---------------------------------------------------------------------


def test_events_are_immutable_named_tuples() -> None:
    seen = Recorder()

    @task(retries=1, backoff="linear", backoff_base=0)
    def flaky() -> None:
        ctx = current_task()
        assert ctx is not None
        ctx.report_progress(1, 2)
        if ctx.attempt == 1:
            raise Boom("first attempt fails")

    with TaskRunner() as runner:
        runner.subscribe(seen)
        runner.submit(flaky)
        runner.run()

    assert set(seen.kinds()) == {
        TaskSubmitted,
        TaskStarted,
        TaskProgress,
        TaskRetrying,
        TaskFinished,
        RunFinished,
    }
    assert all(isinstance(event, tuple) for event in seen.events)
    for event in seen.events:
        first_field = type(event)._fields[0]
        with pytest.raises(AttributeError):
            setattr(event, first_field, None)
        with pytest.raises(AttributeError):
            event.extra = "no new attributes either"


def test_the_event_union_names_every_event_class() -> None:
    import typing

    from pyworkflowy import events

    classes = {
        getattr(events, name)
        for name in events.__all__
        if name not in ("Event", "Progress", "Subscriber")
    }
    assert set(typing.get_args(events.Event)) == classes
    assert len(classes) == 9  # docs/events.md: "the union of the nine classes"

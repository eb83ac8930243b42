"""The public `Backend` interface: writing your own backend, and `ExecutorBackend`.

What users rely on: a backend implements ``start`` alone and is used by name through
``TaskRunner(backends={...})``; the `Attempt` it gets carries the call, the task's options,
the cancel event and a context that binds `current_task()` and the runner; its reports are
taken from any thread, the first one only, and not after the runner ended the attempt; a
backend that breaks fails its task, not the run. `ExecutorBackend` puts any
`concurrent.futures.Executor` behind that interface and leaves the executor to its owner.
Per-backend ``max_workers`` and the errors for bad backends complete the picture.

Bodies are coordinated with events and barriers, never with sleeps.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import pytest
from pyworkflowy import (
    Progress,
    TaskCancelledError,
    TaskContext,
    TaskHandle,
    TaskRunner,
    TaskStatus,
    TaskTimeoutError,
    current_task,
    get_current_runner,
    task,
)
from pyworkflowy.backends import Attempt, Backend, ExecutorBackend, task_context
from pyworkflowy.events import TaskFinished, TaskProgress, TaskStarted

from tests.core._probes import ConcurrencyProbe

EVENT_WAIT = 10.0  # seconds: only reached if the library hangs
DEADLINE = 0.05  # seconds: the task timeout under test

COMPLETED = TaskStatus.COMPLETED
FAILED = TaskStatus.FAILED
CANCELLED = TaskStatus.CANCELLED


class Boom(Exception):
    """The failure the tests' tasks raise."""


def run_and_report(attempt: Attempt) -> None:
    """Run the attempt's body on this thread, in its context, and report how it ended."""
    try:
        with attempt.context():
            value = attempt.call()
    except Exception as exc:
        attempt.fail(exc)
    else:
        attempt.succeed(value)


class InlineBackend(Backend):
    """The smallest backend there is: runs each body inside ``start``, on the loop thread."""

    def start(self, attempt: Attempt) -> None:
        run_and_report(attempt)


@task(backend="inline")
def add(a: int, b: int) -> int:
    return a + b


@task(backend="inline")
def where_am_i() -> tuple[str | None, int]:
    ctx = current_task()
    return (None if ctx is None else ctx.id), threading.get_ident()


@task(backend="inline")
async def async_on_inline() -> None:
    """Async: a backend that cannot run coroutines must refuse it."""


def square(x: int) -> int:
    return x * x


@pytest.fixture
def thread_pool() -> Iterator[ThreadPoolExecutor]:
    """A thread pool the test owns (the runner must not shut it down)."""
    pool = ThreadPoolExecutor(2, thread_name_prefix="caller-pool")
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


# -- a custom backend ----------------------------------------------------------------------


def test_a_backend_that_only_implements_start_runs_tasks_given_to_it_by_name() -> None:
    with TaskRunner(backends={"inline": InlineBackend()}) as runner:
        handle = add.submit(2, 3)
        runner.run()

    assert handle.result() == 5
    assert handle.backend == "inline"


def test_a_custom_backend_runs_on_the_loop_thread_when_it_runs_bodies_in_start() -> None:
    with TaskRunner(backends={"inline": InlineBackend()}) as runner:
        handle = where_am_i.submit(key="here")
        runner.run()

    assert handle.result() == ("here", threading.get_ident())


def test_backend_cannot_be_instantiated_without_start() -> None:
    class NoStart(Backend):
        pass

    with pytest.raises(TypeError, match="start"):
        NoStart()  # type: ignore[abstract]


def test_backend_itself_is_abstract() -> None:
    with pytest.raises(TypeError):
        Backend()  # type: ignore[abstract]


def test_an_async_task_on_a_backend_that_cannot_run_coroutines_is_refused_at_submit() -> None:
    with (
        TaskRunner(backends={"inline": InlineBackend()}) as runner,
        pytest.raises(ValueError, match=r"async.*'inline'.*coroutines"),
    ):
        async_on_inline.submit()

    assert runner.handles() == []


def test_a_custom_backend_that_runs_coroutines_may_take_async_tasks() -> None:
    class CoroutineBackend(Backend):
        runs_coroutines = True

        def start(self, attempt: Attempt) -> None:
            coroutine = attempt.call()
            try:
                coroutine.send(None)
            except StopIteration as stop:
                attempt.succeed(stop.value)

    @task(backend="coro")
    async def answer() -> int:
        return 42

    with TaskRunner(backends={"coro": CoroutineBackend()}) as runner:
        handle = answer.submit()
        runner.run()

    assert handle.result() == 42


# -- Attempt -------------------------------------------------------------------------------


class RecordingBackend(InlineBackend):
    """Notes what each `Attempt` says in ``start`` (the call is only readable there)."""

    def __init__(self, *, call_twice: bool = False) -> None:
        self.seen: list[dict[str, Any]] = []
        self.attempts: list[Attempt] = []
        self.call_twice = call_twice  # also note what attempt.call() returns

    def start(self, attempt: Attempt) -> None:
        self.attempts.append(attempt)
        self.seen.append(
            {
                "handle": attempt.handle,
                "task": attempt.task,
                "number": attempt.number,
                "fn": attempt.fn,
                "args": attempt.args,
                "kwargs": dict(attempt.kwargs),
                "is_async": attempt.is_async,
                "timeout": attempt.timeout,
                "deadline": attempt.deadline,
                "now": time.monotonic(),
                "cancel_event": attempt.cancel_event,
                "cancel_set": attempt.cancel_event.is_set(),
                "current": attempt.current,
                "prepared": attempt.prepared,
                "call": attempt.call() if self.call_twice else None,
            }
        )
        super().start(attempt)


def test_attempt_carries_the_call_and_the_tasks_options() -> None:
    backend = RecordingBackend(call_twice=True)

    @task(backend="rec", timeout=5.0)
    def scaled(x: int, *, factor: int) -> int:
        return x * factor

    with TaskRunner(backends={"rec": backend}) as runner:
        handle = scaled.submit(2, factor=3)
        runner.run()

    [seen] = backend.seen
    assert seen["handle"] is handle
    assert seen["task"] is scaled
    assert seen["number"] == 1
    assert seen["fn"] is scaled.fn
    assert seen["args"] == (2,)
    assert seen["kwargs"] == {"factor": 3}
    assert seen["is_async"] is False
    assert seen["timeout"] == 5.0
    assert seen["call"] == 6
    assert isinstance(seen["cancel_event"], threading.Event)
    assert seen["cancel_set"] is False
    assert seen["current"] is True
    assert seen["prepared"] is None  # the backend has no prepare()
    assert handle.result() == 6


def test_attempt_deadline_is_the_timeout_counted_from_the_start_and_none_without_one() -> None:
    backend = RecordingBackend()
    timed = task(backend="rec", timeout=5.0)(lambda: None)
    untimed = task(backend="rec")(lambda: None)

    with TaskRunner(backends={"rec": backend}) as runner:
        runner.submit(timed)
        runner.submit(untimed)
        runner.run()

    timed_seen, untimed_seen = backend.seen
    assert timed_seen["deadline"] is not None
    assert timed_seen["deadline"] - 5.0 <= timed_seen["now"]  # it counts from before start()
    assert untimed_seen["deadline"] is None


def test_attempt_numbers_count_the_retries() -> None:
    backend = RecordingBackend()
    calls: list[int] = []

    @task(backend="rec", retries=2)
    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise Boom(f"attempt {len(calls)} fails")
        return "third time"

    with TaskRunner(backends={"rec": backend}) as runner:
        handle = flaky.submit()
        runner.run()

    assert [seen["number"] for seen in backend.seen] == [1, 2, 3]
    assert handle.result() == "third time"


def test_attempt_is_no_longer_current_once_reported() -> None:
    backend = RecordingBackend()
    with TaskRunner(backends={"rec": backend}) as runner:
        runner.submit(task(backend="rec")(lambda: None))
        runner.run()

    [attempt] = backend.attempts
    assert backend.seen[0]["current"] is True
    assert attempt.current is False


def test_attempt_context_binds_current_task_and_the_runner_for_the_body() -> None:
    seen: dict[str, Any] = {}

    class ContextBackend(Backend):
        def start(self, attempt: Attempt) -> None:
            seen["before"] = (current_task(), get_current_runner())
            with attempt.context() as ctx:
                inside = current_task()
                seen["inside"] = (inside, get_current_runner())
                seen["yielded"] = ctx
                assert inside is not None
                seen["ids"] = (inside.id, inside.name, inside.attempt)
                seen["cancel_event"] = inside.cancel_event is attempt.cancel_event
            seen["after"] = (current_task(), get_current_runner())
            attempt.succeed(None)

    job = task(backend="ctx", name="ctx-job")(lambda: None)
    runner = TaskRunner(backends={"ctx": ContextBackend()})  # no `with`: nothing bound
    try:
        handle = runner.submit(job, key="ctx-key")
        runner.run()
    finally:
        runner.shutdown()

    assert seen["before"] == (None, None)
    inside_task, inside_runner = seen["inside"]
    assert isinstance(inside_task, TaskContext)
    assert inside_runner is runner
    assert seen["yielded"] is inside_task
    assert seen["ids"] == ("ctx-key", "ctx-job", 1)
    assert seen["cancel_event"] is True
    assert seen["after"] == (None, None)
    assert handle.status is COMPLETED


def test_backend_open_is_called_on_the_loop_thread_before_the_first_start_of_each_run() -> None:
    calls: list[tuple[str, int, Any]] = []

    class Opened(InlineBackend):
        def open(self, loop: Any, max_workers: int | None) -> None:
            calls.append(("open", threading.get_ident(), (loop, max_workers)))

        def start(self, attempt: Attempt) -> None:
            calls.append(("start", threading.get_ident(), attempt.handle.id))
            super().start(attempt)

    loops: list[Any] = []

    async def loop_of_the_run() -> None:
        loops.append(asyncio.get_running_loop())

    job = task(backend="opened")(lambda: None)
    with TaskRunner(backends={"opened": Opened()}, max_workers={"opened": 3}) as runner:
        runner.submit(job, key="first")
        runner.submit(loop_of_the_run)
        runner.run()
        runner.submit(job, key="second")
        runner.run()

    me = threading.get_ident()
    assert calls == [
        ("open", me, (loops[0], 3)),
        ("start", me, "first"),
        ("open", me, (loops[0], 3)),
        ("start", me, "second"),
    ]


def test_backend_prepare_that_raises_refuses_the_submission() -> None:
    class Picky(InlineBackend):
        def prepare(self, handle: TaskHandle) -> Any:
            if handle.args == (0,):
                raise ValueError("this backend cannot take 0")
            return None

    job = task(backend="picky")(lambda x: x)
    with TaskRunner(backends={"picky": Picky()}) as runner:
        with pytest.raises(ValueError, match="cannot take 0"):
            runner.submit(job, 0)
        accepted = runner.submit(job, 1)
        runner.run()

    assert runner.handles() == [accepted]
    assert accepted.result() == 1


def test_what_prepare_returns_is_the_attempts_prepared_value() -> None:
    prepared: list[Any] = []

    class Preparing(InlineBackend):
        def prepare(self, handle: TaskHandle) -> Any:
            return f"prepared for {handle.id}"

        def start(self, attempt: Attempt) -> None:
            prepared.append(attempt.prepared)
            super().start(attempt)

    with TaskRunner(backends={"prep": Preparing()}) as runner:
        runner.submit(task(backend="prep")(lambda: None), key="job")
        runner.run()

    assert prepared == ["prepared for job"]


def test_a_backend_can_relay_progress_through_its_attempt() -> None:
    seen: list[Any] = []

    class Relaying(Backend):
        def start(self, attempt: Attempt) -> None:
            attempt.report_progress(1, 2, "relayed")
            attempt.succeed(None)

    with TaskRunner(backends={"relay": Relaying()}) as runner:
        runner.subscribe(seen.append)
        handle = runner.submit(task(backend="relay")(lambda: None))
        runner.run()

    assert handle.progress == Progress(1, 2, "relayed")
    [event] = [e for e in seen if isinstance(e, TaskProgress)]
    assert (event.handle, event.attempt, event.progress) == (handle, 1, handle.progress)


def test_task_context_binds_current_task_for_a_body_run_away_from_the_runner() -> None:
    reports: list[Progress] = []
    context = TaskContext("remote", "remote#0", 2, on_progress=reports.append)

    with task_context(context) as bound:
        inside = current_task()
        assert inside is not None
        inside.report_progress(1, 4, "a quarter")

    assert bound is context
    assert inside is context
    assert current_task() is None
    assert (context.name, context.id, context.attempt) == ("remote", "remote#0", 2)
    assert context.cancel_event.is_set() is False
    assert reports == [Progress(1, 4, "a quarter")]


def test_task_context_refuses_something_that_is_not_a_task_context() -> None:
    with pytest.raises(TypeError, match="TaskContext"):
        task_context("remote#0")  # type: ignore[arg-type]


# -- reports -------------------------------------------------------------------------------


class ThreadedBackend(Backend):
    """Runs each body on a new thread and reports from there."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.reporters: list[int] = []

    def start(self, attempt: Attempt) -> None:
        thread = threading.Thread(target=self._run, args=(attempt,))
        self.threads.append(thread)
        thread.start()

    def _run(self, attempt: Attempt) -> None:
        self.reporters.append(threading.get_ident())
        run_and_report(attempt)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(EVENT_WAIT)


def test_a_success_reported_from_another_thread_is_accepted() -> None:
    backend = ThreadedBackend()
    with TaskRunner(backends={"threaded": backend}) as runner:
        handle = runner.submit(task(backend="threaded")(lambda: "from a thread"))
        runner.run()
    backend.join()

    assert handle.result() == "from a thread"
    assert backend.reporters != [threading.get_ident()]


def test_a_failure_reported_from_another_thread_is_accepted() -> None:
    backend = ThreadedBackend()
    error = Boom("failed on a thread")

    def boom() -> None:
        raise error

    with TaskRunner(backends={"threaded": backend}, on_task_error="continue") as runner:
        handle = runner.submit(task(backend="threaded")(boom))
        runner.run()
    backend.join()

    assert handle.status is FAILED
    assert handle.exception() is error


@pytest.mark.parametrize("from_thread", [False, True], ids=["loop-thread", "other-thread"])
def test_only_the_first_report_of_an_attempt_counts(from_thread: bool) -> None:
    class ReportsThrice(Backend):
        def __init__(self) -> None:
            self.threads: list[threading.Thread] = []

        def start(self, attempt: Attempt) -> None:
            if from_thread:
                thread = threading.Thread(target=self.report, args=(attempt,))
                self.threads.append(thread)
                thread.start()
            else:
                self.report(attempt)

        def report(self, attempt: Attempt) -> None:
            attempt.succeed("first")
            attempt.succeed("second")
            attempt.fail(Boom("third"))

    backend = ReportsThrice()
    with TaskRunner(backends={"thrice": backend}) as runner:
        handle = runner.submit(task(backend="thrice")(lambda: None))
        runner.run()
    for thread in backend.threads:
        thread.join(EVENT_WAIT)

    assert handle.status is COMPLETED
    assert handle.result() == "first"


def test_a_report_of_an_earlier_attempt_is_ignored_while_a_retry_runs() -> None:
    class LateFirstAttempt(Backend):
        def __init__(self) -> None:
            self.attempts: list[Attempt] = []

        def start(self, attempt: Attempt) -> None:
            self.attempts.append(attempt)
            if attempt.number == 1:
                attempt.fail(Boom("attempt 1 fails"))
            else:
                self.attempts[0].succeed("stale: from attempt 1")
                attempt.succeed("from attempt 2")

    with TaskRunner(backends={"late": LateFirstAttempt()}) as runner:
        handle = runner.submit(task(backend="late", retries=1)(lambda: None))
        runner.run()

    assert handle.result() == "from attempt 2"
    assert handle.attempts == 2


def test_a_report_after_a_timeout_is_ignored() -> None:
    stopped: list[tuple[bool, bool]] = []

    class NeverReports(Backend):
        """Holds every attempt; when told to stop, reports a success anyway."""

        def start(self, attempt: Attempt) -> None:
            pass

        def stop(self, attempt: Attempt) -> None:
            stopped.append((attempt.current, attempt.cancel_event.is_set()))
            attempt.succeed("too late")

    with TaskRunner(backends={"never": NeverReports()}, on_task_error="continue") as runner:
        handle = runner.submit(task(backend="never", timeout=DEADLINE)(lambda: None))
        runner.run()

    assert stopped == [(False, True)]  # stopped once, after the runner ended the attempt
    assert handle.status is FAILED
    error = handle.exception()
    assert isinstance(error, TaskTimeoutError)
    assert any("cannot stop" in note for note in getattr(error, "__notes__", []))


def test_fail_refuses_a_value_that_is_not_an_exception() -> None:
    refused: list[BaseException] = []

    class FailsWithAString(Backend):
        def start(self, attempt: Attempt) -> None:
            try:
                attempt.fail("not an exception")  # type: ignore[arg-type]
            except TypeError as exc:
                refused.append(exc)
            attempt.succeed("reported properly")

    with TaskRunner(backends={"str": FailsWithAString()}) as runner:
        handle = runner.submit(task(backend="str")(lambda: None))
        runner.run()

    assert len(refused) == 1
    assert handle.result() == "reported properly"


# -- a backend that breaks -----------------------------------------------------------------


def test_a_backend_whose_start_raises_fails_that_task_and_the_run_goes_on() -> None:
    errors: list[Boom] = []

    class Broken(Backend):
        max_workers = 1  # a slot that leaked would leave the later tasks waiting forever

        def start(self, attempt: Attempt) -> None:
            errors.append(Boom(f"cannot start {attempt.handle.id}"))
            raise errors[-1]

    on_broken = task(backend="broken")(lambda: None)
    with TaskRunner(backends={"broken": Broken()}, on_task_error="continue") as runner:
        failed = [runner.submit(on_broken, key=f"broken-{i}") for i in range(3)]
        elsewhere = runner.submit(lambda: "asyncio lane still runs")
        runner.run()

    assert [h.status for h in failed] == [FAILED] * 3
    assert [h.exception() for h in failed] == errors
    notes = getattr(errors[0], "__notes__", [])
    assert "raised by backend 'broken' starting task 'broken-0'" in notes
    assert elsewhere.result() == "asyncio lane still runs"


def test_under_the_raise_policy_run_raises_the_error_of_a_backend_whose_start_raises() -> None:
    error = Boom("backend bug")

    class Broken(Backend):
        def start(self, attempt: Attempt) -> None:
            raise error

    with TaskRunner(backends={"broken": Broken()}) as runner:
        runner.submit(task(backend="broken")(lambda: None))
        with pytest.raises(Boom) as raised:
            runner.run()

    assert raised.value is error


# -- ExecutorBackend -----------------------------------------------------------------------


def test_executor_backend_refuses_something_that_is_not_an_executor() -> None:
    with pytest.raises(TypeError, match="Executor"):
        ExecutorBackend(object())  # type: ignore[arg-type]


def test_executor_backend_runs_tasks_on_the_executor_with_current_task_bound(
    thread_pool: ThreadPoolExecutor,
) -> None:
    @task(backend="pool")
    def body() -> tuple[str | None, str]:
        ctx = current_task()
        return (None if ctx is None else ctx.id), threading.current_thread().name

    with TaskRunner(backends={"pool": ExecutorBackend(thread_pool)}) as runner:
        handle = body.submit(key="on-the-pool")
        runner.run()

    task_id, thread_name = handle.result()
    assert task_id == "on-the-pool"
    assert thread_name.startswith("caller-pool")


def test_executor_backend_timeout_ends_the_attempt_while_the_body_runs_on(
    thread_pool: ThreadPoolExecutor,
) -> None:
    running, release, returned = threading.Event(), threading.Event(), threading.Event()
    cancel_seen: list[bool] = []

    @task(backend="pool", timeout=DEADLINE)
    def stuck() -> str:
        running.set()
        release.wait(EVENT_WAIT)
        ctx = current_task()
        cancel_seen.append(ctx is not None and ctx.cancel_event.is_set())
        returned.set()
        return "returned after its timeout"

    try:
        with TaskRunner(backends={"pool": ExecutorBackend(thread_pool)}) as runner:
            handle = stuck.submit()
            with pytest.raises(TaskTimeoutError):
                runner.run()
            still_running = running.is_set() and not returned.is_set()
            status_at_timeout = handle.status
    finally:
        release.set()
    assert returned.wait(EVENT_WAIT)
    thread_pool.shutdown(wait=True)  # the body's late report has been made

    assert still_running
    assert status_at_timeout is FAILED
    assert handle.status is FAILED  # the late return changes nothing
    assert isinstance(handle.exception(), TaskTimeoutError)
    assert cancel_seen == [True]  # the body could have seen that it should stop


@pytest.mark.timeout(30)
def test_executor_backend_counts_a_timeout_from_when_a_pool_thread_takes_the_body() -> None:
    pool = ThreadPoolExecutor(1)
    holder_release, body_began, body_release = (threading.Event() for _ in range(3))
    pool.submit(holder_release.wait, EVENT_WAIT)  # the pool's only thread is busy

    @task(backend="pool", timeout=DEADLINE)
    def slow() -> None:
        body_began.set()
        body_release.wait(EVENT_WAIT)

    async def main() -> TaskStatus:
        handle = slow.submit()
        run = asyncio.ensure_future(runner.arun())
        await asyncio.sleep(4 * DEADLINE)  # its timeout would have passed by now
        status_while_queued = handle.status
        holder_release.set()  # a thread takes the body only now
        with pytest.raises(TaskTimeoutError):
            await asyncio.wait_for(handle, EVENT_WAIT)
        body_release.set()
        await run
        return status_while_queued

    try:
        backend = ExecutorBackend(pool)
        with TaskRunner(backends={"pool": backend}, on_task_error="continue") as runner:
            status_while_queued = asyncio.run(main())
    finally:
        holder_release.set()
        body_release.set()
        pool.shutdown(wait=True)

    assert status_while_queued is TaskStatus.RUNNING
    assert body_began.is_set()


def test_executor_backend_cancels_work_still_queued_when_its_attempt_is_cancelled() -> None:
    # One thread, held by a blocked body; the backend admits two attempts, so the second
    # waits in the executor's queue when it is cancelled.
    pool = ThreadPoolExecutor(1)
    ran: list[str] = []
    holding, release = threading.Event(), threading.Event()
    queued_started, queued_finished = threading.Event(), threading.Event()
    handles: dict[str, TaskHandle] = {}

    @task(backend="one")
    def blocker() -> None:
        ran.append("blocker")
        holding.set()
        release.wait(EVENT_WAIT)

    @task(backend="one")
    def queued() -> None:
        ran.append("queued")

    def watch(event: object) -> None:
        if isinstance(event, TaskStarted) and event.handle is handles.get("queued"):
            queued_started.set()
        if isinstance(event, TaskFinished) and event.handle is handles.get("queued"):
            queued_finished.set()

    def cancel_the_queued_one() -> None:
        if holding.wait(EVENT_WAIT) and queued_started.wait(EVENT_WAIT):
            handles["queued"].cancel()
            queued_finished.wait(EVENT_WAIT)
        release.set()

    canceller = threading.Thread(target=cancel_the_queued_one)
    try:
        backend = ExecutorBackend(pool, max_workers=2)
        with TaskRunner(backends={"one": backend}) as runner:
            runner.subscribe(watch)
            handles["blocker"] = blocker.submit()
            handles["queued"] = queued.submit()
            canceller.start()
            runner.run()
        canceller.join(EVENT_WAIT)
    finally:
        release.set()
        pool.shutdown(wait=True)  # anything still queued would run now

    assert ran == ["blocker"]
    assert handles["queued"].status is CANCELLED
    assert isinstance(handles["queued"].exception(), TaskCancelledError)
    assert handles["blocker"].status is COMPLETED


def test_runner_shutdown_leaves_the_executor_open(thread_pool: ThreadPoolExecutor) -> None:
    with TaskRunner(backends={"pool": ExecutorBackend(thread_pool)}) as runner:
        runner.submit(task(backend="pool")(lambda: None))
        runner.run()

    assert thread_pool.submit(square, 3).result(EVENT_WAIT) == 9


def test_runner_shutdown_shuts_the_executor_down_when_asked_to() -> None:
    pool = ThreadPoolExecutor(1)
    backend = ExecutorBackend(pool, shutdown_executor=True)
    with TaskRunner(backends={"pool": backend}) as runner:
        runner.submit(task(backend="pool")(lambda: None))
        runner.run()

    with pytest.raises(RuntimeError, match="shutdown"):
        pool.submit(square, 3)


def test_executor_backend_with_a_process_pool_runs_a_module_level_function() -> None:
    # "spawn" on every Python: a process pool imports the function by name in its workers,
    # so it is one from an importable module (the test modules are not on the workers' path).
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        with TaskRunner(backends={"procs": ExecutorBackend(pool)}) as runner:
            factorial = runner.submit(task(backend="procs")(math.factorial), 5)
            pid = runner.submit(task(backend="procs")(os.getpid))
            runner.run()
    finally:
        pool.shutdown(wait=True)

    assert factorial.result() == 120
    assert pid.result() != os.getpid()


# -- choosing backends ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "backends",
    [
        pytest.param({"io": object()}, id="not-a-backend"),
        pytest.param({"io": InlineBackend}, id="a-class-not-an-instance"),
        pytest.param([("io", InlineBackend())], id="not-a-mapping"),
    ],
)
def test_backends_that_are_not_backend_instances_are_refused(backends: Any) -> None:
    with pytest.raises(TypeError, match="Backend"):
        TaskRunner(backends=backends)


@pytest.mark.parametrize("name", ["", 3, None])
def test_backends_keyed_by_something_other_than_a_name_are_refused(name: Any) -> None:
    with pytest.raises(ValueError, match="backends keys"):
        TaskRunner(backends={name: InlineBackend()})


def test_an_unknown_backend_name_fails_at_submit_not_at_decoration() -> None:
    @task(backend="nowhere")  # decorating is fine: a runner might provide it
    def job() -> None:
        return None

    with (
        TaskRunner() as runner,
        pytest.raises(ValueError, match=r"'nowhere'.*'pyworkflowy\.backends'"),
    ):
        job.submit()

    assert runner.handles() == []


class LoopCoroutines(Backend):
    """A user's coroutine backend: each body as an asyncio task on the loop ``open`` gave it.

    Notes the id of every handle it starts, so a test sees which attempts reached it.
    """

    runs_coroutines = True

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.started: list[str] = []

    def open(self, loop: asyncio.AbstractEventLoop, max_workers: int | None) -> None:
        self.loop = loop

    def start(self, attempt: Attempt) -> None:
        assert self.loop is not None, "open() comes before start()"
        self.started.append(attempt.handle.id)
        attempt.state = self.loop.create_task(self._run(attempt))  # held until it ends

    async def _run(self, attempt: Attempt) -> None:
        try:
            value = await attempt.call()
        except Exception as exc:
            attempt.fail(exc)
        else:
            attempt.succeed(value)


@pytest.mark.parametrize("default", ["asyncio", "thread"])
def test_an_asyncio_backend_of_the_users_replaces_the_coroutine_side_only(default: str) -> None:
    # docs/backends.md: an "asyncio" instance in backends= replaces the coroutine side only;
    # the sync bodies of asyncio tasks keep their own thread pool. Coroutines go to
    # "asyncio" whatever the runner's default is, so they reach the user's backend either way.
    users = LoopCoroutines()

    @task(name="coro")
    async def coro() -> int:
        return threading.get_ident()

    @task(name="plain")  # no backend: the runner's default
    def plain() -> str:
        return threading.current_thread().name

    @task(name="threaded", backend="thread")
    def threaded() -> str:
        return threading.current_thread().name

    with TaskRunner(backend=default, backends={"asyncio": users}) as runner:
        on_users = coro.submit(key="coro")
        sync = plain.submit(key="plain")
        on_thread = threaded.submit(key="threaded")
        runner.run()

    assert users.started == ["coro"]  # neither sync body reached the user's backend
    assert (on_users.backend, sync.backend, on_thread.backend) == ("asyncio", default, "thread")
    assert on_users.result() == threading.get_ident()  # on the loop, which run() drove here
    # The sync bodies ran on the built-in pools' threads, not on the loop.
    assert sync.result().startswith("pyworkflowy_")
    assert on_thread.result().startswith("pyworkflowy_")


def test_an_asyncio_backend_of_the_users_that_cannot_run_coroutines_refuses_async_tasks() -> None:
    # It takes the place of the coroutine side, so an async task that names no backend meets
    # it, and is refused at submit; sync bodies of asyncio tasks still run on their pool.
    @task(name="coro")
    async def coro() -> None:
        return None

    with TaskRunner(backends={"asyncio": InlineBackend()}) as runner:
        with pytest.raises(ValueError, match=r"async.*'asyncio'.*coroutines"):
            coro.submit()
        sync = runner.submit(threading.current_thread)
        runner.run()

    assert [h.id for h in runner.handles()] == [sync.id]
    assert sync.result().name.startswith("pyworkflowy_")


@pytest.mark.timeout(30)
def test_max_workers_per_backend_bounds_each_backend_separately() -> None:
    limits = {"thread": 2, "asyncio": 3}
    probes = {name: ConcurrencyProbe() for name in limits}
    # The first bodies of both lanes meet here: both lanes are full at once, and no
    # further body can start until one of them leaves.
    all_full = threading.Barrier(sum(limits.values()), timeout=EVENT_WAIT)

    def body(lane: str) -> None:
        probe = probes[lane]
        if probe.enter() <= limits[lane]:
            all_full.wait()
        probe.leave()

    on_thread = task(backend="thread", name="on-thread")(body)
    on_asyncio = task(name="on-asyncio")(body)  # a sync body: the asyncio lane's threads

    with TaskRunner(max_workers=limits) as runner:
        for _ in range(6):
            on_thread.submit("thread")
            on_asyncio.submit("asyncio")
        runner.run()

    assert {name: probe.started for name, probe in probes.items()} == {"thread": 6, "asyncio": 6}
    assert {name: probe.peak for name, probe in probes.items()} == limits


@pytest.mark.parametrize("count", [0, -1, 2.5, "2", True, None])
def test_a_bad_max_workers_mapping_value_is_refused_naming_it(count: Any) -> None:
    with pytest.raises(ValueError, match=r"max_workers\['thread'\].*" + re.escape(repr(count))):
        TaskRunner(max_workers={"thread": count})


def test_a_max_workers_mapping_key_that_is_not_a_name_is_refused() -> None:
    with pytest.raises(ValueError, match="max_workers keys"):
        TaskRunner(max_workers={"": 2})


def test_sync_tasks_of_a_coroutine_only_backend_run_on_a_thread_pool_of_their_own() -> None:
    from pyworkflowy.backends import AsyncioBackend

    @task(backend="io")
    async def fetch() -> str:
        return threading.current_thread().name

    @task(backend="io")
    def parse() -> str:
        return threading.current_thread().name

    assert not AsyncioBackend.runs_sync
    with TaskRunner(backends={"io": AsyncioBackend()}, max_workers={"io": 2}) as runner:
        on_loop, on_pool = runner.submit(fetch), runner.submit(parse)
        runner.run()
    assert on_loop.result() == threading.current_thread().name  # the runner's loop thread
    assert on_pool.result() != on_loop.result()
    assert on_loop.backend == on_pool.backend == "io"


class SizedBackend(Backend):
    """Runs bodies at once, in `start`; says how many attempts it takes, and records the
    bound each run opens it with."""

    def __init__(self, size: int | None) -> None:
        self.max_workers = size
        self.opened: list[int | None] = []

    def open(self, loop: asyncio.AbstractEventLoop, max_workers: int | None) -> None:
        self.opened.append(max_workers)

    def start(self, attempt: Attempt) -> None:
        attempt.succeed(attempt.call())


def test_a_backends_declared_size_is_read_again_as_each_run_starts() -> None:
    backend = SizedBackend(None)
    with TaskRunner(backends={"sized": backend}, backend="sized", max_workers=4) as runner:
        runner.submit(abs, -1)
        runner.run()
        backend.max_workers = 40  # say, its cluster grew
        runner.submit(abs, -2)
        runner.run()
    assert backend.opened == [4, 40]


def test_max_workers_given_for_a_backend_wins_over_its_declared_size() -> None:
    backend = SizedBackend(40)
    with TaskRunner(backends={"sized": backend}, backend="sized", max_workers={"sized": 3}) as r:
        r.submit(abs, -1)
        r.run()
        backend.max_workers = 50
        r.submit(abs, -2)
        r.run()
    assert backend.opened == [3, 3]

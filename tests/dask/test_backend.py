"""The dask backend on a cluster of threads: bodies, context, retries, timeouts, data flow.

Every test gets its own `DaskBackend` on the session's client (the ``backend`` fixture);
bodies that must wait do so on `distributed.Event`s that the test sets (see conftest).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import pytest

pytest.importorskip("distributed")

from distributed import Client, Event
from pyworkflowy import (
    Progress,
    TaskCancelledError,
    TaskContext,
    TaskRunner,
    TaskStatus,
    TaskTimeoutError,
    current_task,
    task,
)
from pyworkflowy.dask import DaskBackend
from pyworkflowy.events import TaskProgress, TaskRetrying, TaskStarted

Events = Callable[[str], Any]
Name = Callable[[str], str]


def context() -> TaskContext:
    """`current_task()` in a body, where it is never None."""
    ctx = current_task()
    assert ctx is not None
    return ctx


def where() -> str:
    from distributed import get_worker

    return get_worker().address


async def double_where(x: int) -> tuple[int, str, str]:
    import asyncio

    from distributed import get_worker

    await asyncio.sleep(0)
    return 2 * x, get_worker().address, context().id


def context_fields() -> tuple[str, str, int, bool, bool]:
    ctx = context()
    cancel = ctx.cancel_event
    return ctx.name, ctx.id, ctx.attempt, isinstance(cancel, threading.Event), cancel.is_set()


def make_adder(n: int) -> Callable[[int], int]:
    def add(x: int) -> int:
        return x + n

    return add


def count_steps(n: int) -> int:
    ctx = context()
    for i in range(1, n + 1):
        ctx.report_progress(i, n, f"step {i}")
    return n


def flaky() -> int:
    attempt = context().attempt
    if attempt < 3:
        raise ConnectionError(f"attempt {attempt} failed")
    return attempt


def wait_for_cancel(seen: str) -> bool:
    cancel = context().cancel_event
    try:
        return cancel.wait(30)
    finally:  # the body is interrupted as the wait wakes
        if cancel.is_set():
            Event(seen).set()  # tell the test the worker-side event was set


def hold(started: str, release: str) -> str:
    Event(started).set()
    Event(release).wait(30)
    return "held"


def mark(ran: str) -> None:
    Event(ran).set()


def test_a_sync_body_runs_on_a_dask_worker(backend: DaskBackend, client: Client) -> None:
    with TaskRunner(backends={"dask": backend}) as runner:
        handle = runner.submit(task(backend="dask")(where))
        runner.run()
    assert handle.result() in client.scheduler_info()["workers"]
    assert handle.backend == "dask"


def test_an_async_body_runs_in_an_event_loop_on_a_worker(
    backend: DaskBackend, client: Client
) -> None:
    with TaskRunner(backends={"dask": backend}) as runner:
        handle = runner.submit(task(backend="dask")(double_where), 21, key="async")
        runner.run()
    value, address, handle_id = handle.result()
    assert (value, handle_id) == (42, "async")
    assert address in client.scheduler_info()["workers"]


def test_the_runner_default_sends_lambdas_and_closures(backend: DaskBackend) -> None:
    factor = 3
    with TaskRunner(backends={"dask": backend}, backend="dask") as runner:
        scaled = runner.submit(lambda x: x * factor, 7)
        added = runner.submit(make_adder(5), 1)
        runner.run()
    assert (scaled.result(), added.result()) == (21, 6)


def test_current_task_in_the_body_names_the_handle_and_attempt(backend: DaskBackend) -> None:
    fields = task(backend="dask", name="fields")(context_fields)
    with TaskRunner(backends={"dask": backend}) as runner:
        handle = runner.submit(fields, key="the-fields")
        runner.run()
    assert handle.result() == ("fields", "the-fields", 1, True, False)


def test_progress_reported_on_a_worker_reaches_the_handle(backend: DaskBackend) -> None:
    seen: list[Progress] = []
    with TaskRunner(backends={"dask": backend}, backend="dask") as runner:
        runner.subscribe(lambda e: seen.append(e.progress) if isinstance(e, TaskProgress) else None)
        handle = runner.submit(count_steps, 3)
        runner.run()
    assert handle.result() == 3
    assert handle.progress == Progress(3, 3, "step 3")  # the last report always goes home
    assert seen[-1] == Progress(3, 3, "step 3")


def test_retries_and_backoff_are_the_runners(backend: DaskBackend) -> None:
    retried: list[TaskRetrying] = []
    flaky_task = task(backend="dask", retries=3, backoff="exponential", backoff_base=0.01)(flaky)
    with TaskRunner(backends={"dask": backend}) as runner:
        runner.subscribe(lambda e: retried.append(e) if isinstance(e, TaskRetrying) else None)
        handle = runner.submit(flaky_task)
        runner.run()
    assert handle.result() == 3
    assert handle.attempts == 3
    assert [(e.attempt, str(e.error), e.delay) for e in retried] == [
        (1, "attempt 1 failed", 0.01),
        (2, "attempt 2 failed", 0.02),
    ]
    assert all(isinstance(e.error, ConnectionError) for e in retried)


def test_a_body_exception_reaches_the_handle_with_its_type(backend: DaskBackend) -> None:
    def fail() -> None:
        raise KeyError("missing")

    with TaskRunner(backends={"dask": backend}, backend="dask", on_task_error="continue") as r:
        handle = r.submit(fail)
        r.run()
    assert handle.status is TaskStatus.FAILED
    assert isinstance(handle.exception(), KeyError)


def test_a_timeout_ends_the_attempt_and_sets_the_bodys_cancel_event(
    backend: DaskBackend, events: Events, name: Name
) -> None:
    seen = events(name("seen"))
    slow = task(backend="dask", timeout=0.5, retries=2)(wait_for_cancel)
    with TaskRunner(backends={"dask": backend}, on_task_error="continue") as runner:
        handle = runner.submit(slow, name("seen"))
        runner.run()
        assert seen.wait(30)  # the body saw current_task().cancel_event set on its worker
    error = handle.exception()
    assert isinstance(error, TaskTimeoutError)
    assert handle.attempts == 1  # a timeout is never retried
    assert not getattr(error, "__notes__", [])  # no "cannot stop a running body" note


def spin(started: str, stopped: str) -> None:
    """Pure Python that never checks its cancel event: only an interruption ends it."""
    try:  # the stop may come as soon as the test hears "started"
        Event(started).set()
        while True:
            pass
    finally:
        Event(stopped).set()


def spin_catching(caught: str, stopped: str) -> None:
    try:
        while True:
            pass
    except Exception:
        Event(caught).set()
    finally:
        Event(stopped).set()


async def await_forever(started: str, stopped: str) -> None:
    import asyncio

    try:
        Event(started).set()
        await asyncio.Event().wait()
    finally:
        Event(stopped).set()


def test_a_timeout_stops_a_running_body_and_spares_its_neighbour_on_the_worker(
    backend: DaskBackend, events: Events, name: Name
) -> None:
    neighbour_started, release = events(name("n-started")), events(name("release"))
    stopped = events(name("stopped"))
    spinner = task(backend="dask", timeout=0.5)(spin)
    neighbour = task(backend="dask")(hold)
    with TaskRunner(backends={"dask": backend}, on_task_error="continue") as runner:
        held = neighbour.submit(name("n-started"), name("release"))
        spun = spinner.submit(name("s-started"), name("stopped"))
        running = threading.Thread(target=runner.run)
        running.start()
        assert neighbour_started.wait(30)
        assert stopped.wait(30)  # the loop was interrupted on its worker thread
        release.set()
        running.join(30)
    assert isinstance(spun.exception(), TaskTimeoutError)
    assert held.result() == "held"  # the other body on that worker ran to its end


def test_the_interruption_is_not_caught_by_except_exception_in_the_body(
    backend: DaskBackend, events: Events, name: Name
) -> None:
    caught, stopped = events(name("caught")), events(name("stopped"))
    spinner = task(backend="dask", timeout=0.5)(spin_catching)
    with TaskRunner(backends={"dask": backend}, on_task_error="continue") as runner:
        handle = spinner.submit(name("caught"), name("stopped"))
        runner.run()
        assert stopped.wait(30)  # its finally block ran
    assert not caught.is_set()
    assert isinstance(handle.exception(), TaskTimeoutError)


def test_cancelling_a_running_async_body_cancels_it_on_the_worker(
    backend: DaskBackend, events: Events, name: Name
) -> None:
    started, stopped = events(name("started")), events(name("stopped"))
    waiting = task(backend="dask")(await_forever)
    with TaskRunner(backends={"dask": backend}, on_task_error="continue") as runner:
        handle = waiting.submit(name("started"), name("stopped"))
        running = threading.Thread(target=runner.run)
        running.start()
        assert started.wait(30)
        assert handle.cancel()
        assert stopped.wait(30)  # its task was cancelled in the worker's event loop
        running.join(30)
    assert handle.status is TaskStatus.CANCELLED
    assert isinstance(handle.exception(), TaskCancelledError)


def idempotency_key() -> str:
    return context().idempotency_key


def test_the_idempotency_key_on_a_worker_is_the_one_the_asyncio_backend_sees(
    backend: DaskBackend,
) -> None:
    on_dask = task(backend="dask", name="key")(idempotency_key)
    here = task(backend="asyncio", name="key")(idempotency_key)
    with TaskRunner(backends={"dask": backend}) as runner:
        remote = runner.submit(on_dask, key="remote")
        local = runner.submit(here, key="local")
        runner.run()
    run_id, handle_id = local.result().rsplit(":", 1)
    assert handle_id == "local"
    assert remote.result() == f"{run_id}:remote"  # the run's id and the handle's, as here


def test_cancelling_work_queued_in_dask_means_it_never_starts(
    backend: DaskBackend, client: Client, events: Events, name: Name
) -> None:
    started = [events(name(f"started-{i}")) for i in range(2)]
    release, ran = events(name("release")), events(name("ran"))
    handed_to_dask = threading.Event()
    blocker, marker = task(backend="dask")(hold), task(backend="dask")(mark)
    with TaskRunner(backends={"dask": backend}, max_workers=3) as runner:
        # Two bodies take both worker threads; the third waits inside dask.
        blockers = [blocker.submit(name(f"started-{i}"), name("release")) for i in range(2)]
        queued = marker.submit(name("ran"), key="queued")

        def on_event(event: object) -> None:
            if isinstance(event, TaskStarted) and event.handle is queued:
                handed_to_dask.set()

        runner.subscribe(on_event)
        running = threading.Thread(target=runner.run)
        running.start()
        assert handed_to_dask.wait(10)
        assert all(event.wait(10) for event in started)
        assert queued.cancel()
        assert queued.wait(10)
        release.set()
        running.join(30)
    assert queued.status is TaskStatus.CANCELLED
    assert [b.result() for b in blockers] == ["held", "held"]
    # One more task through the same client: the scheduler takes the client's messages in
    # order, so it has handled the cancel (and told the worker) before this one runs.
    assert client.submit(lambda: "after", pure=False).result(timeout=10) == "after"
    keys = client.run_on_scheduler(lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks])
    assert not any("-queued-" in key for key in keys)  # the scheduler has forgotten it
    assert not ran.is_set()


@task(backend="dask")
def load() -> list[int]:
    return [1, 2, 3]


@task(backend="dask")
def total(rows: list[int]) -> int:
    return sum(rows)


@task(backend="dask")
async def describe(value: int, label: str) -> str:
    return f"{label}={value}"


def test_upstream_outputs_arrive_as_values(backend: DaskBackend) -> None:
    with TaskRunner(backends={"dask": backend}) as runner:
        rows = load.submit()
        summed = total.submit(rows.output)
        text = describe.submit(summed.output, label="sum")
        runner.run()
    assert text.result() == "sum=6"
    assert summed.deps == (rows,)


def test_constructing_the_runner_finds_dask_by_entry_point_and_starts_nothing() -> None:
    (entry,) = entry_points(group="pyworkflowy.backends", name="dask")
    assert entry.load() is DaskBackend
    with TaskRunner(backend="dask"):
        pass
    assert not [t for t in threading.enumerate() if t.name == "pyworkflowy-dask-connect"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"address": "tcp://127.0.0.1:8786", "client": object()}, "address= or client=, not both"),
        ({"address": "tcp://127.0.0.1:8786", "n_workers": 2}, "n_workers configure the Local"),
    ],
)
def test_conflicting_options_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DaskBackend(**kwargs)


def busy(seconds: float) -> str:
    import time

    time.sleep(seconds)  # the workload: it holds a worker thread this long
    return "busy"


def test_a_timeout_counts_from_when_the_body_begins_not_while_it_waits_in_dask(
    backend: DaskBackend,
) -> None:
    # Both worker threads are busy for longer than the timed task's timeout: it waits in
    # dask's queue, and that wait is not held against it.
    hold = task(backend="dask", name="hold")(busy)
    quick = task(backend="dask", timeout=0.5, name="quick")(lambda: "done")
    with TaskRunner(backends={"dask": backend}, on_task_error="continue") as runner:
        holders = [runner.submit(hold, 1.5) for _ in range(2)]
        timed = runner.submit(quick)
        runner.run()
    assert [h.result() for h in holders] == ["busy", "busy"]
    assert timed.result() == "done"


def test_the_backend_takes_attempts_by_the_size_of_its_cluster(
    backend: DaskBackend, client: Client
) -> None:
    threads = sum(client.nthreads().values())
    assert backend.max_workers == 2 * threads + 16
    assert DaskBackend(n_workers=3, threads_per_worker=2).max_workers == 2 * 6 + 16


def big_text(n: int) -> str:
    return "x" * n


@pytest.mark.parametrize("size", [10, 100_000])
def test_small_and_large_values_come_home_alike(backend: DaskBackend, size: int) -> None:
    made = task(backend="dask", name="big_text")(big_text)
    with TaskRunner(backends={"dask": backend}) as runner:
        handle = runner.submit(made, size)
        runner.run()
    assert handle.result() == "x" * size


def test_a_value_plain_pickle_refuses_still_comes_home(backend: DaskBackend) -> None:
    # make_adder returns a local function: plain pickle refuses it, dask's cloudpickle not
    made = task(backend="dask", name="make_adder")(make_adder)
    with TaskRunner(backends={"dask": backend}) as runner:
        handle = runner.submit(made, 2)
        runner.run()
    assert handle.result()(40) == 42


def test_your_client_gets_its_send_interval_back_at_shutdown(client: Client) -> None:
    comm = client.scheduler_comm
    assert comm is not None
    before = comm.interval
    backend = DaskBackend(client=client, send_interval=0.003)
    with TaskRunner(backends={"dask": backend}, backend="dask") as runner:
        runner.submit(abs, -1)
        runner.run()
        assert comm.interval == 0.003
    assert comm.interval == before


def test_a_negative_send_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="send_interval"):
        DaskBackend(send_interval=-1)

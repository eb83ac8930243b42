"""Submitting from several threads, whatever state the runner is in.

What users rely on: ``submit`` may be called from any thread before ``run()``, while a run
goes on and between runs; every call gets its own handle with a unique id, and every
submitted task runs by the end of the next ``run()``. Threads are lined up with barriers,
never sleeps.
"""

from __future__ import annotations

import threading

import pytest
from pyworkflowy import TaskRunner, TaskStatus

THREADS = 8
PER_THREAD = 2000
EVENT_WAIT = 30.0  # seconds: only reached if the library hangs


def noop(i: int) -> int:
    return i


def _submit_from_threads(runner: TaskRunner, per_thread: int = PER_THREAD) -> list[object]:
    """Every thread's submissions (a handle, or the exception a call raised)."""
    barrier = threading.Barrier(THREADS, timeout=EVENT_WAIT)
    outcomes: list[list[object]] = [[] for _ in range(THREADS)]

    def submitter(n: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            try:
                outcomes[n].append(runner.submit(noop, i))
            except Exception as exc:  # the test reports every failure
                outcomes[n].append(exc)

    threads = [threading.Thread(target=submitter, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(EVENT_WAIT)
    return [o for per in outcomes for o in per]


@pytest.mark.timeout(120)
def test_submissions_from_several_threads_before_run_each_get_a_unique_handle() -> None:
    with TaskRunner() as runner:
        outcomes = _submit_from_threads(runner)
        errors = [o for o in outcomes if isinstance(o, Exception)]
        assert errors == []
        ids = [h.id for h in outcomes]  # type: ignore[attr-defined]
        assert len(set(ids)) == THREADS * PER_THREAD
        results = runner.run()
    assert len(results) == THREADS * PER_THREAD
    assert {r.status for r in results.values()} == {TaskStatus.COMPLETED}


@pytest.mark.timeout(120)
def test_submissions_from_threads_while_runs_start_and_end_all_run() -> None:
    # The main thread runs again and again while other threads submit: some calls land
    # before a run, some during one, some as it ends. None may fail, hang or be lost.
    with TaskRunner() as runner:
        done = threading.Event()
        outcomes: list[object] = []

        def submit_all() -> None:
            outcomes.extend(_submit_from_threads(runner, per_thread=300))
            done.set()

        feeder = threading.Thread(target=submit_all)
        feeder.start()
        while not done.is_set():
            runner.run()
        feeder.join(EVENT_WAIT)
        runner.run()  # what came after the last run
        errors = [o for o in outcomes if isinstance(o, Exception)]
        assert errors == []
        assert len({h.id for h in outcomes}) == THREADS * 300  # type: ignore[attr-defined]
        assert all(h.status is TaskStatus.COMPLETED for h in outcomes)  # type: ignore[attr-defined]


@pytest.mark.timeout(120)
def test_maps_from_several_threads_before_run_each_get_unique_handles() -> None:
    barrier = threading.Barrier(THREADS, timeout=EVENT_WAIT)
    handles: list[list[object]] = [[] for _ in range(THREADS)]

    def mapper(n: int) -> None:
        barrier.wait()
        for _ in range(10):
            handles[n].extend(runner.map(noop, range(100)))

    with TaskRunner() as runner:
        threads = [threading.Thread(target=mapper, args=(n,)) for n in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(EVENT_WAIT)
        results = runner.run()
    ids = [h.id for per in handles for h in per]  # type: ignore[attr-defined]
    assert len(set(ids)) == len(ids) == THREADS * 1000
    assert len(results) == THREADS * 1000

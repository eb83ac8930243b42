"""Progress from a process-backend body: ``current_task().report_progress(...)`` in a worker.

What users rely on: a report made in the worker process reaches ``handle.progress`` and a
`TaskProgress` event in the parent; rapid reports are throttled on the way home, yet the
last one always arrives, and the events come in the order the body reported.
"""

from __future__ import annotations

import threading

from pyworkflowy import Progress, TaskRunner, current_task, task
from pyworkflowy.events import TaskFinished, TaskProgress

from tests._recorder import Recorder

REPORTS = 2000  # rapid reports from one body


@task(backend="process")
def halfway() -> str:
    ctx = current_task()
    assert ctx is not None
    ctx.report_progress(1, 2, "halfway")
    return "done"


@task(backend="process")
def count_to(n: int) -> int:
    ctx = current_task()
    assert ctx is not None
    for done in range(1, n + 1):
        ctx.report_progress(done, n, f"item {done}")
    return n


def test_a_report_in_a_worker_process_sets_handle_progress() -> None:
    with TaskRunner(max_workers=1) as runner:
        handle = halfway.submit()
        runner.run()

    assert handle.result() == "done"
    assert handle.progress == Progress(1, 2, "halfway")
    assert handle.progress is not None
    assert handle.progress.fraction == 0.5


def test_a_report_in_a_worker_process_emits_task_progress_on_the_loop_thread() -> None:
    seen = Recorder()
    with TaskRunner(max_workers=1) as runner:
        runner.subscribe(seen)
        handle = halfway.submit()
        runner.run()

    [event] = seen.of(TaskProgress)
    assert (event.handle, event.attempt, event.progress) == (handle, 1, Progress(1, 2, "halfway"))
    assert seen.threads[seen.events.index(event)] == threading.get_ident()  # run()'s thread
    finished = next(e for e in seen.events if isinstance(e, TaskFinished))
    assert seen.events.index(event) < seen.events.index(finished)


def test_the_last_of_many_rapid_reports_always_reaches_the_handle() -> None:
    with TaskRunner(max_workers=1) as runner:
        handle = count_to.submit(REPORTS)
        runner.run()

    assert handle.result() == REPORTS
    assert handle.progress == Progress(REPORTS, REPORTS, f"item {REPORTS}")


def test_rapid_reports_are_throttled_but_the_last_event_is_the_last_report() -> None:
    seen = Recorder()
    with TaskRunner(max_workers=1) as runner:
        runner.subscribe(seen)
        count_to.submit(REPORTS)
        runner.run()

    events = seen.of(TaskProgress)
    # Throttled: the worker sends at most one report per interval, and the whole body is
    # far shorter than REPORTS intervals (the test would time out long before).
    assert 1 <= len(events) < REPORTS
    assert events[-1].progress == Progress(REPORTS, REPORTS, f"item {REPORTS}")
    dones = [event.progress.done for event in events]
    assert dones == sorted(set(dones))  # in the order the body reported them

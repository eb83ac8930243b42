"""Start records: an attempt's start is written to the checkpoint before its body runs.

A runner records starts when its checkpoint is durable (`Checkpointer.durable`, or
``checkpoint_interval=0``, or ``record_starts=True``), and for every task with
``idempotent=False`` whatever the checkpoint. `Engine.start` hands such an attempt to
`record`; the attempts recorded in one pass of the event loop are written in one save
(with the records that finished meanwhile), and only then given to their backends. A
crash therefore leaves every attempt whose body may have run as a record of status
``"started"`` with no outcome: *in doubt* on resume. An idempotent task in doubt runs again
with a warning and a `TaskInDoubt` event; a resume that finds tasks marked
``idempotent=False`` in doubt stops with `InDoubtError` before anything runs.

Imported only by runners that record starts.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from ._checkpoint import STARTED, Checkpointer, Record, RecordColumns
from ._errors import CheckpointError, InDoubtError

if TYPE_CHECKING:
    from ._engine import Engine
    from ._handle import TaskHandle
    from ._journal import Journal
    from ._task import Task
    from .backends import Attempt

__all__ = [
    "check_in_doubt",
    "record",
    "schedule",
    "warn_in_doubt",
    "warn_key_unrecorded",
    "with_starts",
]


def record(engine: Engine, attempt: Attempt) -> None:
    """Queue ``attempt``'s start record; its body starts once the record is written."""
    journal = engine.journal
    assert journal is not None
    assert engine.loop is not None
    journal.starting.append(attempt)
    if journal.start_due is None:
        journal.start_due = engine.loop.call_soon(write, engine)


def schedule(journal: Journal, loop: asyncio.AbstractEventLoop) -> None:
    """Write the queued starts (and finished records) at the end of this loop pass."""
    journal.start_due = loop.call_soon(write, journal.engine)


def write(engine: Engine) -> None:
    """One save of the queued start records, then the attempts go to their backends; if
    the save fails, they fail with its error (their bodies must not run unrecorded)."""
    journal = engine.journal
    assert journal is not None
    journal.start_due = None
    queued, journal.starting = journal.starting, []
    attempts = [a for a in queued if a.handle._attempt is a]  # not cancelled meanwhile
    try:
        journal.flush(attempts)
    except Exception as exc:
        for attempt in attempts:
            error = CheckpointError(
                f"task {attempt.handle.id!r} did not start: its start could not be recorded "
                f"in {journal.checkpointer!r}: {exc}"
            )
            error.__cause__ = exc
            engine.settle(attempt, False, error)
        return
    launch = engine.launch
    for attempt in attempts:
        if attempt.handle._attempt is attempt:
            launch(attempt)


def with_starts(
    finished: Callable[[], RecordColumns],
    starts: list[Attempt],
    run_id: str,
    memo: dict[Task, str],
) -> RecordColumns:
    """The columns of the finished records followed by one start record per attempt."""
    from ._recordcols import attempt_times, task_digest

    columns = finished()
    deps, times, backends = columns.depends_on, columns.attempt_times, columns.backends
    assert deps is not None  # the journal's columns have them
    assert times is not None
    assert backends is not None
    for attempt in starts:
        h = attempt.handle
        x = h._x
        columns.ids.append(h.id)
        columns.names.append(h._task.name)
        columns.statuses.append("started" if h._task.options.idempotent else "started-once")
        columns.values.append(run_id)
        columns.errors.append(None)
        columns.attempts.append(attempt.number)
        columns.started_at.append(h._started_at)
        columns.finished_at.append(None)
        columns.fingerprints.append(
            (x.fingerprint if x is not None else None) or task_digest(h._task, memo)
        )
        d = h._deps  # handles while it runs (ids once it has ended)
        deps.append(None if d is None else [dep.id for dep in h.deps] or None)
        times.append(None if x is None or x.attempt_times is None else attempt_times(x, None))
        backends.append(h._lane.name)
    return columns


def check_in_doubt(records: dict[str, Record], rerun: object, where: Checkpointer) -> str | None:
    """Raise `InDoubtError` for in-doubt records of tasks with ``idempotent=False`` that
    ``rerun`` (``resume(rerun_in_doubt=...)``) does not allow; return the run id they hold.
    """
    if not isinstance(rerun, bool):
        if isinstance(rerun, str) or not isinstance(rerun, Collection):
            raise TypeError(
                f"rerun_in_doubt takes True, False or a collection of handle ids, got {rerun!r}"
            )
        rerun = frozenset(rerun)
    run_id = None
    refused: dict[str, Record] = {}
    for hid, rec in records.items():
        status = rec["status"]
        if status not in STARTED:
            continue
        if run_id is None and isinstance(rec["value"], str):
            run_id = rec["value"]
        if status == "started-once" and rerun is not True and (rerun is False or hid not in rerun):
            refused[hid] = rec
    if refused:
        lines = "\n".join(f"  {_describe(hid, rec)}" for hid, rec in sorted(refused.items()))
        raise InDoubtError(
            f"checkpoint {where!r} holds {len(refused)} task(s) marked idempotent=False "
            f"that are in doubt (an attempt started and no outcome was recorded: it may or "
            f"may not have taken effect):\n{lines}\nFind out whether each took effect; to "
            "run them again, resume with rerun_in_doubt=True or rerun_in_doubt=[their ids].",
            refused,
        )
    return run_id


def warn_in_doubt(handle: TaskHandle, rec: Record) -> None:
    """``handle`` claims an in-doubt record: it runs again, with a warning and an event."""
    warnings.warn(
        f"task {_describe(handle.id, rec)} is in doubt: it runs again (its body may "
        "already have taken effect; a task that must not run twice is marked "
        "@task(idempotent=False), and current_task().idempotency_key lets services that "
        "deduplicate see the repeat)",
        RuntimeWarning,
        stacklevel=5,
    )
    handle._extra().in_doubt = rec


def warn_key_unrecorded(engine: Engine, attempt: Attempt) -> None:
    """A body reads its idempotency key, but its start is not recorded: a resume would
    make a new key. Warned once per runner."""
    journal = engine.journal
    assert journal is not None
    if journal.key_warned:
        return
    journal.key_warned = True
    warnings.warn(
        f"task {attempt.handle.id!r} reads current_task().idempotency_key, but this "
        f"runner does not record starts in {journal.checkpointer!r}, so a resumed run "
        "would make another key: use checkpoint_interval=0, a durable checkpointer "
        "(SQLite), TaskRunner(record_starts=True) or @task(idempotent=False)",
        RuntimeWarning,
        stacklevel=4,
    )


def _describe(hid: str, rec: Record) -> str:
    started = rec["started_at"]
    when = (
        time.strftime(" at %Y-%m-%d %H:%M:%S", time.localtime(started))
        if isinstance(started, (int, float))
        else ""
    )
    return (
        f"{hid!r} (task {rec['name']!r}: attempt {rec['attempts']} started{when}, "
        "no outcome recorded)"
    )

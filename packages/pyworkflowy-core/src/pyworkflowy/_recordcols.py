"""What a checkpoint record holds of a finished handle, built column by column.

`record_columns` turns the handles a `Journal` collected into the `RecordColumns` of a
batch; `attempt_times` is one handle's entry of its attempt times; `task_digest` the
digest of a task's identity (name, code, closure values, defaults), which the records'
fingerprints start from (`pyworkflowy._journal.fingerprint`).
"""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING, Any

from ._checkpoint import RecordColumns
from ._types import TaskStatus

if TYPE_CHECKING:
    from ._handle import TaskHandle
    from ._task import Task

__all__ = ["attempt_times", "record_columns", "task_digest"]


def task_digest(task: Task, memo: dict[Task, str]) -> str:
    """The digest of ``task``'s identity: its name, code, closure values and defaults."""
    digest = memo.get(task)
    if digest is None:
        import hashlib

        from ._cachekey import Unhashable, task_identity

        try:
            identity = task_identity(task.fn, task.name)
        except Unhashable:
            identity = _identity_without_unhashables(task)
        digest = memo[task] = "task-" + hashlib.blake2b(identity, digest_size=16).hexdigest()
    return digest


def _identity_without_unhashables(task: Task) -> bytes:
    """The identity of a task whose closure or defaults hold something that cannot be
    hashed (a lock, an event, a file): its code and the values that can be, each such
    value standing as its type (a change to it is not noticed)."""
    from ._cachekey import Unhashable, encode

    fn = task.fn
    func = getattr(fn, "__func__", fn)
    cells = getattr(func, "__closure__", None) or ()
    values = [
        *(getattr(func, "__defaults__", None) or ()),
        *(getattr(func, "__kwdefaults__", None) or {}).values(),
    ]
    for cell in cells:
        try:
            values.append(cell.cell_contents)
        except ValueError:  # an empty cell (a name assigned later)
            values.append(None)
    parts = [task.name.encode(), encode(getattr(func, "__code__", None))]
    for value in values:
        try:
            parts.append(encode(value))
        except Unhashable:
            parts.append(f"<{type(value).__qualname__}>".encode())
    return b"|".join(parts)


_STATUS_TEXT = {status: status.value for status in TaskStatus}  # enum .value is slow


_GET_ERROR = attrgetter("_error")
_GET_EXTRA = attrgetter("_x")
_GET_STATUS = attrgetter("_status")
_GET_VALUE = attrgetter("_value")
_GET_TASK = attrgetter("_task")
_GET_ATTEMPTS = attrgetter("_attempts")
_GET_STARTED = attrgetter("_started_at")
_GET_FINISHED = attrgetter("_finished_at")
_GET_DEPS = attrgetter("_deps")  # by id once a handle has ended: None, an id or a tuple
_GET_BACKEND = attrgetter("_lane.name")


def attempt_times(x: Any, finished_at: float | None) -> list[float | None] | None:
    """The `RecordColumns.attempt_times` entry of a handle whose `Extra` is ``x``: None
    unless it was retried (then its started_at .. finished_at say it all)."""
    times = None if x is None else x.attempt_times
    if times is None:
        return None
    return [*times, finished_at] if len(times) % 2 else list(times)


def record_columns(handles: list[TaskHandle], memo: dict[Task, str]) -> RecordColumns:
    """The records of finished handles, column by column (C-level loops where possible)."""
    n = len(handles)
    errors: list[Any] = list(map(_GET_ERROR, handles))
    if errors.count(None) != n:  # not any(): an exception may be false (an empty group)
        errors = [None if e is None else f"{type(e).__name__}: {e}" for e in errors]
    extras = list(map(_GET_EXTRA, handles))
    tasks = list(map(_GET_TASK, handles))
    one_task = tasks and tasks.count(tasks[0]) == n  # count() compares by identity first
    if one_task and extras.count(None) == n:  # a map of no-argument calls
        digests = [task_digest(tasks[0], memo)] * n
    else:
        digests = [
            (x.fingerprint if x is not None else None) or task_digest(t, memo)
            for x, t in zip(extras, tasks, strict=True)
        ]
    names = [tasks[0].name] * n if one_task else [t.name for t in tasks]
    ends: list[TaskStatus] = list(map(_GET_STATUS, handles))
    if ends and ends.count(TaskStatus.COMPLETED) == n:
        statuses = ["completed"] * n
    else:
        statuses = list(map(_STATUS_TEXT.__getitem__, ends))
    finished_at = list(map(_GET_FINISHED, handles))
    if extras.count(None) == n:  # no handle was retried
        times: list[Any] = [None] * n
    else:
        times = [
            None if x is None or x.attempt_times is None else attempt_times(x, end)
            for x, end in zip(extras, finished_at, strict=True)
        ]
    return RecordColumns(
        ids=[h.id for h in handles],
        names=names,
        statuses=statuses,
        values=list(map(_GET_VALUE, handles)),  # None unless completed
        errors=errors,
        attempts=list(map(_GET_ATTEMPTS, handles)),
        started_at=list(map(_GET_STARTED, handles)),
        finished_at=finished_at,
        fingerprints=digests,
        depends_on=list(map(_GET_DEPS, handles)),
        attempt_times=times,
        # one task's handles share its lane (the runner picks a lane per task)
        backends=[handles[0]._lane.name] * n if one_task else list(map(_GET_BACKEND, handles)),
    )

"""The runner's side of checkpointing: validate, fingerprint, batch records, prime on resume."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from functools import partial
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from ._checkpoint import RECORD_KEYS, STARTED, Checkpointer, Record, RecordBatch, RecordColumns
from ._errors import CheckpointError
from ._handle import TaskHandle
from ._outputs import Output
from ._types import TaskStatus

if TYPE_CHECKING:
    import asyncio

    from ._task import Task
    from .backends import Attempt

__all__ = ["Journal", "fingerprint", "task_digest"]

_SCALARS = frozenset({int, float, complex, str, bytes, bool, type(None)})
_DEEP = 64  # levels of nesting checked for the repr fast path


def fingerprint(identity: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """A digest of a task's identity and its arguments, stable across processes.

    ``identity`` is `task_digest`'s (name, code, closure values, defaults). Arguments of
    plain built-in types (numbers, strings, bytes, None, and lists, tuples and dicts of
    them) are taken by ``repr``, which tells all of those apart (``(1, 2)`` from
    ``[1, 2]``, ``{1: 'x'}`` from ``{'1': 'x'}``, ``b"ab"`` from any dict); others by the
    canonical encoding of the cache keys (`pyworkflowy._cachekey`). Arguments that have no
    stable form get a digest no later run matches: such a task runs again on resume,
    never returns a stale result.
    """
    if not args and not kwargs:
        return identity
    import hashlib

    if _plain(args, 0) and _plain(kwargs, 0):
        data = b"r" + repr((args, kwargs)).encode("utf-8", "surrogatepass")
    else:
        from ._cachekey import Unhashable, encode

        try:
            data = b"c" + encode((args, kwargs))
        except Unhashable:
            import uuid

            return f"unmatched-{uuid.uuid4().hex}"
    return hashlib.blake2b(identity.encode() + b"|" + data, digest_size=16).hexdigest()


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


def _plain(obj: object, depth: int) -> bool:
    """Built-in values whose ``repr`` is exact and the same in every process."""
    kind = type(obj)
    if kind in _SCALARS:
        return kind is not float or obj == obj  # type: ignore[comparison-overlap]  # nan
    if depth > _DEEP:
        return False
    if kind is list or kind is tuple:
        return all(_plain(item, depth + 1) for item in obj)  # type: ignore[attr-defined]
    if kind is dict:
        return all(
            type(key) in _SCALARS and _plain(value, depth + 1)
            for key, value in obj.items()  # type: ignore[attr-defined]
        )
    return False


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


def _by_id(value: Any, memo: dict[Task, str]) -> Any:
    """``value`` with every `TaskHandle` in it (nested in lists, tuples, dicts) as its id,
    and every output reference as its upstream's id and fingerprint."""
    if isinstance(value, TaskHandle):
        return {"<task handle>": value.id}
    if isinstance(value, Output):  # its value is recorded on the upstream; an upstream
        up = value.handle  # that runs with other arguments or code makes this one run too
        x = up._x
        digest = (x.fingerprint if x is not None else None) or task_digest(up._task, memo)
        return {"<task output>": up.id, "of": digest}
    if isinstance(value, (list, tuple)):
        items = [_by_id(item, memo) for item in value]
        if any(new is not old for new, old in zip(items, value, strict=True)):
            return type(value)(items) if type(value) in (list, tuple) else items
        return value
    if isinstance(value, dict):
        entries = {key: _by_id(item, memo) for key, item in value.items()}
        if any(entries[key] is not item for key, item in value.items()):
            return entries
        return value
    return value


def _check_record(record: object, handle_id: str, where: Checkpointer) -> Record:
    if not isinstance(record, dict) or not record.keys() >= RECORD_KEYS:
        raise CheckpointError(
            f"checkpoint {where!r} holds a malformed record for {handle_id!r}: expected a "
            f"dict with keys {sorted(RECORD_KEYS)}, got {record!r:.200}"
        )
    return record


class Journal:
    """Collects finished handles and hands them to the checkpointer in batches.

    The runner appends each handle that ends to `finished` and calls `on_finish` when
    no write is pending (`timer`). A write that is due (always, with ``interval == 0``) is
    made before any further task starts (the runner asks `holding`).
    """

    def __init__(
        self,
        checkpointer: Checkpointer,
        interval: float,
        resumed: dict[str, Record] | None,
    ) -> None:
        self.checkpointer = checkpointer
        self.interval = interval
        self.resumed = resumed  # records not yet claimed by a submission
        self.finished: list[TaskHandle] = []  # finished since the last save, in order
        self.to_release: list[TaskHandle] = []  # released: their values go once written
        self._removed: set[str] = set()
        self._fresh = resumed is None  # a new run replaces what an older run left
        self._last_save = float("-inf")
        self.monotonic = time.monotonic  # the runner's clock (a VirtualClock's, in tests)
        #: the pending write, if one is due (the runner then only appends to `finished`)
        self.timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._after_flush: Callable[[], None] | None = None
        #: True while finished records wait for a write that must precede new starts
        #: (interval 0), so a crash re-runs at most the tasks that were in flight.
        self.holding = False
        #: an id may be in `finished` twice (a handle forgotten, its id submitted again)
        self.repeats = False
        self.run_completed = False  # set by the runner once a run has ended normally
        self.on_saved: Callable[[int], None] | None = None  # told how many records a save wrote
        self.tasks: dict[Task, str] = {}  # task -> its identity's digest (`task_digest`)
        #: every attempt's start is recorded before its body runs (`_starts`); tasks with
        #: idempotent=False have theirs recorded anyway
        self.starts = checkpointer.durable or interval == 0
        self.starting: list[Attempt] = []  # attempts whose start record waits for a write
        self.start_due: asyncio.Handle | None = None  # that write, scheduled
        self.engine: Any = None  # the runner's Engine, which launches the recorded attempts
        #: the run's id, part of each `idempotency_key`: written in start records (their
        #: value), taken from them by a resume
        self.run_id = os.urandom(12).hex()
        self.key_warned = False  # idempotency_key read while starts are not recorded

    @classmethod
    def resume(
        cls, checkpointer: Checkpointer, interval: float, rerun_in_doubt: object = False
    ) -> Journal:
        try:
            stored = checkpointer.load()
        except CheckpointError:
            raise
        except Exception as exc:  # a custom checkpointer's own error: still a load failure
            raise CheckpointError(
                f"checkpoint {checkpointer!r} could not be loaded: {type(exc).__name__}: "
                f"{exc} (its load() should raise CheckpointError saying what is wrong)"
            ) from exc
        if not isinstance(stored, dict):
            raise CheckpointError(
                f"checkpoint {checkpointer!r} did not load a dict of records, got "
                f"{type(stored).__name__}"
            )
        records = {hid: _check_record(rec, hid, checkpointer) for hid, rec in stored.items()}
        from ._starts import check_in_doubt

        run_id = check_in_doubt(records, rerun_in_doubt, checkpointer)
        journal = cls(checkpointer, interval, records)
        if run_id is not None:  # the key of an attempt that may have run stays the same
            journal.run_id = run_id
        return journal

    # -- submit ------------------------------------------------------------------------
    def on_submit(self, handle: TaskHandle) -> Record | None:
        """Validate the arguments; return the stored record if the handle can be primed."""
        args, kwargs = handle._args, handle._kwargs
        if args or kwargs:
            # Upstream handles are passed by id: they are references, not data to store.
            memo = self.tasks
            args = tuple(_by_id(arg, memo) for arg in args)
            kwargs = {name: _by_id(arg, memo) for name, arg in kwargs.items()}
            validate = self.checkpointer.validate
            for i, arg in enumerate(args):
                validate(arg, f"task {handle.id!r}: argument {i}")
            for name, arg in kwargs.items():
                validate(arg, f"task {handle.id!r}: keyword argument {name!r}")
            # Taken now: the body may mutate its arguments before the record is written.
            identity = task_digest(handle._task, self.tasks)
            handle._extra().fingerprint = digest = fingerprint(identity, args, kwargs)
        elif not self.resumed:
            return None  # the common case stays allocation-free
        else:
            digest = task_digest(handle._task, self.tasks)
        if not self.resumed:
            return None
        record = self.resumed.pop(handle.id, None)
        if record is None:
            return None
        if record["status"] in STARTED:
            from ._starts import warn_in_doubt

            warn_in_doubt(handle, record)
        elif record["status"] == TaskStatus.COMPLETED:
            if record["name"] != handle._task.name:
                why = (
                    f"the checkpoint's record of that id is of task {record['name']!r}, "
                    f"not {handle._task.name!r}"
                )
            elif record["fingerprint"] == digest:
                return record
            else:
                why = "its arguments or its code (closure values, defaults) changed"
            warnings.warn(
                f"task {handle.id!r} runs again: {why} since the checkpointed run (a "
                "handle id is matched with the same task, code and arguments only)",
                RuntimeWarning,
                stacklevel=4,
            )
        self._removed.add(handle.id)  # its outcome will be written afresh
        return None

    def claim_items(self, map_id: str) -> None:
        """A map primed from its record never expands: its items' records are its own."""
        resumed = self.resumed
        if resumed:
            prefix = f"{map_id}["
            for hid in [hid for hid in resumed if hid.startswith(prefix)]:
                del resumed[hid]
                self._removed.add(hid)

    def check_value(self, handle: TaskHandle, value: object) -> None:
        self.checkpointer.validate(value, f"task {handle.id!r}: return value")

    # -- finish ------------------------------------------------------------------------
    def on_finish(
        self, loop: asyncio.AbstractEventLoop | None, after_flush: Callable[[], None]
    ) -> None:
        """Schedule the write of `finished` (the runner has just appended to it)."""
        if loop is None:
            self.flush()
            return
        self._after_flush = after_flush
        wait = self._last_save + self.interval - self.monotonic()
        if wait <= 0 and self.starts:  # one write with the starts of this loop iteration,
            if self.start_due is None:  # which go to their backends only after it: no
                from ._starts import schedule  # need to hold them back

                schedule(self, loop)
            return
        if wait <= 0:  # batch whatever else finishes in this loop iteration
            self.timer = loop.call_soon(self._flush_in_run)
            # A write that is due goes before further starts: with eager tasks (3.12+)
            # a started body could otherwise finish, and start others, before it.
            self.holding = True
        else:
            self.timer = loop.call_later(wait, self._flush_in_run)

    def write_held(self) -> None:
        """Write the held batch now, not at the next loop pass (nothing else can join it)."""
        timer = self.timer
        if timer is not None:
            timer.cancel()
        self._flush_in_run()

    def _flush_in_run(self) -> None:
        self.timer = None
        try:
            self.flush()
        except Exception as exc:  # records stay pending: retried, and the final flush raises
            import logging

            logging.getLogger("pyworkflowy").warning(
                "checkpoint write failed, will retry: %s", exc, exc_info=exc
            )
        self.holding = False
        if self._after_flush is not None:
            self._after_flush()

    def flush(self, starts: list[Attempt] | None = None) -> None:
        """Write every pending record now (with the start records of ``starts``); on
        failure they stay pending (not the starts: their bodies must not run) and it raises.
        """
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
            self.holding = False
        finished, removed = self.finished, self._removed
        if not finished and not removed and not self._fresh and not starts:
            self._drop_released()
            return
        if self._fresh:
            self.checkpointer.clear()
            self._fresh = False
        if self.repeats:  # an id forgotten and submitted again: its last record counts
            finished = list({h.id: h for h in finished}.values())
        if removed and (finished or starts):  # written afresh, not dropped
            removed = removed.difference([h.id for h in finished])
            if starts:
                removed = removed.difference([a.handle.id for a in starts])
        # Taken before the write, so that handles finishing meanwhile (a shutdown from
        # another thread) go to the next batch instead of changing this one.
        self.finished, self._removed, self.repeats = [], set(), False
        columns = partial(_columns, finished, self.tasks)
        if starts:
            from ._starts import with_starts

            columns = partial(with_starts, columns, starts, self.run_id, self.tasks)
        try:
            self.checkpointer.save(RecordBatch(columns, checked=True), list(removed))
        except BaseException:
            self.finished[:0] = finished  # still pending: retried by the next write
            self._removed |= removed
            raise
        self._last_save = self.monotonic()
        self._drop_released()
        if self.on_saved is not None:
            self.on_saved(len(finished))

    def _drop_released(self) -> None:
        """The values released while their records waited are written now: drop them."""
        if self.to_release:
            from ._registry import RELEASED

            for h in self.to_release:
                h._value = RELEASED
            self.to_release = []

    def close(self) -> None:
        """Final flush, then close the checkpointer.

        Once a resumed run has ended normally, records that no submission claimed are
        dropped (they belong to tasks the program no longer runs); an interrupted one
        keeps them for the next resume.
        """
        try:
            if self.resumed and self.run_completed:
                unclaimed = sorted(self.resumed)
                shown = ", ".join(repr(hid) for hid in unclaimed[:5])
                more = f" and {len(unclaimed) - 5} more" if len(unclaimed) > 5 else ""
                warnings.warn(
                    f"{len(unclaimed)} record(s) of the resumed checkpoint were not claimed "
                    f"by any submission and are dropped: {shown}{more} (a resume finds a "
                    "record by handle id: submit the same tasks in the same order, or with "
                    "the same key=)",
                    RuntimeWarning,
                    stacklevel=3,
                )
                self._removed.update(unclaimed)
                self.resumed = {}
            self.flush()
        finally:
            self.checkpointer.close()


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


def _columns(handles: list[TaskHandle], memo: dict[Task, str]) -> RecordColumns:
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
        backends=list(map(_GET_BACKEND, handles)),
    )

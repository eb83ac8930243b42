"""The runner's side of checkpointing: validate, fingerprint, batch records, prime on resume."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from functools import partial
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from ._checkpoint import RECORD_KEYS, Checkpointer, Record, RecordBatch, RecordColumns
from ._errors import CheckpointError
from ._handle import TaskHandle
from ._outputs import Output
from ._types import TaskStatus

if TYPE_CHECKING:
    import asyncio

__all__ = ["Journal", "fingerprint"]

_NO_ARGS = "no-args"


def fingerprint(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """A digest of the arguments that is stable across processes.

    Canonical JSON (sorted keys, sets sorted) where the arguments allow it, pickle
    otherwise; arguments whose pickle differs between processes only cost a re-run on
    resume, never a wrong result.
    """
    if not args and not kwargs:
        return _NO_ARGS
    import hashlib

    global _encoder
    if _encoder is None:
        import json

        _encoder = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=_canonical)
    try:
        data = _encoder.encode([args, kwargs]).encode()
    except (TypeError, ValueError):
        import pickle

        try:
            data = pickle.dumps((args, sorted(kwargs.items())), protocol=5)
        except Exception:  # neither JSON nor pickle: identity only, so resume re-runs it
            data = repr((args, kwargs)).encode()
    return hashlib.blake2b(data, digest_size=16).hexdigest()


_encoder: Any = None


def _canonical(obj: object) -> object:
    """JSON stand-ins for values whose plain encoding is missing or order-dependent."""
    if isinstance(obj, (set, frozenset)):
        return {"<set>": sorted(_encoder.encode(item) for item in obj)}
    if isinstance(obj, (bytes, bytearray)):
        return {"<bytes>": obj.hex()}
    raise TypeError(f"no canonical JSON form for {type(obj).__name__}")


def _by_id(value: Any) -> Any:
    """``value`` with every `TaskHandle` in it (nested in lists, tuples, dicts) as its id."""
    if isinstance(value, TaskHandle):
        return {"<task handle>": value.id}
    if isinstance(value, Output):  # its value is recorded on the upstream; an upstream
        up = value.handle  # that runs with other arguments makes this one run again too
        x = up._x
        digest = (x.fingerprint if x is not None else None) or _NO_ARGS
        return {"<task output>": up.id, "of": digest}
    if isinstance(value, (list, tuple)):
        items = [_by_id(item) for item in value]
        if any(new is not old for new, old in zip(items, value, strict=True)):
            return type(value)(items) if type(value) in (list, tuple) else items
        return value
    if isinstance(value, dict):
        entries = {key: _by_id(item) for key, item in value.items()}
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

    @classmethod
    def resume(cls, checkpointer: Checkpointer, interval: float) -> Journal:
        stored = checkpointer.load()
        if not isinstance(stored, dict):
            raise CheckpointError(
                f"checkpoint {checkpointer!r} did not load a dict of records, got "
                f"{type(stored).__name__}"
            )
        records = {hid: _check_record(rec, hid, checkpointer) for hid, rec in stored.items()}
        return cls(checkpointer, interval, records)

    # -- submit ------------------------------------------------------------------------
    def on_submit(self, handle: TaskHandle) -> Record | None:
        """Validate the arguments; return the stored record if the handle can be primed."""
        args, kwargs = handle._args, handle._kwargs
        if args or kwargs:
            # Upstream handles are passed by id: they are references, not data to store.
            args = tuple(_by_id(arg) for arg in args)
            kwargs = {name: _by_id(arg) for name, arg in kwargs.items()}
            validate = self.checkpointer.validate
            for i, arg in enumerate(args):
                validate(arg, f"task {handle.id!r}: argument {i}")
            for name, arg in kwargs.items():
                validate(arg, f"task {handle.id!r}: keyword argument {name!r}")
            # Taken now: the body may mutate its arguments before the record is written.
            handle._extra().fingerprint = digest = fingerprint(args, kwargs)
        else:
            digest = _NO_ARGS  # the common case stays allocation-free
        if not self.resumed:
            return None
        record = self.resumed.pop(handle.id, None)
        if record is None:
            return None
        if record["status"] == TaskStatus.COMPLETED:
            if record["fingerprint"] == digest:
                return record
            warnings.warn(
                f"task {handle.id!r} runs again: its arguments differ from the checkpointed "
                "run (a handle id is matched with the same arguments only)",
                RuntimeWarning,
                stacklevel=4,
            )
        self._removed.add(handle.id)  # its outcome will be written afresh
        return None

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

    def flush(self) -> None:
        """Write every pending record now; on failure they stay pending and it raises."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
            self.holding = False
        finished, removed = self.finished, self._removed
        if not finished and not removed and not self._fresh:
            self._drop_released()
            return
        if self._fresh:
            self.checkpointer.clear()
            self._fresh = False
        if self.repeats:  # an id forgotten and submitted again: its last record counts
            finished = list({h.id: h for h in finished}.values())
        if removed and finished:  # a re-run that finished is written afresh, not dropped
            removed = removed.difference([h.id for h in finished])
        # Taken before the write, so that handles finishing meanwhile (a shutdown from
        # another thread) go to the next batch instead of changing this one.
        self.finished, self._removed, self.repeats = [], set(), False
        try:
            self.checkpointer.save(
                RecordBatch(partial(_columns, finished), checked=True), list(removed)
            )
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
                self._removed.update(self.resumed)
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


def _columns(handles: list[TaskHandle]) -> RecordColumns:
    """The records of finished handles, column by column (C-level loops where possible)."""
    n = len(handles)
    errors: list[Any] = list(map(_GET_ERROR, handles))
    if errors.count(None) != n:  # not any(): an exception may be false (an empty group)
        errors = [None if e is None else f"{type(e).__name__}: {e}" for e in errors]
    extras = list(map(_GET_EXTRA, handles))
    if extras.count(None) != n:
        digests = [(x.fingerprint if x is not None else None) or _NO_ARGS for x in extras]
    else:
        digests = [_NO_ARGS] * len(handles)
    tasks = list(map(_GET_TASK, handles))
    one_task = tasks and tasks.count(tasks[0]) == n  # count() compares by identity first
    names = [tasks[0].name] * n if one_task else [t.name for t in tasks]
    ends: list[TaskStatus] = list(map(_GET_STATUS, handles))
    if ends and ends.count(TaskStatus.COMPLETED) == n:
        statuses = ["completed"] * n
    else:
        statuses = list(map(_STATUS_TEXT.__getitem__, ends))
    return RecordColumns(
        ids=[h.id for h in handles],
        names=names,
        statuses=statuses,
        values=list(map(_GET_VALUE, handles)),  # None unless completed
        errors=errors,
        attempts=list(map(_GET_ATTEMPTS, handles)),
        started_at=list(map(_GET_STARTED, handles)),
        finished_at=list(map(_GET_FINISHED, handles)),
        fingerprints=digests,
    )

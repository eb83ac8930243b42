"""The runner's side of checkpointing: validate, fingerprint, batch records, prime on resume."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from ._checkpoint import RECORD_KEYS, STARTED, Checkpointer, Record, RecordBatch
from ._errors import CheckpointError
from ._handle import TaskHandle
from ._outputs import Output
from ._recordcols import record_columns, task_digest
from ._types import TaskStatus

if TYPE_CHECKING:
    import asyncio

    from ._task import Task
    from .backends import Attempt

__all__ = ["Journal", "fingerprint"]

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
        columns = partial(record_columns, finished, self.tasks)
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
            from ._extra import RELEASED

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

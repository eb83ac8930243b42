"""A runner's life around its runs: checking its options, choosing its checkpointer,
resuming from a checkpoint, and tearing it down (the `TaskRunner` methods call these)."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from ._types import ON_TASK_ERROR
from ._validate import check_backends, check_choice, check_int, check_seconds, check_workers

if TYPE_CHECKING:
    from typing_extensions import TypeIs

    from ._checkpoint import Checkpointer
    from ._journal import Journal
    from ._runner import TaskRunner
    from .backends import Backend

    #: `checked`'s result: default workers, workers per backend, checkpoint interval,
    #: checkpointer, backends by instance, journal
    Options = tuple[
        int, dict[str, int], float, Checkpointer | None, dict[str, Backend], Journal | None
    ]

__all__ = ["checked", "checkpointer_for_path", "is_checkpointer", "resumed", "shut"]


def checked(
    max_workers: object,
    backend: object,
    on_task_error: object,
    checkpoint_path: str | os.PathLike[str] | None,
    checkpoint_interval: object,
    checkpointer: object,
    backends: Mapping[str, Backend] | None,
    max_concurrency: object,
    record_starts: object,
    progress: object,
    handle_signals: object,
) -> Options:
    """Check `TaskRunner`'s arguments (raising what names the bad one) and make its journal."""
    default_workers, per_backend = check_workers(max_workers)
    if max_concurrency is not None:
        check_int(max_concurrency, "max_concurrency (or None)", 1)
    if not isinstance(backend, str) or not backend:
        raise ValueError(f"backend must be a backend name, got {backend!r}")
    check_choice(on_task_error, "on_task_error", ON_TASK_ERROR)
    interval = check_seconds(checkpoint_interval, "checkpoint_interval", finite=False)
    if checkpoint_path is not None and checkpointer is not None:
        raise ValueError("pass checkpoint_path= or checkpointer=, not both")
    if checkpointer is not None and not is_checkpointer(checkpointer):
        raise TypeError(f"checkpointer must be a Checkpointer, got {type(checkpointer).__name__}")
    custom = check_backends(backends)
    if record_starts is not None and not isinstance(record_starts, bool):
        raise TypeError(f"record_starts must be True, False or None, got {record_starts!r}")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    if not isinstance(handle_signals, bool):
        raise TypeError(f"handle_signals must be True or False, got {handle_signals!r}")
    if checkpoint_path is not None:
        checkpointer = checkpointer_for_path(checkpoint_path)
    journal: Journal | None = None
    if checkpointer is not None:
        from ._journal import Journal  # imported on first use: most runs never need it

        journal = Journal(checkpointer, interval, None)
        if record_starts is not None:
            journal.starts = record_starts
    return default_workers, per_backend, interval, checkpointer, custom, journal  # type: ignore[return-value]


def is_checkpointer(obj: object) -> TypeIs[Checkpointer]:
    from ._checkpoint import Checkpointer

    return isinstance(obj, Checkpointer)


def checkpointer_for_path(path: str | os.PathLike[str]) -> Checkpointer:
    """The checkpointer pyworkflowy-persist picks for ``path`` (by its suffix)."""
    try:
        from pyworkflowy.persist import checkpointer_for_path as for_path  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ImportError(
            "checkpoint_path needs pyworkflowy-persist: pip install 'pyworkflowy-core[persist]'"
        ) from exc
    return for_path(path)


def resumed(
    cls: type[TaskRunner],
    path_or_checkpointer: str | os.PathLike[str] | Checkpointer,
    rerun_in_doubt: bool | Collection[str],
    kwargs: dict[str, Any],
) -> TaskRunner:
    """What `TaskRunner.resume` does: a runner whose journal holds the checkpoint's records."""
    if "checkpoint_path" in kwargs or "checkpointer" in kwargs:
        raise ValueError("resume() takes the checkpoint as its first argument only")
    if is_checkpointer(path_or_checkpointer):
        checkpointer = path_or_checkpointer
    else:
        checkpointer = checkpointer_for_path(path_or_checkpointer)
    runner = cls(checkpointer=checkpointer, **kwargs)
    from ._journal import Journal

    engine = runner._engine
    try:
        journal = Journal.resume(checkpointer, runner.checkpoint_interval, rerun_in_doubt)
    except BaseException:
        engine.journal = None  # its fresh journal would clear the checkpoint
        runner.shutdown()
        checkpointer.close()  # gives the checkpoint back
        raise
    journal.starts = engine.journal.starts  # type: ignore[union-attr]
    journal.monotonic = engine.monotonic
    journal.engine = engine
    engine.journal = journal
    runner._watch_journal(journal)
    return runner


def shut(runner: TaskRunner, wait: bool) -> None:
    """What `TaskRunner.shutdown` does: stop serving, flush the checkpoint, close the
    cache, shut the backends down and close the loop (once; later calls do nothing)."""
    driver = runner._driver
    if driver.closed:
        return
    driver.closed = True
    engine = runner._engine
    try:
        if driver.serving_thread:
            runner.stop()
        if engine.journal is not None:
            if driver.hurry:  # a second Ctrl-C: the program ends now, unflushed
                engine.journal.checkpointer.close()
            else:
                engine.journal.close()
        if engine.owns_cache and engine.cache is not None:
            engine.cache.close()
    except KeyboardInterrupt:  # Ctrl-C while closing: what is left waits for nothing
        driver.hurry = True
        raise
    finally:
        try:
            # After an interrupted run, bodies still in threads were abandoned: the
            # program need not wait for them (their threads are daemons).
            wait = wait and not engine.interrupted and not driver.hurry
            for lane in engine.lanes.values():
                lane.backend.shutdown(wait)
        finally:
            driver.close_loop()

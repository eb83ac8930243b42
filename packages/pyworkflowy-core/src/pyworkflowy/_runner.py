"""`TaskRunner`: the public face over the engine (`_engine`), submission (`_submit`,
`_building`), the graph (`_graph`), lanes (`_lanes`) and the loop and serving (`_serve`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from ._building import GraphBuilding
from ._context import _current_runner
from ._extra import RELEASED
from ._flow import FlowControl
from ._task import Task
from ._types import TERMINAL, TaskResult
from .backends import Backend

if TYPE_CHECKING:
    from contextvars import Token

    from ._checkpoint import Checkpointer
    from ._handle import TaskHandle
    from ._journal import Journal
    from .cache import Cache
    from .events import Subscriber
    from .testing import VirtualClock

__all__ = ["TaskRunner"]

_new_tuple: Any = tuple.__new__  # makes a TaskResult without its (slower) __new__


class TaskRunner(GraphBuilding, FlowControl):
    """Runs submitted tasks in dependency order on asyncio, thread, process or your backends.

    ``run()`` runs on this runner's own event loop (one for its whole life); ``arun()``
    on the caller's. Both return ``{handle id: TaskResult}`` for every handle submitted.
    ``max_workers`` bounds each sync backend (an int, or ``{"thread": 32, "process": 2}``
    per backend); coroutines run unbounded unless ``max_concurrency`` is given.
    ``limits`` and ``rate_limits`` bound tasks by tag, whatever their backend;
    ``cache`` keeps the results of ``@task(cache=True)`` tasks (a path, or a
    `pyworkflowy.cache.Cache`). ``handle_signals=True`` makes SIGTERM end ``run()`` as
    Ctrl-C does (``KeyboardInterrupt``, after cancelling and flushing).
    ``record_starts`` writes each attempt's start to the checkpoint before its body runs
    (``None``: when the checkpoint is durable, as SQLite is, or ``checkpoint_interval=0``);
    a resume then knows which tasks are in doubt. ``progress=True`` shows each run's
    progress on stderr (live with ``pyworkflowy-core[progress]`` on a terminal).
    ``tracing=True`` makes OpenTelemetry spans of runs and attempts through the global
    tracer provider (or pass a ``TracerProvider`` or ``Tracer``); needs the ``[otel]`` extra.
    """

    def __init__(
        self,
        max_workers: int | Mapping[str, int] = 8,
        backend: str = "asyncio",
        on_task_error: str = "raise",
        checkpoint_path: str | os.PathLike[str] | None = None,
        checkpoint_interval: float = 5.0,
        checkpointer: Checkpointer | None = None,
        *,
        backends: Mapping[str, Backend] | None = None,
        max_concurrency: int | None = None,
        pools: Mapping[str, Any] | None = None,
        clock: VirtualClock | None = None,
        limits: Mapping[str, int] | None = None,
        rate_limits: Mapping[str, Any] | None = None,
        cache: str | os.PathLike[str] | Cache | None = None,
        handle_signals: bool = False,
        record_starts: bool | None = None,
        progress: bool = False,
        tracing: object = False,
    ) -> None:
        if pools is not None:  # upstream 0.2-0.4's spelling of backends= and max_workers=
            from ._compat import backends_from_pools

            backends, max_workers = backends_from_pools(pools, backends, max_workers)
        # Imported by the first runner: `import pyworkflowy` need not load the engine.
        from ._engine import Engine
        from ._setup import checked
        from ._submit import Submitter

        workers, per_backend, interval, checkpointer, custom, journal = checked(
            max_workers,
            backend,
            on_task_error,
            checkpoint_path,
            checkpoint_interval,
            checkpointer,
            backends,
            max_concurrency,
            record_starts,
            progress,
            handle_signals,
        )
        self.max_workers = max_workers
        self.max_concurrency = max_concurrency
        self.backend = backend
        self.on_task_error = on_task_error
        self.checkpoint_interval = interval
        self.checkpointer = checkpointer
        self.progress = progress
        self._engine = engine = Engine(self, on_task_error, journal)
        if clock is not None:
            from ._serve import use_clock

            use_clock(engine, clock)
        self._submitter = Submitter(
            engine,
            backend,
            custom,
            workers,
            per_backend,
            max_concurrency,
        )
        from ._serve import Driver

        self._driver = Driver(engine, self)
        self._driver.handle_signals = handle_signals
        if tracing is not False and tracing is not None:
            from ._tracing import attach  # imported on first use, as is opentelemetry

            attach(self, tracing)
        if limits is not None or rate_limits is not None or cache is not None:
            self._setup_flow(limits, rate_limits, cache, checkpointer)
        self._tokens: list[Token[TaskRunner | None]] = []
        if journal is not None:
            self._watch_journal(journal)
        if backend != "asyncio":  # a backend nothing provides fails here, not mid-run
            self._submitter.lane_for(Task(_probe, backend=backend))
        if checkpointer is not None:
            checkpointer.acquire()  # last: one run at a time per checkpoint

    # -- reading ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while ``run()``/``arun()`` is executing tasks."""
        return self._engine.loop is not None

    @property
    def closed(self) -> bool:
        """True once `shutdown` has been called: the runner takes no more submissions."""
        return self._driver.closed

    def handles(self) -> list[TaskHandle]:
        """The runner's handles: every one submitted (in submission order), less those
        you `forget`.

        While serving (`serve`, `start`, a scheduler's runner) the runner lets a handle go
        when it finishes: then come the unfinished handles, followed by the finished ones
        something else still holds (a variable of yours, a pending dependent, a checkpoint
        write to come), in the order they finished.
        """
        engine = self._engine
        held = list(engine.handles.values())
        if engine.ended is not None:
            held += engine.ended_alive()
        return held

    def results(self) -> dict[str, TaskResult[Any]]:
        """``{handle id: TaskResult}`` of the `handles` that have ended so far."""
        return {h.id: h.get_result() for h in self.handles() if h.done()}

    def to_mermaid(self, *, collapse: int | None = 10) -> str:
        """The graph of the `handles` as a Mermaid flowchart, coloured by status.

        At least ``collapse`` siblings with the same task name, dependencies and dependents
        (a map's items) are drawn as one node with a count; ``None`` draws every handle.
        """
        from ._diagram import items_of_handles, mermaid

        return mermaid(items_of_handles(self.handles()), collapse)

    def to_dot(self, *, collapse: int | None = 10) -> str:
        """The graph of the `handles` as Graphviz DOT text (see `to_mermaid`)."""
        from ._diagram import dot, items_of_handles

        return dot(items_of_handles(self.handles()), collapse)

    def find_active(self, name: str, dedup_key: str) -> TaskHandle | None:
        """The unfinished handle of task ``name`` submitted with upstream's ``dedup_key``."""
        return self._submitter.find_active(name, dedup_key)

    def has_active(self, name: str, dedup_key: str) -> bool:
        """Whether `find_active` finds a handle."""
        return self.find_active(name, dedup_key) is not None

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every `pyworkflowy.events` event; returns unsubscribe.

        Events come in order on the loop thread during a run. A callback that raises is
        logged and unsubscribed.
        """
        if not callable(callback):
            raise TypeError(f"subscribe() takes a callable, got {callback!r}")
        engine = self._engine
        engine.subscribe(callback)
        return lambda: engine.unsubscribe(callback)

    # -- running ---------------------------------------------------------------------------
    def run(self, *, progress: bool | None = None) -> dict[str, TaskResult[Any]]:
        """Run until every submitted task has finished, on this runner's own event loop.

        ``progress`` shows a live display of the run (``None``: the runner's ``progress``).
        """
        if progress is None:
            return self._driver.run(self.arun)
        return self._driver.run(lambda: self.arun(progress=progress))

    async def arun(self, *, progress: bool | None = None) -> dict[str, TaskResult[Any]]:
        """Run on the current event loop until every submitted task has finished."""
        if progress is None:
            progress = self.progress
        elif not isinstance(progress, bool):
            raise TypeError(f"progress must be True, False or None, got {progress!r}")
        if progress:
            from ._progress import ProgressDisplay

            display = ProgressDisplay(self)
            display.start()
            try:
                await self._driver.drive(serving=False)
            finally:
                display.stop()
        else:
            await self._driver.drive(serving=False)
        engine = self._engine
        error = engine.first_error
        if error is not None and self.on_task_error == "raise":
            engine.first_error = None
            raise error
        # Building a million results creates no reference cycles, yet the allocations would
        # trigger full collections that rescan every handle: pause the collector meanwhile.
        # A copy of the handles dict has its final size at once: filling it never resizes.
        from ._submit import gc_paused

        with gc_paused():
            results: dict[str, Any] = engine.handles.copy()
            for hid, h in results.items():  # handle.get_result(), inlined: once per task
                value = h._value
                results[hid] = _new_tuple(
                    TaskResult,
                    (
                        h._task.name,
                        h._status,
                        None if value is RELEASED else value,
                        h._error,
                        h._attempts,
                        h._started_at,
                        h._finished_at,
                    ),
                )
            return results

    async def serve(self) -> None:
        """Run tasks as they are submitted, from any thread, until `stop` is called.

        The long-running mode a scheduler needs. There is no caller to raise to, so with
        ``on_task_error="raise"`` a failure is logged and serving goes on. Memory follows
        the work in flight: a handle that finishes is let go of (see `handles`), so it
        lives on only while something holds it. When stopped, the tasks already submitted
        finish first.
        """
        await self._driver.drive(serving=True)

    async def aserve(self) -> None:
        """Deprecated: upstream pyworkflowy 0.3-0.4's name for `serve`."""
        import warnings

        warnings.warn(
            "runner.aserve() is upstream pyworkflowy 0.x's spelling; use await runner.serve()",
            DeprecationWarning,
            stacklevel=2,
        )
        await self.serve()

    def start(self) -> None:
        """Serve on a background thread (see `serve`); returns once submissions are live."""
        self._driver.start()

    def stop(self, timeout: float | None = None) -> None:
        """End serving once the submitted tasks have finished; joins a `start` thread."""
        self._driver.stop(timeout)

    @classmethod
    def resume(
        cls,
        path_or_checkpointer: str | os.PathLike[str] | Checkpointer,
        *,
        rerun_in_doubt: bool | Collection[str] = False,
        **kwargs: Any,
    ) -> TaskRunner:
        """A runner that continues from a checkpoint.

        Re-submit the same tasks (same names and order, or the same ``key=``s): a handle
        whose id completed before with the same code and arguments is primed with its
        stored result and does not run; failed, cancelled, changed and in-doubt ones (an
        attempt started, no outcome recorded) run again. ``kwargs`` go to the constructor.
        Raises `CheckpointError` if the checkpoint cannot be read or another live run holds
        it, and `InDoubtError` if tasks marked ``idempotent=False`` are in doubt, unless
        ``rerun_in_doubt`` allows them (``True``, or their handle ids).
        """
        from ._setup import resumed

        return resumed(cls, path_or_checkpointer, rerun_in_doubt, kwargs)

    def cancel_all(self) -> int:
        """Request cancellation of every unfinished handle; returns how many were asked."""
        handles = list(self._engine.handles.values())
        return sum(h.cancel() for h in handles if h._status not in TERMINAL)

    def shutdown(self, wait: bool = True) -> None:
        """Tear down the worker pools, flush the checkpoint and close the runner's loop."""
        from ._setup import shut

        shut(self, wait)

    def __enter__(self) -> TaskRunner:
        self._tokens.append(_current_runner.set(self))
        return self

    def __exit__(self, *exc_info: object) -> None:
        _current_runner.reset(self._tokens.pop())
        self.shutdown()

    def __repr__(self) -> str:
        return (
            f"<TaskRunner backend={self.backend} max_workers={self.max_workers} "
            f"tasks={len(self._engine.handles)} unfinished={self._engine.unfinished}>"
        )

    # -- internals -------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._driver.closed:
            raise RuntimeError("this TaskRunner was shut down; create a new one to submit")

    def _on_loop_thread(self) -> bool:
        return self._engine.on_loop_thread()

    def _watch_journal(self, journal: Journal) -> None:
        engine = self._engine

        def saved(records: int) -> None:
            if engine.subscribers is not None:
                from .events import CheckpointSaved

                engine.emit(CheckpointSaved(engine.now(), records))

        journal.on_saved = saved


def _probe() -> None:
    """Stands in for a task of the runner's default backend when the runner checks it."""

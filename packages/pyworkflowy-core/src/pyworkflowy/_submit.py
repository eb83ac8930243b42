"""Submission: handle ids, the lane a task runs on, and adding handles and edges to the graph."""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._engine import COMPLETED, NO_KWARGS, PENDING, READY
from ._errors import CycleError
from ._extra import Extra
from ._graph import link, path_between
from ._handle import TaskHandle
from ._lanes import Lane, make_backend
from ._outputs import Inputs, Output, check_shape, find_refs, gather
from ._task import Task

if TYPE_CHECKING:
    from ._engine import Engine
    from .backends import Backend

__all__ = ["Submitter", "gc_paused"]

_PLAIN_TASK_CACHE = 1024  # plain callables whose Task is kept for reuse


class Submitter:
    """Turns ``submit`` calls into handles: ids, lanes, backend checks, links."""

    def __init__(
        self,
        engine: Engine,
        default_backend: str,
        backends: Mapping[str, Backend],
        max_workers: int,
        workers_by_backend: Mapping[str, int],
        max_concurrency: int | None,
    ) -> None:
        self.engine = engine
        self.default_backend = default_backend
        self.backends = dict(backends)
        self.max_workers = max_workers
        self.workers_by_backend = dict(workers_by_backend)
        self.max_concurrency = max_concurrency
        self.name_counts: dict[str, int] = {}
        self.last_task: Task | None = None  # the lane of the last task submitted
        self.last_lane: Lane | None = None
        self.plain_tasks: dict[Any, Task] = {}
        self.dedup: dict[tuple[str, str], TaskHandle] | None = None  # upstream's dedup_key

    # -- lanes ----------------------------------------------------------------------------
    def lane_for(self, task: Task) -> Lane:
        """The lane ``task`` runs on; a backend nothing provides fails here, at submit."""
        is_async = task.is_async
        if is_async:
            key = name = task.backend or "asyncio"  # coroutines need the loop
        else:
            key = name = task.backend or self.default_backend
            if name == "asyncio":
                key = "asyncio/sync"  # sync bodies of "asyncio" get a thread pool of their own
        lanes = self.engine.lanes
        lane = lanes.get(key)
        if lane is None:
            lane = lanes[key] = self.new_lane(name, is_async)
        if not is_async and not lane.backend.runs_sync:  # a coroutine-only backend of yours
            key = f"{name}/sync"
            lane = lanes.get(key)
            if lane is None:
                lane = lanes[key] = self.new_lane(name, False, sync_pool=True)
        if is_async and not lane.backend.runs_coroutines:
            raise ValueError(
                f"task {task.name!r} is async, and backend {name!r} cannot run coroutines; "
                "use backend='asyncio' or make the function sync"
            )
        return lane

    def new_lane(self, name: str, coroutines: bool, sync_pool: bool = False) -> Lane:
        explicit = self.workers_by_backend.get(name)
        # An "asyncio" instance of the user's replaces the coroutine side only: the sync
        # bodies of "asyncio" tasks keep their own thread pool (so do those of any backend
        # that cannot run sync bodies: ``sync_pool``).
        backend = None
        if coroutines or name != "asyncio":
            backend = self.backends.get(name)
        if sync_pool:
            backend = make_backend("thread", False, explicit or self.max_workers)
        elif backend is None:
            backend = make_backend(name, coroutines, explicit or self.max_workers)
        sized_by_backend = False
        if name == "asyncio" and coroutines:
            limit = self.max_concurrency
        else:
            sized_by_backend = not explicit and not sync_pool
            limit = explicit or backend.max_workers or self.max_workers
        lane = Lane(name, backend, limit, self.engine, sized_by_backend)
        loop = self.engine.loop
        if loop is not None:
            lane.open(loop)
        return lane

    def plain_task(self, fn: Callable[..., Any]) -> Task:
        if isinstance(fn, Task):
            return fn
        try:
            task = self.plain_tasks.get(fn)
        except TypeError:  # unhashable callable: no caching
            return Task(fn)
        if task is None:
            if len(self.plain_tasks) >= _PLAIN_TASK_CACHE:
                self.plain_tasks.clear()  # a serving runner fed new lambdas: stay bounded
            task = self.plain_tasks[fn] = Task(fn)
        return task

    # -- handles --------------------------------------------------------------------------
    def check_own(self, handle: object, what: str) -> None:
        if not isinstance(handle, TaskHandle):
            raise TypeError(f"{what} takes TaskHandles, got {handle!r}")
        if handle._lane.engine is not self.engine:
            raise ValueError(f"{what}: handle {handle.id!r} belongs to another TaskRunner")

    def add(
        self,
        task: Task,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        deps: tuple[TaskHandle, ...],
        key: str | None,
        mapped: Task | None = None,
        tags: frozenset[str] | None = None,
    ) -> TaskHandle:
        engine = self.engine
        inputs = None
        if Output.seen and (args or kwargs):  # outputs as arguments: extra dependencies
            found = find_refs(args, kwargs)
            if found is not None:
                refs, holders = found
                inputs = Inputs(args, kwargs, holders, mapped)
                deps = (*deps, *[r for r in refs if not any(r is d for d in deps)])
        name = task.name
        n = -1
        if key is None:
            n = self.name_counts.get(name, 0)
            handle_id = f"{name}#{n}"
        elif not isinstance(key, str) or not key:
            raise ValueError(f"key must be a non-empty string, got {key!r}")
        else:
            handle_id = str.__str__(key)  # a plain str, even from a StrEnum or other subclass
        if handle_id in engine.handles or (engine.ended is not None and engine.taken(handle_id)):
            raise ValueError(
                f"handle id {handle_id!r} is already used in this runner; pass a unique key="
            )
        lane = self.last_lane  # map() and loops submit one task many times
        if task is not self.last_task or lane is None:
            lane = self.lane_for(task)
            self.last_task, self.last_lane = task, lane
        for dep in deps:
            if dep.__class__ is not TaskHandle or dep._lane.engine is not engine:
                self.check_own(dep, "depends_on")  # raises
        handle = TaskHandle(task, handle_id, args, kwargs or NO_KWARGS, lane, deps)
        if task.special or tags:
            self.mark(handle, task, tags)
        # Both hooks may refuse the submission: nothing is registered before they pass.
        journal = engine.journal
        record = None
        if journal is not None and (args or kwargs or journal.resumed):
            record = journal.on_submit(handle)
            if record is not None and inputs is not None and inputs.mapped is not None:
                journal.claim_items(handle_id)  # a completed map: its items stay unrun
        if inputs is not None:
            if record is None:  # checked again by the backend once the values are in
                if lane.prepares and inputs.mapped is None:
                    check_shape(handle, inputs)
                handle._extra().inputs = inputs
        elif lane.prepares and record is None:
            handle._extra().payload = lane.backend.prepare(handle)
        engine.handles[handle_id] = handle
        if n >= 0:
            self.name_counts[name] = n + 1
        if engine.subscribers is not None:
            engine.submitted(handle)
        if record is not None:  # resumed: completed earlier with the same arguments
            handle._args, handle._kwargs = (), NO_KWARGS  # it will not run
            handle._value, handle._attempts = record["value"], record["attempts"]
            handle._started_at, handle._finished_at = record["started_at"], record["finished_at"]
            handle._deps = None if not deps else deps[0].id if len(deps) == 1 else _ids(deps)
            engine.to(handle, COMPLETED)
            if engine.serving:
                engine.let_go(handle)
            return handle
        engine.unfinished += 1
        for dep in deps:
            link(handle, dep)
        if handle._pending == 0:
            engine.deps_done(handle)
        return handle

    def mark(self, handle: TaskHandle, task: Task, tags: frozenset[str] | None) -> None:
        """A tagged or cached task's handle: what the engine's gates and cache read."""
        options = task.options
        all_tags = options.tags | tags if tags else options.tags
        if all_tags or (options.cache and self.engine.cache is not None):
            x = handle._x = Extra()  # not registered yet: no other thread sees it
            if all_tags:
                x.tags = all_tags
            x.caching = options.cache and self.engine.cache is not None

    # -- upstream 0.4's submit keywords (see _compat) ---------------------------------------
    def upstream(
        self, task: Task, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Callable[..., TaskHandle], tuple[Any, ...], dict[str, Any]]:
        """The add function for a call that may use 0.4's keywords, and its arguments."""
        from ._compat import upstream_submit

        args, kwargs, dedup_key = upstream_submit(task, args, kwargs)
        if dedup_key is None:
            return self.add, args, kwargs
        return functools.partial(self.add_once, dedup_key), args, kwargs

    def add_once(self, dedup_key: str, task: Task, *rest: Any) -> TaskHandle:
        """`add`, unless a handle of ``task`` with ``dedup_key`` is unfinished: that one."""
        active = self.find_active(task.name, dedup_key)
        if active is not None:
            return active
        handle = self.add(task, *rest)
        if self.dedup is None:
            self.dedup = {}
        elif len(self.dedup) >= _PLAIN_TASK_CACHE:  # stay bounded: drop the finished
            self.dedup = {k: h for k, h in self.dedup.items() if not h.done()}
        self.dedup[task.name, dedup_key] = handle
        return handle

    def find_active(self, name: str, dedup_key: str) -> TaskHandle | None:
        handle = None if self.dedup is None else self.dedup.get((name, dedup_key))
        return None if handle is None or handle.done() else handle

    def add_many(
        self, task: Task, arg_tuples: Iterable[tuple[Any, ...]], deps: tuple[TaskHandle, ...]
    ) -> list[TaskHandle]:
        with gc_paused():
            add = self.add
            return [add(task, args, NO_KWARGS, deps, None) for args in arg_tuples]

    def add_map(
        self, task: Task, iterables: tuple[Any, ...], deps: tuple[TaskHandle, ...]
    ) -> TaskHandle:
        """A map over outputs: one handle, expanded into one task per item once they are
        done (`pyworkflowy._outputs`), whose value is the list of their values."""
        options = task.options
        collect = Task(gather, name=task.name, on_dep_failure=options.on_dep_failure)
        return self.add(collect, iterables, NO_KWARGS, deps, None, task)

    def add_dependency(self, handle: TaskHandle, depends_on: tuple[TaskHandle, ...]) -> None:
        self.check_own(handle, "add_dependency")
        if handle._status not in (PENDING, READY):
            raise ValueError(
                f"task {handle.id!r} is {handle._status.value}; dependencies can only be "
                "added before it starts"
            )
        for dep in depends_on:
            self.check_own(dep, "depends_on")
            path = path_between(handle, dep)
            if path is not None:
                cycle = " -> ".join(h.id for h in (handle, *path))
                raise CycleError(f"depending {handle.id!r} on {dep.id!r} closes a cycle: {cycle}")
        engine = self.engine
        if handle._status is READY:
            x = handle._x
            if x is not None and x.parked is not None:
                engine.unqueue(handle)  # it waited for its tags' gates: not any more
            engine.to(handle, PENDING)  # leaves the ready deque lazily: pump skips it
        handle._set_deps(handle.deps + depends_on)
        for dep in depends_on:
            link(handle, dep)
        if handle._pending == 0:
            engine.deps_done(handle)


def _ids(deps: tuple[TaskHandle, ...]) -> tuple[str, ...]:
    return tuple([d.id for d in deps])


@contextlib.contextmanager
def gc_paused() -> Generator[None, None, None]:
    """Pause the cyclic garbage collector for a bulk build that creates no garbage cycles.

    Every full collection rescans all live objects; creating a million long-lived ones
    would trigger many. The collector's previous state is restored.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()

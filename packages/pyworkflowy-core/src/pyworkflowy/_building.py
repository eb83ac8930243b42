"""`TaskRunner`'s methods that build the graph: submit, map, add_dependency, forget.

Typed for checkers: ``submit`` checks the arguments against the function's parameters
(Python's ParamSpec admits no other keyword beside them, so a call with ``depends_on=`` or
``key=`` is not checked), and ``map`` over ``h.output`` of a list is known to give one
handle.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from threading import get_ident
from typing import TYPE_CHECKING, Any, ParamSpec, TypeAlias, TypeVar, overload

from ._deps import UPSTREAM_SUBMIT, as_deps
from ._options import check_tags
from ._outputs import Output, gather
from ._task import Task
from ._types import TERMINAL

if TYPE_CHECKING:
    from ._engine import Engine
    from ._handle import TaskHandle
    from ._outputs import MapOutput
    from ._serve import Driver
    from ._submit import Submitter

__all__ = ["GraphBuilding"]

P = ParamSpec("P")
R = TypeVar("R")
Deps: TypeAlias = "Iterable[TaskHandle[Any]] | TaskHandle[Any] | None"
Tags: TypeAlias = "str | Iterable[str] | None"


class GraphBuilding:
    """Part of `TaskRunner`: adding tasks and edges to its graph."""

    _engine: Engine
    _submitter: Submitter
    _driver: Driver

    if TYPE_CHECKING:

        def _check_open(self) -> None: ...

    # -- building the graph ----------------------------------------------------------------
    # Typed like Task.submit: the arguments are checked against the function's parameters,
    # except in a call with depends_on= or key= (Python's ParamSpec admits no other keyword).
    @overload
    def submit(
        self, fn: Task[..., R], /, *a: Any, depends_on: Deps, key: str | None = None, **k: Any
    ) -> TaskHandle[R]: ...
    @overload
    def submit(
        self,
        fn: Callable[..., Coroutine[Any, Any, R]],
        /,
        *a: Any,
        depends_on: Deps,
        key: str | None = None,
        **k: Any,
    ) -> TaskHandle[R]: ...
    @overload
    def submit(
        self, fn: Callable[..., R], /, *a: Any, depends_on: Deps, key: str | None = None, **k: Any
    ) -> TaskHandle[R]: ...
    @overload
    def submit(self, fn: Task[..., R], /, *a: Any, key: str | None, **k: Any) -> TaskHandle[R]: ...
    @overload
    def submit(
        self, fn: Callable[..., Coroutine[Any, Any, R]], /, *a: Any, key: str | None, **k: Any
    ) -> TaskHandle[R]: ...
    @overload
    def submit(
        self, fn: Callable[..., R], /, *a: Any, key: str | None, **k: Any
    ) -> TaskHandle[R]: ...
    @overload
    def submit(self, fn: Task[..., R], /, *a: Any, tags: Tags, **k: Any) -> TaskHandle[R]: ...
    @overload
    def submit(
        self, fn: Callable[..., Coroutine[Any, Any, R]], /, *a: Any, tags: Tags, **k: Any
    ) -> TaskHandle[R]: ...
    @overload
    def submit(self, fn: Callable[..., R], /, *a: Any, tags: Tags, **k: Any) -> TaskHandle[R]: ...
    @overload
    def submit(self, fn: Task[P, R], /, *args: P.args, **kwargs: P.kwargs) -> TaskHandle[R]: ...
    @overload
    def submit(
        self, fn: Callable[P, Coroutine[Any, Any, R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> TaskHandle[R]: ...
    @overload
    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> TaskHandle[R]: ...
    def submit(
        self,
        fn_or_task: Task[..., Any] | Callable[..., Any],
        /,
        *args: Any,
        depends_on: Iterable[TaskHandle[Any]] | TaskHandle[Any] | None = (),
        key: str | None = None,
        tags: str | Iterable[str] | None = None,
        **kwargs: Any,
    ) -> TaskHandle[Any]:
        """Add a task (or a plain callable) to the graph and return its handle.

        It starts once every handle in ``depends_on`` (one handle, or an iterable of them)
        has finished; ``key`` fixes the handle id (default ``"{task name}#{n}"``), which is
        what resume matches on; ``tags`` are added to the task's own for this handle (see
        ``TaskRunner(limits=...)``).
        """
        if self._driver.closed:
            self._check_open()  # raises
        submitter = self._submitter
        task = fn_or_task if isinstance(fn_or_task, Task) else submitter.plain_task(fn_or_task)
        deps = depends_on if depends_on.__class__ is tuple else as_deps(depends_on)
        add = submitter.add
        if kwargs and not UPSTREAM_SUBMIT.isdisjoint(kwargs):  # 0.4's args=, payload=, ...
            add, args, kwargs = submitter.upstream(task, args, kwargs)
        extra = None if tags is None else check_tags(tags)
        engine = self._engine
        if engine.loop is None:  # no run: one thread at a time (see `Driver.lock`)
            lock = self._driver.lock
            lock.acquire()  # not `with`: its __enter__/__exit__ calls cost more, per task
            try:
                if engine.loop is None:
                    if extra:
                        return add(task, args, kwargs, deps, key, None, extra)
                    return add(task, args, kwargs, deps, key)
            finally:
                lock.release()
        if engine.loop_thread != get_ident():  # a run goes on: made on its loop
            return self._driver.call_on_loop(add, task, args, kwargs, deps, key, None, extra)
        if extra:
            return add(task, args, kwargs, deps, key, None, extra)
        return add(task, args, kwargs, deps, key)

    @overload
    def map(
        self,
        fn: Task[..., R],
        first: MapOutput,
        /,
        *its: Iterable[Any],
        depends_on: Deps = (),
    ) -> TaskHandle[list[R]]: ...
    @overload
    def map(
        self,
        fn: Callable[..., Coroutine[Any, Any, R]],
        first: MapOutput,
        /,
        *its: Iterable[Any],
        depends_on: Deps = (),
    ) -> TaskHandle[list[R]]: ...
    @overload
    def map(
        self,
        fn: Callable[..., R],
        first: MapOutput,
        /,
        *its: Iterable[Any],
        depends_on: Deps = (),
    ) -> TaskHandle[list[R]]: ...
    @overload
    def map(
        self,
        fn: Task[..., R],
        first: Iterable[Any],
        second: MapOutput,
        /,
        *its: Iterable[Any],
        depends_on: Deps = (),
    ) -> TaskHandle[list[R]]: ...
    @overload
    def map(
        self,
        fn: Callable[..., Coroutine[Any, Any, R]],
        first: Iterable[Any],
        second: MapOutput,
        /,
        *its: Iterable[Any],
        depends_on: Deps = (),
    ) -> TaskHandle[list[R]]: ...
    @overload
    def map(
        self,
        fn: Callable[..., R],
        first: Iterable[Any],
        second: MapOutput,
        /,
        *its: Iterable[Any],
        depends_on: Deps = (),
    ) -> TaskHandle[list[R]]: ...
    @overload
    def map(
        self, fn: Task[..., R], /, *its: Iterable[Any], depends_on: Deps = ()
    ) -> list[TaskHandle[R]]: ...
    @overload
    def map(
        self,
        fn: Callable[..., Coroutine[Any, Any, R]],
        /,
        *its: Iterable[Any],
        depends_on: Deps = (),
    ) -> list[TaskHandle[R]]: ...
    @overload
    def map(
        self, fn: Callable[..., R], /, *its: Iterable[Any], depends_on: Deps = ()
    ) -> list[TaskHandle[R]]: ...
    def map(
        self,
        fn_or_task: Task[..., Any] | Callable[..., Any],
        /,
        *iterables: Iterable[Any],
        depends_on: Iterable[TaskHandle[Any]] | TaskHandle[Any] | None = (),
    ) -> Any:
        """Submit one task per item, like the builtin ``map``; returns the handles in order.

        Over an upstream's value (``h.output`` as one of the iterables): one handle,
        expanded into one task per item when the upstreams are done (ids
        ``"{handle id}[{i}]"``), whose value is the list of their results in order.

        ``runner.map(f, xs, ys)`` submits ``f(x, y)`` for each pair; every handle waits for
        ``depends_on``. The faster way to submit many tasks: the cyclic garbage collector is
        paused while the batch is built (a million handles would otherwise be rescanned by
        every full collection). If an item is refused, the handles before it stay submitted.
        """
        if not iterables:
            raise TypeError("map() needs at least one iterable of arguments")
        self._check_open()
        submitter = self._submitter
        task = submitter.plain_task(fn_or_task)
        deps = as_deps(depends_on)
        on_loop = self._engine.on_loop_thread()  # else one at a time (`call_on_loop`)
        if any(it.__class__ is Output for it in iterables):  # over what upstreams return
            if on_loop:
                return submitter.add_map(task, iterables, deps)
            return self._driver.call_on_loop(submitter.add_map, task, iterables, deps)
        items = zip(*iterables, strict=False)
        if on_loop:
            return submitter.add_many(task, items, deps)
        return self._driver.call_on_loop(submitter.add_many, task, items, deps)

    def add_dependency(self, handle: TaskHandle, *depends_on: TaskHandle) -> None:
        """Make a not-yet-started ``handle`` also wait for ``depends_on``.

        Raises `CycleError` if an edge would close a cycle (nothing is changed then).
        """
        if not self._engine.on_loop_thread():
            self._driver.call_on_loop(self._submitter.add_dependency, handle, depends_on)
        else:
            self._submitter.add_dependency(handle, depends_on)

    def forget(self, *handles: TaskHandle) -> None:
        """Drop finished handles from this runner's registry (`handles`, run() results).

        The handle objects stay valid for whoever holds them, and their ids may be used
        again; unfinished ones are kept. A map over an output takes its items with it. A
        serving runner lets finished handles go by itself; after ``run()`` the runner keeps
        them all until forgotten.
        """
        engine = self._engine
        if engine.loop is not None and not engine.on_loop_thread():
            engine.loop.call_soon_threadsafe(self.forget, *handles)
            return
        for handle in handles:
            self._submitter.check_own(handle, "forget")
            if handle._status not in TERMINAL:
                continue
            if engine.handles.get(handle.id) is handle:
                del engine.handles[handle.id]
                if engine.journal is not None:
                    engine.journal.repeats = True  # its id may be submitted and finish again
            else:
                engine.drop_ended(handle)
            if handle._task.fn is gather:  # a map over an output: its items too
                prefix = f"{handle.id}["
                self.forget(*[d for d in handle.deps if d.id.startswith(prefix)])

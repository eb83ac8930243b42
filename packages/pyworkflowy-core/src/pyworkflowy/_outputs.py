"""Outputs as arguments: ``handle.output`` in a submission, and a map over an upstream's value.

A submission whose arguments hold `Output` references (top level, or inside lists, tuples,
named tuples and dict values, at any depth) depends on those handles; its `Inputs` keep
the arguments as written until the dependencies are done, then the runner puts each
upstream's value in place of its reference, once, before the first attempt. Nothing here
runs for a program that never reads ``handle.output``.

A map over an output (`Submitter.add_map`) is one handle: when its upstreams are done it
expands into one task per item (ids ``"{map id}[{i}]"``, so that resume finds them), then
waits for them and completes with their values as a list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from ._errors import DependencyFailedError, TaskCancelledError
from ._extra import RELEASED
from ._graph import link
from ._types import TaskStatus

if TYPE_CHECKING:
    from ._engine import Engine
    from ._handle import TaskHandle
    from ._task import Task

__all__ = [
    "Inputs",
    "Output",
    "OutputAttribute",
    "OutputList",
    "find_refs",
    "gather",
    "inputs_met",
    "resolve",
]

R = TypeVar("R", covariant=True)
T = TypeVar("T")
V = TypeVar("V")
_PENDING, _COMPLETED, _FAILED = TaskStatus.PENDING, TaskStatus.COMPLETED, TaskStatus.FAILED
_CANCELLED = TaskStatus.CANCELLED


class Output(Generic[R]):
    """A reference to the future value of ``handle``: see `TaskHandle.output`."""

    __slots__ = ("handle",)

    seen = False
    """Set once any output is made: submissions are searched for references from then on."""

    def __init__(self, handle: TaskHandle) -> None:
        self.handle = handle

    def __repr__(self) -> str:
        return f"<output of {self.handle.id!r}>"

    def __reduce__(self) -> Any:
        raise TypeError(
            f"{self!r} was not replaced by its value: a runner replaces output references at "
            "the top level of a task's arguments and inside lists, tuples and dict values; "
            "pass it there, or pass handle.result() from a body"
        )


if TYPE_CHECKING:

    class OutputList(list[T]):
        """For type checkers only: ``h.output`` of a ``TaskHandle[list[T]]``. It passes
        where a ``list[T]`` is taken, and ``task.map`` over it gives one handle."""

    class OutputTuple(tuple[T, ...]):
        """For type checkers only: ``h.output`` of a ``TaskHandle[tuple[T, ...]]``."""

    MapOutput = OutputList[Any] | OutputTuple[Any]
    """What ``task.map`` takes as an upstream's output (one handle comes back)."""

else:  # at run time every output is an `Output`
    OutputList = OutputTuple = MapOutput = Output


class OutputAttribute:
    """``handle.output``: an `Output` at run time; for type checkers, the value it stands
    for (so that a task's parameter of that type accepts it), or an `OutputList` when the
    value is a list (so that ``task.map(h.output)`` is known to give one handle)."""

    @overload
    def __get__(self, handle: TaskHandle[list[T]], owner: Any) -> OutputList[T]: ...
    @overload
    def __get__(self, handle: TaskHandle[tuple[T, ...]], owner: Any) -> OutputTuple[T]: ...
    @overload
    def __get__(self, handle: TaskHandle[V], owner: Any) -> V: ...
    @overload
    def __get__(self, handle: None, owner: Any) -> OutputAttribute: ...
    def __get__(self, handle: TaskHandle[Any] | None, owner: Any) -> Any:
        if handle is None:
            return self
        Output.seen = True
        return Output(handle)


class Inputs:
    """A handle's arguments as submitted (with references) and what they refer to."""

    __slots__ = ("args", "children", "holders", "kwargs", "mapped")

    def __init__(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        holders: frozenset[int],
        mapped: Task | None = None,
    ) -> None:
        self.args = args
        self.kwargs = kwargs
        self.holders = holders  # ids of the containers in args/kwargs that hold references
        self.mapped = mapped  # a dynamic map: the task each item runs
        self.children: list[TaskHandle] | None = None  # a map, once expanded


def find_refs(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[list[TaskHandle], frozenset[int]] | None:
    """The handles whose outputs the arguments hold (each once, in order) and the ids of
    the containers that hold them (at any depth), or ``None`` if there is none.

    Iterative, and each container once: deep or self-referencing arguments are fine. A
    long list of plain values (numbers, strings) is passed over at C speed.
    """
    found: list[TaskHandle] = []
    parents: dict[int, list[int]] = {}  # container id -> the containers it is in
    holders: set[int] = set()
    top = [*args, *kwargs.values()] if kwargs else [*args]
    stack: list[tuple[Any, int]] = [(obj, 0) for obj in reversed(top)]  # 0: the top level
    while stack:
        obj, parent = stack.pop()
        cls = obj.__class__
        if cls is Output:
            handle = obj.handle
            if not any(h is handle for h in found):
                found.append(handle)
            _mark(parent, parents, holders)
        elif cls in _ATOMS:
            continue
        elif _is_container(obj):
            key = id(obj)
            if key in parents:  # met before (shared, or a cycle)
                parents[key].append(parent)
                if key in holders:
                    _mark(parent, parents, holders)
                continue
            parents[key] = [parent]
            items = list(obj.values()) if isinstance(obj, dict) else list(obj)
            if len(items) > _SHORT and set(map(type, items)) <= _ATOMS:
                continue
            stack += [(item, key) for item in reversed(items)]
        elif isinstance(obj, (set, frozenset)) and any(item.__class__ is Output for item in obj):
            raise TypeError(
                f"an output reference inside a {cls.__name__} is not replaced by its value: "
                "pass it at the top level or inside a list, tuple or dict value"
            )
    return (found, frozenset(holders)) if found else None


def _mark(key: int, parents: dict[int, list[int]], holders: set[int]) -> None:
    """Container ``key`` holds a reference, and so does every container it is in."""
    todo = [key]
    while todo:
        key = todo.pop()
        if key and key not in holders:
            holders.add(key)
            todo += parents.get(key, ())


def _is_container(obj: Any) -> bool:
    """A list, dict or tuple (exact, or a subclass the runner can rebuild)."""
    cls = obj.__class__
    if cls is list or cls is tuple or cls is dict:
        return True
    return isinstance(obj, (list, dict)) or (isinstance(obj, tuple) and hasattr(cls, "_make"))


_ATOMS = frozenset({int, float, complex, str, bytes, bool, type(None)})
_SHORT = 16  # a container longer than this is first checked for holding plain values only


def value_of(ref: Output[Any], user: TaskHandle) -> Any:
    """The value ``ref`` stands for, or the error that says why ``user`` cannot have it."""
    up = ref.handle
    if up._status is _COMPLETED:
        value = up._value
        if value is not RELEASED:
            return value
        raise DependencyFailedError(
            f"task {user.id!r} takes the output of {up.id!r}, whose result was released "
            "(handle.release()); release it only once its dependents have started",
            failed=(up.name,),
            failed_ids=(up.id,),
        )
    error = DependencyFailedError(
        f"task {user.id!r} takes the output of {up.id!r}, which ended {up._status.value}: "
        "with on_dep_failure='run-anyway' a task runs after a failed dependency, but it "
        "cannot take that dependency's output",
        failed=(up.name,),
        failed_ids=(up.id,),
    )
    raise error._blame(up.id, up._error)


def _put(obj: Any, user: TaskHandle | None, holders: frozenset[int], memo: dict[int, Any]) -> Any:
    """``obj`` with its references replaced by their values (by ``None`` without a user:
    the shape a backend checks at submit). Only the containers that hold a reference
    (``holders``) are rebuilt; the others are passed as themselves."""
    cls = obj.__class__
    if cls is Output:
        return None if user is None else value_of(obj, user)
    key = id(obj)
    if key not in holders:
        return obj
    if key in memo:
        return memo[key]
    memo[key] = obj  # a cycle back to it, while it is being rebuilt, finds the original
    is_dict = isinstance(obj, dict)
    items = list(obj.values()) if is_dict else list(obj)
    new_items = [_put(item, user, holders, memo) for item in items]
    if cls is list:
        new: Any = new_items
    elif cls is tuple:
        new = tuple(new_items)
    elif cls is dict:
        new = dict(zip(obj, new_items, strict=True))
    elif isinstance(obj, tuple):  # a named tuple
        new = cls._make(new_items)
    else:  # a list or dict subclass: a copy of it (an OrderedDict stays one)
        import copy

        new = copy.copy(obj)
        for index, item in zip(obj if is_dict else range(len(items)), new_items, strict=True):
            new[index] = item
    memo[key] = new
    return new


def resolve(inputs: Inputs, user: TaskHandle | None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments with every reference replaced by its value (raises if one has none);
    without a ``user``, by ``None``."""
    memo: dict[int, Any] = {}
    holders = inputs.holders
    args = tuple([_put(arg, user, holders, memo) for arg in inputs.args])
    kwargs = {name: _put(arg, user, holders, memo) for name, arg in inputs.kwargs.items()}
    return args, kwargs


def check_shape(handle: TaskHandle, inputs: Inputs) -> None:
    """Let the backend check a submission at submit, each reference standing in as None:
    what cannot reach it fails now; the values are checked when they are put in."""
    handle._args, handle._kwargs = resolve(inputs, None)
    try:
        handle._lane.backend.prepare(handle)
    finally:
        handle._args, handle._kwargs = inputs.args, inputs.kwargs


async def gather(*values: Any) -> list[Any]:
    """The body of a dynamic map's handle: its items' values, in order."""
    return list(values)


def inputs_met(
    engine: Engine, h: TaskHandle, inputs: Inputs
) -> tuple[TaskStatus, None, BaseException] | None:
    """``h``'s dependencies are done: put the values in (and queue it), expand a map (it
    waits again, for its items), or return the failure that ends it."""
    from ._engine import NO_KWARGS

    try:
        if inputs.mapped is not None and inputs.children is None:
            return _expand(engine, h, inputs)
        if inputs.children is not None:
            args: tuple[Any, ...] = tuple([_child_value(c, h) for c in inputs.children])
            kwargs: dict[str, Any] = {}
        else:
            args, kwargs = resolve(inputs, h)
    except Exception as exc:  # no value, or a container that would not take it back
        if not isinstance(exc, DependencyFailedError):
            exc.add_note(f"raised putting the values of its upstreams into task {h.id!r}")
        return _FAILED, None, exc
    x = h._extra()
    x.inputs = None  # the references (and so the upstreams) are let go
    h._args, h._kwargs = args, kwargs or NO_KWARGS
    lane = h._lane
    if lane.prepares:  # the backend checks what the body will really get
        try:
            x.payload = lane.backend.prepare(h)
        except Exception as exc:
            exc.add_note(f"backend {lane.name!r} refused the arguments of task {h.id!r}")
            return _FAILED, None, exc
    engine.make_ready(h)
    return None


def _child_value(child: TaskHandle, user: TaskHandle) -> Any:
    if child._status is _COMPLETED and child._value is not RELEASED:
        return child._value
    return value_of(Output(child), user)


def _expand(
    engine: Engine, h: TaskHandle, inputs: Inputs
) -> tuple[TaskStatus, None, BaseException] | None:
    """A map's upstreams are done: one task per item, and ``h`` now waits for them."""
    iterables = []
    for arg in inputs.args:
        value = value_of(arg, h) if arg.__class__ is Output else arg
        try:
            iterables.append(iter(value))
        except Exception as exc:
            source = f"the output of {arg.handle.id!r}" if arg.__class__ is Output else "it"
            error = TypeError(
                f"map {h.id!r} cannot iterate over {source}: {type(value).__name__} "
                f"{value!r:.80} is not iterable"
            )
            error.__cause__ = exc
            return _FAILED, None, error
    from ._engine import NO_KWARGS
    from ._submit import gc_paused

    task = inputs.mapped
    assert task is not None
    if h._cancel_requested:  # cancelled from another thread while its upstreams ended
        return _CANCELLED, None, TaskCancelledError(f"task {h.id!r} was cancelled before it ran")
    add = engine.runner._submitter.add
    children: list[TaskHandle] = []
    pumping, engine.pumping = engine.pumping, True  # the items queue; pumped in batches
    try:
        with gc_paused():
            for i, item in enumerate(zip(*iterables, strict=False)):
                children.append(add(task, item, NO_KWARGS, (), f"{h.id}[{i}]"))
    except Exception as exc:  # an item refused (a backend's check, a duplicate id, ...)
        exc.add_note(f"map {h.id!r} stopped at item {len(children)}; the items before it run")
        engine.pumping = pumping
        if not pumping:
            engine.pump()
        return _FAILED, None, exc
    finally:
        engine.pumping = pumping
    inputs.args, inputs.children = (), children
    h._set_deps(tuple(children))
    for child in children:
        link(h, child)
    if not pumping:
        engine.pump()
    if h._pending == 0 and h._status is _PENDING:  # every item has ended already
        return engine.unblocked(h)
    return None

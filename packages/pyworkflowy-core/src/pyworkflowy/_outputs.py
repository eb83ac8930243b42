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

from ._errors import DependencyFailedError
from ._graph import link
from ._registry import RELEASED
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

    __slots__ = ("args", "children", "kwargs", "mapped", "refs")

    def __init__(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        refs: tuple[TaskHandle, ...],
        mapped: Task | None = None,
    ) -> None:
        self.args = args
        self.kwargs = kwargs
        self.refs = refs
        self.mapped = mapped  # a dynamic map: the task each item runs
        self.children: list[TaskHandle] | None = None  # a map, once expanded


def find_refs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[TaskHandle] | None:
    """The handles whose outputs the arguments hold (each once, in order), or ``None``."""
    found: list[TaskHandle] | None = None
    for arg in args:
        found = _scan(arg, found)
    if kwargs:
        for arg in kwargs.values():
            found = _scan(arg, found)
    return found


def _scan(obj: Any, found: list[TaskHandle] | None) -> list[TaskHandle] | None:
    cls = obj.__class__
    if cls is Output:
        handle = obj.handle
        if found is None:
            return [handle]
        if not any(h is handle for h in found):
            found.append(handle)
    elif cls is list or cls is tuple:
        for item in obj:
            found = _scan(item, found)
    elif cls is dict:
        for item in obj.values():
            found = _scan(item, found)
    elif cls in _ATOMS:
        pass
    elif isinstance(obj, (list, dict)) or (isinstance(obj, tuple) and hasattr(cls, "_make")):
        for item in obj.values() if isinstance(obj, dict) else obj:
            found = _scan(item, found)
    elif isinstance(obj, (set, frozenset)) and any(item.__class__ is Output for item in obj):
        raise TypeError(
            f"an output reference inside a {cls.__name__} is not replaced by its value: pass "
            "it at the top level or inside a list, tuple or dict value"
        )
    return found


_ATOMS = frozenset({int, float, str, bytes, bool, type(None)})


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
    error.__cause__ = up._error
    raise error


def _put(obj: Any, user: TaskHandle | None) -> Any:
    """``obj`` with its references replaced by their values (by ``None`` without a user:
    the shape a backend checks at submit)."""
    cls = obj.__class__
    if cls is Output:
        return None if user is None else value_of(obj, user)
    if cls is list:
        return [_put(item, user) for item in obj]
    if cls is tuple:
        return tuple([_put(item, user) for item in obj])
    if cls is dict:
        return {key: _put(item, user) for key, item in obj.items()}
    if cls in _ATOMS:
        return obj
    if isinstance(obj, tuple) and hasattr(cls, "_make"):
        return cls._make([_put(item, user) for item in obj])
    if isinstance(obj, (list, dict)):  # a subclass: a copy of it (an OrderedDict stays one)
        import copy

        new = copy.copy(obj)
        for key, item in obj.items() if isinstance(obj, dict) else enumerate(obj):
            new[key] = _put(item, user)
        return new
    return obj


def resolve(inputs: Inputs, user: TaskHandle | None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments with every reference replaced by its value (raises if one has none);
    without a ``user``, by ``None``."""
    args = tuple([_put(arg, user) for arg in inputs.args])
    kwargs = {name: _put(arg, user) for name, arg in inputs.kwargs.items()}
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
    except DependencyFailedError as exc:
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
        except TypeError:
            source = f"the output of {arg.handle.id!r}" if arg.__class__ is Output else "it"
            error = TypeError(
                f"map {h.id!r} cannot iterate over {source}: {type(value).__name__} "
                f"{value!r:.80} is not iterable"
            )
            return _FAILED, None, error
    from ._engine import NO_KWARGS
    from ._submit import gc_paused

    task = inputs.mapped
    assert task is not None
    add = engine.runner._submitter.add
    children: list[TaskHandle] = []
    pumping, engine.pumping = engine.pumping, True  # the items queue; pumped in batches
    try:
        with gc_paused():
            for i, item in enumerate(zip(*iterables, strict=False)):
                children.append(add(task, item, NO_KWARGS, (), f"{h.id}[{i}]"))
    except Exception as exc:  # an item refused (a backend's check, a duplicate id)
        exc.add_note(f"map {h.id!r} stopped at item {len(children)}; the items before it run")
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

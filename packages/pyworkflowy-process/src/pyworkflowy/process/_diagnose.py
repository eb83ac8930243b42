"""Naming what refused to go to a worker: which argument, and where inside it.

Only the error path comes here: a submission or a result that pickling refused.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterator
from typing import Any

from pyworkflowy import TaskHandle

from ._errors import SerializationError
from ._finished import FinishedHandle

__all__ = ["describe_unpicklable", "submission_error"]


def submission_error(
    handle: TaskHandle, exc: Exception, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> SerializationError:
    """Find which argument (or the function) failed, and where inside it."""
    parts: list[tuple[str, str, Any]] = [
        (f"argument {i}", f"args[{i}]", a) for i, a in enumerate(args)
    ]
    parts += [(f"keyword argument {k!r}", f"kwargs[{k!r}]", v) for k, v in kwargs.items()]
    parts.append((f"the function {handle.task.name!r}", "fn", handle.task.fn))
    for label, root, value in parts:
        found = describe_unpicklable(value, root)
        if found is not None:
            detail, error = found
            return SerializationError(
                f"task {handle.id!r} cannot be sent to a worker process: "
                f"{label}{detail}: {_reason(error)}"
            )
    return SerializationError(
        f"task {handle.id!r} cannot be sent to a worker process: {_reason(exc)}"
    )


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text if text else type(exc).__name__


def describe_unpicklable(
    value: Any, root: str, encode: Callable[[Any], bytes] | None = None
) -> tuple[str, BaseException] | None:
    """Where inside ``value`` pickling fails, and the innermost error; None if it pickles.

    The place reads like Python: ``" (at args[0].conn['pool'])"``, or for what a function
    captures ``" (closure variable 'lock')"``; empty when ``value`` itself is the culprit.
    Only the error path pays for this search. ``encode`` defaults to the backend's own.
    """
    if encode is None:
        from ._serialize import dumps as encode
    try:
        encode(value)
    except Exception as exc:
        error: BaseException = exc
    else:
        return None
    notes: list[str] = []
    expr = start = root
    seen = {id(value)}
    for _ in range(16):  # deep enough for real objects, bounded for cyclic ones
        for step, child in _children(value):
            if id(child) in seen:
                continue
            try:
                encode(child)
            except Exception as exc:
                error, value = exc, child
                seen.add(id(child))
                if isinstance(step, tuple):  # a variable a function captures: a new root
                    notes.append(step[0])
                    expr = start = step[1]
                else:
                    expr += step
                break
        else:
            break
    if expr != start:
        notes.append(f"at {expr}")
    return (f" ({', '.join(notes)})" if notes else ""), error


def _children(value: Any) -> Iterator[tuple[str | tuple[str, str], Any]]:
    """The parts pickle would serialise for ``value``: an accessor (``.x``, ``[0]``), or
    for a function's captured variables ``(description, name)``."""
    if isinstance(value, dict):
        for k, v in list(value.items())[:10_000]:
            yield f"[{k!r}]", v
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value[:10_000]):
            yield f"[{i}]", v
    elif isinstance(value, (set, frozenset)):
        for v in list(value)[:10_000]:
            yield (f"set element {v!r}", "element"), v
    elif isinstance(value, TaskHandle):
        return  # refused as a whole (see _Pickler.reducer_override)
    elif isinstance(value, FinishedHandle):
        yield ".result()", value.get_result().value
        yield ".exception()", value.get_result().error
    elif isinstance(value, types.FunctionType):
        code = value.__code__
        for name, cell in zip(code.co_freevars, value.__closure__ or (), strict=False):
            try:
                yield (f"closure variable {name!r}", name), cell.cell_contents
            except ValueError:  # an empty cell
                continue
        for name in code.co_names:
            if name in value.__globals__:
                yield (f"global {name!r}", name), value.__globals__[name]
        for i, default in enumerate(value.__defaults__ or ()):
            yield (f"default value {i}", f"__defaults__[{i}]"), default
    elif isinstance(value, functools.partial):
        yield ".func", value.func
        for i, v in enumerate(value.args):
            yield f".args[{i}]", v
        for k, v in value.keywords.items():
            yield f".keywords[{k!r}]", v
    elif isinstance(value, types.MethodType):
        yield ".__self__", value.__self__
        yield ".__func__", value.__func__
    else:
        try:
            state = value.__getstate__()
        except Exception:
            return
        slots: Any = None
        if isinstance(state, tuple) and len(state) == 2:
            state, slots = state
        for mapping in (state, slots):
            if isinstance(mapping, dict):
                for k, v in mapping.items():
                    yield (f".{k}" if isinstance(k, str) else f"[{k!r}]"), v

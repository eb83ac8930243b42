"""Pickling a call for a dask worker, and naming what refused to go.

The backend pickles ``(fn, args, kwargs)`` itself, with cloudpickle, and hands dask the
bytes: dask tries plain `pickle` first, which would send a function of a module the
workers cannot import (a pytest module under ``--import-mode=importlib``, a file loaded
from a path) by reference, to fail there. This pickler sends such modules' functions and
classes by value (`cloudpickle.register_pickle_by_value`), rebuilds `TaskBase` instances,
and refuses `TaskHandle` arguments (pass ``handle.output`` to send the value).

The same logic as pyworkflowy-process's, kept small: nothing private is shared.
"""

from __future__ import annotations

import importlib.machinery
import io
import sys
import types
from typing import Any

import cloudpickle
from pyworkflowy import Task, TaskBase, TaskHandle

from ._errors import SerializationError

__all__ = ["CallChecker", "dumps", "submission_error"]

PROTOCOL = 5
_PLAIN = frozenset({int, float, str, bytes, bool, type(None), complex})  # always pickle
_CHECKED_KEPT = 1024  # tasks whose function is known to pickle
_importable: dict[str, bool] = {}
_seen_modules: set[str] = set()


def _module_importable(name: str) -> bool:
    """True if a fresh interpreter with this ``sys.path`` imports ``name`` from the same file."""
    known = _importable.get(name)
    if known is None:
        known = _importable[name] = _same_module_found(name)
    return known


def _same_module_found(name: str) -> bool:
    if name == "__main__":
        return False
    path: Any = None
    parts = name.split(".")
    for i in range(len(parts)):
        prefix = ".".join(parts[: i + 1])
        loaded = sys.modules.get(prefix)
        spec = getattr(loaded, "__spec__", None)
        if spec is None:
            return False
        if spec.origin in ("built-in", "frozen"):
            return True
        try:
            found = importlib.machinery.PathFinder.find_spec(prefix, path)
        except (ImportError, ValueError):
            return False
        if found is None or found.origin != spec.origin:
            return False
        path = getattr(loaded, "__path__", None)  # search below where the package searches
        if path is None and i < len(parts) - 1:
            return False
    return True


def _send_module_by_value_if_needed(obj: Any) -> None:
    name = getattr(obj, "__module__", None)
    if not isinstance(name, str) or name in _seen_modules:
        return
    _seen_modules.add(name)
    module = sys.modules.get(name)
    is_module = isinstance(module, types.ModuleType)
    if name != "__main__" and is_module and not _module_importable(name):
        cloudpickle.register_pickle_by_value(module)


class _Pickler(cloudpickle.Pickler):
    """cloudpickle, plus `TaskBase` instances and modules that workers cannot import."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, (types.FunctionType, type)):
            _send_module_by_value_if_needed(obj)
        elif isinstance(obj, TaskBase):
            # TaskBase() returns a Task, so the default reconstruction would not work.
            return (object.__new__, (type(obj),), obj.__dict__ or None)
        elif isinstance(obj, TaskHandle):
            raise TypeError(
                f"the TaskHandle {obj.id!r} cannot travel to a dask worker; pass "
                f"its .output to send its value instead"
            )
        return super().reducer_override(obj)


def dumps(obj: Any) -> bytes:
    """cloudpickle ``obj`` with this backend's rules."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=PROTOCOL).dump(obj)
    return buffer.getvalue()


class CallChecker:
    """At submit: does the call pickle? The function once per task, the arguments each time
    (unless they are all numbers, strings, bytes or None)."""

    def __init__(self) -> None:
        self._checked: set[Task] = set()

    def check(self, handle: TaskHandle) -> None:
        task = handle.task
        args, kwargs = handle.args, handle.kwargs
        if task not in self._checked:
            try:
                dumps(task.fn)
            except Exception as exc:
                raise submission_error(handle, exc, (), {}) from exc
            if len(self._checked) >= _CHECKED_KEPT:  # new closures on every submit
                self._checked.clear()
            self._checked.add(task)
        if all(type(a) in _PLAIN for a in args) and all(type(v) in _PLAIN for v in kwargs.values()):
            return
        try:
            dumps((args, kwargs))
        except Exception as exc:
            raise submission_error(handle, exc, args, kwargs) from exc


def submission_error(
    handle: TaskHandle, exc: BaseException, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> SerializationError:
    """A `SerializationError` naming the argument (or the function's captured variable)
    that does not pickle; only the error path pays for the search."""
    parts: list[tuple[str, Any]] = [(f"argument {i}", a) for i, a in enumerate(args)]
    parts += [(f"keyword argument {k!r}", v) for k, v in kwargs.items()]
    fn = handle.task.fn
    code = getattr(fn, "__code__", None)
    cells = getattr(fn, "__closure__", None) or ()
    for name, cell in zip(getattr(code, "co_freevars", ()), cells, strict=False):
        try:
            parts.append((f"the function's closure variable {name!r}", cell.cell_contents))
        except ValueError:  # an empty cell
            continue
    parts.append((f"the function {handle.task.name!r}", fn))
    for label, value in parts:
        try:
            dumps(value)
        except Exception as error:
            return SerializationError(
                f"task {handle.id!r} cannot be sent to a dask worker: {label}: {_reason(error)}"
            )
    return SerializationError(f"task {handle.id!r} cannot be sent to a dask worker: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__

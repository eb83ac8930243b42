"""Turning a submission into bytes a worker can load, and naming what refused to go.

Functions and arguments go with cloudpickle, so lambdas, closures and functions from
``__main__`` or a test body travel by value. Two things make that both fast and safe:

* A function that a fresh interpreter can import goes *by reference*, encoded once per
  task and reused: that is most real code, and it skips cloudpickle's per-call cost.
  ``@task``-decorated functions (the module attribute is the `Task`, not the function)
  and `TaskBase` subclasses get a small reference that the worker resolves.
* A module that the workers could not import by name (a pytest module under
  ``--import-mode=importlib``, a file loaded from a path) is registered with
  `cloudpickle.register_pickle_by_value`, so its functions and classes travel by value
  instead of as references that would fail to load in the worker.
"""

from __future__ import annotations

import collections
import importlib.machinery
import io
import pickle
import sys
import types
from collections.abc import Callable, MutableMapping
from typing import Any, ClassVar, cast

import cloudpickle
from pyworkflowy import Task, TaskBase, TaskHandle

from ._diagnose import submission_error as _submission_error
from ._errors import SerializationError
from ._finished import FinishedHandle

__all__ = ["Call", "CallEncoder", "dumps"]

PROTOCOL = 5
# Argument values of these exact types cannot refer to code, so plain pickle is safe.
_PLAIN = frozenset({int, float, str, bytes, bool, type(None), complex})
_FN_CACHE = 1024  # tasks whose by-reference function bytes are kept
_importable_cache: dict[str, bool] = {}
_checked_modules: set[str] = set()


def _module_importable(name: str) -> bool:
    """True if a fresh interpreter with this ``sys.path`` imports ``name`` from the same file."""
    known = _importable_cache.get(name)
    if known is not None:
        return known
    result = _find_same_module(name)
    _importable_cache[name] = result
    return result


def _find_same_module(name: str) -> bool:
    if name == "__main__":
        return False
    parts = name.split(".")
    path: Any = None
    for i in range(len(parts)):
        prefix = ".".join(parts[: i + 1])
        loaded = sys.modules.get(prefix)
        loaded_spec = getattr(loaded, "__spec__", None)
        if loaded_spec is None:
            return False
        if loaded_spec.origin in ("built-in", "frozen"):
            return True  # part of every interpreter of this executable
        try:
            found = importlib.machinery.PathFinder.find_spec(prefix, path)
        except (ImportError, ValueError):
            return False
        if found is None or found.origin != loaded_spec.origin:
            return False
        if found.origin is None and list(found.submodule_search_locations or ()) != list(
            loaded_spec.submodule_search_locations or ()
        ):
            return False
        # Below a package, search where the imported package searches (its __init__ may
        # have extended __path__, as pyworkflowy's own does).
        path = getattr(loaded, "__path__", None)
        if path is None and i < len(parts) - 1:
            return False
    return True


def _check_module_of(obj: Any) -> None:
    """Make objects of a module that workers cannot import travel by value."""
    name = getattr(obj, "__module__", None)
    if not isinstance(name, str) or name in _checked_modules:
        return
    _checked_modules.add(name)
    module = sys.modules.get(name)
    if name == "__main__" or not isinstance(module, types.ModuleType):
        return  # cloudpickle sends __main__ by value already
    if not _module_importable(name):
        cloudpickle.register_pickle_by_value(module)


_cloudpickle_code_reduce = getattr(cloudpickle.cloudpickle, "_code_reduce", None)


def _code_reduce(code: types.CodeType) -> Any:
    """cloudpickle's code reducer, keeping the real file name (it writes "<dynamic-code>"
    for reproducible pickles), so worker tracebacks show the source lines."""
    assert _cloudpickle_code_reduce is not None
    rebuild, args = _cloudpickle_code_reduce(code)
    filename = code.co_filename
    return rebuild, tuple(filename if a == "<dynamic-code>" else a for a in args)


class _Pickler(cloudpickle.Pickler):
    """cloudpickle, plus `TaskBase` instances and modules that workers cannot import."""

    if _cloudpickle_code_reduce is not None:
        _own: ClassVar[dict[Any, Any]] = {types.CodeType: _code_reduce}
        dispatch_table = collections.ChainMap(
            _own, cast("MutableMapping[Any, Any]", cloudpickle.Pickler.dispatch_table)
        )

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, (types.FunctionType, type)):
            _check_module_of(obj)
        elif isinstance(obj, TaskBase):
            # TaskBase() returns a Task, so the default reconstruction would not work.
            return (object.__new__, (type(obj),), obj.__dict__ or None)
        elif isinstance(obj, TaskHandle):
            raise TypeError(
                "a TaskHandle goes to a worker process only as an argument of its own "
                "(and in depends_on=), not inside another value"
            )
        return super().reducer_override(obj)


def dumps(obj: Any, buffer_callback: Callable[[pickle.PickleBuffer], Any] | None = None) -> bytes:
    """cloudpickle ``obj`` with this backend's rules.

    With ``buffer_callback``, large buffers (a numpy array's data, ...) go out of band: they
    are handed to the callback instead of being copied into the pickle (protocol 5).
    """
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=PROTOCOL, buffer_callback=buffer_callback).dump(obj)
    return buffer.getvalue()


class _Sink:
    """A file that keeps nothing: checking that a call pickles costs no memory."""

    __slots__ = ()

    def write(self, data: Any) -> int:
        return len(data)


_SINK = _Sink()


def _out_of_band(buffer: pickle.PickleBuffer) -> bool:
    return False  # a false value: the buffer is not copied into the pickle


def _check_dump(obj: Any) -> None:
    """Pickle ``obj`` into nothing: raises if it cannot be pickled, keeps no bytes."""
    _Pickler(_SINK, protocol=PROTOCOL, buffer_callback=_out_of_band).dump(obj)


class _TaskRef:
    """A by-reference stand-in for a module-level `@task` or `TaskBase` body."""

    __slots__ = ("attr", "module", "qualname")

    def __init__(self, module: str, qualname: str, attr: str | None) -> None:
        self.module, self.qualname, self.attr = module, qualname, attr

    def __reduce__(self) -> tuple[Any, ...]:
        from ._worker import resolve_task_fn

        return (resolve_task_fn, (self.module, self.qualname, self.attr))


def _lookup(module_name: str, qualname: str) -> Any:
    obj: Any = sys.modules.get(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


def _reference_bytes(task: Task) -> bytes | None:
    """Bytes that load ``task.fn`` by reference in a worker, or None if it must go by value."""
    fn = task.fn
    if isinstance(fn, types.FunctionType):
        module, qualname = fn.__module__, fn.__qualname__
        ref: Any = None
        target = _lookup(module, qualname)
        if target is fn:
            ref = fn
        elif isinstance(target, Task) and target.fn is fn:
            ref = _TaskRef(module, qualname, None)
    elif isinstance(fn, types.MethodType) and isinstance(fn.__self__, TaskBase):
        cls = type(fn.__self__)
        module, qualname = cls.__module__, cls.__qualname__
        ref = None
        if _lookup(module, qualname) is cls and getattr(cls, fn.__name__, None) is fn.__func__:
            ref = _TaskRef(module, qualname, fn.__name__)
    elif isinstance(fn, types.BuiltinFunctionType) and isinstance(fn.__self__, types.ModuleType):
        module, ref = fn.__self__.__name__, fn  # sum, math.sqrt: not bound methods like [].append
    else:
        return None
    if (
        ref is None
        or not _module_importable(module)
        or module in cloudpickle.list_registry_pickle_by_value()
    ):
        return None
    try:
        return pickle.dumps(ref, protocol=PROTOCOL)
    except Exception:
        return None


Call = tuple[bytes, bytes, list[memoryview]]  # function bytes, call bytes, out-of-band buffers


class CallEncoder:
    """Encodes ``(fn, args, kwargs)`` of handles; remembers by-reference functions per task."""

    def __init__(self) -> None:
        self._fn_bytes: dict[Task, bytes | None] = {}
        self._fn_checked: set[Task] = set()  # tasks whose by-value function pickles

    def _function_bytes(self, task: Task) -> bytes | None:
        try:
            return self._fn_bytes[task]
        except KeyError:
            if len(self._fn_bytes) >= _FN_CACHE:  # new closures on every submit: stay bounded
                self._fn_bytes.clear()
            fn_bytes = self._fn_bytes[task] = _reference_bytes(task)
            return fn_bytes

    def check(self, handle: TaskHandle) -> None:
        """At submit: raise `SerializationError` (naming the part) if the call cannot
        travel. Nothing is kept: the call is serialised again when its attempt starts."""
        task = handle.task
        args, kwargs = handle.args, handle.kwargs
        if self._function_bytes(task) is None and task not in self._fn_checked:
            try:  # a function that goes by value is checked once per task
                _check_dump(task.fn)
            except Exception as exc:
                raise _submission_error(handle, exc, args, kwargs) from exc
            if len(self._fn_checked) >= _FN_CACHE:
                self._fn_checked.clear()
            self._fn_checked.add(task)
        if _plain(args, kwargs):
            return  # ints, strs, ...: they always pickle
        if _has_handles(args, kwargs):
            _check_handle_arguments(handle)
            args, kwargs = _replace_handles(args, kwargs, _placeholder)
        try:
            _check_dump((args, kwargs))
        except Exception as exc:
            raise _submission_error(handle, exc, args, kwargs) from exc

    def encode(self, handle: TaskHandle) -> Call:
        """When the attempt starts: ``(function bytes, call bytes, buffers)``.

        Empty function bytes mean the call holds the function. Large buffers (protocol 5)
        are not copied: they travel as views of the arguments' own memory. `TaskHandle`
        arguments have finished by now and travel as `FinishedHandle` copies. Raises
        `SerializationError` naming the part that cannot be pickled.
        """
        fn_bytes = self._function_bytes(handle.task)
        args, kwargs = handle.args, handle.kwargs
        buffers: list[memoryview] = []
        try:
            if fn_bytes is not None and _plain(args, kwargs):
                return fn_bytes, pickle.dumps((args, kwargs), protocol=PROTOCOL), buffers
            if _has_handles(args, kwargs):
                args, kwargs = _replace_handles(args, kwargs, _finished)

            def keep(buffer: pickle.PickleBuffer) -> bool:
                buffers.append(buffer.raw())
                return False

            if fn_bytes is None:
                return b"", dumps((handle.task.fn, args, kwargs), keep), buffers
            return fn_bytes, dumps((args, kwargs), keep), buffers
        except SerializationError:
            raise
        except Exception as exc:
            raise _submission_error(handle, exc, args, kwargs) from exc


def _plain(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    return all(type(a) in _PLAIN for a in args) and all(type(v) in _PLAIN for v in kwargs.values())


def _has_handles(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    return any(isinstance(a, TaskHandle) for a in (*args, *kwargs.values()))


def _check_handle_arguments(handle: TaskHandle) -> None:
    """A handle argument must have finished when the task starts: a dependency, or done."""
    deps = handle.deps
    parts = [*enumerate(handle.args), *handle.kwargs.items()]
    for where, value in parts:
        if isinstance(value, TaskHandle) and not value.done() and value not in deps:
            label = f"argument {where}" if isinstance(where, int) else f"keyword argument {where!r}"
            raise SerializationError(
                f"task {handle.id!r} cannot be sent to a worker process: {label} is the "
                f"handle {value.id!r}, which it does not depend on; add it to depends_on= "
                "so that it has finished (and its result can travel) when the task starts"
            )


def _replace_handles(
    args: tuple[Any, ...], kwargs: dict[str, Any], replace: Callable[[TaskHandle], Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    def swap(value: Any) -> Any:
        return replace(value) if isinstance(value, TaskHandle) else value

    return tuple(map(swap, args)), {k: swap(v) for k, v in kwargs.items()}


def _placeholder(handle: TaskHandle) -> None:
    return None  # checked at submit without the handle: its outcome is not known yet


def _finished(handle: TaskHandle) -> FinishedHandle:
    if handle.released:
        raise SerializationError(
            f"the result of task {handle.id!r} was released (handle.release()) before a "
            "task that takes it as an argument started"
        )
    result = handle.get_result()
    error = result.error
    if error is not None:
        try:
            pickle.loads(dumps(error))
        except Exception:  # say what it was, in a form that travels
            result = result._replace(error=RuntimeError(f"{type(error).__name__}: {error}"))
    return FinishedHandle(handle.id, result)

"""Cache keys: a stable digest of a task and the arguments of one call (``@task(cache=True)``).

`cache_key` is the sha256 hex digest of `task_identity` and the canonical encoding
(`encode`) of the arguments, keywords sorted by name. Equal inputs give the same key in
any process, after restarts and under any ``PYTHONHASHSEED``. The encoding:

- Every value is type-tagged and length-prefixed (or counted), so ``1``, ``1.0``,
  ``True``, ``"1"`` and ``b"1"`` differ, and ``("a", "b")`` differs from ``("ab",)``.
- ``None``, bool, int, float (its IEEE bytes: ``-0.0`` differs from ``0.0``, every NaN is
  one NaN), complex, str (utf-8, surrogates allowed), bytes, bytearray, memoryview.
- list and tuple: their items in order. dict: its items sorted by the encoding of their
  key, so insertion order does not matter; set and frozenset: their elements sorted by
  encoding, so hash order does not matter (subclasses: the same, tagged with the type).
- Classes, modules and builtins: by module and qualified name. Python functions
  (lambdas and nested ones too): by name, code (bytecode, constants with nested code,
  names), defaults and the values their closure captured, so two lambdas with different
  bodies differ; the values of the globals they read are not part of it. Bound methods:
  the instance and the function. Enum members: their type and name.
- Output references (``handle.output``): the bytes ``output_key`` gives for them. A
  `TaskHandle` (a closure that waits on one, say) by its id; a `TaskRunner` by its type.
- Anything else, dataclasses, datetimes, ``Decimal``, ``UUID``, paths, named tuples and
  dict subclasses among them, through ``__reduce_ex__(4)`` as pickle does: the
  reconstructor by name, then its arguments, state (a dict of attributes is sorted like
  any dict), list items and dict items (sorted, except an ``OrderedDict``'s) by these
  rules. A reduce that returns a string is a global: module and name. An object pickle
  refuses (open files, locks, sockets, generators) is `Unhashable`.
- Cycles: an object met again inside itself is a back-reference (how many levels up),
  and an object shared by several parents is encoded once. The walk is iterative, and a
  container whose encoding outgrows 128 bytes stands in its parent as its sha256 digest,
  so deep nesting costs linear time and never reaches the recursion limit.
"""

from __future__ import annotations

import hashlib
import reprlib
import struct
from collections import OrderedDict
from collections.abc import Callable
from enum import Enum
from functools import partial
from types import CodeType, FunctionType, MethodType, ModuleType
from typing import Any

from ._handle import TaskHandle
from ._outputs import Output
from ._runner import TaskRunner
from ._task import module_name

__all__ = ["Unhashable", "cache_key", "encode", "task_identity"]


class Unhashable(Exception):
    """An argument (or captured closure value) that cannot be hashed stably."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(where, reason)
        self.where = where  # "argument 0", "argument 'cfg' (at ['db'])", "closure variable 'x'"
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


def task_identity(fn: Callable[..., Any], name: str) -> bytes:
    """Canonical bytes for the task ``name`` running ``fn``: its name, code and captures."""
    return b"T" + _str(name) + _identity(fn, f"task {name!r}")


def cache_key(
    identity: bytes,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    output_key: Callable[[Any], bytes | None],
) -> str:
    """The key of one call: sha256 of ``identity`` and the arguments' encoding.

    ``output_key`` gives the bytes standing for an `Output`'s value, or ``None`` if it
    has none (the argument is then `Unhashable`).
    """
    parts = [b"I%d:" % len(identity), identity, b"A%d:" % len(args)]
    for i, arg in enumerate(args):
        leaf = _LEAVES.get(type(arg))
        parts.append(leaf(arg) if leaf else _encode(arg, f"argument {i}", output_key))
    parts.append(b"K%d:" % len(kwargs))
    for name in sorted(kwargs):
        value = kwargs[name]
        leaf = _LEAVES.get(type(value))
        parts += (
            _str(name),
            leaf(value) if leaf else _encode(value, f"argument {name!r}", output_key),
        )
    return hashlib.sha256(b"".join(parts)).hexdigest()


def encode(obj: Any) -> bytes:
    """The canonical encoding of ``obj`` (see the module docstring); `Unhashable` if none."""
    leaf = _LEAVES.get(type(obj))
    return leaf(obj) if leaf else _encode(obj, "value", None)


def _identity(fn: Any, where: str) -> bytes:
    if isinstance(fn, FunctionType):
        head, items, labels = _function(fn)
        return head + b"".join(
            _encode(item, label or where, None) for item, label in zip(items, labels, strict=True)
        )
    if isinstance(fn, MethodType):
        owner = f"the {type(fn.__self__).__qualname__} instance whose method is {where}"
        return b"W" + _encode(fn.__self__, owner, None) + _identity(fn.__func__, where)
    if isinstance(fn, partial):
        parts = [b"Q%d,%d:" % (len(fn.args), len(fn.keywords)), _identity(fn.func, where)]
        parts += (_encode(arg, f"partial argument {i}", None) for i, arg in enumerate(fn.args))
        for key, value in sorted(fn.keywords.items()):
            parts += (_str(key), _encode(value, f"partial argument {key!r}", None))
        return b"".join(parts)
    call = type(fn).__call__  # fn is callable: its type has one
    if isinstance(call, FunctionType) and not isinstance(fn, type):  # a callable object
        return b"K" + _encode(fn, where, None) + _identity(call, where)
    return b"G" + _encode(fn, where, None)


# -- the walk -------------------------------------------------------------------------------

_SEQ, _MAP, _SET = 0, 1, 2  # how a node's item encodings combine: in order, pairs sorted, sorted
_KEYS, _ATTRS, _MEMBERS = "keys", "attrs", "members"  # a node's labels for error paths
_SEAL = 128  # a node's encoding longer than this stands in its parent as its digest


class _Frame:
    """A node being encoded: its items, those encoded so far, and the next one's index."""

    __slots__ = ("head", "items", "labels", "mode", "obj", "parts", "pos", "refs")

    def __init__(self, obj: Any, node: _Node, refs: int) -> None:
        self.obj = obj
        self.head, self.mode, self.items, self.labels = node
        self.pos = 0
        self.parts: list[bytes] = []
        self.refs = refs  # back-references made before it opened


_Node = tuple[bytes, int, Any, Any]  # head, mode, items (a sequence), labels


def _encode(root: Any, where: str, output_key: Callable[[Any], bytes | None] | None) -> bytes:
    """Walk ``root`` depth first with an explicit stack; `Unhashable` names the path."""
    stack: list[_Frame] = []
    active: dict[int, int] = {}  # id -> stack index of the objects being encoded
    done: dict[int, tuple[Any, bytes]] = {}  # id -> (object kept alive, its encoding)
    refs = 0
    item = root
    try:
        while True:
            data: bytes | None
            leaf = _LEAVES.get(type(item))
            if leaf is not None:
                data = leaf(item)
            elif (seen := done.get(id(item))) is not None:
                data = seen[1]
            elif (at := active.get(id(item))) is not None:
                data = b"^%d;" % (len(stack) - at)
                refs += 1
            else:
                node = _node(item, output_key)
                if isinstance(node, bytes):
                    data = node
                else:
                    active[id(item)] = len(stack)
                    stack.append(_Frame(item, node, refs))
                    data = None
            while stack:
                frame = stack[-1]
                items, parts, pos = frame.items, frame.parts, frame.pos
                if data is not None:
                    parts.append(data)
                node_item = None  # the next item that is not a leaf (None is a leaf)
                while pos < len(items):
                    next_item = items[pos]
                    pos += 1
                    if (leaf := _LEAVES.get(type(next_item))) is None:
                        node_item = next_item
                        break
                    parts.append(leaf(next_item))
                frame.pos = pos
                if node_item is not None:
                    item = node_item
                    break
                stack.pop()
                del active[id(frame.obj)]
                data = _close(frame)
                if refs == frame.refs:  # no back-reference inside: the same wherever met
                    done[id(frame.obj)] = (frame.obj, data)
            else:
                assert data is not None
                return data
    except Unhashable as fail:  # from _node, which does not know where
        raise Unhashable(_where(where, stack), fail.reason) from None


def _close(frame: _Frame) -> bytes:
    parts = frame.parts
    if frame.mode == _MAP:
        pairs = sorted(zip(parts[::2], parts[1::2], strict=True))
        parts = [part for pair in pairs for part in pair]
    elif frame.mode == _SET:
        parts.sort()
    data = frame.head + b"".join(parts)
    return data if len(data) <= _SEAL else b"#" + hashlib.sha256(data).digest()


def _where(base: str, stack: list[_Frame]) -> str:
    path = ""
    for frame in stack:
        i, labels = frame.pos - 1, frame.labels
        if labels is None:
            path += f"[{i}]"
        elif labels is _MEMBERS:
            path += " (a set member)"
        elif labels is _KEYS or labels is _ATTRS:
            key = frame.items[i - 1] if i % 2 else frame.items[i]
            if not i % 2:
                path += f" (the key {reprlib.repr(key)})"
            elif labels is _ATTRS and isinstance(key, str):
                path += f".{key}"
            else:
                path += f"[{reprlib.repr(key)}]"
        elif labels[i]:
            path += f" ({labels[i]})"
    path = path.strip()
    return f"{base} (at {path})" if path else base


def _node(obj: Any, output_key: Callable[[Any], bytes | None] | None) -> bytes | _Node:
    """``obj``'s encoding if it is one piece, else its node (head, mode, items, labels)."""
    cls = type(obj)
    if cls is list:
        return b"L%d:" % len(obj), _SEQ, obj, None
    if cls is tuple:
        return b"U%d:" % len(obj), _SEQ, obj, None
    if cls is dict or cls is _Attrs:
        state = obj.state if cls is _Attrs else obj
        head = b"%s%d:" % (b"A" if cls is _Attrs else b"D", len(state))
        labels = _ATTRS if cls is _Attrs else _KEYS
        return head, _MAP, [x for pair in state.items() for x in pair], labels
    if isinstance(obj, (set, frozenset)):
        head = b"%s%d:" % (b"Z" if isinstance(obj, frozenset) else b"S", len(obj))
        typed = b"" if cls is set or cls is frozenset else b"@" + _global(cls)  # a subclass
        return typed + head, _SET, list(obj), _MEMBERS
    if cls is TaskHandle:  # a reference to another task: by its id
        return b"H" + _str(obj.id)
    if isinstance(obj, TaskRunner):  # the runner a body submits to: not an input
        return b"R"
    if cls is Output:
        key = output_key(obj) if output_key is not None else None
        if key is None:
            raise Unhashable(
                "", f"the value of {obj!r} has no stable key: give the task cache_key="
            )
        return b"O%d:" % len(key) + key
    if isinstance(obj, type):
        return _global(obj)
    if isinstance(obj, FunctionType):
        head, items, labels = _function(obj)
        return head, _SEQ, items, labels
    if cls is MethodType:
        return b"W", _SEQ, (obj.__self__, obj.__func__), ("bound instance", "")
    if cls is CodeType:
        items = (obj.co_code, obj.co_consts, obj.co_names, obj.co_varnames, obj.co_freevars)
        counts = (obj.co_argcount, obj.co_posonlyargcount, obj.co_kwonlyargcount, obj.co_flags)
        return b"C%d,%d,%d,%d:" % counts, _SEQ, items, ("",) * 5
    if isinstance(obj, ModuleType):
        return b"m" + _str(obj.__name__)
    if isinstance(obj, Enum):
        return b"E" + _global(cls) + _str(f"{obj.name}")
    return _reduce(obj)


def _reduce(obj: Any) -> bytes | _Node:
    cls = type(obj)
    try:
        rv = obj.__reduce_ex__(4)
        if isinstance(rv, str):  # a global singleton
            module = getattr(obj, "__module__", None) or cls.__module__
            return b"G" + _str(f"{module_name(module)}.{rv}")
        func, args, state, listitems, dictitems, setter = rv + (None,) * (6 - len(rv))
        listitems = None if listitems is None else list(listitems)
        if dictitems is not None:  # sorted as a dict, except an OrderedDict's
            dictitems = list(dictitems) if isinstance(obj, OrderedDict) else dict(dictitems)
    except Exception:  # what pickle refuses, or a reduce that breaks its protocol
        reason = (
            f"cannot hash a {cls.__module__}.{cls.__qualname__} stably: pass a value that "
            "identifies it (a path) instead, or give the task cache_key="
        )
        raise Unhashable("", reason) from None
    state = _Attrs(state) if isinstance(state, dict) else state
    items = (_by_name(func), args, state, listitems, dictitems, _by_name(setter))
    return b"R", _SEQ, items, ("",) * 6


class _Attrs:
    """A reduce's state dict: encoded as a dict, named in error paths as attributes."""

    __slots__ = ("state",)

    def __init__(self, state: dict[Any, Any]) -> None:
        self.state = state


class _Raw(bytes):
    """An item already encoded."""


def _by_name(func: Any) -> Any:
    """A reconstructor: a global by its name, anything else (a partial, ...) as a value."""
    owner = getattr(func, "__self__", None)
    if hasattr(func, "__qualname__") and (owner is None or isinstance(owner, (type, ModuleType))):
        return _Raw(_global(func))
    return func


def _global(obj: Any) -> bytes:
    module = getattr(obj, "__module__", None)
    if module is None:
        owner = getattr(obj, "__self__", None)
        module = owner.__module__ if isinstance(owner, type) else getattr(owner, "__name__", "")
    return b"G" + _str(f"{module_name(module)}.{obj.__qualname__}")


def _function(fn: FunctionType) -> tuple[bytes, list[Any], list[str]]:
    """A function's head, items (name, code, defaults, captured values) and their labels."""
    code = fn.__code__
    defaults = fn.__defaults__ or ()
    keywords = fn.__kwdefaults__ or {}
    cells = fn.__closure__ or ()
    params = code.co_varnames[code.co_argcount - len(defaults) : code.co_argcount]
    items: list[Any] = [_Raw(_global(fn)), code, *defaults]
    labels = ["", "", *(f"default of parameter {p!r}" for p in params)]
    for key in sorted(keywords):
        items += (key, keywords[key])
        labels += ("", f"default of parameter {key!r}")
    for name, cell in zip(code.co_freevars, cells, strict=True):
        try:
            items.append(cell.cell_contents)
        except ValueError:  # not assigned yet
            items.append(_EMPTY)
        labels.append(f"closure variable {name!r}")
    head = b"P%d,%d,%d:" % (len(defaults), len(keywords), len(cells))
    return head, items, labels


# -- leaves: values encoded in one piece ----------------------------------------------------

_pack = struct.Struct(">d").pack


def _str(text: str) -> bytes:
    data = text.encode("utf-8", "surrogatepass")
    return b"s%d:%b" % (len(data), data)


def _float(x: float) -> bytes:
    return b"f" + _pack(x) if x == x else b"n"  # every NaN the same


_LEAVES: dict[type, Callable[[Any], bytes]] = {
    type(None): lambda _: b"N",
    bool: lambda b: b"T" if b else b"F",
    int: lambda n: b"i%x;" % n,
    float: _float,
    complex: lambda z: b"c" + _float(z.real) + _float(z.imag),
    str: _str,
    bytes: lambda b: b"b%d:%b" % (len(b), b),
    bytearray: lambda b: b"y%d:%b" % (len(b), b),
    memoryview: lambda m: b"v%d:%b" % (m.nbytes, m.tobytes()),
    _Raw: bytes,
}
_EMPTY = _Raw(b"X")  # an empty closure cell

"""What a task's function may be: checked once, when its `Task` is made.

A generator function is refused (its call would "complete" at once with a generator, the
body then running outside the task's timeout and retries), and so is an async generator
function. A parameter named like a keyword ``submit`` takes for itself (``key``,
``depends_on``, ``tags``, ``runner``) gets a warning: ``submit(f, key=...)`` cannot pass it.
"""

from __future__ import annotations

import functools
import os
import sys
import warnings
from typing import Any

__all__ = ["SUBMIT_KEYWORDS", "check_body", "note_reserved"]

_CO_GENERATOR = 0x20  # inspect.CO_GENERATOR
_CO_ASYNC_GENERATOR = 0x200  # inspect.CO_ASYNC_GENERATOR
# What runner.submit / Task.submit take for themselves, and what each is for.
SUBMIT_KEYWORDS = {
    "depends_on": "the handles it waits for",
    "key": "the handle id",
    "tags": "the handle's tags",
    "runner": "the runner of task.submit",
}
_HERE = os.path.dirname(__file__) + os.sep


def _code_and_bound(fn: Any) -> tuple[Any, frozenset[str], int]:
    """The code object behind ``fn``, the keywords a partial binds, and how many leading
    parameters are bound already (``self`` of a method, a partial's positional ones)."""
    bound: set[str] = set()
    skip = 0
    while isinstance(fn, functools.partial):
        bound.update(fn.keywords)
        skip += len(fn.args)
        fn = fn.func
    target = getattr(fn, "__func__", fn)
    if target is not fn:
        skip += 1  # a bound method: self
    code = getattr(target, "__code__", None)
    if code is None and not isinstance(fn, type):
        call = getattr(type(fn), "__call__", None)  # noqa: B004
        code = getattr(call, "__code__", None)
        skip += 1
    return code, frozenset(bound), skip


def check_body(fn: Any, name: str) -> None:
    """Refuse generator functions; warn of parameters ``submit`` would take for itself."""
    code, bound, skip = _code_and_bound(fn)
    if code is None:
        return
    flags = code.co_flags
    if flags & _CO_ASYNC_GENERATOR:
        raise TypeError(
            f"task {name!r} is an async generator function (it yields): a task runs once "
            "and its handle holds one value. Make it an 'async def' that returns the "
            "items, e.g. 'return [item async for item in source]', or submit one task "
            "per item"
        )
    if flags & _CO_GENERATOR:
        raise TypeError(
            f"task {name!r} is a generator function (it yields): a task runs once and its "
            "handle holds one value, and a generator's body would run outside the task's "
            "timeout and retries. Return the items instead, e.g. 'return list(...)', or "
            "submit one task per item (runner.map)"
        )
    names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    first = max(code.co_posonlyargcount, skip)  # positional-only ones cannot clash
    for param in names[first:]:
        if param in SUBMIT_KEYWORDS and param not in bound:
            short = name.rsplit(".", 1)[-1]
            warnings.warn(
                f"task {name!r} has a parameter named {param!r}, a keyword submit() takes "
                f"for itself ({SUBMIT_KEYWORDS[param]}), so submit({short}, {param}=...) "
                f"cannot pass it: pass it positionally or with "
                f"functools.partial({short}, {param}=...), or rename the parameter",
                UserWarning,
                stacklevel=_caller_level(),
            )


def note_reserved(exc: TypeError, fn: Any, name: str) -> None:
    """Add a note to a body's ``missing ... argument: 'key'`` error: that keyword went to
    ``submit``, which took it for itself."""
    message = str(exc)
    if "missing" not in message:
        return
    code, bound, _ = _code_and_bound(fn)
    if code is None:
        return
    params = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    for param in SUBMIT_KEYWORDS:
        if f"'{param}'" in message and param in params and param not in bound:
            short = name.rsplit(".", 1)[-1]
            exc.add_note(
                f"task {name!r}: {param}= is a keyword submit() takes for itself "
                f"({SUBMIT_KEYWORDS[param]}), so it did not reach the function; pass "
                f"{param!r} positionally, e.g. submit({short}, ..., value), or bind it "
                f"with functools.partial({short}, {param}=value)"
            )


def _caller_level() -> int:
    """The stacklevel of the first frame outside pyworkflowy's core (the definition)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_HERE):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level

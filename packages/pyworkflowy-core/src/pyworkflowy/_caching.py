"""Results cached by input, on the engine's side: the key of a call, the lookup before it
runs (a hit completes the handle), and storing what it returned.

Only handles of ``@task(cache=True)`` tasks on a runner with a cache come here
(``Extra.caching``); the key rules are in `_cachekey`. A call that cannot be keyed runs
uncached, with one `CacheWarning` per task and argument; a cache that fails to read or
write warns too and never fails the task.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import TYPE_CHECKING, Any

from ._types import TaskStatus

if TYPE_CHECKING:
    from ._engine import Engine
    from ._extra import Extra
    from ._handle import TaskHandle
    from ._outputs import Output
    from ._task import Task

__all__ = ["lookup", "store"]

_COMPLETED, _FAILED = TaskStatus.COMPLETED, TaskStatus.FAILED
_UNKEYABLE = b""  # a task whose identity cannot be hashed: never cached


class _NoValue(Exception):
    """An upstream has no value to key by: the task fails when its values are put in."""


def lookup(engine: Engine, h: TaskHandle, x: Extra) -> tuple[TaskStatus, Any, Any] | None:
    """Before ``h`` runs: the outcome that completes it from the cache, or ``None``.

    Whatever goes wrong here fails the task rather than the engine: the user's
    ``cache_key`` raising, or a `CacheWarning` that the warning filters make an error.
    """
    if engine.cache is None:
        return None
    try:
        return _lookup(engine, h, x)
    except Exception as exc:
        return _FAILED, None, exc


def _lookup(engine: Engine, h: TaskHandle, x: Extra) -> tuple[TaskStatus, Any, Any] | None:
    cache = engine.cache
    assert cache is not None
    fresh: list[bool] = []  # an upstream keyed by its key ran again: its value may be new
    key = _key(engine, h, x, fresh)
    if key is None:
        return None
    x.cache_key = key
    if fresh:
        return None  # run, and store under the key: older entries under it are stale
    now = engine.now()
    try:
        found, value = cache.get(key, now)
    except Exception as exc:
        _warn(engine, h._task, "lookup", f"reading the cache failed, so it runs: {exc!r}")
        return None
    if not found:
        return None
    x.cache_hit = True
    x.inputs = None  # the upstreams' references are let go
    h._started_at = now
    if engine.subscribers is not None:
        from .events import TaskCached

        engine.emit(TaskCached(h, now, key))
    return _COMPLETED, value, None


def store(engine: Engine, h: TaskHandle, key: str, value: Any) -> None:
    """``h`` ran and completed with ``value``: keep it under ``key``.

    A cache that refuses warns; only a warning the filters make an error raises (the
    engine then fails the task with it).
    """
    cache = engine.cache
    if cache is None:
        return
    task = h._task
    now = engine.now()
    ttl = task.options.cache_ttl
    try:
        cache.put(
            key,
            value,
            task=task.name,
            created_at=now,
            expires_at=None if ttl is None else now + ttl,
        )
    except Exception as exc:
        _warn(engine, task, "store", f"its result was not cached: {exc}")


def _key(engine: Engine, h: TaskHandle, x: Extra, fresh: list[bool]) -> str | None:
    task = h._task
    inputs = x.inputs
    user_key = task.options.cache_key
    if user_key is not None:
        if inputs is not None:
            from ._outputs import resolve

            try:
                args, kwargs = resolve(inputs, h)
            except Exception:
                return None  # an upstream has no value: it fails when the values go in
        else:
            args, kwargs = h._args, h._kwargs
        try:
            key = user_key(*args, **kwargs)
        except Exception as exc:  # the task fails, and nothing is paid for
            exc.add_note(f"raised by the cache_key of task {h.id!r}")
            raise
        if key is None:
            return None  # the function said: do not cache this call
        if not isinstance(key, str):
            raise TypeError(
                f"cache_key of task {task.name!r} must return a str (or None), got {key!r}"
            )
        return _digest(b"user", task.name.encode(), key.encode("utf-8", "surrogatepass"))
    from ._cachekey import Unhashable, cache_key

    identity = _identity(engine, task)
    if identity is _UNKEYABLE:
        return None
    args, kwargs = (h._args, h._kwargs) if inputs is None else (inputs.args, inputs.kwargs)
    try:
        return cache_key(identity, args, kwargs, lambda ref: _output_key(ref, h, fresh))
    except _NoValue:
        return None
    except Unhashable as exc:
        _warn(engine, task, exc.where, f"{exc.where} cannot be hashed stably: {exc.reason}")
        return None


def _identity(engine: Engine, task: Task) -> bytes:
    """The task's name and code, hashed once per task and run (a closure's captured
    values may change between runs)."""
    memo = engine.cache_identities
    identity = memo.get(task)
    if identity is None:
        from ._cachekey import Unhashable, task_identity

        try:
            identity = task_identity(task.fn, task.name)
        except Unhashable as exc:
            identity = _UNKEYABLE
            memo[task] = identity
            _warn(engine, task, exc.where, f"{exc.where} cannot be hashed stably: {exc.reason}")
        memo[task] = identity
    return identity


def _output_key(ref: Output[Any], user: TaskHandle, fresh: list[bool]) -> bytes | None:
    """An upstream's output stands in the key by the upstream's own key, else its value.

    A cached upstream that ran (rather than hit) may have a new value under its old key
    (its entry expired or was cleared): ``fresh`` says so, and the user runs again.
    """
    upstream = ref.handle
    ux = upstream._x
    if ux is not None and ux.cache_key is not None:
        if not ux.cache_hit:
            fresh.append(True)
        return b"key:" + ux.cache_key.encode()
    from ._cachekey import encode
    from ._outputs import value_of

    try:
        value = value_of(ref, user)
    except Exception as exc:
        raise _NoValue from exc
    return b"value:" + encode(value)


def _digest(*parts: bytes) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(len(part).to_bytes(8, "little"))
        sha.update(part)
    return sha.hexdigest()


def _warn(engine: Engine, task: Task, what: str, message: str) -> None:
    """One `CacheWarning` per task and cause: a fan of a million says it once."""
    warned = engine.cache_warned
    if (task.name, what) in warned:
        return
    warned.add((task.name, what))
    from .cache import CacheWarning

    warnings.warn(f"task {task.name!r} is not cached: {message}", CacheWarning, stacklevel=2)

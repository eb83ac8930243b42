"""Upstream pyworkflowy 0.2-0.4's spellings: `Pool`, ``pools=``, and 0.4's ``submit`` keywords.

Imported only when such a spelling is used. Each use warns (DeprecationWarning) and
names what to write instead; see docs/migrating.md.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from ._deps import UPSTREAM_SUBMIT
from ._validate import check_choice, check_int

if TYPE_CHECKING:
    from ._task import Task
    from .backends import Backend

__all__ = ["Pool", "PoolKind", "backends_from_pools", "upstream_submit"]

PoolKind = Literal["asyncio", "thread", "process", "offload"]
"""The kinds of upstream's pools; here, each kind is a backend."""
_KINDS: tuple[str, ...] = ("asyncio", "thread", "process", "offload")


class Pool:
    """Deprecated (upstream 0.2-0.4): a named pool; here, a backend of that name.

    ``TaskRunner(pools={"io": Pool("io", kind="thread", max_workers=4)})`` becomes
    ``TaskRunner(backends={"io": ThreadBackend()}, max_workers={"io": 4})``. Reserved slots
    (``reserve_for``, ``reserved_slots``) are not supported and are refused.
    """

    __slots__ = ("kind", "max_workers", "name", "reserve_for", "reserved_slots")

    def __init__(
        self,
        name: str,
        kind: PoolKind = "asyncio",
        max_workers: int = 8,
        reserve_for: tuple[str, ...] = (),
        reserved_slots: int = -1,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"Pool name must be a non-empty string, got {name!r}")
        self.name = name
        self.kind = check_choice(kind, "Pool kind", _KINDS)
        self.max_workers = check_int(max_workers, "Pool max_workers", 1)
        if reserve_for or reserved_slots > 0:
            raise ValueError(
                f"Pool {name!r}: reserved slots (reserve_for, reserved_slots) are not "
                "supported; bound work by backend with max_workers={name: n} instead"
            )
        self.reserve_for = tuple(reserve_for)
        self.reserved_slots = 0

    def is_privileged(self, source: str) -> bool:
        """Upstream: may a task from ``source`` use the reserved slots? With none reserved
        (the only kind of pool here), every source may."""
        return True

    def unprivileged_cap(self) -> int:
        """Upstream: how many tasks of unprivileged sources may run at once; with no
        reserved slots, ``max_workers``."""
        return self.max_workers - self.reserved_slots

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pool):
            return NotImplemented
        return (self.name, self.kind, self.max_workers) == (
            other.name,
            other.kind,
            other.max_workers,
        )

    def __hash__(self) -> int:
        return hash((self.name, self.kind, self.max_workers))

    def __repr__(self) -> str:
        return f"Pool(name={self.name!r}, kind={self.kind!r}, max_workers={self.max_workers})"


def backends_from_pools(
    pools: object, backends: Mapping[str, Backend] | None, max_workers: object
) -> tuple[dict[str, Backend], dict[str, int]]:
    """``pools=`` as ``backends=`` and a ``max_workers`` mapping, with a DeprecationWarning."""
    from ._lanes import make_backend
    from .backends import AsyncioBackend, ThreadBackend

    if not isinstance(pools, Mapping) or not pools:
        raise ValueError(f"pools must be a non-empty mapping of name to Pool, got {pools!r}")
    out: dict[str, Backend] = dict(backends or {})
    workers: dict[str, int] = dict(max_workers) if isinstance(max_workers, Mapping) else {}
    for key, pool in pools.items():
        if not isinstance(pool, Pool) or pool.name != key:
            raise ValueError(f"pools[{key!r}] must be a Pool named {key!r}, got {pool!r}")
        name = "asyncio" if key == "default" else key
        workers[name] = pool.max_workers
        if name in ("asyncio", "thread", "process"):
            continue  # the built-in backend of that name
        if pool.kind == "process":  # pyworkflowy-process, or an ImportError with the hint
            out[name] = make_backend("process", False, pool.max_workers)
        else:
            out[name] = AsyncioBackend() if pool.kind == "asyncio" else ThreadBackend()
    warnings.warn(
        "TaskRunner(pools=...) is upstream pyworkflowy 0.x's spelling; use "
        f"backends={{name: Backend}} and max_workers={workers!r}",
        DeprecationWarning,
        stacklevel=3,
    )
    return out, workers


def upstream_submit(
    task: Task, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any], str | None]:
    """Read 0.4's ``submit(task, args=(...), payload={...}, source=..., dedup_key=...)``.

    Only keywords that the function has no parameter of its own for are read this way
    (a function taking ``**kwargs`` gets them as arguments, as in 0.1). Returns the
    positional and keyword arguments, and the ``dedup_key`` (or ``None``).
    """
    import inspect

    try:
        parameters = inspect.signature(task.fn).parameters
    except (TypeError, ValueError):  # no signature (a builtin): nothing to tell apart
        return args, kwargs, None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return args, kwargs, None
    ours = UPSTREAM_SUBMIT.intersection(kwargs).difference(parameters)
    if not ours:
        return args, kwargs, None
    kwargs = dict(kwargs)
    given = {name: kwargs.pop(name) for name in sorted(ours)}
    if "args" in given:
        if args:
            raise TypeError("pass positional arguments or args=(...), not both")
        args = tuple(given["args"])
    payload = given.get("payload")
    if payload is not None:
        if not isinstance(payload, Mapping):
            raise TypeError(f"payload must be a mapping of keyword arguments, got {payload!r}")
        kwargs.update(payload)
    spelled = ", ".join(f"{name}=" for name in given)
    warnings.warn(
        f"submit(task, {spelled}) is upstream pyworkflowy 0.4's spelling; pass the "
        "arguments directly: submit(task, *args, **kwargs)"
        + ("; source= has no effect here" if "source" in given else ""),
        DeprecationWarning,
        stacklevel=4,
    )
    dedup_key = given.get("dedup_key")
    return args, kwargs, None if dedup_key is None else str(dedup_key)

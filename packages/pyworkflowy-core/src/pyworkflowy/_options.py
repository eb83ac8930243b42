"""`TaskOptions`: the one list of a task's execution options, validated once, frozen."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from ._validate import check_choice, check_int, check_seconds, is_number

__all__ = [
    "BACKOFFS",
    "DEP_FAILURE_POLICIES",
    "OPTION_NAMES",
    "UPSTREAM_TRIGGERS",
    "TaskOptions",
    "check_tags",
    "take_pool",
    "take_triggers",
]

BACKOFFS: tuple[str, ...] = ("none", "linear", "exponential")
DEP_FAILURE_POLICIES: tuple[str, ...] = ("fail", "skip", "run-anyway")
BUILTIN_SYNC_ONLY = ("thread", "process")  # built-in backends that cannot run coroutines


class TaskOptions(NamedTuple):
    """How a task runs: its name, backend, retries, timeout, backoff, dependency policy,
    tags (for ``TaskRunner(limits=..., rate_limits=...)``), caching, and whether a body
    that may have run already can run again on resume (``idempotent``).

    Built by ``@task(...)``, `TaskBase` class attributes or ``Task(fn, ...)`` through
    `TaskOptions.build`, which validates every value and names the bad one.
    """

    name: str
    backend: str | None = None
    retries: int = 0
    timeout: float | None = None
    backoff: str = "none"
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    on_dep_failure: str = "fail"
    tags: frozenset[str] = frozenset()
    cache: bool = False
    cache_key: Callable[..., str | None] | None = None
    cache_ttl: float | None = None
    idempotent: bool = True

    @classmethod
    def build(cls, name: str, is_async: bool = False, **options: Any) -> TaskOptions:
        """Validate ``options`` (the `OPTION_NAMES`) for a task called ``name``."""
        unknown = set(options) - OPTION_NAMES
        if unknown:
            raise TypeError(
                f"task {name!r} got unknown option(s) {sorted(unknown)}; "
                f"known: {sorted(OPTION_NAMES)}"
            )
        where = f"task {name!r}"
        try:
            return cls._build(name, is_async, options)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None

    @classmethod
    def _build(cls, name: str, is_async: bool, options: dict[str, Any]) -> TaskOptions:
        retries, max_attempts = options.get("retries"), options.get("max_attempts")
        if retries is not None and max_attempts is not None:
            raise ValueError(
                f"pass retries={retries!r} or max_attempts={max_attempts!r}, not both "
                "(max_attempts=N means retries=N-1)"
            )
        if max_attempts is not None:
            retries = check_int(max_attempts, "max_attempts", 1) - 1
        retries = check_int(0 if retries is None else retries, "retries", 0)
        timeout = options.get("timeout")
        if timeout is not None:
            timeout = check_seconds(timeout, "timeout", positive=True, hint=" (or None)")
        backoff = check_choice(options.get("backoff", "none"), "backoff", BACKOFFS)
        base = check_seconds(options.get("backoff_base", 1.0), "backoff_base")
        cap = options.get("backoff_max", 60.0)
        if not is_number(cap) or math.isnan(cap) or not cap >= 0:  # inf: no cap
            raise ValueError(f"backoff_max must be a number >= 0, got {cap!r}")
        policy = check_choice(
            options.get("on_dep_failure", "fail"), "on_dep_failure", DEP_FAILURE_POLICIES
        )
        backend = options.get("backend")
        if backend is not None:
            if not isinstance(backend, str) or not backend:
                raise ValueError(f"backend must be a non-empty string (or None), got {backend!r}")
            backend = str.__str__(backend)
            if is_async and backend in BUILTIN_SYNC_ONLY:
                raise ValueError(
                    f"async functions need the event loop, so backend={backend!r} cannot run "
                    "them; use backend='asyncio' or make the function sync"
                )
        cache_key = options.get("cache_key")
        if cache_key is not None and not callable(cache_key):
            raise ValueError(f"cache_key must be a callable (or None), got {cache_key!r}")
        ttl = options.get("cache_ttl")
        if ttl is not None:
            ttl = check_seconds(ttl, "cache_ttl", positive=True, hint=" (or None: no expiry)")
        cache = options.get("cache", False)
        if not isinstance(cache, bool):
            raise ValueError(f"cache must be True or False, got {cache!r}")
        idempotent = options.get("idempotent", True)
        if not isinstance(idempotent, bool):
            raise ValueError(f"idempotent must be True or False, got {idempotent!r}")
        return cls(
            name,
            backend,
            retries,
            timeout,
            backoff,
            base,
            float(cap),
            _retry_classes(options.get("retry_on", Exception)),
            policy,
            check_tags(options.get("tags")),
            cache or cache_key is not None or ttl is not None,
            cache_key,
            ttl,
            idempotent,
        )

    @property
    def max_attempts(self) -> int:
        """Attempts including the first: ``retries + 1``."""
        return self.retries + 1

    def backoff_delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based), capped."""
        if self.backoff == "linear":
            delay = self.backoff_base * attempt
        elif self.backoff == "exponential":
            delay = self.backoff_base * 2.0 ** (attempt - 1)
        else:
            return 0.0
        return min(delay, self.backoff_max)


def check_tags(tags: object, what: str = "tags") -> frozenset[str]:
    """``tags`` as a frozenset of non-empty strings: one string, or an iterable of them."""
    if tags is None:
        return _NO_TAGS
    if isinstance(tags, str):
        tags = (tags,)
    if not isinstance(tags, Iterable) or isinstance(tags, (bytes, Mapping)):
        raise ValueError(f"{what} must be a string or an iterable of strings, got {tags!r}")
    found = []
    for tag in tags:
        if not isinstance(tag, str) or not tag:
            raise ValueError(f"{what} must be non-empty strings, got {tag!r} in {tags!r}")
        found.append(str.__str__(tag))
    return frozenset(found) if found else _NO_TAGS


_NO_TAGS: frozenset[str] = frozenset()


def _retry_classes(retry_on: object) -> tuple[type[BaseException], ...]:
    if retry_on is None:  # upstream 0.x's spelling of the default
        return (Exception,)
    classes = retry_on if isinstance(retry_on, tuple) else (retry_on,)
    if not classes or not all(
        isinstance(c, type) and issubclass(c, BaseException) for c in classes
    ):
        raise ValueError(
            f"retry_on must be an exception class or a tuple of them, got {retry_on!r}"
        )
    return classes  # type: ignore[return-value]


#: Every keyword ``@task``, ``Task`` and `TaskBase` accept (``max_attempts`` is sugar).
OPTION_NAMES = frozenset(TaskOptions._fields) | {"max_attempts"}

# Upstream pyworkflowy 0.2-0.4 named backends "pools"; its "default" pool was the asyncio
# one and "offload" a thread pool.
_UPSTREAM_POOLS: dict[str, str | None] = {"default": None, "offload": "thread"}


UPSTREAM_TRIGGERS = frozenset({"triggers", "payload_map"})


def take_triggers(
    options: dict[str, Any], stacklevel: int
) -> tuple[tuple[str, ...], dict[str, str] | None] | None:
    """Upstream 0.2-0.4's ``triggers=``/``payload_map=`` taken out of ``options``, checked.

    They only matter to ``Scheduler.bind_tasks``; a DeprecationWarning points to
    ``Scheduler.on(event).do(task, payload_map=...)``.
    """
    if UPSTREAM_TRIGGERS.isdisjoint(options):
        return None
    triggers = options.pop("triggers", ())
    payload_map = options.pop("payload_map", None)
    if isinstance(triggers, str):
        triggers = (triggers,)
    if not isinstance(triggers, (tuple, list)) or not all(
        isinstance(name, str) and name for name in triggers
    ):
        raise TypeError(f"triggers must be a tuple of event names, got {triggers!r}")
    if payload_map is not None and not (
        isinstance(payload_map, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in payload_map.items())
    ):
        raise TypeError(f"payload_map must map payload keys to keywords, got {payload_map!r}")
    import warnings

    warnings.warn(
        "triggers=/payload_map= on a task are upstream pyworkflowy 0.x's spelling; use "
        "Scheduler.on(event).do(task, payload_map=...)",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )
    return tuple(triggers), None if payload_map is None else dict(payload_map)


def take_pool(options: dict[str, Any], stacklevel: int) -> None:
    """Turn upstream's ``pool=`` in ``options`` into ``backend=``, with a DeprecationWarning.

    ``stacklevel`` is the caller's, as for `warnings.warn`.
    """
    if "pool" not in options:
        return
    pool = options.pop("pool")
    if options.get("backend") is not None:
        raise TypeError(
            f"got backend={options['backend']!r} and pool={pool!r}: pass backend= only "
            "(pool= is upstream pyworkflowy 0.x's name for it)"
        )
    backend = _UPSTREAM_POOLS.get(pool, pool) if isinstance(pool, str) else pool
    import warnings

    warnings.warn(
        f"pool={pool!r} is upstream pyworkflowy 0.x's spelling; use backend={backend!r}",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )
    options["backend"] = backend

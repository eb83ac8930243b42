"""`TaskRunner`'s flow control: limits and rates by tag (`_gates`), and the result cache
(`_caching`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._validate import check_int

if TYPE_CHECKING:
    import os

    from ._engine import Engine
    from ._limits import RateLimit
    from ._serve import Driver
    from .cache import Cache

__all__ = ["FlowControl", "open_cache"]


class FlowControl:
    """Part of `TaskRunner`: ``limits``, ``rate_limits`` and ``cache``."""

    _engine: Engine
    _driver: Driver

    def _setup_flow(
        self, limits: object, rate_limits: object, cache: object, checkpointer: object
    ) -> None:
        """The constructor's ``limits=``, ``rate_limits=`` and ``cache=``, checked."""
        from ._limits import check_limits, check_rate_limits

        engine = self._engine
        for tag, limit in check_limits(limits).items():
            engine.set_gate(tag, limit, which="limit")
        for tag, rate in check_rate_limits(rate_limits).items():
            engine.set_gate(tag, rate=rate, which="rate")
        engine.cache, engine.owns_cache = open_cache(cache, checkpointer)

    @property
    def limits(self) -> Mapping[str, int]:
        """``{tag: n}``: at most n tasks with that tag run at once (see `set_limit`)."""
        return self._engine.gate_limits()

    @property
    def rate_limits(self) -> Mapping[str, RateLimit]:
        """``{tag: RateLimit}``: how often tasks with that tag may start."""
        return self._engine.gate_rates()

    @property
    def cache(self) -> Cache | None:
        """Where ``@task(cache=True)`` results are kept (``TaskRunner(cache=...)``)."""
        return self._engine.cache

    def set_limit(self, tag: str, limit: int | None) -> None:
        """At most ``limit`` tasks tagged ``tag`` run at once from now on (``None``: no
        limit). Safe from any thread and during a run: raising it starts waiting tasks
        at once; lowering it lets the running ones finish."""
        _check_tag(tag)
        if limit is not None:
            check_int(limit, f"the limit of tag {tag!r} (or None)", 1)
        self._on_loop(self._engine.set_gate, tag, limit, which="limit")

    def set_rate_limit(self, tag: str, rate: object) -> None:
        """Tasks tagged ``tag`` start at most at ``rate`` from now on: ``"10/s"``,
        ``"600/min"``, a number per second, ``(rate, burst)``, or ``None`` for no rate
        limit. Safe from any thread and during a run."""
        from ._limits import parse_rate

        _check_tag(tag)
        checked = None if rate is None else parse_rate(rate, f"the rate limit of tag {tag!r}")
        self._on_loop(self._engine.set_gate, tag, rate=checked, which="rate")

    def _on_loop(self, fn: Any, *args: Any, **kwargs: Any) -> None:
        engine = self._engine
        if engine.loop is not None and not engine.on_loop_thread():
            from functools import partial

            self._driver.call_on_loop(partial(fn, *args, **kwargs))
        else:
            fn(*args, **kwargs)


def _check_tag(tag: object) -> None:
    if not isinstance(tag, str) or not tag:
        raise ValueError(f"a tag must be a non-empty string, got {tag!r}")


def open_cache(cache: object, checkpointer: object = None) -> tuple[Cache | None, bool]:
    """``cache=`` as a `Cache` (a path opens pyworkflowy-persist's SQLite cache), and
    whether the runner made it (and so closes it at shutdown)."""
    from .cache import Cache

    if cache is None:
        return None, False
    if isinstance(cache, Cache):
        return cache, False
    import os

    if not isinstance(cache, (str, os.PathLike)):
        raise TypeError(
            f"cache must be a file path or a pyworkflowy.cache.Cache, got {type(cache).__name__}"
        )
    checkpoint = getattr(checkpointer, "path", None)
    if isinstance(checkpoint, (str, os.PathLike)) and _same_file(cache, checkpoint):
        raise ValueError(
            f"cache={os.fspath(cache)!r} is the checkpoint's file too: give the cache a "
            "file of its own"
        )
    return _cache_for_path(cache), True


def _same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    from pathlib import Path

    return Path(a).resolve() == Path(b).resolve()


def _cache_for_path(path: str | os.PathLike[str]) -> Cache:
    try:
        from pyworkflowy.persist import cache_for_path  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ImportError(
            "TaskRunner(cache=path) needs pyworkflowy-persist: pip install "
            "'pyworkflowy-core[persist]' (or pass a pyworkflowy.cache.Cache)"
        ) from exc
    return cache_for_path(path)

"""Lanes: one per backend a runner uses, each a queue of ready handles and a running count.

Also where a backend name becomes a `Backend` (after the runner's own ``backends=``):
the built-ins, then the ``pyworkflowy.backends`` entry-point group.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from .backends import AsyncioBackend, Backend, ThreadBackend

if TYPE_CHECKING:
    from ._engine import Engine
    from ._handle import TaskHandle

__all__ = ["DASK_HINT", "ENTRY_POINT_GROUP", "PROCESS_HINT", "Lane", "make_backend"]

ENTRY_POINT_GROUP = "pyworkflowy.backends"
PROCESS_HINT = (
    "backend 'process' needs pyworkflowy-process: pip install 'pyworkflowy-core[process]'"
)
# "dask" is no built-in: pyworkflowy-dask registers it as an entry point. Without one, say so.
DASK_HINT = "backend 'dask' needs pyworkflowy-dask: pip install 'pyworkflowy-core[dask]'"
_INF = float("inf")


class Lane:
    """A backend's ready handles (FIFO; a retry goes first) and its slots."""

    __slots__ = (
        "backend",
        "engine",
        "limit",
        "name",
        "prepares",
        "ready",
        "running",
        "sized_by_backend",
    )

    def __init__(
        self,
        name: str,
        backend: Backend,
        limit: int | None,
        engine: Engine,
        sized_by_backend: bool = False,
    ) -> None:
        self.name = name
        self.backend = backend
        self.engine = engine
        self.limit: float = _INF if limit is None else limit
        self.ready: deque[TaskHandle] = deque()
        self.running = 0
        self.prepares = type(backend).prepare is not Backend.prepare
        # Its slots are what the backend declares (``Backend.max_workers``): read again at
        # each run's start, so a backend sized by its cluster follows the cluster.
        self.sized_by_backend = sized_by_backend

    def open(self, loop: Any) -> None:
        if self.sized_by_backend:
            declared = self.backend.max_workers
            if declared is not None and declared >= 1:
                self.limit = declared
        self.backend.open(loop, None if self.limit == _INF else int(self.limit))


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def make_backend(name: str, coroutines: bool, max_workers: int | None) -> Backend:
    """A new backend for ``name`` (built-in or entry point), or `ValueError`/`ImportError`.

    ``"asyncio"`` is two backends: coroutines on the loop (``coroutines=True``) and a
    thread pool of its own for sync bodies.
    """
    if name == "asyncio":
        return AsyncioBackend() if coroutines else ThreadBackend(max_workers)
    if name == "thread":
        return ThreadBackend(max_workers)
    if name == "process":
        try:
            from pyworkflowy.process import ProcessBackend  # type: ignore[import-not-found]
        except ImportError as exc:
            raise ImportError(PROCESS_HINT) from exc
        return ProcessBackend()
    entry = _entry_points().get(name)
    if entry is None and name == "dask":
        raise ImportError(DASK_HINT)
    if entry is None:
        raise ValueError(
            f"unknown backend {name!r}: use one of 'asyncio', 'thread', 'process', pass "
            f"TaskRunner(backends={{{name!r}: ...}}), or install a package that registers it "
            f"in the {ENTRY_POINT_GROUP!r} entry-point group"
        )
    backend = entry.load()()
    if not isinstance(backend, Backend):
        raise TypeError(
            f"entry point {name!r} in {ENTRY_POINT_GROUP!r} must give a pyworkflowy.backends."
            f"Backend, got {type(backend).__name__}"
        )
    return backend

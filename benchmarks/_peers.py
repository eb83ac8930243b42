"""The peer engines run_all.py compares pyworkflowy with, each used through its own API.

Every engine offers ``fan(n)`` (n no-op tasks, then one task depending on all of them) and
``chain(n)`` (n no-op tasks, each depending on the previous one), timed from building the
graph to having the last result, and ``close()``. An engine is set up (imports, clusters,
servers) before the clock starts: the figures are what a warm engine costs per task.
The third-party packages are imported when an engine is made, so this module imports
cheaply and a missing peer fails only its own measurements.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

WORKERS = 8  # the thread count the distributed worker gets, like TaskRunner's default


def noop(i: int) -> None:
    """A fan's task, and the head of a chain."""


def step(previous: None, i: int) -> None:
    """A chain link: takes the previous task's result."""


def fan_in(parts: list[None]) -> None:
    """The task a fan ends with; takes every other task's result."""


class Engine:
    """What run_all.py times: one engine, set up once, running graphs of any size."""

    def fan(self, n: int) -> None:
        raise NotImplementedError

    def chain(self, n: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the engine holds (clusters, servers)."""


class DaskDelayed(Engine):
    """``dask.delayed`` objects computed with ``scheduler="threads"`` (its default pool)."""

    def __init__(self) -> None:
        import dask

        self.delayed = dask.delayed

    def fan(self, n: int) -> None:
        delayed = self.delayed
        parts = [delayed(noop)(i) for i in range(n)]
        delayed(fan_in)(parts).compute(scheduler="threads")

    def chain(self, n: int) -> None:
        delayed = self.delayed
        last = delayed(noop)(0)
        for i in range(1, n):
            last = delayed(step)(last, i)
        last.compute(scheduler="threads")


class DaskGraph(Engine):
    """Dask's low-level graph spec (a dict of task tuples) run by ``dask.threaded.get``.

    The same scheduler as `DaskDelayed` without the delayed objects: one graph, no
    per-call graph layers to merge and cull (which costs ``delayed`` O(n²) on a fan).
    """

    def __init__(self) -> None:
        import dask.threaded

        self.get = dask.threaded.get

    def fan(self, n: int) -> None:
        graph: dict[Any, Any] = {("noop", i): (noop, i) for i in range(n)}
        graph["fan_in"] = (fan_in, [("noop", i) for i in range(n)])
        self.get(graph, "fan_in")

    def chain(self, n: int) -> None:
        graph: dict[Any, Any] = {("link", 0): (noop, 0)}
        for i in range(1, n):
            graph[("link", i)] = (step, ("link", i - 1), i)
        self.get(graph, ("link", n - 1))


class Distributed(Engine):
    """An in-process ``LocalCluster`` (one worker, 8 threads) driven by a ``Client``."""

    def __init__(self) -> None:
        from distributed import Client, LocalCluster

        self.cluster = LocalCluster(
            processes=False, n_workers=1, threads_per_worker=WORKERS, dashboard_address=None
        )
        self.client = Client(self.cluster)

    def fan(self, n: int) -> None:
        client = self.client
        parts = client.map(noop, range(n), pure=False)
        client.submit(fan_in, parts, pure=False).result()

    def chain(self, n: int) -> None:
        client = self.client
        last = client.submit(noop, 0, pure=False)
        for i in range(1, n):
            last = client.submit(step, last, i, pure=False)
        last.result()

    def close(self) -> None:
        self.client.close()
        self.cluster.close()


def prefect_environment(home: str) -> dict[str, str]:
    """Settings for a throwaway Prefect: its own home and SQLite file, no telemetry."""
    return {
        "PREFECT_HOME": home,
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "DO_NOT_TRACK": "1",
    }


class Prefect(Engine):
    """Prefect 3 flows against the ephemeral local server it starts by default.

    Fan: ``task.submit()`` n times, then one task with ``wait_for=`` all of them; chain:
    each ``submit`` waits for the previous future. Run with `prefect_environment` set.
    """

    def __init__(self) -> None:
        if "PREFECT_HOME" not in os.environ:
            raise RuntimeError("run Prefect with prefect_environment() in os.environ")
        from prefect import flow, task

        # Any: Prefect's overloads of submit() accept wait_for= at run time, but their
        # ParamSpec typing does not spell it for type checkers.
        noop_task: Any = task(noop)
        fan_in_task: Any = task(name="fan_in")(noop)

        @flow
        def prefect_fan(n: int) -> None:
            parts = [noop_task.submit(i) for i in range(n)]
            fan_in_task.submit(n, wait_for=parts).result()

        @flow
        def prefect_chain(n: int) -> None:
            last = noop_task.submit(0)
            for i in range(1, n):
                last = noop_task.submit(i, wait_for=[last])
            last.result()

        self._fan: Callable[[int], None] = prefect_fan
        self._chain: Callable[[int], None] = prefect_chain

    def fan(self, n: int) -> None:
        self._fan(n)

    def chain(self, n: int) -> None:
        self._chain(n)


PEERS: dict[str, Callable[[], Engine]] = {
    "dask": DaskDelayed,
    "dask-graph": DaskGraph,
    "distributed": Distributed,
    "prefect": Prefect,
}

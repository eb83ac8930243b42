"""The lean floor the runner is measured against: a minimal asyncio DAG executor.

Indegree counters, a dependents list per node and one ``create_task`` per ready node;
no retries, timeouts, statuses or results objects. About 40 lines, on purpose.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any


async def run_floor(
    deps: Sequence[Sequence[int]], fn: Callable[[int], Awaitable[Any]]
) -> list[Any]:
    """Run ``fn(i)`` for ``len(deps)`` nodes; node i waits for the nodes in ``deps[i]``."""
    loop = asyncio.get_running_loop()
    n = len(deps)
    indegree = [len(d) for d in deps]
    dependents: list[list[int]] = [[] for _ in range(n)]
    for i, ds in enumerate(deps):
        for d in ds:
            dependents[d].append(i)
    results: list[Any] = [None] * n
    remaining = n
    finished = loop.create_future()
    live: set[asyncio.Task[None]] = set()

    async def node(i: int) -> None:
        nonlocal remaining
        results[i] = await fn(i)
        remaining -= 1
        for j in dependents[i]:
            indegree[j] -= 1
            if indegree[j] == 0:
                spawn(j)
        if remaining == 0:
            finished.set_result(None)

    def spawn(i: int) -> None:
        t = loop.create_task(node(i))
        live.add(t)
        t.add_done_callback(live.discard)

    for i in range(n):
        if indegree[i] == 0:
            spawn(i)
    if n:
        await finished
    return results

"""Graph queries that only edge additions after submit need (submit itself cannot close a cycle)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._handle import TaskHandle

__all__ = ["path_between"]


def path_between(target: TaskHandle, start: TaskHandle) -> list[TaskHandle] | None:
    """The dependency path from ``start`` down to ``target``, or ``None`` if there is none.

    If ``start`` already (transitively) depends on ``target``, making ``target`` depend on
    ``start`` would close a cycle. Iterative DFS over ``deps``: O(nodes reachable).
    """
    parent: dict[int, TaskHandle | None] = {id(start): None}
    stack = [start]
    while stack:
        node = stack.pop()
        if node is target:
            path = [node]
            while (prev := parent[id(path[-1])]) is not None:
                path.append(prev)
            return path[::-1]
        for dep in node.deps:
            if id(dep) not in parent:
                parent[id(dep)] = node
                stack.append(dep)
    return None

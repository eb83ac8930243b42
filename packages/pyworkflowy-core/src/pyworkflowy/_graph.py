"""The task graph: links between handles, release of dependents, and cycle checks.

Each handle counts its unfinished dependencies (``_pending``) and lists its dependents
(one kept bare, more in a list: most nodes have at most one, and a list per node is a
million extra objects in a big fan). Submit cannot close a cycle (its dependents do not
exist yet); `path_between` serves the edges added later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import DependencyFailedError
from ._types import TERMINAL, TaskStatus

if TYPE_CHECKING:
    from ._handle import TaskHandle

__all__ = ["blocked_outcome", "link", "path_between"]

_COMPLETED, _FAILED, _SKIPPED = TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.SKIPPED
_UNSUCCESSFUL = TERMINAL - {_COMPLETED}


def link(handle: TaskHandle, dep: TaskHandle) -> None:
    """Make ``handle`` wait for ``dep`` (or note ``dep``'s failure if it already ended)."""
    status = dep._status
    if status in TERMINAL:
        if status is not _COMPLETED and (handle._blocker is None or status is not _SKIPPED):
            handle._blocker = dep
        return
    dependents = dep._dependents
    if dependents is None:
        dep._dependents = handle
    elif isinstance(dependents, list):
        dependents.append(handle)
    else:
        dep._dependents = [dependents, handle]
    handle._pending += 1


def blocked_outcome(
    handle: TaskHandle,
) -> tuple[TaskStatus, None, DependencyFailedError] | None:
    """The terminal outcome ``on_dep_failure`` gives a handle whose dependency failed."""
    x = handle._x
    blocker = None if x is None else x.blocker
    if blocker is None:
        return None
    policy = handle._task.options.on_dep_failure
    if policy == "run-anyway":
        return None
    ended = blocker._status.value
    failed = [d for d in handle.deps if d._status in _UNSUCCESSFUL]
    names = tuple(d.name for d in failed)
    ids = tuple(d.id for d in failed)
    if policy == "skip" or blocker._status is _SKIPPED:
        message = f"task {handle.id!r} was skipped: dependency {blocker.id!r} ended {ended}"
        return _SKIPPED, None, DependencyFailedError(message, failed=names, failed_ids=ids)
    error = DependencyFailedError(
        f"task {handle.id!r} did not run: dependency {blocker.id!r} ended {ended}",
        failed=names,
        failed_ids=ids,
    )
    return _FAILED, None, error._blame(blocker.id, blocker._error)


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

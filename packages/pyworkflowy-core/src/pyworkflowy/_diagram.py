"""`TaskRunner.to_mermaid` and `TaskRunner.to_dot`: the handle graph as diagram text.

Each handle is a node coloured by its `TaskStatus`; each dependency an edge from the
dependency to its dependent. Siblings that share a task name, their dependencies and their
dependents (the items of a map) are drawn as one node with a count once there are at
least ``collapse`` of them, so a map of 10,000 tasks stays one box. Draws `Item`s: made
from live handles (through their public attributes only) or from a checkpoint's records
(``pyworkflowy graph``); O(items + edges).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ._types import TaskStatus

if TYPE_CHECKING:
    from ._handle import TaskHandle

__all__ = [
    "DEFAULT_COLLAPSE",
    "STYLES",
    "Item",
    "dot",
    "graph",
    "items_of_handles",
    "items_of_records",
    "mermaid",
]

#: the size from which a group of alike siblings becomes one node
DEFAULT_COLLAPSE = 10

#: fill and border colour of each status
STYLES: dict[TaskStatus, tuple[str, str]] = {
    TaskStatus.PENDING: ("#f5f5f5", "#9e9e9e"),
    TaskStatus.READY: ("#e3f2fd", "#64b5f6"),
    TaskStatus.RUNNING: ("#fff3cd", "#e0a800"),
    TaskStatus.RETRYING: ("#ffe0b2", "#fb8c00"),
    TaskStatus.COMPLETED: ("#d4edda", "#28a745"),
    TaskStatus.FAILED: ("#f8d7da", "#dc3545"),
    TaskStatus.CANCELLED: ("#e2e3e5", "#6c757d"),
    TaskStatus.SKIPPED: ("#fafafa", "#bdbdbd"),
}

# The status a group of mixed statuses is coloured by: the first of these it holds.
_PRECEDENCE = (
    TaskStatus.FAILED,
    TaskStatus.RETRYING,
    TaskStatus.RUNNING,
    TaskStatus.CANCELLED,
    TaskStatus.SKIPPED,
    TaskStatus.READY,
    TaskStatus.PENDING,
    TaskStatus.COMPLETED,
)
_NEWLINE = re.compile(r"\r\n|\r|\n")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # tabs and newlines are handled apart


class Item(NamedTuple):
    """What the diagrams draw of one handle or record."""

    id: str
    name: str
    status: TaskStatus
    deps: tuple[str, ...]  # the ids it depends on


def items_of_handles(handles: Iterable[TaskHandle]) -> list[Item]:
    """The diagram items of live handles."""
    return [Item(h.id, h.name, h.status, tuple(d.id for d in h.deps)) for h in handles]


#: a record's status as a `TaskStatus`: a start record's task was running
_RECORD_STATUS = {
    **{status.value: status for status in TaskStatus},
    "started": TaskStatus.RUNNING,
    "started-once": TaskStatus.RUNNING,
}


def items_of_records(records: Mapping[str, Mapping[str, Any]]) -> list[Item]:
    """The diagram items of a checkpoint's records (by handle id), in the order the tasks
    started (those that never did last), so the drawing follows the run."""
    from ._checkpoint import in_start_order

    return [
        Item(
            hid,
            str(records[hid].get("name")),
            _RECORD_STATUS.get(records[hid].get("status"), TaskStatus.PENDING),  # type: ignore[arg-type]
            tuple(records[hid].get("depends_on") or ()),
        )
        for hid in in_start_order(records)
    ]


class _Node:
    """One box: an item, or a group of alike siblings."""

    __slots__ = ("handles", "key")

    def __init__(self, key: tuple[object, ...], first: Item) -> None:
        self.key = key
        self.handles = [first]

    def status(self) -> TaskStatus:
        statuses = {h.status for h in self.handles}
        return next(s for s in _PRECEDENCE if s in statuses)

    def lines(self) -> list[str]:
        handles = self.handles
        if len(handles) == 1:
            return [handles[0].id]
        counts: dict[TaskStatus, int] = {}
        for h in handles:
            counts[h.status] = counts.get(h.status, 0) + 1
        tally = ", ".join(f"{counts[s]:,} {s.value}" for s in TaskStatus if s in counts)
        return [f"{handles[0].name} \u00d7{len(handles):,}", tally]


def graph(
    handles: Sequence[Item], collapse: int | None
) -> tuple[list[_Node], list[tuple[int, int]]]:
    """The nodes (in the order of ``handles``) and the edges between their indexes."""
    collapse = _check_collapse(collapse)
    deps = {h.id: h.deps for h in handles}
    dependents: dict[str, list[str]] = {}
    for hid, ids in deps.items():
        for dep in ids:
            dependents.setdefault(dep, []).append(hid)
    groups: dict[tuple[object, ...], _Node] = {}
    for h in handles:
        key: tuple[object, ...] = (
            h.name,
            frozenset(deps[h.id]),
            frozenset(dependents.get(h.id, ())),
        )
        node = groups.get(key)
        if node is None:
            groups[key] = _Node(key, h)
        else:
            node.handles.append(h)
    position = {h.id: i for i, h in enumerate(handles)}
    nodes: list[_Node] = []
    for node in groups.values():
        if collapse is not None and len(node.handles) >= collapse:
            nodes.append(node)
        else:
            nodes.extend(_Node((h.id,), h) for h in node.handles)
    nodes.sort(key=lambda node: position[node.handles[0].id])
    index = {h.id: i for i, node in enumerate(nodes) for h in node.handles}
    edges: dict[tuple[int, int], None] = {}
    for h in handles:
        to = index[h.id]
        for dep in deps[h.id]:
            if dep in index:  # a dependency the runner no longer holds is left out
                edges[index[dep], to] = None
    return nodes, list(edges)


def _check_collapse(collapse: object) -> int | None:
    if collapse is None:
        return None
    if not isinstance(collapse, int) or isinstance(collapse, bool) or collapse < 2:
        raise ValueError(f"collapse must be an integer >= 2 or None, got {collapse!r}")
    return collapse


# -- Mermaid ---------------------------------------------------------------------------------
def _mermaid_text(text: str) -> str:
    """``text`` for a double-quoted Mermaid label: entity codes for what Mermaid reads."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text)
    text = re.sub(r"[#\"<>&`\[\]{}()|;]", lambda m: f"#{ord(m[0])};", text)
    return _NEWLINE.sub("<br>", text)


def mermaid(items: Sequence[Item], collapse: int | None = DEFAULT_COLLAPSE) -> str:
    """A Mermaid flowchart of ``items``."""
    nodes, edges = graph(items, collapse)
    out = ["flowchart TD"]
    used: dict[TaskStatus, None] = {}
    for i, node in enumerate(nodes):
        label = "<br>".join(_mermaid_text(line) for line in node.lines())
        status = node.status()
        used[status] = None
        out.append(f'    n{i}["{label}"]:::{status.value}')
    out.extend(f"    n{a} --> n{b}" for a, b in edges)
    for status in TaskStatus:
        if status in used:
            fill, stroke = STYLES[status]
            out.append(f"    classDef {status.value} fill:{fill},stroke:{stroke},color:#000")
    return "\n".join(out) + "\n"


# -- Graphviz DOT ----------------------------------------------------------------------------
def _dot_text(text: str) -> str:
    """``text`` for a double-quoted DOT string: escaped quotes, backslashes and entities."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text)
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")
    return _NEWLINE.sub("\\\\n", text)


def dot(items: Sequence[Item], collapse: int | None = DEFAULT_COLLAPSE) -> str:
    """A Graphviz ``digraph`` of ``items``."""
    nodes, edges = graph(items, collapse)
    out = [
        "digraph pyworkflowy {",
        '    node [shape=box, style="rounded,filled", fontname="Helvetica"];',
    ]
    for i, node in enumerate(nodes):
        label = "\\n".join(_dot_text(line) for line in node.lines())
        status = node.status()
        fill, stroke = STYLES[status]
        out.append(
            f'    n{i} [label="{label}", fillcolor="{fill}", color="{stroke}", '
            f'tooltip="{status.value}"];'
        )
    out.extend(f"    n{a} -> n{b};" for a, b in edges)
    out.append("}")
    return "\n".join(out) + "\n"

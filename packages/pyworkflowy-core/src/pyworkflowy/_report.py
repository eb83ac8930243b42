"""``pyworkflowy report``: one self-contained HTML page of a checkpoint's run.

The page holds a timeline (a Gantt chart: each attempt a bar, coloured by how it ended,
in the rows of the lane that ran it) and the dependency graph (the nodes and edges of
`_diagram.graph`, laid out in layers), both drawn with plotly, whose JavaScript is
inlined so the page opens offline. plotly is the optional ``[report]`` extra, imported
only here.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._checkpoint import record_time
from ._diagram import DEFAULT_COLLAPSE, STYLES, graph, items_of_records
from ._types import TaskStatus

__all__ = [
    "BAR_COLOURS",
    "REPORT_HINT",
    "ROWS_PER_LANE",
    "ROWS_PER_TASK",
    "report_html",
    "write_report",
]

REPORT_HINT = (
    "pyworkflowy report draws with plotly, which is not installed: "
    "pip install 'pyworkflowy-core[report]'"
)
#: records that do not name their lane (older files): up to this many tasks the timeline
#: has one row per task; above, one row per task name
ROWS_PER_TASK = 40
#: at most this many rows per lane: attempts that overlap more than this share a row
ROWS_PER_LANE = 32
_MIN_WIDTH = 1e-4  # seconds: a bar too short to see is drawn this wide
#: the colour of a bar: the status its attempt ended with (a retried attempt: retrying)
BAR_COLOURS: dict[str, str] = {
    "completed": STYLES[TaskStatus.COMPLETED][1],
    "failed": STYLES[TaskStatus.FAILED][1],
    "retried": STYLES[TaskStatus.RETRYING][1],
    "cancelled": STYLES[TaskStatus.CANCELLED][1],
    "running": STYLES[TaskStatus.RUNNING][1],
}
_RECORD_BAR = {"started": "running", "started-once": "running", "skipped": "cancelled"}

Record = Mapping[str, Any]
_ORDER = ("completed", "failed", "cancelled", "skipped", "started", "started-once")


def _attempts(record: Record) -> list[tuple[float, float | None]]:
    """``(start, end)`` of each attempt the record knows of (its whole span, if no more)."""
    pairs = []
    for pair in record.get("attempt_times") or ():
        if isinstance(pair, (list, tuple)) and len(pair) == 2:
            start = record_time(pair[0])
            if start is not None:
                pairs.append((start, record_time(pair[1])))
    if not pairs:
        start = record_time(record.get("started_at"))
        if start is not None:
            pairs.append((start, record_time(record.get("finished_at"))))
    return pairs


def _lane_of(record: Record) -> str | None:
    """The lane a record names (its ``backend``), or None (a record written before)."""
    backend = record.get("backend")
    return backend if isinstance(backend, str) else None


def _lane_rows(bars: list[dict[str, Any]]) -> None:
    """Give each bar of a lane a row of that lane: a lane's attempts are packed into as few
    rows as never overlap (up to `ROWS_PER_LANE`), so a lane of eight workers that were
    kept busy shows as eight rows. A lane with one row is named alone, else ``"lane #k"``.
    Packing goes by the drawn width (a bar is at least `_MIN_WIDTH` wide), so no bar is
    drawn over another in its row."""
    ends: dict[str, list[float]] = {}  # per lane, where each of its rows is free from
    for bar in sorted(bars, key=lambda bar: (bar["start"], bar["length"])):
        rows = ends.setdefault(bar["lane"], [])
        end = bar["start"] + max(bar["length"], _MIN_WIDTH)
        k = next((k for k, free in enumerate(rows) if free <= bar["start"]), None)
        if k is None and len(rows) < ROWS_PER_LANE:
            k = len(rows)
            rows.append(end)
        elif k is None:  # more overlap than rows: the row that frees first
            k = min(range(len(rows)), key=rows.__getitem__)
        rows[k] = max(rows[k], end)
        bar["slot"] = k
    for bar in bars:
        lane = bar["lane"]
        bar["row"] = lane if len(ends[lane]) == 1 else f"{lane} #{bar['slot'] + 1}"


def _bars(records: Mapping[str, Record]) -> tuple[list[dict[str, Any]], float, float]:
    """One dict per attempt (lane, row, start, length, status, text), and the run's first
    and last times: an attempt with no end (it was running) lasts until the last time.

    An attempt of a record that names its lane goes to a row of that lane (see
    `_lane_rows`); one of a record that does not (written before records named it) to a
    row of its own task, or of its task name when more than `ROWS_PER_TASK` such tasks ran.
    """
    spans = {hid: _attempts(record) for hid, record in records.items()}
    times = [t for pairs in spans.values() for pair in pairs for t in pair if t is not None]
    times += [t for r in records.values() if (t := record_time(r.get("finished_at"))) is not None]
    if not times:
        return [], 0.0, 0.0
    first, last = min(times), max(times)
    unnamed = sum(1 for hid, pairs in spans.items() if pairs and _lane_of(records[hid]) is None)
    by_task = unnamed <= ROWS_PER_TASK
    bars = []
    for hid, pairs in spans.items():
        record = records[hid]
        status = str(record.get("status"))
        lane = _lane_of(record)
        for n, (start, end) in enumerate(pairs, 1):
            final = n == len(pairs)
            outcome = _RECORD_BAR.get(status, status) if final else "retried"
            if end is None:
                end, outcome = last, "running"
            text = (
                f"{html.escape(hid)}<br>attempt {n} of {len(pairs)}: {outcome}<br>"
                f"{start - first:.3f}s to {end - first:.3f}s ({end - start:.3f}s)"
            )
            if lane is not None:
                text += f"<br>{html.escape(str(record.get('name')))} on {html.escape(lane)}"
            bars.append(
                {
                    "lane": lane,
                    "slot": 0,
                    "row": hid if by_task else str(record.get("name")),
                    "start": start - first,
                    "length": end - start,
                    "status": outcome if outcome in BAR_COLOURS else "failed",
                    "text": text,
                }
            )
    _lane_rows([bar for bar in bars if bar["lane"] is not None])
    return bars, first, last


def _row_order(bars: list[dict[str, Any]]) -> list[str]:
    """The rows top to bottom: by the first start of their lane (a lane's rows together,
    in their order) or of their task."""
    group_first: dict[tuple[bool, str], int] = {}
    for i, bar in enumerate(sorted(bars, key=lambda bar: bar["start"])):
        lane = bar["lane"]
        group_first.setdefault((lane is None, bar["row"] if lane is None else lane), i)

    def key(bar: dict[str, Any]) -> tuple[int, int]:
        lane = bar["lane"]
        return group_first[(lane is None, bar["row"] if lane is None else lane)], bar["slot"]

    return list(dict.fromkeys(bar["row"] for bar in sorted(bars, key=key)))


def _timeline(bars: list[dict[str, Any]]) -> Any:
    import plotly.graph_objects as go  # type: ignore[import-not-found]

    by_lane = any(bar["lane"] is not None for bar in bars)
    rows = _row_order(bars)
    figure = go.Figure()
    for status, colour in BAR_COLOURS.items():
        mine = [bar for bar in bars if bar["status"] == status]
        if not mine:
            continue
        figure.add_trace(
            go.Bar(
                name=status,
                orientation="h",
                y=[bar["row"] for bar in mine],
                base=[bar["start"] for bar in mine],
                # a bar too short to see is drawn one pixel-ish wide
                x=[max(bar["length"], _MIN_WIDTH) for bar in mine],
                # a thin white edge tells back-to-back attempts in one row apart
                marker={"color": colour, "line": {"width": 1, "color": "white"}},
                hovertext=[bar["text"] for bar in mine],
                hoverinfo="text",
            )
        )
    figure.update_layout(
        title=(
            "Timeline: each attempt, in the rows of the lane that ran it"
            if by_lane
            else "Timeline: each attempt of each task"
        ),
        barmode="overlay",
        xaxis={"title": "seconds since the first start", "rangemode": "tozero"},
        yaxis={"categoryorder": "array", "categoryarray": rows[::-1], "automargin": True},
        height=max(300, 120 + 28 * len(rows)),
        legend={"title": "ended"},
        plot_bgcolor="white",
    )
    figure.update_xaxes(showgrid=True, gridcolor="#eeeeee")
    return figure


def _layers(n: int, edges: list[tuple[int, int]]) -> list[int]:
    """The layer of each node: the length of the longest path of edges reaching it."""
    incoming = [0] * n
    out: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        out[a].append(b)
        incoming[b] += 1
    layer = [0] * n
    ready = [i for i in range(n) if incoming[i] == 0]
    while ready:
        a = ready.pop()
        for b in out[a]:
            layer[b] = max(layer[b], layer[a] + 1)
            incoming[b] -= 1
            if incoming[b] == 0:
                ready.append(b)
    return layer


def _graph(records: Mapping[str, Record]) -> Any:
    import plotly.graph_objects as go  # type: ignore[import-not-found]

    nodes, edges = graph(items_of_records(records), DEFAULT_COLLAPSE)
    layer = _layers(len(nodes), edges)
    slot: dict[int, int] = {}
    xs, ys = [], []
    for i in range(len(nodes)):
        ys.append(-slot.get(layer[i], 0))
        slot[layer[i]] = slot.get(layer[i], 0) + 1
        xs.append(layer[i])
    edge_x: list[float | None] = []
    edge_y: list[float | None] = []
    for a, b in edges:
        edge_x += [xs[a], xs[b], None]
        edge_y += [ys[a], ys[b], None]
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=edge_x,
            y=edge_y,
            mode="lines",
            line={"color": "#9e9e9e", "width": 1.5},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    for a, b in edges:  # an arrowhead at each dependent
        figure.add_annotation(
            x=xs[b],
            y=ys[b],
            ax=xs[a],
            ay=ys[a],
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=2,
            arrowcolor="#9e9e9e",
            standoff=14,
            text="",
        )
    statuses = [node.status() for node in nodes]
    figure.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers+text",
            marker={
                "symbol": "square",
                "size": 22,
                "color": [STYLES[s][0] for s in statuses],
                "line": {"color": [STYLES[s][1] for s in statuses], "width": 2},
            },
            text=[html.escape(node.lines()[0]) for node in nodes],
            textposition="bottom center",
            hovertext=[
                html.escape(" \u2014 ".join(node.lines())) + f" ({s.value})"
                for node, s in zip(nodes, statuses, strict=True)
            ],
            hoverinfo="text",
            showlegend=False,
        )
    )
    depth = max(slot.values(), default=1)
    figure.update_layout(
        title="Dependencies: an arrow from each dependency to its dependent",
        xaxis={"visible": False},
        yaxis={"visible": False},
        height=max(300, 120 + 70 * depth),
        plot_bgcolor="white",
    )
    return figure


def _summary(records: Mapping[str, Record], first: float, last: float) -> str:
    counts: dict[str, int] = {}
    for record in records.values():
        status = str(record.get("status"))
        counts[status] = counts.get(status, 0) + 1
    known = {status: i for i, status in enumerate(_ORDER)}
    ordered = sorted(counts, key=lambda status: (known.get(status, len(known)), status))
    tally = ", ".join(f"{counts[status]} {html.escape(status)}" for status in ordered)
    span = f"{last - first:.3f}s from the first start to the last end"
    return f"{len(records)} records ({tally or 'none'}); {span}"


def report_html(records: Mapping[str, Record], title: str = "pyworkflowy run") -> str:
    """The report page of ``records`` (a checkpoint's, by handle id) as HTML text."""
    bars, first, last = _bars(records)
    timeline = _timeline(bars).to_html(full_html=False, include_plotlyjs=True)
    dependencies = _graph(records).to_html(full_html=False, include_plotlyjs=False)
    heading = html.escape(title)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>pyworkflowy report: {heading}</title>\n"
        "<style>body{font-family:Helvetica,Arial,sans-serif;margin:1.5em}</style>\n"
        "</head>\n<body>\n"
        f"<h1>pyworkflowy report: {heading}</h1>\n"
        f"<p>{_summary(records, first, last)}</p>\n"
        f"{timeline}\n{dependencies}\n</body>\n</html>\n"
    )


def write_report(records: Mapping[str, Record], path: Path, title: str = "pyworkflowy run") -> None:
    """Write `report_html` of ``records`` to ``path`` (UTF-8)."""
    path.write_text(report_html(records, title), encoding="utf-8")

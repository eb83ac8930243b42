"""The ``pyworkflowy`` command (also ``python -m pyworkflowy``): reads checkpoint files.

``inspect`` lists a checkpoint's records, ``graph`` prints their dependency graph as
Mermaid or Graphviz DOT text, ``report`` writes an HTML page with the run's timeline and
graph. Reading a checkpoint needs pyworkflowy-persist, and ``report`` plotly, each imported
only when a command runs. Exit codes: 0 done, 2 a usage error or a checkpoint
that cannot be read (missing, damaged, not a checkpoint, pickle without ``--trust``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._checkpoint import in_start_order, record_time

__all__ = ["main"]

PERSIST_HINT = (
    "reading a checkpoint needs pyworkflowy-persist, which is not installed: "
    "pip install 'pyworkflowy-core[persist]'"
)
#: the statuses a record can hold: how a task ended, or that an attempt started (in doubt)
STATUSES = ("completed", "failed", "cancelled", "skipped", "started", "started-once")
_SQLITE_HEADER = b"SQLite format 3\x00"
_PICKLE_HEADER = b"pyworkflowy-checkpoint pickle v"
_COLUMNS = ("ID", "STATUS", "ATTEMPTS", "DURATION", "ERROR")


class _Failed(Exception):
    """A command cannot go on: its message goes to stderr and the exit code is 2."""


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="pyworkflowy",
        description="Look into pyworkflowy checkpoint files.",
        epilog="Exit codes: 0 done; 2 a usage error or a checkpoint that cannot be read.",
    )
    parser.add_argument("--version", action="version", version=f"pyworkflowy-core {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    inspect = commands.add_parser(
        "inspect",
        help="list the records of a checkpoint",
        description=(
            "List the records of a checkpoint (JSON, pickle or SQLite, told apart by their "
            "content, else by suffix): id, status, attempts, duration and the first line of "
            "the error, in the order the tasks started, then a summary line."
        ),
        epilog="Exit codes: 0 done; 2 the checkpoint cannot be read.",
    )
    inspect.add_argument("checkpoint", metavar="CHECKPOINT", help="the checkpoint file")
    inspect.add_argument(
        "--status",
        action="append",
        choices=STATUSES,
        metavar="STATUS",
        help=("show only records of this status (repeat for several): " + ", ".join(STATUSES)),
    )
    inspect.add_argument(
        "--json", action="store_true", help="print one JSON document instead of a table"
    )
    _trust(inspect)
    graph = commands.add_parser(
        "graph",
        help="print the dependency graph of a checkpoint",
        description=(
            "Print the graph of a checkpoint's records as Mermaid or Graphviz DOT text: one "
            "node per task, coloured by status, an edge from each dependency to its "
            "dependent; siblings alike (a map's items) are drawn as one node with a count."
        ),
        epilog="Exit codes: 0 done; 2 the checkpoint cannot be read.",
    )
    graph.add_argument("checkpoint", metavar="CHECKPOINT", help="the checkpoint file")
    graph.add_argument(
        "--format",
        choices=("mermaid", "dot"),
        default="mermaid",
        help="mermaid (the default) or dot",
    )
    graph.add_argument(
        "--collapse",
        type=int,
        default=10,
        metavar="N",
        help="draw N or more alike siblings as one node (default 10; 0: never)",
    )
    _trust(graph)
    report = commands.add_parser(
        "report",
        help="write an HTML report of a checkpoint: timeline and graph",
        description=(
            "Write one self-contained HTML file (it opens offline) with the run's timeline, "
            "each attempt a bar coloured by how the task ended, and its dependency graph. "
            "Needs plotly: pip install 'pyworkflowy-core[report]'."
        ),
        epilog="Exit codes: 0 done; 2 the checkpoint cannot be read, or plotly is missing.",
    )
    report.add_argument("checkpoint", metavar="CHECKPOINT", help="the checkpoint file")
    report.add_argument(
        "-o",
        "--output",
        default="report.html",
        metavar="FILE",
        help="the HTML file to write (default report.html)",
    )
    _trust(report)
    return parser


def _trust(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--trust",
        action="store_true",
        help="allow reading a pickle checkpoint: unpickling runs code the file names",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    run = {"inspect": _inspect, "graph": _graph, "report": _report}[args.command]
    try:
        return run(args)
    except _Failed as exc:
        print(f"pyworkflowy {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader (head, less) went away: not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


# -- inspect ---------------------------------------------------------------------------------
def _inspect(args: argparse.Namespace) -> int:
    kind, records = _load(Path(args.checkpoint), trust=args.trust)
    rows = [_row(hid, records[hid]) for hid in in_start_order(records)]
    wanted = set(args.status or STATUSES)
    shown = [row for row in rows if row["status"] in wanted]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    if args.json:
        document = {
            "checkpoint": args.checkpoint,
            "format": kind,
            "records": shown,
            "summary": {"total": len(rows), "shown": len(shown), "statuses": counts},
        }
        print(json.dumps(document, indent=2))
        return 0
    if shown:
        _print_table(shown)
    print(_summary(len(rows), len(shown), counts, args.status))
    return 0


# -- graph -----------------------------------------------------------------------------------
def _graph(args: argparse.Namespace) -> int:
    from ._diagram import dot, items_of_records, mermaid

    if args.collapse < 0 or args.collapse == 1:
        raise _Failed(f"--collapse takes 0 (never) or a number >= 2, got {args.collapse}")
    _, records = _load(Path(args.checkpoint), trust=args.trust)
    draw = mermaid if args.format == "mermaid" else dot
    sys.stdout.write(draw(items_of_records(records), args.collapse or None))
    return 0


# -- report ----------------------------------------------------------------------------------
def _report(args: argparse.Namespace) -> int:
    from ._report import REPORT_HINT, write_report

    try:
        import plotly  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        raise _Failed(REPORT_HINT) from None
    _, records = _load(Path(args.checkpoint), trust=args.trust)
    output = Path(args.output)
    try:
        write_report(records, output, title=Path(args.checkpoint).name)
    except OSError as exc:
        raise _Failed(f"cannot write {str(output)!r}: {exc}") from None
    print(f"wrote {output} ({len(records)} records)")
    return 0


def _load(path: Path, *, trust: bool) -> tuple[str, dict[str, dict[str, Any]]]:
    """``(format, records)`` of the checkpoint at ``path``, or `_Failed` saying why not."""
    where = f"the checkpoint {str(path)!r}"
    try:
        with open(path, "rb") as file:
            head = file.read(len(_PICKLE_HEADER))
    except FileNotFoundError:
        raise _Failed(f"{where} does not exist") from None
    except IsADirectoryError:
        raise _Failed(f"{where} is a folder, not a checkpoint file") from None
    except OSError as exc:
        raise _Failed(f"cannot read {where}: {exc}") from None
    try:
        from pyworkflowy import persist  # type: ignore[attr-defined]
    except ImportError:
        raise _Failed(PERSIST_HINT) from None
    suffix = path.suffix.lower()
    if head.startswith(_SQLITE_HEADER):
        kind, checkpointer = "sqlite", persist.SQLiteCheckpointer(path)
    elif suffix in persist.SQLITE_SUFFIXES:  # never let SQLite set up a new database here
        raise _Failed(f"{where} is not a SQLite database (it lacks the SQLite header)")
    elif head.startswith(_PICKLE_HEADER) or suffix in persist.PICKLE_SUFFIXES:
        if not trust:
            raise _Failed(
                f"{where} is a pickle file: reading it unpickles it, which runs code the file "
                "chooses. Pass --trust if you trust whoever wrote it (your own runs)"
            )
        print(f"warning: unpickling {where}, which runs code it holds", file=sys.stderr)
        kind, checkpointer = "pickle", persist.PickleCheckpointer(path)
    else:
        kind, checkpointer = "json", persist.JSONCheckpointer(path)
    from ._errors import CheckpointError

    try:
        return kind, checkpointer.load()
    except CheckpointError as exc:
        raise _Failed(str(exc)) from None
    finally:
        checkpointer.close()


def _row(hid: str, record: dict[str, Any]) -> dict[str, Any]:
    started = record_time(record.get("started_at"))
    finished = record_time(record.get("finished_at"))
    return {
        "id": hid,
        "name": record.get("name"),
        "status": record.get("status"),
        "attempts": record.get("attempts"),
        "started_at": started,
        "finished_at": finished,
        "duration": None if started is None or finished is None else finished - started,
        "error": record.get("error"),
        "fingerprint": record.get("fingerprint"),
        "depends_on": record.get("depends_on") or [],
        "attempt_times": record.get("attempt_times") or [],
        "backend": record.get("backend"),
    }


def _print_table(rows: list[dict[str, Any]]) -> None:
    cells = [
        (
            _cell(row["id"]),
            _cell(row["status"]),
            "-" if row["attempts"] is None else _cell(row["attempts"]),
            "-" if row["duration"] is None else f"{row['duration']:.3f}s",
            _cell((row["error"] or "").split("\n", 1)[0]),
        )
        for row in rows
    ]
    widths = [max(len(column), *(len(c[i]) for c in cells)) for i, column in enumerate(_COLUMNS)]
    for line in (_COLUMNS, *cells):
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def _cell(value: object) -> str:
    """``value`` on one line: characters that are not printable shown as escapes."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _summary(total: int, shown: int, counts: dict[str, int], wanted: list[str] | None) -> str:
    tally = ", ".join(f"{counts[s]} {s}" for s in STATUSES if s in counts)
    noun = "record" if total == 1 else "records"
    if wanted is None:
        return f"{total} {noun}" + (f": {tally}" if tally else "")
    statuses = ", ".join(dict.fromkeys(wanted))
    return f"{shown} of {total} {noun} shown (status {statuses})" + (
        f"; all: {tally}" if tally else ""
    )

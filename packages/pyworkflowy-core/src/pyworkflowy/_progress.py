"""The progress display of ``TaskRunner(progress=True)`` / ``run(progress=True)``.

It costs the tasks nothing: no subscriber is added and the per-task path is untouched. One
thread of its own looks at the runner's handles (a copy of the handle table, their
statuses counted in C) and draws, at most ``REDRAWS_PER_SECOND`` times a second: with
`rich` (``pyworkflowy-core[progress]``) as a live panel on a terminal or in a Jupyter
notebook, otherwise as a plain line on stderr every `PLAIN_EVERY` seconds. A look takes
under 0.1 µs per handle; it is repeated at most every ``LOOK_EVERY`` seconds, and less often
when the table is large, so that looking takes under 5 % of the time. While the live panel
is up, ``print`` and the records of stream handlers on stdout or stderr go above it (rich's
redirection, and the handlers pointed at it), so they do not garble it.

Imported only when a run shows progress.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections import Counter
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TextIO

from ._types import Progress, TaskStatus

if TYPE_CHECKING:
    from ._handle import TaskHandle
    from ._runner import TaskRunner

__all__ = ["LOOK_EVERY", "PLAIN_EVERY", "REDRAWS_PER_SECOND", "ProgressDisplay", "Tally"]

REDRAWS_PER_SECOND = 10
PLAIN_EVERY = 5.0  # seconds between two plain lines
SHOWN_RUNNING = 5  # running tasks listed by name

LOOK_EVERY = 0.25  # seconds between two looks at the handles, at least
_COMPLETED, _FAILED = TaskStatus.COMPLETED, TaskStatus.FAILED
_CANCELLED, _SKIPPED = TaskStatus.CANCELLED, TaskStatus.SKIPPED
_RUNNING, _RETRYING = TaskStatus.RUNNING, TaskStatus.RETRYING
_status = attrgetter("_status")


class Tally:
    """What the display shows: the runner's handles counted by status, now and then."""

    def __init__(self, handles: dict[str, TaskHandle[Any]], started: float) -> None:
        self.handles = handles  # the engine's table (a run keeps every handle in it)
        self.started = started  # time.monotonic() when the run began
        self.total = 0
        self.counts: Counter[TaskStatus] = Counter()
        self.running: list[TaskHandle[Any]] = []  # the first few running ones
        self.next_look = 0.0
        self.look()
        self.ended_before = self.done  # finished before the run began (resumed, say)

    def look(self) -> None:
        """Count the handles by status (a copy of the table: it may grow meanwhile)."""
        began = time.monotonic()
        handles = list(self.handles.values())
        statuses = list(map(_status, handles))
        self.total = len(handles)
        self.counts = Counter(statuses)
        running: list[TaskHandle[Any]] = []
        at = 0
        with contextlib.suppress(ValueError):  # no (further) running handle
            while len(running) < SHOWN_RUNNING:
                at = statuses.index(_RUNNING, at)  # a scan in C
                running.append(handles[at])
                at += 1
        self.running = running
        took = time.monotonic() - began
        self.next_look = began + max(LOOK_EVERY, 20 * took)

    def refresh(self, now: float) -> None:
        if now >= self.next_look:
            self.look()

    @property
    def done(self) -> int:
        counts = self.counts
        return counts[_COMPLETED] + counts[_FAILED] + counts[_CANCELLED] + counts[_SKIPPED]

    def rate(self, now: float) -> float:
        """Handles finished per second since the run began (resumed ones not counted)."""
        elapsed = now - self.started
        return (self.done - self.ended_before) / elapsed if elapsed > 0 else 0.0

    def eta(self, now: float) -> float | None:
        rate = self.rate(now)
        left = self.total - self.done
        return left / rate if rate > 0 else (0.0 if left == 0 else None)

    def head(self, now: float) -> str:
        """Done of total, rate, elapsed time and ETA."""
        done, total = self.done, self.total
        share = f" ({done / total:.0%})" if total else ""
        eta = self.eta(now)
        return (
            f"{done:,}/{total:,} done{share}, {self.rate(now):,.0f} tasks/s, "
            f"elapsed {clock(now - self.started)}, ETA {'?' if eta is None else clock(eta)}"
        )

    def tail(self) -> str:
        """Running, retrying, failed, skipped and cancelled handles."""
        counts = self.counts
        return (
            f"{counts[_RUNNING]:,} running, {counts[_RETRYING]:,} retrying, "
            f"{counts[_FAILED]:,} failed, {counts[_SKIPPED]:,} skipped, "
            f"{counts[_CANCELLED]:,} cancelled"
        )

    def summary(self, now: float) -> str:
        """The plain line: `head`, then `tail`."""
        return f"{self.head(now)}; {self.tail()}"

    def shown(self) -> list[tuple[str, str]]:
        """(task, progress) of the first few running handles."""
        rows = []
        for h in self.running:
            progress = h.progress
            rows.append((f"{h.name} ({h.id})", "" if progress is None else figures(progress)))
        return rows


def clock(seconds: float) -> str:
    """``1:02:03`` or ``2:03``."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def figures(progress: Progress) -> str:
    done, total, message = progress
    text = f"{done:g}" if total is None else f"{done:g}/{total:g}"
    fraction = progress.fraction
    if fraction is not None:
        text += f" ({fraction:.0%})"
    return f"{text} {message}" if message else text


class ProgressDisplay:
    """Shows one run's progress from ``start()`` to ``stop()``."""

    def __init__(self, runner: TaskRunner, stream: TextIO | None = None) -> None:
        self.runner = runner
        self.stream = stream if stream is not None else sys.stderr
        self.tally: Tally | None = None
        self.done = threading.Event()
        self.thread: threading.Thread | None = None
        self.live: Any = None  # rich.live.Live while it is up
        self.restore: list[tuple[logging.StreamHandler[Any], Any]] = []

    # -- on the caller's (the loop's) thread -------------------------------------------------
    def start(self) -> None:
        self.tally = Tally(self.runner._engine.handles, time.monotonic())
        self.live = self._live()
        if self.live is not None:
            self.live.start()
            self._point_handlers_at_live()
        target = self._draw_live if self.live is not None else self._draw_plain
        self.thread = threading.Thread(target=target, name="pyworkflowy-progress", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Draw the final state once, and take the display down."""
        self.done.set()
        if self.thread is not None:
            self.thread.join()
        if self.live is not None:
            with contextlib.suppress(Exception):  # the run's own outcome matters more
                self._restore_handlers()
            self.live.stop()

    # -- the display's thread ----------------------------------------------------------------
    def _look(self, final: bool = False) -> Tally:
        tally = self.tally
        assert tally is not None
        if final:
            tally.look()
        else:
            tally.refresh(time.monotonic())
        return tally

    def _draw_plain(self) -> None:
        while not self.done.wait(PLAIN_EVERY):
            self._line(self._look(final=True))
        self._line(self._look(final=True))

    def _line(self, tally: Tally) -> None:
        print(f"pyworkflowy: {tally.summary(time.monotonic())}", file=self.stream, flush=True)

    def _draw_live(self) -> None:
        live = self.live
        while not self.done.wait(1 / REDRAWS_PER_SECOND):
            live.update(self._panel(self._look()), refresh=True)
        live.update(self._panel(self._look(final=True)), refresh=True)

    # -- rich --------------------------------------------------------------------------------
    def _live(self) -> Any:
        """A rich Live on stderr, or None: no rich, not a terminal, or a notebook without
        ipywidgets (rich draws there with them only)."""
        try:
            from rich.console import Console
            from rich.live import Live
        except ImportError:
            return None
        console = Console(file=self.stream)
        if console.is_jupyter:
            from importlib.util import find_spec

            if find_spec("ipywidgets") is None:
                return None
        elif not console.is_terminal or console.is_dumb_terminal:
            return None
        return Live(console=console, auto_refresh=False, transient=False)

    def _panel(self, tally: Tally) -> Any:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        now = time.monotonic()
        top = Table.grid(padding=(0, 1))
        top.add_row(
            ProgressBar(total=max(tally.total, 1), completed=tally.done, width=30),
            Text(tally.head(now)),
        )
        parts: list[Any] = [top, Text(tally.tail())]
        rows = tally.shown()
        if rows:
            table = Table(show_header=False, box=None, padding=(0, 1))
            for name, figures_ in rows:
                table.add_row(Text(name, style="cyan"), Text(figures_))
            more = tally.counts[_RUNNING] - len(rows)
            if more > 0:
                table.add_row(Text(f"and {more:,} more running", style="dim"), "")
            parts.append(table)
        return Group(*parts)

    def _point_handlers_at_live(self) -> None:
        """Stream handlers made before the display write to the real stdout/stderr; while
        it is up they write through rich's proxies, which print above the panel."""
        live = self.live
        originals = (live._restore_stdout, live._restore_stderr, sys.__stdout__, sys.__stderr__)
        proxies = {"stdout": sys.stdout, "stderr": sys.stderr}
        for handler in _stream_handlers():
            stream = handler.stream
            if stream is None or not any(stream is o for o in originals if o is not None):
                continue
            name = "stdout" if stream in (live._restore_stdout, sys.__stdout__) else "stderr"
            self.restore.append((handler, handler.setStream(proxies[name])))

    def _restore_handlers(self) -> None:
        for handler, stream in self.restore:
            handler.setStream(stream)
        self.restore.clear()


def _stream_handlers() -> list[logging.StreamHandler[Any]]:
    loggers: list[Any] = [logging.getLogger()]
    loggers += [
        logger
        for logger in list(logging.Logger.manager.loggerDict.values())
        if isinstance(logger, logging.Logger)
    ]
    return [
        handler
        for logger in loggers
        for handler in logger.handlers
        if isinstance(handler, logging.StreamHandler)
        and not isinstance(handler, logging.FileHandler)
    ]

"""The progress display: ``TaskRunner(progress=True)`` and ``run(progress=True)``.

What it shows is read from the stream it writes to (stderr). Without a terminal it is a
plain line; with rich and a terminal (``FORCE_COLOR`` makes rich take a file for one) a live
panel. tests/core/test_progress_terminal.py runs it in a real pseudo-terminal.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import sys
import threading
from typing import Any

import pytest
from pyworkflowy import TaskRunner, current_task, task
from pyworkflowy import _progress as progress_module

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Screen(io.StringIO):
    """A stream that tells the test when what it was written matches a pattern."""

    def __init__(self) -> None:
        super().__init__()
        self.wanted: re.Pattern[str] | None = None
        self.seen = threading.Event()
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            written = super().write(text)
            if self.wanted is not None and self.wanted.search(ANSI.sub("", self.getvalue())):
                self.seen.set()
        return written

    def text(self) -> str:
        with self.lock:
            return ANSI.sub("", self.getvalue())


@pytest.fixture
def screen(monkeypatch: pytest.MonkeyPatch) -> Screen:
    """A stream for `shown_on` (pytest's capture sets its own sys.stderr for each test)."""
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    return Screen()


def shown_on(stream: Screen) -> contextlib.AbstractContextManager[Any]:
    return contextlib.redirect_stderr(stream)


@task
def ok(n: int) -> int:
    return n


@task
def broken() -> None:
    raise ValueError("broken")


@task(on_dep_failure="skip")
def after(value: Any) -> None:
    """Skipped when its dependency fails."""


def small_run(runner: TaskRunner, **run: Any) -> None:
    ok.map(range(3))
    failed = runner.submit(broken)
    runner.submit(after, None, depends_on=[failed])
    runner.run(**run)


def test_without_a_terminal_the_display_is_a_plain_summary_line(screen: Screen) -> None:
    with shown_on(screen), TaskRunner(on_task_error="continue", progress=True) as runner:
        small_run(runner)
    [line] = screen.text().splitlines()
    assert line.startswith("pyworkflowy: 5/5 done (100%), ")
    assert "tasks/s, elapsed 0:00, ETA 0:00; " in line
    assert line.endswith("0 running, 0 retrying, 1 failed, 1 skipped, 0 cancelled")


def test_run_progress_overrides_the_runner_setting(screen: Screen) -> None:
    with shown_on(screen), TaskRunner(on_task_error="continue") as runner:
        small_run(runner, progress=True)
    assert "5/5 done" in screen.text()
    quiet = Screen()
    with shown_on(quiet), TaskRunner(on_task_error="continue", progress=True) as runner:
        small_run(runner, progress=False)
    assert quiet.getvalue() == ""


def test_progress_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match=r"progress must be True or False, got 'yes'"):
        TaskRunner(progress="yes")  # type: ignore[arg-type]
    with TaskRunner() as runner, pytest.raises(TypeError, match=r"got 1"):
        runner.run(progress=1)  # type: ignore[arg-type]


def test_a_plain_line_comes_every_few_seconds_while_the_run_goes_on(
    screen: Screen, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress_module, "PLAIN_EVERY", 0.01)
    screen.wanted = re.compile(r"1 running")

    @task(backend="thread")
    def waits_to_be_shown() -> None:
        assert screen.seen.wait(30), "no line showed the running task"

    with shown_on(screen), TaskRunner(progress=True) as runner:
        runner.submit(waits_to_be_shown)
        runner.run()
    lines = screen.text().splitlines()
    assert "0/1 done (0%)" in lines[0]
    assert lines[-1].startswith("pyworkflowy: 1/1 done (100%)")


def test_the_summary_counts_handles_finished_before_the_run_but_not_in_the_rate(
    screen: Screen,
) -> None:
    with shown_on(screen), TaskRunner(progress=True) as runner:
        ok.map(range(2))
        runner.run(progress=False)
        ok.submit(5)
        runner.run()
    assert "3/3 done (100%)" in screen.text()


def test_a_failed_run_still_shows_its_final_state(screen: Screen) -> None:
    with shown_on(screen), TaskRunner(progress=True) as runner:
        runner.submit(broken)
        with pytest.raises(ValueError, match="broken"):
            runner.run()
    assert "1/1 done (100%)" in screen.text()
    assert "1 failed" in screen.text()


def test_without_rich_a_terminal_gets_the_plain_line(
    screen: Screen, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setitem(sys.modules, "rich", None)
    monkeypatch.setitem(sys.modules, "rich.console", None)
    with shown_on(screen), TaskRunner(on_task_error="continue", progress=True) as runner:
        small_run(runner)
    assert screen.text().startswith("pyworkflowy: 5/5 done (100%)")


def test_a_notebook_without_ipywidgets_gets_the_plain_line(
    screen: Screen, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("rich")
    import rich.console

    monkeypatch.setattr(rich.console, "_is_jupyter", lambda: True)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    with shown_on(screen), TaskRunner(on_task_error="continue", progress=True) as runner:
        small_run(runner)
    assert screen.text().startswith("pyworkflowy: 5/5 done (100%)")


# -- the live panel (rich) ---------------------------------------------------------------------


@pytest.fixture
def terminal(screen: Screen, monkeypatch: pytest.MonkeyPatch) -> Screen:
    pytest.importorskip("rich")
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich treats the stream as a terminal
    return screen


def test_the_live_panel_shows_running_tasks_and_what_they_report(terminal: Screen) -> None:
    terminal.wanted = re.compile(r"slow \(slow#0\)\s+3/4 \(75%\) rows")

    @task(name="slow", backend="thread")
    def slow() -> None:
        context = current_task()
        assert context is not None
        context.report_progress(3, 4, "rows")
        assert terminal.seen.wait(30), "the panel never showed the running task"

    with shown_on(terminal), TaskRunner(progress=True) as runner:
        runner.submit(slow, key="slow#0")
        ok.map(range(2))
        runner.run()
    text = terminal.text()
    assert "━" in text  # the bar
    assert "3/3 done (100%)" in text
    assert "0 running, 0 retrying, 0 failed, 0 skipped, 0 cancelled" in text


def test_prints_and_log_records_go_above_the_live_panel_whole(terminal: Screen) -> None:
    handler = logging.StreamHandler(terminal)  # made before the display, as basicConfig does
    handler.setFormatter(logging.Formatter("LOG %(message)s"))
    logger = logging.getLogger("tests.progress")
    logger.addHandler(handler)
    logger.propagate = False

    @task(backend="thread")
    def chatty(n: int) -> None:
        print(f"printed line {n}")
        logger.warning("logged line %d", n)

    try:
        with shown_on(terminal), TaskRunner(progress=True) as runner:
            chatty.map(range(3))
            runner.run()
        assert handler.stream is terminal  # given back its stream after the run
    finally:
        logger.removeHandler(handler)
    lines = [line.rstrip() for line in terminal.text().splitlines()]
    for n in range(3):
        assert f"printed line {n}" in lines
        assert f"LOG logged line {n}" in lines


def test_in_a_notebook_with_ipywidgets_rich_draws_the_panel_into_the_cell(
    screen: Screen, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook as rich sees one: its detection says so, and IPython's ``display`` and
    ipywidgets' ``Output`` take what is drawn (stand-ins: no kernel runs in tests)."""
    import importlib.machinery
    import types

    pytest.importorskip("rich")
    import rich.console

    shown: list[str] = []

    class Output:  # ipywidgets.Output: a cell area that the panel is redrawn into
        def __enter__(self) -> Output:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def clear_output(self, wait: bool = False) -> None:
            shown.append("<cleared>")

    def display(thing: Any) -> None:  # IPython.display.display: the cell's output
        text = getattr(thing, "text", None)
        shown.append(text if isinstance(text, str) else repr(thing))

    def module(name: str, **attrs: Any) -> types.ModuleType:
        made = types.ModuleType(name)
        made.__spec__ = importlib.machinery.ModuleSpec(name, None)
        made.__dict__.update(attrs)
        return made

    monkeypatch.setattr(rich.console, "_is_jupyter", lambda: True)
    monkeypatch.setitem(sys.modules, "ipywidgets", module("ipywidgets", Output=Output))
    monkeypatch.setitem(sys.modules, "IPython", module("IPython"))
    monkeypatch.setitem(sys.modules, "IPython.display", module("IPython.display", display=display))
    with shown_on(screen), TaskRunner(on_task_error="continue", progress=True) as runner:
        small_run(runner)
    assert screen.text() == ""  # nothing went to stderr: it is all in the cell
    drawn = "".join(shown)
    assert "<cleared>" in shown  # redrawn in place
    assert "5/5 done (100%)" in drawn
    assert "0 running, 0 retrying, 1 failed, 1 skipped, 0 cancelled" in drawn

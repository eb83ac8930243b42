"""The progress display in a real terminal: examples/progress.py runs on a pseudo-terminal,
and a terminal emulator (pyte) replays what it wrote to give the screen a user would see."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

pyte = pytest.importorskip("pyte")
pytest.importorskip("rich")

ROOT = Path(__file__).resolve().parents[2]
COLUMNS, LINES = 120, 40
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def run_on_a_terminal(script: Path) -> tuple[list[str], bytes]:
    """Run ``script`` with stdin, stdout and stderr on one pseudo-terminal; return the
    screen it leaves (one string per row) and every byte it wrote."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    env.update(TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(LINES))
    child = subprocess.Popen(
        [sys.executable, str(script)], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT
    )
    os.close(slave)
    written = bytearray()
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not chunk:
                break
            written += chunk
    finally:
        os.close(master)
        assert child.wait(timeout=60) == 0, bytes(written).decode(errors="replace")
    screen = pyte.Screen(COLUMNS, LINES)
    pyte.ByteStream(screen).feed(bytes(written))
    return [row.rstrip() for row in screen.display], bytes(written)


def test_the_example_draws_a_live_panel_under_what_its_tasks_print() -> None:
    rows, written = run_on_a_terminal(ROOT / "examples" / "progress.py")
    shown = [row for row in rows if row]
    # What the tasks printed and logged scrolled above the panel, each line whole.
    for part in (0, 100, 200):
        assert f"WARNING example.progress: part {part} is large" in shown
        assert f"part {part} loaded" in shown
    # The panel's last frame: the bar with the summary, then the counts.
    bar = next(row for row in shown if row.startswith("━"))
    assert re.search(r"━ 301/301 done \(100%\), [\d,]+ tasks/s, elapsed 0:\d\d, ETA 0:00$", bar)
    assert shown[shown.index(bar) + 1] == (
        "0 running, 0 retrying, 0 failed, 0 skipped, 0 cancelled"
    )
    assert shown[-1] == "sum of the parts: 44850"
    # While it ran, the panel listed running tasks with the progress they reported.
    frames = ANSI.sub(b"", written).decode()
    assert re.search(r"\bload \(\S*load#\d+\)\s+\d/4 \(\d+%\) part \d+", frames)
    # Redrawn in place: the panel moved the cursor up over itself between frames.
    assert re.search(rb"\x1b\[\d*A", written)

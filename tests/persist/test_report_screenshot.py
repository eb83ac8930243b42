"""The report page draws its chart: headless Chromium screenshots it, the PNG is read back.

Chromium comes from the system (Debian's ``chromium`` package; ``.ci/run`` installs it).
Without it the test is skipped, unless ``PYWORKFLOWY_REQUIRE_CHROMIUM`` is set (as CI
does), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from pyworkflowy.persist import JSONCheckpointer

from .test_cli_inspect import cli

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
COMPLETED = (0x28, 0xA7, 0x45)  # the report's bar colours (pyworkflowy._report.BAR_COLOURS)
FAILED = (0xDC, 0x35, 0x45)
RETRIED = (0xFB, 0x8C, 0x00)


def browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("PYWORKFLOWY_REQUIRE_CHROMIUM"):
        pytest.fail("no chromium binary on PATH, and PYWORKFLOWY_REQUIRE_CHROMIUM is set")
    pytest.skip("no chromium binary on PATH (apt-get install chromium) to screenshot the report")


def record(status: str, times: list[list[float]], deps: list[str]) -> dict[str, object]:
    return {
        "name": "step",
        "status": status,
        "value": None,
        "error": None if status == "completed" else "ValueError: no",
        "attempts": len(times),
        "started_at": times[0][0],
        "finished_at": times[-1][1],
        "fingerprint": "no-args",
        "depends_on": deps,
        "attempt_times": times,
        "backend": "thread",  # the timeline's rows are the thread lane's
    }


def read_png(path: Path) -> tuple[int, int, int, bytes]:
    """``(width, height, bytes per pixel, pixels)`` of an 8-bit RGB or RGBA PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8
    assert colour in (2, 6)  # RGB or RGBA
    assert interlace == 0
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    out, previous = bytearray(), bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                guess = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + guess) & 0xFF
        out += line
        previous = line
    return width, height, bpp, bytes(out)


def count(pixels: bytes, bpp: int, colour: tuple[int, int, int]) -> int:
    """How many pixels are within a small distance of ``colour``."""
    total = 0
    for i in range(0, len(pixels), bpp):
        if all(abs(pixels[i + c] - colour[c]) <= 6 for c in range(3)):
            total += 1
    return total


def test_a_browser_shows_the_timeline_bars_in_their_status_colours(tmp_path: Path) -> None:
    chromium = browser()
    checkpoint = tmp_path / "run.json"
    store = JSONCheckpointer(checkpoint)
    store.save(
        {
            "fetch": record("completed", [[100.0, 102.0]], []),
            "parse": record("failed", [[102.0, 103.0], [103.0, 104.0]], ["fetch"]),
        }
    )
    store.close()
    page = tmp_path / "run.html"
    assert cli("report", checkpoint, "-o", page).returncode == 0
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1200,900",
            "--virtual-time-budget=5000",  # plotly draws from JavaScript: let it run
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    width, height, bpp, pixels = read_png(shot)
    assert (width, height) == (1200, 900)
    # The bars span most of the plot: many thousands of pixels each (the legend's swatches
    # are a few hundred), so the chart was drawn, not just the page around it.
    assert count(pixels, bpp, COMPLETED) > 5_000
    assert count(pixels, bpp, FAILED) > 2_500
    assert count(pixels, bpp, RETRIED) > 2_500

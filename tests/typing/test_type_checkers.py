"""The public API's types, as mypy --strict, pyrefly and basedpyright see them.

tests/typing/public_api.py holds `assert_type` checks (any failure is an error) and lines
marked ``# E`` that must be errors: each checker must report exactly the marked lines.
A checker that is not installed is skipped (CI installs all three: the dev group).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
CHECKED = HERE / "public_api.py"


def expected_lines(checker: str = "") -> set[int]:
    """The lines marked ``# E``, and those marked ``# E:<checker>`` for that checker only."""
    lines = CHECKED.read_text().splitlines()
    marks = {"# E", f"# E:{checker}"} if checker else {"# E"}
    return {n for n, line in enumerate(lines, 1) if line.rstrip().endswith(tuple(marks))}


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def needs(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (uv sync installs it with the dev group)")


def test_the_file_marks_errors_and_asserts_types() -> None:
    assert len(expected_lines()) >= 10
    assert CHECKED.read_text().count("assert_type(") >= 30


def test_mypy_strict() -> None:
    needs("mypy")
    done = run(sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(CHECKED))
    reported = {
        int(m.group(1))
        for m in re.finditer(r"^[^:\n]*public_api\.py:(\d+): error:", done.stdout, re.M)
    }
    assert reported == expected_lines(), done.stdout


def test_pyrefly() -> None:
    needs("pyrefly")
    done = run(sys.executable, "-m", "pyrefly", "check", "--output-format=json", str(CHECKED))
    errors = json.loads(done.stdout or "{}").get("errors", [])
    reported = {e["line"] for e in errors if e.get("severity", "error") == "error"}
    assert reported == expected_lines(), done.stdout + done.stderr


def test_basedpyright(tmp_path: Path) -> None:
    needs("basedpyright")
    # Pyright does not merge a package split over several folders (a dev checkout has one
    # src folder per distribution): give it the one tree that installed wheels make.
    tree = tmp_path / "site" / "pyworkflowy"
    tree.mkdir(parents=True)
    for src in sorted((ROOT / "packages").glob("*/src/pyworkflowy")):
        for entry in src.iterdir():
            if not (tree / entry.name).exists():
                (tree / entry.name).symlink_to(entry)
    checked = tmp_path / CHECKED.name
    checked.write_text(CHECKED.read_text())
    config = {"extraPaths": [str(tmp_path / "site")], "include": [checked.name]}
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(config))
    done = subprocess.run(
        [sys.executable, "-m", "basedpyright", "--outputjson", "--pythonpath", sys.executable],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    diagnostics = json.loads(done.stdout)["generalDiagnostics"]
    reported = {d["range"]["start"]["line"] + 1 for d in diagnostics if d["severity"] == "error"}
    assert reported == expected_lines("pyright"), json.dumps(diagnostics, indent=1)

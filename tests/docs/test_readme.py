"""Every Python code block of the README runs as written, and the README's commands exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text())


def test_readme_has_python_examples() -> None:
    assert len(python_blocks(README)) >= 5


@pytest.mark.parametrize("index", range(len(python_blocks(README))))
def test_readme_block_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the files an example writes go to a folder of its own
    code = python_blocks(README)[index]
    namespace: dict[str, object] = {"__name__": f"readme_block_{index}"}
    exec(compile(code, f"README.md block {index}", "exec"), namespace)


def test_readme_example_command_runs() -> None:
    """The first command of 'Try it' runs the ETL example; it must work as written."""
    text = README.read_text()
    assert "uv run python examples/etl.py" in text
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "etl.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "west: 4 extract attempt(s), load skipped" in out.stdout

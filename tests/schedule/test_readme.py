"""Every Python code block of the pyworkflowy-cron README runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "packages" / "pyworkflowy-cron" / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks() -> list[str]:
    return BLOCK.findall(README.read_text())


def test_the_readme_documents_the_api_cron_syntax_dst_misfires_and_overlap() -> None:
    text = README.read_text()
    for heading in (
        "## API",
        "## Cron syntax",
        "## Time zones and DST",
        "## Missed runs",
        "## Overlapping runs",
    ):
        assert heading in text
    assert len(python_blocks()) >= 5


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_block_runs(index: int) -> None:
    code = python_blocks()[index]
    namespace: dict[str, object] = {"__name__": f"cron_readme_block_{index}"}
    exec(compile(code, f"pyworkflowy-cron README.md block {index}", "exec"), namespace)

"""The pyworkflowy-persist README: every example runs as written and it says what it must."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "packages" / "pyworkflowy-persist" / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
BLOCKS = BLOCK.findall(README.read_text())


def test_the_readme_has_the_examples() -> None:
    assert len(BLOCKS) == 5


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the examples write their checkpoints to the current folder
    namespace: dict[str, object] = {"__name__": f"persist_readme_block_{index}"}
    exec(compile(BLOCKS[index], f"{README.name} block {index}", "exec"), namespace)


def test_the_custom_checkpointer_example_subclasses_checkpointer() -> None:
    custom = next(block for block in BLOCKS if "class ShelveCheckpointer(Checkpointer)" in block)
    assert "def save(self, records" in custom
    assert "def load(self)" in custom
    assert "TaskRunner.resume(ShelveCheckpointer(path))" in custom


@pytest.mark.parametrize(
    "text",
    [
        "`.pkl`, `.pickle`",
        "`.db`, `.sqlite`, `.sqlite3`",
        "anything else (`.json`, none)",
        "JSONCheckpointer",
        "PickleCheckpointer",
        "SQLiteCheckpointer",
        "Loading a pickle runs code.",
        "mode `0600`",
        'synchronous="FULL"',
    ],
)
def test_the_readme_documents(text: str) -> None:
    assert text in README.read_text()

"""The command-line and diagram pages show what the code prints.

docs/cli.md: each ```console block is run in a shell (``$ `` lines are commands, the
lines after them their output, stderr included) next to the checkpoint the page's Python
block writes; times and fingerprints, which differ from run to run, are compared as
placeholders. docs/diagrams.md: the ```mermaid and DOT blocks are what its first Python
block's runner draws.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pyworkflowy import TaskRunner, task

from .test_docs import DOCS, fences

VARYING = re.compile(r"\b\d+\.\d+(?:e-?\d+)?s?|\b[0-9a-f]{32}\b")


def normalise(text: str) -> str:
    """Times and fingerprints as placeholders; column padding as one space."""
    text = VARYING.sub(lambda m: "<hex>" if len(m[0]) == 32 and "." not in m[0] else "<n>", text)
    return "\n".join(re.sub(r" {2,}", " ", line).rstrip() for line in text.splitlines())


def python_block(page: str, index: int = 0) -> str:
    return [body for info, _, body, _ in fences(DOCS / page) if info == "python"][index]


def console_examples(page: str) -> list[tuple[str, str]]:
    """(command, expected output) for each ``$`` line of the page's console blocks."""
    examples = []
    for info, _, body, _ in fences(DOCS / page):
        if info != "console":
            continue
        for chunk in re.split(r"^\$ ", body, flags=re.M)[1:]:
            command, _, output = chunk.partition("\n")
            examples.append((command, output))
    return examples


@task(name="old run")
def _old_run() -> int:
    return 1


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the page's run.db, and an old-run.pkl for the pickle example."""
    folder = tmp_path_factory.mktemp("cli-docs")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        exec(compile(python_block("cli.md"), str(DOCS / "cli.md"), "exec"), {"__name__": "cli"})
        with TaskRunner(checkpoint_path="old-run.pkl") as runner:
            runner.submit(_old_run)
            runner.run()
    finally:
        os.chdir(cwd)
    return folder


EXAMPLES = console_examples("cli.md")


def test_the_cli_page_has_console_examples() -> None:
    commands = [command for command, _ in EXAMPLES]
    assert "pyworkflowy inspect run.db" in commands
    assert "pyworkflowy graph run.db" in commands
    assert "pyworkflowy report run.db -o run.html" in commands
    assert "pyworkflowy --version" in commands


@pytest.mark.parametrize(("command", "expected"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_cli_example_prints_what_the_page_shows(workdir: Path, command: str, expected: str) -> None:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    done = subprocess.run(
        command,
        shell=True,
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=False,
    )
    assert normalise(done.stdout) == normalise(expected)


def test_the_diagram_page_shows_what_its_runner_draws(tmp_path: Path) -> None:
    namespace: dict[str, object] = {"__name__": "diagrams"}
    exec(compile(python_block("diagrams.md"), str(DOCS / "diagrams.md"), "exec"), namespace)
    blocks = fences(DOCS / "diagrams.md")
    mermaid = [body for info, _, body, _ in blocks if info == "mermaid"]
    dot = [body for info, _, body, _ in blocks if info == "text" and "digraph" in body]
    assert mermaid == [namespace["picture"]]
    assert dot == [namespace["dot"]]

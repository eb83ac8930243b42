"""The documentation site: every Python block of docs/ runs as written, and the site builds.

Each ```python block of every docs/**/*.md page runs on its own, in a fresh namespace and a
temporary working directory, in the order of the page. A block that must not run (say, one
showing a service loop that never ends) is marked by the line just above its fence::

    <!-- docs-test: compile-only -->

which the reader sees in the page source; such a block is still compiled, so it stays
valid Python. Python code in any other fence (```py, ```pycon, ...) is refused, so no
example escapes these tests.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyworkflowy import TaskStatus

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
FENCE = re.compile(
    r"^(?P<indent> *)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.S | re.M
)
COMPILE_ONLY = "<!-- docs-test: compile-only -->"
PYTHON_LIKE = re.compile(r"^(py|python\d*|pycon|ipython\d*)\b", re.I)


@dataclass(frozen=True)
class Block:
    page: str  # relative to docs/
    index: int  # position among the page's python blocks
    line: int  # 1-based line of the opening fence
    code: str
    run: bool

    @property
    def id(self) -> str:
        return f"{self.page}#{self.index}"


def fences(path: Path) -> list[tuple[str, int, str, str]]:
    """(info string, line of the fence, dedented body, the line above the fence)."""
    text = path.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        indent = len(match["indent"])
        body = "".join(row[indent:] for row in match["body"].splitlines(keepends=True))
        above = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        found.append((match["info"].strip(), line, body, above))
    return found


def collect() -> list[Block]:
    blocks = []
    for path in sorted(DOCS.rglob("*.md")):
        page = path.relative_to(DOCS).as_posix()
        python = [f for f in fences(path) if f[0] == "python"]
        for index, (_info, line, body, above) in enumerate(python):
            blocks.append(Block(page, index, line, body, run=above != COMPILE_ONLY))
    return blocks


BLOCKS = collect()


def test_the_docs_have_python_examples_on_every_concept_page() -> None:
    pages_with_code = {block.page for block in BLOCKS}
    concept_pages = {
        "index.md",
        "getting-started.md",
        "tasks.md",
        "dag.md",
        "backends.md",
        "retries.md",
        "persistence.md",
        "scheduling.md",
        "packaging.md",
    }
    assert concept_pages <= pages_with_code


def test_python_code_is_only_in_python_fences() -> None:
    """A ```py or ```pycon fence would be shown as Python but never run by these tests."""
    offenders = [
        f"{path.relative_to(DOCS)}:{line} ```{info}"
        for path in sorted(DOCS.rglob("*.md"))
        for info, line, _body, _above in fences(path)
        if PYTHON_LIKE.match(info) and info != "python"
    ]
    assert offenders == []


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported (core's finder raises, with the install hint, for
    the modules of a distribution that is not installed)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_docs_block_runs(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a block that writes a relative path writes it here
    # Code lines keep their page line numbers, so a traceback points into the page.
    source = "\n" * block.line + block.code
    code = compile(source, str(DOCS / block.page), "exec")
    if not block.run:
        return
    if "pyworkflowy.dask" in block.code and not _installed("pyworkflowy.dask"):
        pytest.skip("needs pyworkflowy-dask: uv sync --all-packages")
    name = re.sub(r"\W", "_", f"docs_{block.page.removesuffix('.md')}_{block.index}")
    exec(code, {"__name__": name})


# -- the site -------------------------------------------------------------------------------
def _mkdocs_available() -> bool:
    try:
        for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
            importlib.import_module(module)
    except ImportError:
        return False
    return True


needs_mkdocs = pytest.mark.skipif(
    not _mkdocs_available(),
    reason="mkdocs is not installed: uv sync --all-packages --group docs",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the site once, the way CI does: ``mkdocs build --strict`` into a temp dir."""
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stdout}\n{build.stderr}"
    return out


@needs_mkdocs
def test_mkdocs_build_strict_succeeds(site: Path) -> None:
    assert (site / "index.html").is_file()
    for page in ("getting-started", "dag", "performance", "reference/core"):
        assert (site / page / "index.html").is_file()


REFERENCE = {
    "pyworkflowy": "core",
    "pyworkflowy.backends": "core",
    "pyworkflowy.events": "core",
    "pyworkflowy.testing": "core",
    "pyworkflowy.process": "process",
    "pyworkflowy.persist": "persist",
    "pyworkflowy.schedule": "schedule",
}


@needs_mkdocs
@pytest.mark.parametrize("module_name", REFERENCE)
def test_api_reference_documents_every_public_class_and_function(
    site: Path, module_name: str
) -> None:
    module = importlib.import_module(module_name)
    public = [
        name
        for name in module.__all__
        if inspect.isclass(getattr(module, name)) or inspect.isfunction(getattr(module, name))
    ]
    assert public
    html = (site / "reference" / REFERENCE[module_name] / "index.html").read_text()
    missing = [name for name in public if f'id="{module_name}.{name}"' not in html]
    assert missing == []


# The members design §2 pins, which the reference must show (each has a docstring).
PINNED_MEMBERS = {
    "TaskHandle": [
        "id",
        "name",
        "status",
        "attempts",
        "result",
        "exception",
        "get_result",
        "done",
        "cancel",
    ],
    "TaskResult": [
        "name",
        "status",
        "value",
        "error",
        "attempts",
        "started_at",
        "finished_at",
        "ok",
    ],
    "TaskContext": ["name", "id", "attempt", "cancel_event"],
    "TaskRunner": ["submit", "map", "run", "arun", "handles", "cancel_all", "shutdown", "resume"],
    "TaskStatus": [s.name for s in TaskStatus],
}


@needs_mkdocs
@pytest.mark.parametrize("cls", PINNED_MEMBERS)
def test_api_reference_shows_each_pinned_member(site: Path, cls: str) -> None:
    html = (site / "reference" / "core" / "index.html").read_text()
    missing = [m for m in PINNED_MEMBERS[cls] if f'id="pyworkflowy.{cls}.{m}"' not in html]
    assert missing == []

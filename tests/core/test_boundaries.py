"""Only core touches core's internals: the other distributions use its public API alone.

Ruff's banned-api refuses imports of ``pyworkflowy._*`` outside core; this test checks the
same from the source tree, and also attribute access: no distribution other than core may
read or write a private attribute (``obj._name``) that belongs to core's objects.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "packages" / "pyworkflowy-core" / "src"
OTHERS = sorted(
    path / "src"
    for path in (ROOT / "packages").iterdir()
    if (path / "src").is_dir() and path.name != "pyworkflowy-core"
)
NAMEDTUPLE_API = {"_asdict", "_field_defaults", "_fields", "_make", "_replace"}


def _sources(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


def _private_names(root: Path) -> set[str]:
    """Private attribute names the code under ``root`` defines (slots, assignments, defs)."""
    names: set[str] = set()
    for path in _sources(root):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.add(node.value)  # __slots__ entries
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


CORE_PRIVATE = _private_names(CORE) - NAMEDTUPLE_API


@pytest.mark.parametrize("src", OTHERS, ids=lambda p: p.parent.name)
def test_no_other_distribution_imports_a_private_core_module(src: Path) -> None:
    found = []
    for path in _sources(src):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            modules: list[str] = []
            line = getattr(node, "lineno", 0)
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            for module in modules:
                parts = module.split(".")
                if parts[0] == "pyworkflowy" and len(parts) > 1 and parts[1].startswith("_"):
                    found.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert found == []


@pytest.mark.parametrize("src", OTHERS, ids=lambda p: p.parent.name)
def test_no_other_distribution_touches_a_private_attribute_of_core(src: Path) -> None:
    own = _private_names(src)
    found = []
    for path in _sources(src):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Attribute) or node.attr not in CORE_PRIVATE - own:
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.attr}")
    assert found == []


def test_the_check_sees_core_private_attributes() -> None:
    # The attribute test is only as good as this set: it must know what core keeps private.
    assert {"_args", "_kwargs", "_status", "_attempt", "_lane", "_x"} <= CORE_PRIVATE


def test_the_check_sees_every_other_distribution() -> None:
    names = {src.parent.name for src in OTHERS}
    assert {
        "pyworkflowy-process",
        "pyworkflowy-persist",
        "pyworkflowy-cron",
        "pyworkflowy-dask",
    } <= names


@pytest.mark.parametrize(
    "config",
    [
        "pyproject.toml",
        "packages/pyworkflowy-process/pyproject.toml",
        "packages/pyworkflowy-cron/pyproject.toml",
        "packages/pyworkflowy-dask/pyproject.toml",
    ],
)
def test_ruff_bans_every_private_core_module(config: str) -> None:
    import tomllib

    settings = tomllib.loads((ROOT / config).read_text())
    banned = settings["tool"]["ruff"]["lint"]["flake8-tidy-imports"]["banned-api"]
    private = {
        f"pyworkflowy.{path.stem}"
        for path in (CORE / "pyworkflowy").glob("_*.py")
        if not path.name.startswith("__")
    }
    assert private - set(banned) == set()

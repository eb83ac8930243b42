"""pyworkflowy-persist as a distribution: its version, dependency range and namespace layout."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
from pathlib import Path

import pyworkflowy.persist

PACKAGE = Path(__file__).resolve().parents[2] / "packages" / "pyworkflowy-persist"


def test_version_is_its_own_0_1_0() -> None:
    assert importlib.metadata.version("pyworkflowy-persist") == "0.2.0"
    assert pyworkflowy.persist.__version__ == "0.2.0"


def test_it_depends_on_core_by_range() -> None:
    requires = importlib.metadata.requires("pyworkflowy-persist") or []
    assert len(requires) == 1
    name, _, spec = requires[0].replace(" ", "").partition(">=")
    assert (name, sorted(f">={spec}".split(","))) == ("pyworkflowy-core", ["<0.3", ">=0.2"])


def test_it_needs_python_3_11() -> None:
    metadata = importlib.metadata.metadata("pyworkflowy-persist")
    assert metadata["Requires-Python"] == ">=3.11"


def test_it_ships_no_pyworkflowy_init_only_its_subpackage() -> None:
    src = PACKAGE / "src" / "pyworkflowy"
    assert not (src / "__init__.py").exists()
    assert [p.name for p in src.iterdir() if not p.name.startswith("__pycache__")] == ["persist"]


def test_it_is_typed() -> None:
    assert importlib.resources.files("pyworkflowy.persist").joinpath("py.typed").is_file()


def test_it_has_its_own_readme_and_license() -> None:
    assert (PACKAGE / "README.md").is_file()
    assert (PACKAGE / "LICENSE").read_text() == (PACKAGE.parents[1] / "LICENSE").read_text()


def test_public_names() -> None:
    assert set(pyworkflowy.persist.__all__) >= {
        "JSONCheckpointer",
        "PickleCheckpointer",
        "SQLiteCheckpointer",
        "checkpointer_for_path",
    }

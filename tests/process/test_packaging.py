"""pyworkflowy-process as a distribution: its version, dependencies and namespace share."""

from __future__ import annotations

from importlib.metadata import files, requires, version
from pathlib import Path

import pyworkflowy.process


def test_the_distribution_has_its_own_version() -> None:
    assert version("pyworkflowy-process") == pyworkflowy.process.__version__ == "0.2.0"


def test_it_depends_on_core_by_range_and_on_cloudpickle() -> None:
    assert sorted(requires("pyworkflowy-process") or []) == [
        "cloudpickle>=3.0",
        "pyworkflowy-core>=0.2,<0.3",
    ]


def test_it_ships_no_pyworkflowy_init_of_its_own() -> None:
    # pyworkflowy/__init__.py belongs to pyworkflowy-core alone (it extends __path__).
    source = Path(__file__).resolve().parents[2] / "packages" / "pyworkflowy-process" / "src"
    installed = {str(f).replace("\\", "/") for f in files("pyworkflowy-process") or []}
    assert not (source / "pyworkflowy" / "__init__.py").exists()
    assert "pyworkflowy/__init__.py" not in installed


def test_it_ships_type_information() -> None:
    assert (Path(pyworkflowy.process.__file__).parent / "py.typed").exists()

"""pyworkflowy-dask as a distribution: its version, dependencies, entry point and namespace."""

from __future__ import annotations

from importlib.metadata import entry_points, files, requires, version
from pathlib import Path

import pytest

pytest.importorskip("distributed")

import pyworkflowy.dask


def test_the_distribution_has_its_own_version() -> None:
    assert version("pyworkflowy-dask") == pyworkflowy.dask.__version__ == "0.1.0"


def test_it_depends_on_core_by_range_and_on_distributed() -> None:
    assert sorted(requires("pyworkflowy-dask") or []) == [
        "cloudpickle>=3.0",
        "distributed>=2024.1",
        "pyworkflowy-core>=0.2,<0.3",
    ]


def test_it_registers_the_dask_backend_entry_point() -> None:
    (entry,) = entry_points(group="pyworkflowy.backends", name="dask")
    assert entry.value == "pyworkflowy.dask:DaskBackend"


def test_it_ships_no_pyworkflowy_init_of_its_own() -> None:
    source = Path(__file__).resolve().parents[2] / "packages" / "pyworkflowy-dask" / "src"
    installed = {str(f).replace("\\", "/") for f in files("pyworkflowy-dask") or []}
    assert not (source / "pyworkflowy" / "__init__.py").exists()
    assert "pyworkflowy/__init__.py" not in installed


def test_it_ships_type_information() -> None:
    assert (Path(pyworkflowy.dask.__file__).parent / "py.typed").exists()


def test_importing_it_does_not_import_distributed_until_a_task_needs_it() -> None:
    import subprocess
    import sys

    code = "import sys, pyworkflowy.dask; print('distributed' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"

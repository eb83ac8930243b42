"""pyworkflowy-cron as a distribution: its metadata, its layout and what happens without it."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pyworkflowy
import pyworkflowy.schedule

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "packages" / "pyworkflowy-cron"

# Runs Python with pyworkflowy.schedule made unimportable, as if the distribution were absent.
WITHOUT_CRON = textwrap.dedent(
    """
    import sys

    class HideCron:
        def find_spec(self, name, path=None, target=None):
            if name == "pyworkflowy.schedule" or name.startswith("pyworkflowy.schedule."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, HideCron())
    """
)


def run_without_cron(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", WITHOUT_CRON + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout + out.stderr


def test_the_distribution_has_its_own_version() -> None:
    assert metadata.version("pyworkflowy-cron") == "0.2.0"
    assert pyworkflowy.schedule.__version__ == "0.2.0"


def test_it_depends_on_core_by_range_and_on_croniter() -> None:
    requires = metadata.requires("pyworkflowy-cron") or []
    core = next(r for r in requires if r.startswith("pyworkflowy-core"))
    assert ">=0.1" in core
    assert "<0.3" in core
    assert any(r.startswith("croniter") for r in requires)


def test_it_ships_no_pyworkflowy_init_of_its_own() -> None:
    assert not (DIST / "src" / "pyworkflowy" / "__init__.py").exists()
    assert (DIST / "src" / "pyworkflowy" / "schedule" / "py.typed").exists()
    assert (DIST / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()


def test_the_public_names_are_exported() -> None:
    from pyworkflowy.schedule import Scheduler, parse_cron

    assert set(pyworkflowy.schedule.__all__) >= {"Scheduler", "parse_cron"}
    assert callable(parse_cron)
    assert isinstance(Scheduler, type)


def test_core_re_exports_the_scheduler_when_it_is_installed() -> None:
    from pyworkflowy import Scheduler  # type: ignore[attr-defined]

    assert Scheduler is pyworkflowy.schedule.Scheduler


def test_without_the_distribution_core_says_what_to_install() -> None:
    output = run_without_cron(
        """
        try:
            from pyworkflowy import Scheduler
        except ImportError as exc:
            print(exc)
        """
    )
    assert "pip install 'pyworkflowy-core[cron]'" in output


def test_without_the_distribution_importing_the_module_names_it() -> None:
    output = run_without_cron(
        """
        try:
            import pyworkflowy.schedule
        except ModuleNotFoundError as exc:
            print(exc.name)
        """
    )
    assert output.strip() == "pyworkflowy.schedule"


def test_core_offers_a_cron_extra_that_installs_this_distribution() -> None:
    extras = metadata.metadata("pyworkflowy-core").get_all("Provides-Extra") or []
    requires = metadata.requires("pyworkflowy-core") or []
    assert "cron" in extras
    assert any(
        r.startswith("pyworkflowy-cron") and re.search(r"extra == [\"']cron[\"']", r)
        for r in requires
    )

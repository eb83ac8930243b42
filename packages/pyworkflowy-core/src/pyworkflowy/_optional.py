"""Install hints for the optional distributions, whichever way they are imported."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["DISTRIBUTIONS", "install_hint_finder"]

# import name -> (distribution, core extra that installs it)
DISTRIBUTIONS = {
    "pyworkflowy.process": ("pyworkflowy-process", "pyworkflowy-core[process]"),
    "pyworkflowy.persist": ("pyworkflowy-persist", "pyworkflowy-core[persist]"),
    "pyworkflowy.schedule": ("pyworkflowy-cron", "pyworkflowy-core[cron]"),
    "pyworkflowy.dask": ("pyworkflowy-dask", "pyworkflowy-core[dask]"),
}


def missing(module: str) -> str:
    """The message for an optional part that is not installed."""
    distribution, extra = DISTRIBUTIONS[module]
    return f"{module} is provided by {distribution}, which is not installed: pip install '{extra}'"


class _InstallHints:
    """Last entry of ``sys.meta_path``: asked only after every real finder came up empty.

    For the optional subpackages it raises `ModuleNotFoundError` with the install command
    instead of Python's bare "No module named ..." (so ``importlib.util.find_spec`` raises
    too for them, rather than returning ``None``).
    """

    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> None:
        if name in DISTRIBUTIONS:
            raise ModuleNotFoundError(missing(name), name=name)
        return None


def install_hint_finder() -> None:
    """Register the finder once per interpreter."""
    if not any(isinstance(finder, _InstallHints) for finder in sys.meta_path):
        sys.meta_path.append(_InstallHints())

"""The ``>>>`` examples in the public modules' docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "pyworkflowy.cache",
    "pyworkflowy.events",
    "pyworkflowy.exceptions",
    "pyworkflowy.testing",
]


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_of_the_module_hold(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


def test_every_public_module_with_examples_is_listed() -> None:
    import pathlib

    import pyworkflowy

    root = pathlib.Path(pyworkflowy.__file__).parent
    with_examples = {
        f"pyworkflowy.{path.stem}"
        for path in root.glob("*.py")
        if not path.stem.startswith("_") and ">>>" in path.read_text(encoding="utf-8")
    }
    assert with_examples == set(MODULES)

"""Griffe extension for the API reference: read ``pyworkflowy/__init__.py`` of the core.

The core's ``__init__.py`` extends ``__path__`` with ``pkgutil`` so that the optional
distributions (``pyworkflowy.process``, ``.persist``, ``.schedule``), which live in other
source folders of the workspace, import as its subpackages. Griffe recognises that line
and loads ``pyworkflowy`` as a namespace package spanning every folder, which finds the
subpackages but skips the ``__init__.py`` itself: its docstring, ``__all__`` and the
re-exported names. This extension visits that file and puts them back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import griffe

PACKAGE = "pyworkflowy"


class CoreInit(griffe.Extension):
    """Merge the core ``__init__.py`` into the namespace package Griffe built."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if pkg.name != PACKAGE or not isinstance(pkg.filepath, list):
            return
        init = next((p / "__init__.py" for p in pkg.filepath if (p / "__init__.py").exists()), None)
        if init is None:
            return
        visited = griffe.visit(
            PACKAGE,
            filepath=Path(init),
            code=init.read_text(encoding="utf-8"),
            docstring_parser=loader.docstring_parser,
            docstring_options=loader.docstring_options,
            lines_collection=loader.lines_collection,
            modules_collection=loader.modules_collection,
        )
        if visited.docstring is not None:
            pkg.docstring = visited.docstring
            pkg.docstring.parent = pkg
        for name, member in visited.members.items():
            if name not in pkg.members:
                pkg.set_member(name, member)
        pkg.exports = visited.exports
        loader.expand_exports(pkg)

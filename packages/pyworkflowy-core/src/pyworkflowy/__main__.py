"""``python -m pyworkflowy``: the ``pyworkflowy`` command (see ``pyworkflowy --help``)."""

from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())

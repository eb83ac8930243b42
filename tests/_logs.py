"""`Collect`, the logging handler that keeps records, shared by the tests of every distribution.

Not a test module (pytest collects ``test_*.py`` only). The tests import it as
``tests._logs``: with ``--import-mode=importlib`` pytest names each test module after its
path from the rootdir and makes ``tests`` a namespace package.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from contextlib import contextmanager


class Collect(logging.Handler):
    """Keeps every record it is given (at DEBUG and up)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def levels(self) -> list[str]:
        return [r.levelname for r in self.records]


@contextmanager
def collecting(logger: logging.Logger, level: int | None = None) -> Generator[Collect, None, None]:
    """A `Collect` on ``logger`` while the block runs, the logger at ``level`` if given;
    the handler taken off and the logger's level restored afterwards."""
    handler, before = Collect(), logger.level
    logger.addHandler(handler)
    if level is not None:
        logger.setLevel(level)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)

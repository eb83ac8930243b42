"""`Recorder`, the event subscriber shared by the tests of every distribution.

Not a test module (pytest collects ``test_*.py`` only). The tests import it as
``tests._recorder``: with ``--import-mode=importlib`` pytest names each test module after
its path from the rootdir and makes ``tests`` a namespace package.
"""

from __future__ import annotations

import threading
from typing import Any, TypeVar

E = TypeVar("E")


class Recorder:
    """A subscriber that keeps every event, and the thread each one was delivered on."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.threads: list[int] = []

    def __call__(self, event: object) -> None:
        self.events.append(event)
        self.threads.append(threading.get_ident())

    def of(self, kind: type[E]) -> list[E]:
        """The events of class ``kind``, in the order they came."""
        return [event for event in self.events if isinstance(event, kind)]

    def kinds(self) -> list[type]:
        """The class of every event, in the order they came."""
        return [type(event) for event in self.events]

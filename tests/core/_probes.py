"""`ConcurrencyProbe`, shared by the core tests that count bodies running at once.

Not a test module (pytest collects ``test_*.py`` only). The tests import it as
``tests.core._probes``: with ``--import-mode=importlib`` pytest names each test module
after its path from the rootdir and makes ``tests`` and ``tests.core`` namespace packages.
"""

from __future__ import annotations

import threading


class ConcurrencyProbe:
    """Counts bodies running at once (thread-safe) and remembers the highest count."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.started = 0

    def enter(self) -> int:
        """Record a body starting; returns how many bodies have started so far."""
        with self._lock:
            self.active += 1
            self.started += 1
            self.peak = max(self.peak, self.active)
            return self.started

    def leave(self) -> None:
        with self._lock:
            self.active -= 1

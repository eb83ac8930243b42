"""Shared fixtures for the scheduler tests: a fake clock and an event-based task."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import pytest

WAIT = 10.0  # seconds a test waits on an Event before failing (never reached when correct)


class FakeClock:
    """A clock the test moves by hand: epoch seconds, like ``time.time``."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self.now += seconds
            return self.now

    def set(self, when: datetime | float) -> float:
        with self._lock:
            self.now = when.timestamp() if isinstance(when, datetime) else float(when)
            return self.now


class Recorder:
    """A plain callable task that records its calls; `wait_for` waits for a call count."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._events: dict[int, threading.Event] = {}
        self.__name__ = self.__qualname__ = "recorder"

    def __call__(self, *args: Any, **kwargs: Any) -> int:
        with self._lock:
            self.calls.append((args, kwargs))
            n = len(self.calls)
            for count, event in self._events.items():
                if count <= n:
                    event.set()
        return n

    def wait_for(self, count: int, timeout: float = WAIT) -> bool:
        """Wait until at least ``count`` calls were made; False if that took ``timeout``."""
        with self._lock:
            event = self._events.setdefault(count, threading.Event())
            if len(self.calls) >= count:
                event.set()
        return event.wait(timeout)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()

"""The pytest plugin of pyworkflowy-core (entry point ``pytest11``): pytest loads it, nothing
else imports it. Fixtures: ``virtual_clock`` and ``runner`` (a runner on that clock)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyworkflowy import TaskRunner
from pyworkflowy.testing import VirtualClock

VIRTUAL_START = 1_893_456_000.0  # 2030-01-01T00:00:00Z: the same in every test run


@pytest.fixture
def virtual_clock() -> VirtualClock:
    """A `VirtualClock` at 2030-01-01 00:00 UTC that jumps whenever all work waits on it."""
    return VirtualClock(start=VIRTUAL_START)


@pytest.fixture
def runner(virtual_clock: VirtualClock) -> Iterator[TaskRunner]:
    """A `TaskRunner` on ``virtual_clock``, shut down after the test."""
    with TaskRunner(clock=virtual_clock) as task_runner:
        yield task_runner

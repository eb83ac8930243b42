"""Fixtures shared by the pyworkflowy-persist tests: one checkpoint path per checkpointer kind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pyworkflowy import Checkpointer
from pyworkflowy.persist import checkpointer_for_path

FILENAMES = {"json": "state.json", "pickle": "state.pkl", "sqlite": "state.db"}


@pytest.fixture(params=sorted(FILENAMES))
def kind(request: pytest.FixtureRequest) -> str:
    """Each checkpointer kind in turn: "json", "pickle", "sqlite"."""
    return request.param


@pytest.fixture
def path(tmp_path: Path, kind: str) -> Path:
    """A checkpoint path whose suffix selects ``kind``."""
    return tmp_path / FILENAMES[kind]


@pytest.fixture
def make(path: Path) -> Iterator[Callable[[], Checkpointer]]:
    """Build checkpointers on ``path`` (as ``checkpoint_path`` would); closed after the test."""
    made: list[Checkpointer] = []

    def factory() -> Checkpointer:
        checkpointer = checkpointer_for_path(path)
        made.append(checkpointer)
        return checkpointer

    yield factory
    for checkpointer in made:
        checkpointer.close()


@pytest.fixture
def record() -> Callable[..., dict[str, Any]]:
    """A well-formed record; keyword arguments override its fields."""

    def build(**fields: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "name": "job",
            "status": "completed",
            "value": None,
            "error": None,
            "attempts": 1,
            "started_at": 1.5,
            "finished_at": 2.5,
            "fingerprint": "no-args",
            "depends_on": [],
            "attempt_times": [[1.5, 2.5]],
            "backend": "thread",
        }
        base.update(fields)
        return base

    return build

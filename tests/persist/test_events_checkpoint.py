"""`CheckpointSaved`: each checkpoint write, as a `pyworkflowy.events` event.

What users rely on: every write of a runner's checkpointer produces one `CheckpointSaved`
whose ``records`` is the number of finished handles it stored; the records are already in
the checkpointer when the event arrives; every finished handle is counted once by the end
of the run, before its `RunFinished`. The checkpointer here is a plain in-memory
`pyworkflowy.Checkpointer` subclass, so only core's public API is involved.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import pytest
from pyworkflowy import Checkpointer, TaskRunner, TaskStatus, task
from pyworkflowy.events import CheckpointSaved, RunFinished, TaskFinished, TaskSubmitted

from tests._recorder import Recorder

Records = dict[str, dict[str, Any]]


class InMemory(Checkpointer):
    """Keeps the records in a dict; counts the records each save stored."""

    def __init__(self) -> None:
        self.records: Records = {}
        self.saves: list[int] = []

    def save(self, records: Mapping[str, dict[str, Any]], removed: Collection[str] = ()) -> None:
        for handle_id in removed:
            self.records.pop(handle_id, None)
        self.records.update(records)
        self.saves.append(len(records))

    def load(self) -> Records:
        return dict(self.records)


@task(name="step")
async def step(i: int) -> int:
    return i * i


def run_steps(store: InMemory, interval: float, count: int = 3) -> Recorder:
    """Run ``count`` steps one after another with ``store``; returns what a subscriber saw."""
    seen = Recorder()
    with TaskRunner(
        checkpointer=store, checkpoint_interval=interval, max_concurrency=1, record_starts=False
    ) as runner:
        runner.subscribe(seen)
        for i in range(count):
            step.submit(i, key=f"step-{i}")
        runner.run()
    return seen


@pytest.mark.parametrize("interval", [0.0, 5.0], ids=["every-finish", "batched"])
def test_checkpoint_saved_counts_every_finished_handle_once_before_run_finished(
    interval: float,
) -> None:
    store = InMemory()
    seen = run_steps(store, interval)

    saved = seen.of(CheckpointSaved)
    assert saved, "no CheckpointSaved event"
    assert all(event.records >= 1 for event in saved)
    assert sum(event.records for event in saved) == 3
    assert isinstance(seen.events[-1], RunFinished)
    assert set(store.records) == {"step-0", "step-1", "step-2"}


def test_checkpoint_saved_reports_the_records_each_write_stored() -> None:
    store = InMemory()
    seen = run_steps(store, 0.0)

    saved = [event.records for event in seen.of(CheckpointSaved)]
    assert saved == [n for n in store.saves if n]


def test_the_records_are_in_the_checkpointer_when_checkpoint_saved_arrives() -> None:
    store = InMemory()
    stored_at_event: list[tuple[int, int]] = []  # (records so far by the events, stored)
    total = 0

    def watch(event: object) -> None:
        nonlocal total
        if isinstance(event, CheckpointSaved):
            total += event.records
            stored_at_event.append((total, len(store.records)))

    with TaskRunner(
        checkpointer=store, checkpoint_interval=0, max_concurrency=1, record_starts=False
    ) as runner:
        runner.subscribe(watch)
        for i in range(3):
            step.submit(i, key=f"step-{i}")
        runner.run()

    assert stored_at_event
    assert all(so_far == stored for so_far, stored in stored_at_event)


def test_checkpoint_saved_is_an_immutable_named_tuple() -> None:
    store = InMemory()
    seen = run_steps(store, 0.0, count=1)

    [event] = seen.of(CheckpointSaved)
    assert event == CheckpointSaved(event.time, 1)
    with pytest.raises(AttributeError):
        event.records = 2  # type: ignore[misc]


def test_a_handle_primed_from_the_checkpoint_finishes_without_starting() -> None:
    store = InMemory()
    run_steps(store, 0.0, count=1)
    seen = Recorder()

    with TaskRunner.resume(store) as runner:
        runner.subscribe(seen)
        handle = step.submit(0, key="step-0")
        runner.run()

    assert seen.kinds() == [TaskSubmitted, TaskFinished, RunFinished]
    finished = seen.events[1]
    assert (finished.handle, finished.status, finished.error) == (
        handle,
        TaskStatus.COMPLETED,
        None,
    )
    assert handle.result() == 0

"""Property: on random DAGs every handle ends in the status the policies predict.

Each node of a random DAG (edges only from lower to higher index) succeeds or raises, has a
random ``on_dep_failure`` policy and runs as an async function, a sync function on the
asyncio backend, or a thread task. The expected status of every node is computed here, in
topological order, from its own outcome and its dependencies' statuses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyworkflowy import DependencyFailedError, Task, TaskHandle, TaskRunner, TaskStatus

COMPLETED = TaskStatus.COMPLETED
FAILED = TaskStatus.FAILED
CANCELLED = TaskStatus.CANCELLED
SKIPPED = TaskStatus.SKIPPED

POLICIES = ("fail", "skip", "run-anyway")
KINDS = ("async", "sync-on-asyncio", "thread")


class NodeError(Exception):
    """Raised by a node whose outcome is to fail."""


@dataclass(frozen=True)
class Node:
    deps: tuple[int, ...]
    fails: bool
    policy: str
    kind: str


@st.composite
def dags(draw: st.DrawFn) -> list[Node]:
    size = draw(st.integers(min_value=1, max_value=30))
    nodes = []
    for i in range(size):
        deps = draw(st.lists(st.integers(0, i - 1), max_size=4, unique=True)) if i else []
        nodes.append(
            Node(
                deps=tuple(sorted(deps)),
                fails=draw(st.booleans()),
                policy=draw(st.sampled_from(POLICIES)),
                kind=draw(st.sampled_from(KINDS)),
            )
        )
    return nodes


def expected_statuses(nodes: list[Node]) -> list[TaskStatus]:
    """What each node ends as when the run is not aborted ("continue" or "log")."""
    statuses: list[TaskStatus] = []
    for node in nodes:
        unfinished = [statuses[d] for d in node.deps if statuses[d] is not COMPLETED]
        if unfinished and node.policy == "skip":
            status = SKIPPED
        elif unfinished and node.policy == "fail":
            broken = any(s in (FAILED, CANCELLED) for s in unfinished)
            status = FAILED if broken else SKIPPED
        else:  # every dependency completed, or "run-anyway": the body runs
            status = FAILED if node.fails else COMPLETED
        statuses.append(status)
    return statuses


def build(
    runner: TaskRunner, nodes: list[Node], ran: list[int]
) -> tuple[list[TaskHandle], list[NodeError]]:
    """Submit ``nodes``; bodies append their index to ``ran``. Returns handles and errors."""
    handles: list[TaskHandle] = []
    errors = [NodeError(f"node {i} failed") for i in range(len(nodes))]
    for i, node in enumerate(nodes):
        fn = make_body(i, node, ran, errors[i])
        backend = "thread" if node.kind == "thread" else "asyncio"
        t = Task(fn, name=f"node{i}", backend=backend, on_dep_failure=node.policy)
        handles.append(runner.submit(t, depends_on=[handles[d] for d in node.deps]))
    return handles, errors


def make_body(i: int, node: Node, ran: list[int], error: NodeError) -> Any:
    if node.kind == "async":

        async def async_body() -> int:
            ran.append(i)
            if node.fails:
                raise error
            return i

        return async_body

    def sync_body() -> int:
        ran.append(i)
        if node.fails:
            raise error
        return i

    return sync_body


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@settings(max_examples=60, deadline=None)
@given(
    nodes=dags(),
    on_task_error=st.sampled_from(["continue", "log"]),
    max_workers=st.sampled_from([1, 2, 8]),
)
def test_every_handle_ends_as_its_dependency_policy_predicts(
    nodes: list[Node], on_task_error: str, max_workers: int
) -> None:
    ran: list[int] = []
    log = Collect()
    logger = logging.getLogger("pyworkflowy")
    logger.addHandler(log)
    try:
        with TaskRunner(on_task_error=on_task_error, max_workers=max_workers) as runner:
            handles, errors = build(runner, nodes, ran)
            results = runner.run()
    finally:
        logger.removeHandler(log)

    expected = expected_statuses(nodes)
    assert [h.status for h in handles] == expected
    assert [results[h.id].status for h in handles] == expected
    for i, (node, handle) in enumerate(zip(nodes, handles, strict=True)):
        if expected[i] is COMPLETED:
            assert handle.result() == i
        elif handle.exception() is not errors[i]:  # did not fail by itself: a dependency did
            assert isinstance(handle.exception(), DependencyFailedError)
        assert (i in ran) == (expected[i] is COMPLETED or handle.exception() is errors[i]), node
    failures = expected.count(FAILED)
    assert len(log.records) == (failures if on_task_error == "log" else 0)


@settings(max_examples=60, deadline=None)
@given(nodes=dags(), max_workers=st.sampled_from([1, 2, 8]))
def test_raise_policy_aborts_on_the_first_failure_and_finishes_every_handle(
    nodes: list[Node], max_workers: int
) -> None:
    ran: list[int] = []
    expected = expected_statuses(nodes)
    with TaskRunner(on_task_error="raise", max_workers=max_workers) as runner:
        handles, errors = build(runner, nodes, ran)
        if FAILED not in expected:
            runner.run()
            assert [h.status for h in handles] == expected
            return
        with pytest.raises(NodeError) as excinfo:
            runner.run()

    assert all(h.done() for h in handles)
    failed = [i for i, h in enumerate(handles) if h.status is FAILED]
    assert len(failed) == 1, "only the first failure ends FAILED; the rest is cancelled"
    assert excinfo.value is errors[failed[0]] is handles[failed[0]].exception()
    for i, handle in enumerate(handles):
        # Until the abort the run behaves as if it continued; after it, all is cancelled.
        assert handle.status in (expected[i], CANCELLED)

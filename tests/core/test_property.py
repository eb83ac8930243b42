"""Property: on random DAGs every handle ends in the status the policies predict.

Each node of a random DAG (edges only from lower to higher index) succeeds or raises, may
fail its first attempts with a retryable error and have retries to spare or not, may be
cancelled before the run, has a random ``on_dep_failure`` policy and runs as an async
function, a sync function on the asyncio backend, or a thread task. The expected status of
every node is computed here, in topological order, from its own outcome and its
dependencies' statuses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyworkflowy import (
    DependencyFailedError,
    RetryExhaustedError,
    Task,
    TaskCancelledError,
    TaskHandle,
    TaskRunner,
    TaskStatus,
)

from tests._logs import collecting

COMPLETED = TaskStatus.COMPLETED
FAILED = TaskStatus.FAILED
CANCELLED = TaskStatus.CANCELLED
SKIPPED = TaskStatus.SKIPPED

POLICIES = ("fail", "skip", "run-anyway")
KINDS = ("async", "sync-on-asyncio", "thread")


class NodeError(Exception):
    """Raised by a node whose outcome is to fail."""


class Transient(OSError):
    """Raised by a node's first ``flaky`` attempts; the tasks retry on it."""


@dataclass(frozen=True)
class Node:
    deps: tuple[int, ...]
    fails: bool
    policy: str
    kind: str
    flaky: int = 0  # attempts that fail with Transient before the outcome above
    retries: int = 0
    cancelled: bool = False  # handle.cancel() right after submit

    @property
    def exhausted(self) -> bool:
        """Its retries run out before the transient failures do."""
        return self.flaky > self.retries


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
                flaky=draw(st.integers(0, 2)),
                retries=draw(st.integers(0, 2)),
                cancelled=draw(st.integers(0, 7)) == 0,
            )
        )
    return nodes


def expected_statuses(nodes: list[Node]) -> list[TaskStatus]:
    """What each node ends as when the run is not aborted ("continue" or "log")."""
    return model(nodes)[0]


def model(nodes: list[Node]) -> tuple[list[TaskStatus], set[int]]:
    """Each node's final status, and which nodes already ended at submit.

    A node ends at submit when it is cancelled then, or when all its dependencies did and
    its policy does not run it anyway: a cancel after that finds it finished already.
    """
    statuses: list[TaskStatus] = []
    early: set[int] = set()
    for i, node in enumerate(nodes):
        unfinished = [statuses[d] for d in node.deps if statuses[d] is not COMPLETED]
        deps_ended_early = bool(node.deps) and all(d in early for d in node.deps)
        if node.cancelled and not (deps_ended_early and node.policy != "run-anyway"):
            status = CANCELLED
        elif unfinished and node.policy == "skip":
            status = SKIPPED
        elif unfinished and node.policy == "fail":
            broken = any(s in (FAILED, CANCELLED) for s in unfinished)
            status = FAILED if broken else SKIPPED
        else:  # every dependency completed, or "run-anyway": the body runs
            status = FAILED if node.fails or node.exhausted else COMPLETED
        if status is CANCELLED or (deps_ended_early and node.policy != "run-anyway"):
            early.add(i)
        statuses.append(status)
    return statuses, early


def build(
    runner: TaskRunner, nodes: list[Node], ran: list[int]
) -> tuple[list[TaskHandle], list[NodeError]]:
    """Submit ``nodes``; bodies append their index to ``ran``. Returns handles and errors."""
    handles: list[TaskHandle] = []
    errors = [NodeError(f"node {i} failed") for i in range(len(nodes))]
    for i, node in enumerate(nodes):
        fn = make_body(i, node, ran, errors[i])
        backend = "thread" if node.kind == "thread" else "asyncio"
        t = Task(
            fn,
            name=f"node{i}",
            backend=backend,
            on_dep_failure=node.policy,
            retries=node.retries,
            retry_on=Transient,
        )
        handle = runner.submit(t, depends_on=[handles[d] for d in node.deps])
        if node.cancelled:
            handle.cancel()
        handles.append(handle)
    return handles, errors


def make_body(i: int, node: Node, ran: list[int], error: NodeError) -> Any:
    def attempt() -> int:
        ran.append(i)
        if ran.count(i) <= node.flaky:
            raise Transient(f"node {i} attempt {ran.count(i)}")
        if node.fails:
            raise error
        return i

    if node.kind == "async":

        async def async_body() -> int:
            return attempt()

        return async_body
    return attempt


def check_own_outcome(i: int, node: Node, handle: TaskHandle, error: NodeError) -> None:
    """A node whose body ran: its attempts and its error follow its retries."""
    assert handle.attempts == min(node.flaky, node.retries) + 1
    exc = handle.exception()
    if node.exhausted and node.retries:
        assert isinstance(exc, RetryExhaustedError)
        assert isinstance(exc.__cause__, Transient)
    elif node.exhausted:
        assert isinstance(exc, Transient)
    elif node.fails:
        assert exc is error  # not retryable: raised as it is, on the first clean attempt
    else:
        assert handle.result() == i


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
    with (
        collecting(logging.getLogger("pyworkflowy")) as log,
        TaskRunner(on_task_error=on_task_error, max_workers=max_workers) as runner,
    ):
        handles, errors = build(runner, nodes, ran)
        results = runner.run()

    expected = expected_statuses(nodes)
    assert [h.status for h in handles] == expected
    assert [results[h.id].status for h in handles] == expected
    for i, (node, handle) in enumerate(zip(nodes, handles, strict=True)):
        body_ran = not isinstance(handle.exception(), (DependencyFailedError, TaskCancelledError))
        assert (i in ran) == body_ran, node
        if body_ran:
            check_own_outcome(i, node, handle, errors[i])
        elif expected[i] is CANCELLED:
            assert isinstance(handle.exception(), TaskCancelledError)
        else:  # a dependency did not complete
            assert isinstance(handle.exception(), DependencyFailedError)
    # Logged: each retry (a WARNING, under any policy); under "log" each failure once, a
    # body's at ERROR and a dependency's in one WARNING line.
    failed = [h for h in handles if h.status is FAILED]
    blocked = [h for h in failed if isinstance(h.exception(), DependencyFailedError)]
    retries = sum(max(h.attempts - 1, 0) for h in handles)
    logs_failures = on_task_error == "log"
    levels = log.levels()
    assert levels.count("ERROR") == (len(failed) - len(blocked) if logs_failures else 0)
    assert levels.count("WARNING") == retries + (len(blocked) if logs_failures else 0)
    assert len(levels) == levels.count("ERROR") + levels.count("WARNING")


@settings(max_examples=60, deadline=None)
@given(nodes=dags(), max_workers=st.sampled_from([1, 2, 8]))
def test_raise_policy_aborts_on_the_first_failure_and_finishes_every_handle(
    nodes: list[Node], max_workers: int
) -> None:
    ran: list[int] = []
    expected, early = model(nodes)
    with TaskRunner(on_task_error="raise", max_workers=max_workers) as runner:
        handles, _ = build(runner, nodes, ran)
        if FAILED not in expected:
            runner.run()
            assert [h.status for h in handles] == expected
            return
        with pytest.raises(Exception) as excinfo:
            runner.run()

    assert all(h.done() for h in handles)
    failed = [i for i, h in enumerate(handles) if h.status is FAILED]
    # Failures decided at submit (a dependency cancelled then) all stand; once the run
    # starts, the first failure aborts it and everything unfinished is cancelled.
    assert len([i for i in failed if i not in early]) <= 1
    assert failed, "the run raised, so something failed"
    assert excinfo.value is handles[failed[0]].exception()
    for i, handle in enumerate(handles):
        # Until the abort the run behaves as if it continued; after it, all is cancelled.
        assert handle.status in (expected[i], CANCELLED)

"""Dependencies: ``depends_on`` gating, fan-in/fan-out, ``on_dep_failure`` and cycles.

Running tasks are held with events (the body signals ``started`` and waits for ``release``)
so the tests can look at the graph mid-run without sleeping.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from pyworkflowy import (
    CycleError,
    DependencyFailedError,
    TaskCancelledError,
    TaskHandle,
    TaskResult,
    TaskRunner,
    TaskStatus,
    task,
)

EVENT_WAIT = 10.0  # seconds: only reached if the library hangs
CHAIN_LENGTH = 50_000

COMPLETED = TaskStatus.COMPLETED
FAILED = TaskStatus.FAILED
SKIPPED = TaskStatus.SKIPPED
PENDING = TaskStatus.PENDING
CANCELLED = TaskStatus.CANCELLED


class Boom(Exception):
    """The failure the tests' tasks raise."""


class BackgroundRun:
    """``runner.run()`` on its own thread, so the test thread can look at the graph mid-run."""

    def __init__(self, runner: TaskRunner) -> None:
        self._outcome: list[dict[str, TaskResult] | BaseException] = []
        self._thread = threading.Thread(target=self._main, args=(runner,))
        self._thread.start()

    def _main(self, runner: TaskRunner) -> None:
        try:
            self._outcome.append(runner.run())
        except BaseException as exc:
            self._outcome.append(exc)

    def join(self) -> dict[str, TaskResult]:
        self._thread.join(EVENT_WAIT)
        assert not self._thread.is_alive(), "run() did not return"
        outcome = self._outcome[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


async def fail() -> None:
    raise Boom("dependency broke")


# -- gating --------------------------------------------------------------------------------


def test_async_dependent_stays_pending_while_its_dependency_runs() -> None:
    order: list[str] = []

    async def main() -> TaskStatus:
        started, release = asyncio.Event(), asyncio.Event()

        async def upstream() -> None:
            order.append("upstream")
            started.set()
            await release.wait()

        async def downstream() -> None:
            order.append("downstream")

        with TaskRunner() as runner:
            h_up = runner.submit(upstream)
            h_down = runner.submit(downstream, depends_on=[h_up])
            run = asyncio.create_task(runner.arun())
            await asyncio.wait_for(started.wait(), EVENT_WAIT)
            status_while_upstream_runs = h_down.status
            release.set()
            await run
        return status_while_upstream_runs

    assert asyncio.run(main()) is PENDING
    assert order == ["upstream", "downstream"]


def test_thread_dependent_stays_pending_while_its_dependency_runs() -> None:
    order: list[str] = []
    started, release = threading.Event(), threading.Event()

    def upstream() -> None:
        order.append("upstream")
        started.set()
        release.wait(EVENT_WAIT)

    def downstream() -> None:
        order.append("downstream")

    with TaskRunner(backend="thread") as runner:
        h_up = runner.submit(upstream)
        h_down = runner.submit(downstream, depends_on=[h_up])
        background = BackgroundRun(runner)
        assert started.wait(EVENT_WAIT)
        status_while_upstream_runs = h_down.status
        release.set()
        background.join()

    assert status_while_upstream_runs is PENDING
    assert order == ["upstream", "downstream"]


@pytest.mark.parametrize("backend", ["asyncio", "thread"])
def test_fan_out_dependents_all_start_after_their_shared_dependency(backend: str) -> None:
    seen: list[TaskStatus] = []
    root: list[TaskHandle] = []

    def child() -> None:
        seen.append(root[0].status)

    with TaskRunner(backend=backend) as runner:
        root.append(runner.submit(lambda: "root"))
        children = [runner.submit(child, depends_on=root) for _ in range(5)]
        runner.run()

    assert seen == [COMPLETED] * 5
    assert [h.status for h in children] == [COMPLETED] * 5


@pytest.mark.parametrize("backend", ["asyncio", "thread"])
def test_fan_in_dependent_starts_after_all_its_dependencies(backend: str) -> None:
    seen: list[list[TaskStatus]] = []
    roots: list[TaskHandle] = []

    def sink() -> None:
        seen.append([h.status for h in roots])

    with TaskRunner(backend=backend) as runner:
        roots.extend(runner.submit(lambda i=i: i) for i in range(5))
        h_sink = runner.submit(sink, depends_on=roots)
        runner.run()

    assert seen == [[COMPLETED] * 5]
    assert h_sink.status is COMPLETED


def test_dependency_finished_in_an_earlier_run_lets_the_dependent_run() -> None:
    calls: list[str] = []

    def first() -> None:
        calls.append("first")

    def second() -> None:
        calls.append("second")

    with TaskRunner() as runner:
        h_first = runner.submit(first)
        runner.run()
        h_second = runner.submit(second, depends_on=[h_first])
        runner.run()

    assert h_second.status is COMPLETED
    assert calls == ["first", "second"]


def test_dependency_failed_in_an_earlier_run_fails_the_dependent() -> None:
    calls: list[str] = []

    def second() -> None:
        calls.append("second")

    with TaskRunner(on_task_error="continue") as runner:
        h_first = runner.submit(fail)
        runner.run()
        h_second = runner.submit(second, depends_on=[h_first])
        runner.run()

    assert h_second.status is FAILED
    assert isinstance(h_second.exception(), DependencyFailedError)
    assert calls == []


def test_depends_on_a_handle_of_another_runner_raises_value_error() -> None:
    with TaskRunner() as other, TaskRunner() as runner:
        foreign = other.submit(lambda: 1)
        with pytest.raises(ValueError, match="another TaskRunner"):
            runner.submit(lambda: 2, depends_on=[foreign])


@pytest.mark.parametrize("not_a_handle", ["square#0", task(lambda: 1)], ids=["id", "task"])
def test_depends_on_something_other_than_a_handle_raises_type_error(not_a_handle: Any) -> None:
    with TaskRunner() as runner, pytest.raises(TypeError, match="TaskHandle"):
        runner.submit(lambda: 2, depends_on=[not_a_handle])


def test_rejected_submission_adds_no_handle_and_uses_no_id() -> None:
    def work() -> None: ...

    with TaskRunner() as other, TaskRunner() as runner:
        foreign = other.submit(work)
        with pytest.raises(ValueError):
            runner.submit(work, depends_on=[foreign])
        assert runner.handles() == []
        assert runner.submit(work).id == f"{work.__module__}.{work.__qualname__}#0"


# -- on_dep_failure ------------------------------------------------------------------------


def test_fail_policy_marks_the_dependent_failed_with_dependency_failed_error() -> None:
    calls: list[str] = []

    @task(on_dep_failure="fail")
    def dependent() -> None:
        calls.append("dependent")

    with TaskRunner(on_task_error="continue") as runner:
        h_dep = runner.submit(fail, key="broken-dep")
        h = runner.submit(dependent, depends_on=[h_dep])
        runner.run()

    assert h.status is FAILED
    error = h.exception()
    assert isinstance(error, DependencyFailedError)
    assert "broken-dep" in str(error)
    assert calls == []


def test_dependency_failed_error_has_the_dependencys_error_as_cause() -> None:
    with TaskRunner(on_task_error="continue") as runner:
        h_dep = runner.submit(fail)
        h = runner.submit(lambda: None, depends_on=[h_dep])
        runner.run()

    error = h.exception()
    assert error is not None
    assert isinstance(h_dep.exception(), Boom)
    assert error.__cause__ is h_dep.exception()


def test_fail_policy_fails_the_dependent_of_a_cancelled_dependency() -> None:
    with TaskRunner(on_task_error="continue") as runner:
        h_dep = runner.submit(lambda: None)
        h = runner.submit(lambda: None, depends_on=[h_dep])
        h_dep.cancel()
        runner.run()

    assert h_dep.status is CANCELLED
    assert h.status is FAILED
    error = h.exception()
    assert isinstance(error, DependencyFailedError)
    assert isinstance(error.__cause__, TaskCancelledError)


def test_skip_policy_marks_the_dependent_skipped_without_running_it() -> None:
    calls: list[str] = []

    @task(on_dep_failure="skip")
    def dependent() -> None:
        calls.append("dependent")

    with TaskRunner(on_task_error="continue") as runner:
        h_dep = runner.submit(fail, key="broken-dep")
        h = runner.submit(dependent, depends_on=[h_dep])
        runner.run()

    assert h.status is SKIPPED
    assert calls == []
    with pytest.raises(DependencyFailedError, match="broken-dep"):
        h.result()


def test_run_anyway_policy_runs_the_dependent_with_the_args_it_was_given() -> None:
    @task(on_dep_failure="run-anyway")
    def add(x: int, *, y: int) -> int:
        return x + y

    with TaskRunner(on_task_error="continue") as runner:
        h_dep = runner.submit(fail)
        h = runner.submit(add, 2, y=3, depends_on=[h_dep])
        runner.run()

    assert h.status is COMPLETED
    assert h.result() == 5


def test_fail_policy_downstream_of_a_skipped_task_is_skipped() -> None:
    @task(on_dep_failure="skip")
    def skipper() -> None: ...

    @task(on_dep_failure="fail")
    def downstream() -> None: ...

    with TaskRunner(on_task_error="continue") as runner:
        h_fail = runner.submit(fail)
        h_skip = runner.submit(skipper, depends_on=[h_fail])
        h_down = runner.submit(downstream, depends_on=[h_skip])
        h_further = runner.submit(downstream, depends_on=[h_down])
        runner.run()

    assert [h_skip.status, h_down.status, h_further.status] == [SKIPPED, SKIPPED, SKIPPED]


@pytest.mark.parametrize("failed_first", [True, False])
def test_fail_policy_with_one_failed_and_one_skipped_dependency_is_failed(
    failed_first: bool,
) -> None:
    @task(on_dep_failure="skip")
    def skipper() -> None: ...

    with TaskRunner(on_task_error="continue") as runner:
        h_failed = runner.submit(fail)
        h_skipped = runner.submit(skipper, depends_on=[runner.submit(fail)])
        deps = [h_failed, h_skipped] if failed_first else [h_skipped, h_failed]
        h = runner.submit(lambda: None, depends_on=deps)
        runner.run()

    assert h_skipped.status is SKIPPED
    assert h.status is FAILED


def test_run_anyway_policy_runs_downstream_of_a_skipped_task() -> None:
    @task(on_dep_failure="skip")
    def skipper() -> None: ...

    @task(on_dep_failure="run-anyway")
    def downstream() -> str:
        return "ran"

    with TaskRunner(on_task_error="continue") as runner:
        h_skip = runner.submit(skipper, depends_on=[runner.submit(fail)])
        h = runner.submit(downstream, depends_on=[h_skip])
        runner.run()

    assert h.result() == "ran"


# -- long chains ---------------------------------------------------------------------------


def chain(runner: TaskRunner, head: TaskHandle, link: Any) -> list[TaskHandle]:
    """``CHAIN_LENGTH`` handles of ``link``, each depending on the one before, after ``head``."""
    handles = [head]
    for i in range(CHAIN_LENGTH):
        handles.append(runner.submit(link, i, depends_on=[handles[-1]]))
    return handles


def test_chain_of_50000_tasks_runs_every_task_in_order() -> None:
    order: list[int] = []

    async def link(i: int) -> None:
        order.append(i)

    with TaskRunner() as runner:
        handles = chain(runner, runner.submit(lambda: None), link)
        runner.run()

    assert order == list(range(CHAIN_LENGTH))
    assert handles[-1].status is COMPLETED


def test_failure_at_the_head_of_a_50000_task_chain_fails_the_whole_chain() -> None:
    async def link(i: int) -> None: ...

    with TaskRunner(on_task_error="continue") as runner:
        handles = chain(runner, runner.submit(fail), link)
        runner.run()

    assert {h.status for h in handles} == {FAILED}
    assert isinstance(handles[-1].exception(), DependencyFailedError)


def test_failure_at_the_head_of_a_50000_task_chain_skips_a_chain_of_skip_tasks() -> None:
    @task(on_dep_failure="skip")
    async def link(i: int) -> None: ...

    with TaskRunner(on_task_error="continue") as runner:
        handles = chain(runner, runner.submit(fail), link)
        runner.run()

    assert {h.status for h in handles[1:]} == {SKIPPED}


def test_cancelling_the_head_of_a_50000_task_chain_before_run_fails_the_whole_chain() -> None:
    async def link(i: int) -> None: ...

    with TaskRunner(on_task_error="continue") as runner:
        handles = chain(runner, runner.submit(lambda: None), link)
        handles[0].cancel()
        runner.run()

    assert {h.status for h in handles[1:]} == {FAILED}


# -- add_dependency and cycles -------------------------------------------------------------


def test_add_dependency_makes_a_pending_handle_wait_for_the_new_dependency() -> None:
    order: list[str] = []

    with TaskRunner() as runner:
        h_later = runner.submit(order.append, "later")
        h_first = runner.submit(order.append, "first")
        runner.add_dependency(h_later, h_first)
        runner.run()

    assert order == ["first", "later"]


def test_add_dependency_closing_a_two_task_cycle_raises_cycle_error() -> None:
    with TaskRunner() as runner:
        a = runner.submit(lambda: None, key="a")
        b = runner.submit(lambda: None, key="b")
        runner.add_dependency(a, b)
        with pytest.raises(CycleError) as excinfo:
            runner.add_dependency(b, a)

    assert "'a'" in str(excinfo.value)
    assert "'b'" in str(excinfo.value)


def test_self_dependency_raises_cycle_error_naming_the_task() -> None:
    with TaskRunner() as runner:
        a = runner.submit(lambda: None, key="a")
        with pytest.raises(CycleError, match="a -> a"):
            runner.add_dependency(a, a)


def test_cycle_error_message_spells_the_cycle_out_in_dependency_order() -> None:
    with TaskRunner() as runner:
        a, b, c = (runner.submit(lambda: None, key=k) for k in "abc")
        runner.add_dependency(a, b)
        runner.add_dependency(b, c)
        with pytest.raises(CycleError) as excinfo:
            runner.add_dependency(c, a)

    assert "c -> a -> b -> c" in str(excinfo.value)


def test_cycle_error_leaves_the_graph_unchanged() -> None:
    order: list[str] = []

    with TaskRunner() as runner:
        a = runner.submit(order.append, "a", key="a")
        b = runner.submit(order.append, "b", key="b")
        c = runner.submit(order.append, "c", key="c")
        runner.add_dependency(a, b)
        with pytest.raises(CycleError):
            runner.add_dependency(b, c, a)  # c is fine, a closes the cycle: neither is added
        assert (a.deps, b.deps) == ((b,), ())
        runner.run()

    assert order.index("b") < order.index("a")
    assert {a.status, b.status, c.status} == {COMPLETED}


def test_add_dependency_to_a_finished_handle_raises_value_error() -> None:
    with TaskRunner() as runner:
        done = runner.submit(lambda: None)
        other = runner.submit(lambda: None)
        runner.run()
        with pytest.raises(ValueError, match="before it starts"):
            runner.add_dependency(done, other)


def test_add_dependency_to_a_running_handle_raises_value_error() -> None:
    errors: list[BaseException] = []
    me: list[TaskHandle] = []

    with TaskRunner() as runner:
        other = runner.submit(lambda: None)

        async def body() -> None:
            try:
                runner.add_dependency(me[0], other)
            except ValueError as exc:
                errors.append(exc)

        me.append(runner.submit(body))
        runner.run()

    assert len(errors) == 1
    assert me[0].deps == ()


# -- the README's pipeline -----------------------------------------------------------------


def test_readme_load_clean_write_pipeline_passes_data_through_result_lookups() -> None:
    db: list[dict[str, str]] = []
    handles: dict[str, TaskHandle] = {}

    @task
    def load_csv(path: str) -> list[dict[str, str]]:
        return [{"name": " Ada ", "src": path}, {"name": "", "src": path}]

    @task
    def clean_rows() -> list[dict[str, str]]:
        rows = handles["load"].result()
        return [{**row, "name": row["name"].strip()} for row in rows if row["name"].strip()]

    @task
    def write_db() -> int:
        rows = handles["clean"].result()
        db.extend(rows)
        return len(rows)

    with TaskRunner() as runner:
        handles["load"] = load_csv.submit("data.csv")
        handles["clean"] = clean_rows.submit(depends_on=[handles["load"]])
        h_write = write_db.submit(depends_on=[handles["clean"]])
        runner.run()

    assert h_write.result() == 1
    assert db == [{"name": "Ada", "src": "data.csv"}]

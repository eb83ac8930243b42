"""What cannot travel to a dask worker is refused at submit, naming the argument."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("distributed")

from pyworkflowy import TaskRunner, TaskStatus, task
from pyworkflowy.dask import DaskBackend, SerializationError


def use(resource: object, *, option: object = None) -> str:
    return "used"


def test_an_unpicklable_argument_fails_at_submit_and_registers_nothing(
    backend: DaskBackend,
) -> None:
    with TaskRunner(backends={"dask": backend}, backend="dask") as runner:
        with pytest.raises(SerializationError) as caught:
            runner.submit(use, threading.Lock(), key="save")
        assert runner.handles() == []
    assert isinstance(caught.value, TypeError)
    assert str(caught.value) == (
        "task 'save' cannot be sent to a dask worker: argument 0: cannot pickle "
        "'_thread.lock' object"
    )


def test_an_unpicklable_keyword_argument_is_named(backend: DaskBackend) -> None:
    with (
        TaskRunner(backends={"dask": backend}, backend="dask") as runner,
        pytest.raises(SerializationError, match=r"keyword argument 'option': cannot pickle"),
    ):
        runner.submit(use, 1, option=threading.Lock())


def test_a_closure_variable_that_cannot_travel_is_named(backend: DaskBackend) -> None:
    lock = threading.Lock()
    with (
        TaskRunner(backends={"dask": backend}, backend="dask") as runner,
        pytest.raises(SerializationError, match=r"the function's closure variable 'lock'"),
    ):
        runner.submit(lambda: lock.locked())


def test_a_task_handle_argument_is_refused_with_the_fix(backend: DaskBackend) -> None:
    with TaskRunner(backends={"dask": backend}, backend="dask") as runner:
        upstream = runner.submit(len, "abc", key="upstream")
        refused = r"argument 0: the TaskHandle 'upstream' .*\.output"
        with pytest.raises(SerializationError, match=refused):
            runner.submit(use, upstream, depends_on=[upstream])


@task
async def make_lock() -> threading.Lock:  # runs on the runner's loop: it needs no pickling
    return threading.Lock()


def test_an_upstream_value_that_cannot_travel_fails_the_task_before_it_starts(
    backend: DaskBackend,
) -> None:
    with TaskRunner(backends={"dask": backend}, on_task_error="continue") as runner:
        lock = make_lock.submit()
        used = runner.submit(task(backend="dask")(use), lock.output)
        runner.run()
    assert lock.status is TaskStatus.COMPLETED
    assert used.status is TaskStatus.FAILED
    assert used.attempts == 0  # checked when the value was put in: it never started
    error = used.exception()
    assert isinstance(error, SerializationError)
    assert "argument 0: cannot pickle '_thread.lock' object" in str(error)

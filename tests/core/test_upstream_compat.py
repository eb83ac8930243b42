"""Code written for upstream pyworkflowy 0.x keeps working: the names and behaviours it used."""

from __future__ import annotations

import pickle

import pytest
import pyworkflowy
from pyworkflowy import TaskRunner, TaskStatus, task


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def boom() -> None:
    raise RuntimeError("boom")


@task(retries=2, backoff="none")
def flaky() -> None:
    raise ConnectionError("down")


def test_the_exceptions_module_holds_the_same_classes_not_copies() -> None:
    from pyworkflowy import exceptions

    for name in exceptions.__all__:
        assert getattr(exceptions, name) is getattr(pyworkflowy, name)
    assert issubclass(exceptions.TaskTimeoutError, exceptions.TaskError)


def test_an_exhausted_retry_says_how_many_attempts_were_made() -> None:
    with TaskRunner(on_task_error="continue") as runner:
        handle = runner.submit(flaky)
        runner.run()
    error = handle.exception()
    assert isinstance(error, pyworkflowy.RetryExhaustedError)
    assert error.attempts == 3
    assert isinstance(error.__cause__, ConnectionError)


def test_a_dependency_failure_names_the_failed_dependencies() -> None:
    with TaskRunner(on_task_error="continue") as runner:
        failed = runner.submit(boom)
        ok = runner.submit(add, 1, 2)
        blocked = runner.submit(add, 3, 4, depends_on=[failed, ok])
        runner.run()
    error = blocked.exception()
    assert isinstance(error, pyworkflowy.DependencyFailedError)
    assert error.failed == (boom.name,)
    assert error.failed_ids == (failed.id,)


def test_a_timeout_says_how_long_the_attempt_ran() -> None:
    import asyncio

    @task(timeout=0.01)
    async def slow() -> None:
        await asyncio.Event().wait()

    with TaskRunner(on_task_error="continue") as runner:
        handle = runner.submit(slow)
        runner.run()
    error = handle.exception()
    assert isinstance(error, pyworkflowy.TaskTimeoutError)
    assert error.elapsed is not None
    assert error.elapsed >= 0.01


@pytest.mark.parametrize(
    "error",
    [
        pyworkflowy.RetryExhaustedError("x", attempts=3),
        pyworkflowy.DependencyFailedError("x", failed=("a",), failed_ids=("a#0",)),
        pyworkflowy.TaskTimeoutError("x", elapsed=1.5),
    ],
)
def test_errors_with_details_survive_pickling(error: Exception) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert vars(copy) == vars(error)
    assert str(copy) == "x"


def test_depends_on_takes_a_single_handle() -> None:
    with TaskRunner() as runner:
        first = runner.submit(add, 1, 2)
        second = runner.submit(add, 3, 4, depends_on=first)
        mapped = runner.map(add, [1], [2], depends_on=second)
        results = runner.run()
    assert second.deps == (first,)
    assert mapped[0].deps == (second,)
    assert results[second.id].status is TaskStatus.COMPLETED


def test_depends_on_none_means_no_dependency() -> None:
    with TaskRunner() as runner:
        handle = add.submit(1, 2, runner=runner, depends_on=None)
        runner.run()
    assert handle.deps == ()
    assert handle.result() == 3


@pytest.mark.parametrize("bad", [42, "add#0", b"x"])
def test_depends_on_that_is_no_handle_is_a_clear_type_error(bad: object) -> None:
    with TaskRunner() as runner, pytest.raises(TypeError, match="depends_on takes a TaskHandle"):
        runner.submit(add, 1, 2, depends_on=bad)  # type: ignore[arg-type]
    assert runner.handles() == []


def test_upstream_pool_names_map_to_backends_with_a_deprecation_warning() -> None:
    with pytest.deprecated_call(match="use backend='thread'"):

        @task(pool="thread")  # type: ignore[call-overload]
        def on_thread() -> str:
            import threading

            return threading.current_thread().name

    with pytest.deprecated_call(match="use backend=None"):
        default = task(pool="default")(lambda: 1)  # type: ignore[call-overload]
    with pytest.deprecated_call(match="use backend='thread'"):
        offload = task(pool="offload")(lambda: 1)  # type: ignore[call-overload]
    assert (on_thread.backend, default.backend, offload.backend) == ("thread", None, "thread")
    with TaskRunner() as runner:
        handle = runner.submit(on_thread)
        runner.run()
    assert handle.backend == "thread"
    assert handle.result() != "MainThread"


def test_a_task_base_pool_attribute_is_read_as_its_backend() -> None:
    with pytest.deprecated_call(match="pool='process' is upstream"):

        class Crunch(pyworkflowy.TaskBase):
            pool = "process"

            def run(self) -> int:
                return 1

    with pytest.deprecated_call():
        assert Crunch().backend == "process"


def test_pool_and_backend_together_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="pass backend= only"):
        task(pool="thread", backend="thread")  # type: ignore[call-overload]


def test_update_progress_reports_a_clamped_fraction_with_a_deprecation_warning() -> None:
    @task
    def body() -> None:
        context = pyworkflowy.current_task()
        assert context is not None
        context.update_progress(1.7, "almost")

    with TaskRunner() as runner:
        handle = runner.submit(body)
        with pytest.deprecated_call(match="report_progress"):
            runner.run()
    assert handle.progress == pyworkflowy.Progress(1.0, 1.0, "almost")
    assert handle.progress is not None
    assert handle.progress.fraction == 1.0


def test_results_and_handle_helpers_of_upstream() -> None:
    with TaskRunner() as runner:
        first = runner.submit(add, 1, 2)
        second = runner.submit(add, 2, 3, depends_on=[first])
        assert runner.results() == {}
        runner.run()
        assert first.wait(timeout=0) is True
    results = runner.results()
    assert set(results) == {first.id, second.id}
    assert second.depends_on == (first,)
    duration = results[first.id].duration
    assert duration is not None
    assert duration >= 0
    assert pyworkflowy.TaskResult("x", TaskStatus.SKIPPED).duration is None


def test_wait_says_false_when_the_timeout_passes_first() -> None:
    import threading

    gate = threading.Event()

    @task
    def blocked() -> None:
        gate.wait()

    with TaskRunner() as runner:
        handle = runner.submit(
            blocked,
        )
        runner.start()
        try:
            assert handle.wait(timeout=0.01) is False
        finally:
            gate.set()
            runner.stop()
    assert handle.wait() is True

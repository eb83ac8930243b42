"""Code written for upstream pyworkflowy 0.x keeps working: the names and behaviours it used."""

from __future__ import annotations

import pickle
import warnings

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


def test_a_progress_read_as_upstreams_float_gives_the_fraction_and_warns() -> None:
    progress = pyworkflowy.Progress(30, 40, "rows")
    with pytest.deprecated_call(match=r"handle.progress.fraction"):
        assert float(progress) == 0.75
    with pytest.deprecated_call():
        assert progress > 0.5
        assert progress >= 0.75
        assert progress < 1
        assert progress <= 0.75
    with pytest.deprecated_call():
        assert progress == 0.75
        assert progress != 0.5
    with pytest.deprecated_call():
        assert progress * 100 == 75.0  # not a repeated tuple
        assert 100 * progress == 75.0
    with pytest.deprecated_call():
        assert f"{progress:.0%}" == "75%"
        assert round(progress, 1) == 0.8
    with pytest.deprecated_call():
        assert float(pyworkflowy.Progress(3)) == 3.0  # no total: the units done


def test_a_progress_used_as_the_tuple_it_is_does_not_warn() -> None:
    progress = pyworkflowy.Progress(30, 40, "rows")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert progress == pyworkflowy.Progress(30, 40, "rows") == (30, 40, "rows")
        assert progress != pyworkflowy.Progress(31, 40, "rows")
        assert progress != "rows"
        assert progress < pyworkflowy.Progress(31, 40, "rows")
        assert hash(progress) == hash((30, 40, "rows"))
        assert {progress: 1}[pyworkflowy.Progress(30, 40, "rows")] == 1
        assert f"{progress}" == "Progress(done=30, total=40, message='rows')"
        done, total, message = progress
        assert (done, total, message) == (30, 40, "rows")


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


# -- upstream 0.4's submit keywords, pools and dedup ---------------------------------------
def test_submit_reads_upstream_args_and_payload_with_a_deprecation_warning() -> None:
    with TaskRunner() as runner:
        with pytest.deprecated_call(match=r"submit\(task, args=, payload=\)"):
            handle = runner.submit(add, args=(1,), payload={"b": 2})  # type: ignore[call-overload]
        with pytest.deprecated_call():
            other = add.submit(payload={"a": 3, "b": 4}, source="cron")  # type: ignore[call-overload]
        runner.run()
    assert handle.result() == 3
    assert other.result() == 7


def test_a_function_with_its_own_payload_parameter_gets_it_as_an_argument() -> None:
    @task
    def store(payload: dict, source: str = "") -> tuple[dict, str]:
        return payload, source

    @task
    def anything(**fields: object) -> dict:
        return fields

    with TaskRunner() as runner:
        mine = runner.submit(store, payload={"x": 1}, source="web")
        theirs = runner.submit(anything, payload={"x": 1}, args=(2,))
        runner.run()
    assert mine.result() == ({"x": 1}, "web")
    assert theirs.result() == {"payload": {"x": 1}, "args": (2,)}


def test_positional_arguments_and_args_keyword_together_are_refused() -> None:
    with TaskRunner() as runner, pytest.raises(TypeError, match="not both"):
        runner.submit(add, 1, args=(2,))  # type: ignore[call-overload]
    assert runner.handles() == []


def test_a_dedup_key_returns_the_unfinished_handle_of_the_same_task() -> None:
    with TaskRunner() as runner, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        first = runner.submit(add, args=(1, 2), dedup_key="job-1")  # type: ignore[call-overload]
        again = runner.submit(add, args=(5, 5), dedup_key="job-1")  # type: ignore[call-overload]
        other = runner.submit(add, args=(5, 5), dedup_key="job-2")  # type: ignore[call-overload]
        assert again is first
        assert other is not first
        assert runner.has_active(add.name, "job-1")
        assert runner.find_active(add.name, "job-1") is first
        runner.run()
        assert not runner.has_active(add.name, "job-1")  # finished: a new one may start
        later = runner.submit(add, args=(5, 5), dedup_key="job-1")  # type: ignore[call-overload]
        assert later is not first
        runner.run()
    assert (first.result(), later.result()) == (3, 10)


def test_upstream_pools_become_backends_with_their_sizes() -> None:
    from pyworkflowy import Pool

    @task(backend="io")
    def where() -> str:
        import threading

        return threading.current_thread().name

    pools = {
        "default": Pool("default"),
        "io": Pool("io", kind="thread", max_workers=2),
        "offload": Pool("offload", kind="offload", max_workers=1),
    }
    with pytest.deprecated_call(match=r"max_workers=\{'asyncio': 8, 'io': 2, 'offload': 1\}"):
        runner = TaskRunner(pools=pools)
    with runner:
        handle = runner.submit(where)
        runner.run()
    assert handle.backend == "io"
    assert handle.result() != "MainThread"
    assert runner.max_workers == {"asyncio": 8, "io": 2, "offload": 1}


@pytest.mark.parametrize(
    ("pools", "match"),
    [
        ({}, "non-empty mapping"),
        ({"io": "thread"}, "must be a Pool named 'io'"),
    ],
)
def test_bad_pools_are_refused(pools: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TaskRunner(pools=pools)


def test_a_pool_checks_its_values_and_refuses_reserved_slots() -> None:
    from pyworkflowy import Pool

    with pytest.raises(ValueError, match="Pool kind"):
        Pool("io", kind="gpu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_workers"):
        Pool("io", max_workers=0)
    with pytest.raises(ValueError, match="not supported"):
        Pool("io", kind="thread", reserve_for=("manual",))
    assert Pool("io", "thread", 4) == Pool("io", kind="thread", max_workers=4)


def test_offload_runs_a_sync_call_on_a_thread_with_a_deprecation_warning() -> None:
    import threading

    def blocking(x: int) -> tuple[int, str]:
        return x * 2, threading.current_thread().name

    @task
    async def body() -> tuple[int, str]:
        context = pyworkflowy.current_task()
        assert context is not None
        return await context.offload(blocking, 21, pool="offload")

    with TaskRunner() as runner:
        handle = runner.submit(body)
        with pytest.deprecated_call(match="asyncio.to_thread"):
            runner.run()
    value, thread = handle.result()
    assert value == 42
    assert thread != threading.current_thread().name


def test_aserve_is_serve_with_a_deprecation_warning() -> None:
    import asyncio

    async def main() -> int:
        with TaskRunner() as runner:
            with pytest.deprecated_call(match="await runner.serve"):
                serving = asyncio.ensure_future(runner.aserve())
                await asyncio.sleep(0)
            handle = runner.submit(add, 1, 2)
            value = await handle
            runner.stop()
            await serving
            return value

    assert asyncio.run(main()) == 3


def test_max_attempts_counts_the_first_attempt() -> None:
    assert flaky.max_attempts == 3


def test_retry_on_none_means_every_exception() -> None:
    assert task(retry_on=None)(lambda: 1).retry_on == (Exception,)  # type: ignore[arg-type]

    class Legacy(pyworkflowy.TaskBase):
        retry_on = None  # type: ignore[assignment]

        def run(self) -> int:
            return 1

    assert Legacy().retry_on == (Exception,)


def test_get_result_waits_when_given_a_timeout() -> None:
    with TaskRunner() as runner:
        handle = runner.submit(add, 1, 2)
        runner.start()
        try:
            assert handle.get_result(timeout=30).value == 3
        finally:
            runner.stop()


def test_update_progress_without_a_message_keeps_the_last_one() -> None:
    @task
    def body() -> None:
        context = pyworkflowy.current_task()
        assert context is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.update_progress(0.25, "loading")
            context.update_progress(0.5)

    with TaskRunner() as runner:
        handle = runner.submit(body)
        runner.run()
    assert handle.progress == pyworkflowy.Progress(0.5, 1.0, "loading")


def test_retry_at_says_when_the_next_attempt_starts_while_retrying() -> None:
    import asyncio
    import threading
    import time

    seen: list[float | None] = []
    attempts = threading.Event()

    @task(retries=1, backoff="linear", backoff_base=30.0)
    def fails_once() -> None:
        if attempts.is_set():
            return
        attempts.set()
        raise ConnectionError("down")

    def watch(event: object) -> None:
        from pyworkflowy.events import TaskRetrying

        if isinstance(event, TaskRetrying):
            # delivered before the timer is set: look once the loop has set it
            loop = asyncio.get_running_loop()  # events come on the runner's loop
            loop.call_soon(lambda: (seen.append(handle.retry_at), handle.cancel()))

    with TaskRunner(on_task_error="continue") as runner:
        runner.subscribe(watch)
        handle = runner.submit(fails_once)
        before = time.time()
        runner.run()
    assert seen[0] is not None
    assert before + 29 < seen[0] <= time.time() + 31
    assert handle.retry_at is None  # no longer retrying


def test_progress_message_is_the_last_reported_message() -> None:
    @task
    def body() -> None:
        context = pyworkflowy.current_task()
        assert context is not None
        context.report_progress(1, 2, "half")

    with TaskRunner() as runner:
        handle = runner.submit(body)
        assert handle.progress_message is None
        runner.run()
    assert handle.progress_message == "half"


def test_a_pool_without_reserved_slots_answers_upstreams_questions() -> None:
    from pyworkflowy import Pool

    pool = Pool("io", kind="thread", max_workers=4)
    assert pool.is_privileged("manual")
    assert pool.is_privileged("")
    assert pool.unprivileged_cap() == 4

"""What can travel to a worker and back (cloudpickle), and how refusals are reported."""

from __future__ import annotations

import dataclasses
import functools
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyworkflowy import TaskError, TaskRunner, TaskStatus
from pyworkflowy.process import SerializationError


@dataclasses.dataclass
class Point:
    x: int
    y: int


def shift(p: Point, dx: int) -> Point:
    return Point(p.x + dx, p.y)


def apply(fn: Callable[[int], int], value: int) -> int:
    return fn(value)


def identity(value: Any) -> Any:
    return value


def run_one(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    with TaskRunner(max_workers=1, backend="process") as runner:
        handle = runner.submit(fn, *args, **kwargs)
        runner.run()
    return handle.result()


@pytest.fixture(scope="module")
def shared_runner() -> Iterator[TaskRunner]:
    with TaskRunner(max_workers=2, backend="process") as runner:
        yield runner


# -- what travels --------------------------------------------------------------------------


def test_a_lambda_runs_in_a_worker() -> None:
    assert run_one(lambda x: x + 1, 41) == 42


def test_a_closure_carries_its_captured_variables() -> None:
    factor = 3

    def times(x: int) -> int:
        return x * factor

    assert run_one(times, 14) == 42


def test_a_function_nested_in_a_test_body_runs_in_a_worker() -> None:
    def outer() -> Callable[[], str]:
        def inner() -> str:
            return "nested"

        return inner

    assert run_one(outer()) == "nested"


def test_a_lambda_passed_as_an_argument_travels_too() -> None:
    assert run_one(apply, lambda v: v * 2, 21) == 42


def test_a_partial_travels_with_its_bound_arguments() -> None:
    assert run_one(functools.partial(shift, dx=5), Point(1, 2)) == Point(6, 2)


def test_instances_of_classes_from_the_test_module_come_back_as_that_class() -> None:
    result = run_one(shift, Point(1, 2), 10)
    assert type(result) is Point
    assert result == Point(11, 2)


def test_a_builtin_function_runs_in_a_worker() -> None:
    assert run_one(sum, [1, 2, 3]) == 6


def test_functions_in_main_work_without_a_main_guard(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """
            import os
            from pyworkflowy import TaskRunner

            def double(x):
                return (2 * x, os.getpid())

            with TaskRunner(max_workers=1, backend="process") as runner:
                handle = runner.submit(double, 21)
                runner.run()
            value, pid = handle.result()
            print(value, pid != os.getpid())
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=50, check=False
    )
    assert (done.returncode, done.stdout.split()) == (0, ["42", "True"]), done.stderr


def test_module_level_tasks_of_an_importable_module_run_by_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "procmod_tasks.py").write_text(
        textwrap.dedent(
            """
            import os
            from pyworkflowy import TaskBase, task

            @task(backend="process")
            def decorated(x):
                return x + 1

            class ClassForm(TaskBase):
                backend = "process"

                def run(self, x):
                    return x * 2

            def plain(x):
                return x - 1

            FACTOR = 1

            @task(backend="process")
            def scaled(x):
                return x * FACTOR
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import procmod_tasks  # type: ignore[import-not-found]

    # By reference, the worker imports the module itself: it sees FACTOR as importing
    # makes it, not the parent's later change (a function sent by value would carry 100).
    monkeypatch.setattr(procmod_tasks, "FACTOR", 100)
    with TaskRunner(max_workers=1) as runner:
        a = runner.submit(procmod_tasks.decorated, 1)
        b = runner.submit(procmod_tasks.ClassForm(), 2)
        c = runner.submit(procmod_tasks.plain, 3, key="plain")
        d = runner.submit(procmod_tasks.scaled, 5)
        runner.run()
    assert (a.result(), b.result(), c.result()) == (2, 4, 2)
    assert d.result() == 5


def test_a_global_read_by_value_is_captured_when_the_attempt_starts() -> None:
    namespace: dict[str, Any] = {}
    exec("LIMIT = 1\ndef read():\n    return LIMIT\n", namespace)
    with TaskRunner(max_workers=1, backend="process") as runner:
        first = runner.submit(namespace["read"])
        runner.run()
        namespace["LIMIT"] = 2  # after the first ran, before the second starts
        second = runner.submit(namespace["read"])
        namespace["LIMIT"] = 3
        runner.run()
    assert (first.result(), second.result()) == (1, 3)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.text()
        | st.binary()
        | st.floats(allow_nan=False),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner) | st.tuples(inner),
        max_leaves=20,
    )
)
def test_picklable_values_make_the_round_trip_unchanged(
    shared_runner: TaskRunner, value: Any
) -> None:
    handle = shared_runner.submit(identity, value)
    shared_runner.run()
    assert handle.result() == value


def test_a_large_argument_and_result_travel_whole() -> None:
    blob = os.urandom(8 * 1024 * 1024)  # far beyond a pipe's buffer, both ways
    assert run_one(identity, blob) == blob


# -- what is refused at submit -------------------------------------------------------------


def test_an_unpicklable_argument_fails_at_submit_naming_it() -> None:
    with TaskRunner(backend="process") as runner, pytest.raises(SerializationError) as info:
        runner.submit(identity, threading.Lock())
    assert "argument 0: cannot pickle '_thread.lock' object" in str(info.value)


def test_a_refused_submission_registers_nothing() -> None:
    with TaskRunner(backend="process") as runner:
        with pytest.raises(SerializationError):
            runner.submit(identity, threading.Lock())
        handle = runner.submit(identity, 1)
    assert runner.handles() == [handle]
    assert handle.id.endswith("#0")


def test_the_serialisation_error_is_a_type_error_and_a_task_error() -> None:
    with TaskRunner(backend="process") as runner, pytest.raises(SerializationError) as info:
        runner.submit(identity, threading.Lock())
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value, TaskError)


def test_a_keyword_argument_is_named_by_its_keyword() -> None:
    def use(*, lock: Any) -> None:
        return None

    runner = TaskRunner(backend="process")
    with pytest.raises(SerializationError, match="keyword argument 'lock': cannot pickle"):
        runner.submit(use, lock=threading.Lock())


def test_the_failing_attribute_inside_an_argument_is_named() -> None:
    class Holder:
        def __init__(self) -> None:
            self.config = {"pool": [1, threading.Lock()]}

    with TaskRunner(backend="process") as runner, pytest.raises(SerializationError) as info:
        runner.submit(identity, Holder())
    assert "argument 0 (at args[0].config['pool'][1]): cannot pickle '_thread.lock'" in str(
        info.value
    )


def test_a_function_capturing_something_unpicklable_is_named_with_the_variable() -> None:
    lock = threading.Lock()

    def uses_lock() -> bool:
        return lock.locked()

    with TaskRunner(backend="process") as runner, pytest.raises(SerializationError) as info:
        runner.submit(uses_lock)
    message = str(info.value)
    assert "the function" in message
    assert "closure variable 'lock'" in message


def test_the_error_names_the_task_handle() -> None:
    runner = TaskRunner(backend="process")
    expected = "task 'job' cannot be sent to a worker process: argument 0"
    with pytest.raises(SerializationError, match=expected):
        runner.submit(identity, threading.Lock(), key="job")


# -- results that cannot travel back -------------------------------------------------------


def make_lock() -> Any:
    return threading.Lock()


def test_an_unpicklable_result_fails_that_task_with_a_clear_error() -> None:
    with TaskRunner(max_workers=1, backend="process", on_task_error="continue") as runner:
        bad = runner.submit(make_lock)
        good = runner.submit(identity, 7)
        runner.run()
    assert bad.status is TaskStatus.FAILED
    error = bad.exception()
    assert isinstance(error, SerializationError)
    assert "its result, a lock, cannot be sent back" in str(error)
    assert "cannot pickle '_thread.lock' object" in str(error)
    assert good.result() == 7


def test_the_failing_attribute_of_a_result_is_named() -> None:
    def holder() -> Any:
        class Box:
            def __init__(self) -> None:
                self.inner = threading.Lock()

        return Box()

    with TaskRunner(max_workers=1, backend="process", on_task_error="continue") as runner:
        handle = runner.submit(holder)
        runner.run()
    assert "(at result.inner)" in str(handle.exception())

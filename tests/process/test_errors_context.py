"""Exceptions come back from workers with their type and the worker's traceback;
``current_task()`` works inside a worker."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from pyworkflowy import RetryExhaustedError, TaskContext, TaskRunner, current_task, task


class InventoryError(Exception):
    """An exception class defined in the test module: it travels by value."""


class NeedsTwoArgs(Exception):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{code}: {detail}")  # args no longer match __init__: unpicklable


class HoldsALock(Exception):
    def __init__(self) -> None:
        super().__init__("with a lock", threading.Lock())


def fail_with_value_error() -> None:
    raise ValueError("bad value 42")


def fail_with(exc: BaseException) -> None:
    raise exc


def raise_inventory_error() -> None:
    raise InventoryError("out of stock")


def raise_needs_two_args() -> None:
    raise NeedsTwoArgs(7, "detail")


def raise_holds_a_lock() -> None:
    raise HoldsALock()


def failure_of(fn: Any, *args: Any) -> BaseException:
    with TaskRunner(max_workers=1, backend="process", on_task_error="continue") as runner:
        handle = runner.submit(fn, *args)
        runner.run()
    error = handle.exception()
    assert error is not None
    return error


def worker_traceback(error: BaseException) -> str:
    notes = [n for n in getattr(error, "__notes__", []) if n.startswith("Traceback in worker")]
    assert len(notes) == 1
    return notes[0]


# -- exceptions ----------------------------------------------------------------------------


def test_a_builtin_exception_keeps_its_type_and_message() -> None:
    error = failure_of(fail_with_value_error)
    assert type(error) is ValueError
    assert str(error) == "bad value 42"


def test_an_exception_class_from_the_test_module_keeps_its_class() -> None:
    with TaskRunner(max_workers=1, backend="process") as runner:
        runner.submit(raise_inventory_error)
        with pytest.raises(InventoryError, match="out of stock"):
            runner.run()


def test_the_worker_traceback_is_attached_as_a_note() -> None:
    text = worker_traceback(failure_of(fail_with_value_error))
    assert "Traceback (most recent call last)" in text
    assert "in fail_with_value_error" in text
    assert text.rstrip().endswith("ValueError: bad value 42")


def test_the_worker_traceback_names_the_worker_process() -> None:
    with TaskRunner(max_workers=1, backend="process", on_task_error="continue") as runner:
        pid = runner.submit(os.getpid)
        failed = runner.submit(fail_with_value_error)
        runner.run()
    assert f"worker process {pid.result()}" in worker_traceback(failed.exception())  # type: ignore[arg-type]


def test_a_chained_cause_shows_in_the_worker_traceback() -> None:
    def chained() -> None:
        try:
            {}["missing"]
        except KeyError as exc:
            raise RuntimeError("lookup failed") from exc

    text = worker_traceback(failure_of(chained))
    assert "KeyError: 'missing'" in text
    assert "direct cause" in text


def test_an_exception_that_cannot_be_rebuilt_arrives_as_runtime_error_naming_it() -> None:
    error = failure_of(raise_needs_two_args)
    assert type(error) is RuntimeError
    assert "NeedsTwoArgs: 7: detail" in str(error)
    assert "could not be sent back" in str(error)
    assert "raise NeedsTwoArgs(7" in worker_traceback(error)


def test_an_exception_holding_something_unpicklable_arrives_as_runtime_error() -> None:
    error = failure_of(raise_holds_a_lock)
    assert type(error) is RuntimeError
    assert "HoldsALock" in str(error)


def test_a_base_exception_from_a_worker_keeps_its_type() -> None:
    error = failure_of(fail_with, KeyboardInterrupt("stop"))
    assert type(error) is KeyboardInterrupt


def test_retry_on_matches_the_type_raised_in_the_worker() -> None:
    def flaky() -> int:
        ctx = current_task()
        assert ctx is not None
        if ctx.attempt < 3:
            raise InventoryError("not yet")
        return ctx.attempt

    with TaskRunner(max_workers=1, backend="process") as runner:
        handle = runner.submit(task(retries=3, retry_on=InventoryError)(flaky))
        runner.run()
    assert handle.result() == 3


def test_exhausted_retries_keep_the_worker_exception_as_cause() -> None:
    with TaskRunner(max_workers=1, backend="process", on_task_error="continue") as runner:
        handle = runner.submit(task(retries=1)(fail_with_value_error))
        runner.run()
    error = handle.exception()
    assert isinstance(error, RetryExhaustedError)
    assert type(error.__cause__) is ValueError


def test_a_worker_survives_an_exception_in_a_task() -> None:
    with TaskRunner(max_workers=1, backend="process", on_task_error="continue") as runner:
        before = runner.submit(os.getpid)
        runner.submit(fail_with_value_error, depends_on=[before])
        runner.run()
        after = runner.submit(os.getpid)
        runner.run()
    assert after.result() == before.result()


# -- current_task() ------------------------------------------------------------------------


def context_fields() -> tuple[str, str, int, bool]:
    ctx = current_task()
    assert isinstance(ctx, TaskContext)
    return ctx.name, ctx.id, ctx.attempt, ctx.cancel_event.is_set()


def test_current_task_in_a_worker_gives_name_id_and_attempt() -> None:
    with TaskRunner(max_workers=1, backend="process") as runner:
        handle = runner.submit(task(name="fields")(context_fields), key="the-key")
        runner.run()
    assert handle.result() == ("fields", "the-key", 1, False)


def test_current_task_in_a_worker_counts_attempts() -> None:
    def second_attempt_succeeds() -> int:
        ctx = current_task()
        assert ctx is not None
        if ctx.attempt == 1:
            raise ValueError("first")
        return ctx.attempt

    with TaskRunner(max_workers=1, backend="process") as runner:
        handle = runner.submit(task(retries=1)(second_attempt_succeeds))
        runner.run()
    assert handle.result() == 2


def test_there_is_no_current_runner_inside_a_worker() -> None:
    from pyworkflowy import get_current_runner

    def runner_seen() -> bool:
        return get_current_runner() is not None

    with TaskRunner(max_workers=1, backend="process") as runner:
        handle = runner.submit(runner_seen)
        runner.run()
    assert handle.result() is False

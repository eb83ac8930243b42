"""What the runner logs: retries, failures (each once), dependency failures in one line,
the task fields on every record, and ``current_task().logger`` for task bodies."""

from __future__ import annotations

import asyncio
import logging
import pickle
import sys
import threading
from collections.abc import Iterator

import pytest
from pyworkflowy import TaskRunner, TaskStatus, current_task, task
from pyworkflowy.backends import Attempt, Backend, portable_record

from tests._logs import Collect, collecting

WAIT = 10.0


class Boom(Exception):
    """A body's failure."""


@pytest.fixture
def log() -> Iterator[Collect]:
    """Every record of the ``pyworkflowy`` loggers, at DEBUG and up."""
    with collecting(logging.getLogger("pyworkflowy"), logging.DEBUG) as handler:
        yield handler


def fields(record: logging.LogRecord) -> tuple[object, object, object]:
    return (
        getattr(record, "task_id", None),
        getattr(record, "task_name", None),
        getattr(record, "attempt", None),
    )


# -- retries --------------------------------------------------------------------------------


def test_each_retry_is_a_warning_naming_task_attempt_error_and_delay(log: Collect) -> None:
    @task(retries=2)
    def flaky() -> str:
        ctx = current_task()
        assert ctx is not None
        if ctx.attempt < 3:
            raise ConnectionError(f"refused on attempt {ctx.attempt}")
        return "connected"

    with TaskRunner() as runner:
        handle = flaky.submit(key="connect")
        runner.run()

    assert handle.result() == "connected"
    assert log.levels() == ["WARNING", "WARNING"]
    first, second = (r.getMessage() for r in log.records)
    assert first == (
        "task 'connect' attempt 1 failed: ConnectionError: refused on attempt 1; retrying in 0 s"
    )
    assert "attempt 2 failed: ConnectionError: refused on attempt 2" in second
    name = handle.name
    assert [fields(r) for r in log.records] == [("connect", name, 1), ("connect", name, 2)]
    assert all(r.exc_info is None for r in log.records)  # the traceback comes with the end


def test_the_retry_warning_gives_the_backoff_delay(log: Collect, virtual_clock) -> None:
    @task(retries=1, backoff="linear", backoff_base=30)
    def flaky() -> None:
        ctx = current_task()
        assert ctx is not None
        if ctx.attempt == 1:
            raise ConnectionError("refused")

    with TaskRunner(clock=virtual_clock) as runner:
        flaky.submit(key="connect")
        runner.run()

    assert log.records[0].getMessage().endswith("retrying in 30 s")


def test_retries_are_logged_under_every_policy(log: Collect) -> None:
    @task(retries=1)
    def flaky() -> None:
        ctx = current_task()
        assert ctx is not None
        if ctx.attempt == 1:
            raise ConnectionError("refused")

    for policy in ("raise", "log", "continue"):
        with TaskRunner(on_task_error=policy) as runner:
            flaky.submit()
            runner.run()
    assert log.levels() == ["WARNING"] * 3


# -- failures, once -------------------------------------------------------------------------


def test_a_task_that_exhausts_its_retries_logs_warnings_then_one_error(log: Collect) -> None:
    @task(retries=2)
    def down() -> None:
        raise ConnectionError("refused")

    with TaskRunner(on_task_error="log") as runner:
        handle = down.submit(key="down")
        runner.run()

    assert log.levels() == ["WARNING", "WARNING", "ERROR"]
    error = log.records[-1]
    assert error.getMessage().startswith("task 'down' failed: RetryExhaustedError")
    assert error.exc_info is not None
    assert error.exc_info[1] is handle.exception()
    assert fields(error) == ("down", handle.name, 3)


def test_a_failed_chain_logs_the_failure_once_and_one_line_per_dependent(log: Collect) -> None:
    def boom() -> None:
        raise Boom("disk full")

    with TaskRunner(on_task_error="log") as runner:
        first = previous = runner.submit(boom, key="t0")
        for i in range(1, 200):
            previous = runner.submit(lambda: None, depends_on=[previous], key=f"t{i}")
        runner.run()

    assert log.levels() == ["ERROR"] + ["WARNING"] * 199
    assert fields(log.records[0]) == ("t0", first.name, 1)
    assert log.records[0].exc_info is not None  # the traceback, once
    dependents = log.records[1:]
    assert all(r.exc_info is None for r in dependents)
    assert dependents[0].getMessage() == (
        "task 't1' did not run: dependency 't0' ended failed: Boom: disk full"
    )
    assert dependents[-1].getMessage() == (
        "task 't199' did not run: dependency 't198' ended failed; "
        "the failure started at task 't0': Boom: disk full"
    )
    assert fields(dependents[-1]) == ("t199", previous.name, 0)
    # Linear: t101 to t199 (ids of one length) log lines of one size, whatever the depth.
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    assert len({len(formatter.format(r)) for r in dependents[100:]}) == 1


def test_the_dependency_error_still_chains_its_cause() -> None:
    error = Boom("disk full")

    def boom() -> None:
        raise error

    with TaskRunner(on_task_error="continue") as runner:
        first = runner.submit(boom)
        second = runner.submit(lambda: None, depends_on=[first])
        third = runner.submit(lambda: None, depends_on=[second])
        runner.run()

    assert third.exception().__cause__ is second.exception()  # type: ignore[union-attr]
    assert second.exception().__cause__ is error  # type: ignore[union-attr]


def test_continue_logs_no_failure_and_raise_leaves_it_to_the_caller(log: Collect) -> None:
    def boom() -> None:
        raise Boom("quiet")

    with TaskRunner(on_task_error="continue") as runner:
        first = runner.submit(boom)
        runner.submit(lambda: None, depends_on=[first])
        runner.run()
    with TaskRunner(on_task_error="raise") as runner:
        first = runner.submit(boom)
        runner.submit(lambda: None, depends_on=[first])
        with pytest.raises(Boom):
            runner.run()

    assert log.records == []


# -- serving --------------------------------------------------------------------------------


def test_serving_under_raise_does_not_log_a_failure_handed_to_whoever_awaits_it(
    log: Collect,
) -> None:
    async def main() -> BaseException | None:
        runner = TaskRunner(on_task_error="raise")
        serving = asyncio.ensure_future(runner.serve())
        gate = asyncio.Event()

        async def ready() -> None:
            """Awaited first: once it is done, the runner serves on this loop."""

        async def request() -> None:
            await gate.wait()
            raise Boom("bad request")

        await runner.submit(ready)  # serving: awaiting a handle now waits without a step
        handle = runner.submit(request, key="request")
        gate.set()  # the body goes on only once we wait: nobody else runs until we await
        try:
            await handle
        except Boom as exc:
            caught: BaseException | None = exc
        else:
            caught = None
        runner.stop()
        await serving
        runner.shutdown()
        return caught

    assert isinstance(asyncio.run(main()), Boom)
    assert log.records == []


def test_serving_under_raise_logs_a_failure_nobody_waited_for(log: Collect) -> None:
    def boom() -> None:
        raise Boom("scheduled job broke")

    @task(on_dep_failure="run-anyway")
    def after() -> str:
        return "next job"

    with TaskRunner(on_task_error="raise") as runner:
        runner.start()
        handle = runner.submit(boom, key="nightly")
        # Runs once the failure has been handled; waiting for it is not waiting for boom.
        assert after.submit(depends_on=[handle]).result(timeout=WAIT) == "next job"
        runner.stop()

    assert handle.status is TaskStatus.FAILED
    assert log.levels() == ["ERROR"]
    assert fields(log.records[0]) == ("nightly", handle.name, 1)


# -- current_task().logger ------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "thread"])
def test_a_body_logs_through_current_task_logger_with_its_task_fields(
    log: Collect, backend: str
) -> None:
    def body(item: str) -> None:
        ctx = current_task()
        assert ctx is not None
        ctx.logger.info("loading %s", item, extra={"rows": 3})

    async def async_body(item: str) -> None:
        body(item)

    with TaskRunner() as runner:
        handle = runner.submit(
            task(backend=backend)(async_body if backend == "asyncio" else body),
            "users.csv",
            key="load-users",
        )
        runner.run()

    (record,) = log.records
    assert record.name == "pyworkflowy.task"
    assert record.levelno == logging.INFO
    assert record.getMessage() == "loading users.csv"
    assert fields(record) == ("load-users", handle.name, 1)
    assert record.rows == 3  # type: ignore[attr-defined]


def test_the_task_logger_gives_each_attempt_its_number(log: Collect) -> None:
    @task(retries=1)
    def flaky() -> None:
        ctx = current_task()
        assert ctx is not None
        ctx.logger.info("trying")
        if ctx.attempt == 1:
            raise ConnectionError("refused")

    with TaskRunner() as runner:
        flaky.submit(key="flaky")
        runner.run()

    tries = [r for r in log.records if r.name == "pyworkflowy.task"]
    assert [r.attempt for r in tries] == [1, 2]  # type: ignore[attr-defined]


def test_the_task_logger_follows_the_levels_of_its_loggers(log: Collect) -> None:
    def body() -> None:
        ctx = current_task()
        assert ctx is not None
        ctx.logger.debug("hidden")
        ctx.logger.warning("shown")

    task_logger = logging.getLogger("pyworkflowy.task")
    task_logger.setLevel(logging.INFO)
    try:
        with TaskRunner() as runner:
            runner.submit(body)
            runner.run()
    finally:
        task_logger.setLevel(logging.NOTSET)

    assert [r.getMessage() for r in log.records] == ["shown"]


# -- Attempt.log and portable_record: the backend contract for logs from elsewhere ----------


class Relay(Backend):
    """Runs each body in-process and relays ``records`` (made by the test) as a remote
    backend would: through ``portable_record``, pickle and ``attempt.log``."""

    def __init__(self, records: list[logging.LogRecord]) -> None:
        self.records = records

    def start(self, attempt: Attempt) -> None:
        for record in self.records:
            data = pickle.loads(pickle.dumps(portable_record(record)))
            attempt.log(logging.makeLogRecord(data))
        attempt.succeed(None)


def make_record(
    name: str, level: int, msg: str, *args: object, **attrs: object
) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, msg, args, None)
    record.__dict__.update(attrs)
    return record


def run_relay(*records: logging.LogRecord, key: str = "remote") -> None:
    @task(backend="relay")
    def body() -> None: ...

    with TaskRunner(backends={"relay": Relay(list(records))}) as runner:
        body.submit(key=key)
        runner.run()


def test_attempt_log_hands_a_record_to_the_logger_it_names_with_the_task_fields(
    log: Collect,
) -> None:
    run_relay(make_record("pyworkflowy.task", logging.INFO, "%d rows", 3, rows=3))

    (record,) = log.records
    assert record.getMessage() == "3 rows"
    assert (record.task_id, record.attempt, record.rows) == ("remote", 1, 3)  # type: ignore[attr-defined]


def test_attempt_log_keeps_task_fields_the_record_has(log: Collect) -> None:
    run_relay(make_record("pyworkflowy.task", logging.INFO, "mine", task_id="other", attempt=7))

    assert fields(log.records[0])[::2] == ("other", 7)


def test_attempt_log_applies_the_level_of_the_logger_at_home(log: Collect) -> None:
    quiet = logging.getLogger("pyworkflowy.quiet")
    quiet.setLevel(logging.ERROR)
    try:
        run_relay(
            make_record("pyworkflowy.quiet", logging.WARNING, "dropped"),
            make_record("pyworkflowy.quiet", logging.ERROR, "kept"),
        )
    finally:
        quiet.setLevel(logging.NOTSET)

    assert [r.getMessage() for r in log.records] == ["kept"]


def test_portable_record_carries_the_traceback_as_text_and_repr_of_what_does_not_pickle() -> None:
    try:
        raise KeyError("id")
    except KeyError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "lookup of %s failed", ("id",), sys.exc_info()
        )
    record.lock = threading.Lock()  # an extra that cannot be pickled

    data = pickle.loads(pickle.dumps(portable_record(record)))
    rebuilt = logging.makeLogRecord(data)
    text = logging.Formatter("%(message)s").format(rebuilt)

    assert text.startswith("lookup of id failed\nTraceback (most recent call last):")
    assert text.endswith("KeyError: 'id'")
    assert rebuilt.lock.startswith("<unlocked _thread.lock")  # type: ignore[attr-defined]

"""TaskRunner(tracing=...): OpenTelemetry spans for runs and attempts, read back from the
SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from pyworkflowy import (
    RetryExhaustedError,
    TaskHandle,
    TaskRunner,
    current_task,
    task,
)

RESULT = "cicd.pipeline.task.run.result"
RUN = "pyworkflowy run"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


def spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return list(exporter.get_finished_spans())


def only(found: list[ReadableSpan], name: str) -> ReadableSpan:
    (span,) = [s for s in found if s.name == name]
    return span


def attempts_of(found: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    selected = [s for s in found if s.name == name]
    return sorted(selected, key=attempt)


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.trace_id


def attempt(span: ReadableSpan) -> int:
    value = (span.attributes or {})["pyworkflowy.task.attempt"]
    assert isinstance(value, int)
    return value


def parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


@task(name="add")
def add(a: int, b: int) -> int:
    return a + b


@task(name="fail")
def fail() -> None:
    raise ValueError("bad input")


# -- structure ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "thread"])
def test_each_attempt_is_a_child_of_the_run_span_named_after_its_task(
    provider: TracerProvider, exporter: InMemorySpanExporter, backend: str
) -> None:
    with TaskRunner(backend=backend, tracing=provider) as runner:
        first = add.submit(1, 2)
        add.submit(first.output, 3)
        runner.run()

    found = spans(exporter)
    run = only(found, RUN)
    assert run.parent is None
    assert sorted(s.name for s in found) == ["add", "add", RUN]
    for span in attempts_of(found, "add"):
        assert parent_id(span) == span_id(run)
        assert trace_id(span) == trace_id(run)
        assert run.start_time <= span.start_time <= span.end_time <= run.end_time  # type: ignore[operator]


def test_attempt_attributes_name_task_handle_attempt_backend_and_result(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with TaskRunner(backend="thread", tracing=provider) as runner:
        handle = runner.submit(add, 1, 2, key="sum")
        runner.run()

    span = only(spans(exporter), "add")
    assert dict(span.attributes or {}) == {
        "cicd.pipeline.task.name": "add",
        "cicd.pipeline.task.run.id": "sum",
        "pyworkflowy.task.attempt": 1,
        "pyworkflowy.task.backend": "thread",
        RESULT: "success",
    }
    assert span.status.status_code is StatusCode.UNSET
    assert handle.result() == 3


def test_span_times_are_the_events_times(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with TaskRunner(tracing=provider) as runner:
        handle = add.submit(1, 2)
        runner.run()

    span = only(spans(exporter), "add")
    result = handle.get_result()
    assert result.started_at is not None
    assert result.finished_at is not None
    assert span.end_time == int(result.finished_at * 1e9)
    assert span.start_time <= span.end_time  # type: ignore[operator]


def test_each_run_has_its_own_run_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with TaskRunner(tracing=provider) as runner:
        add.submit(1, 1)
        runner.run()
        add.submit(2, 2)
        runner.run()

    found = spans(exporter)
    runs = [s for s in found if s.name == RUN]
    assert len(runs) == 2
    assert {parent_id(s) for s in found if s.name == "add"} == {span_id(r) for r in runs}


def test_arun_makes_a_run_span(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    async def main() -> None:
        async with asyncio.timeout(30):
            with TaskRunner(tracing=provider) as runner:
                add.submit(1, 2)
                await runner.arun()

    asyncio.run(main())
    found = spans(exporter)
    assert parent_id(only(found, "add")) == span_id(only(found, RUN))


def test_run_span_counts_tasks_and_says_success(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with TaskRunner(tracing=provider) as runner:
        add.submit(1, 2)
        add.submit(3, 4)
        runner.run()

    run = only(spans(exporter), RUN)
    assert run.attributes is not None
    assert run.attributes["cicd.pipeline.result"] == "success"
    assert run.attributes["pyworkflowy.run.completed"] == 2
    assert run.status.status_code is StatusCode.UNSET


# -- outcomes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "thread"])
def test_a_failure_is_recorded_on_its_attempt_span(
    provider: TracerProvider, exporter: InMemorySpanExporter, backend: str
) -> None:
    with TaskRunner(backend=backend, on_task_error="continue", tracing=provider) as runner:
        fail.submit()
        runner.run()

    span = only(spans(exporter), "fail")
    assert span.attributes is not None
    assert span.attributes[RESULT] == "failure"
    assert span.attributes["error.type"] == "ValueError"
    assert span.status.status_code is StatusCode.ERROR
    (exception,) = [e for e in span.events if e.name == "exception"]
    assert exception.attributes is not None
    assert exception.attributes["exception.type"] == "ValueError"
    assert exception.attributes["exception.message"] == "bad input"


def test_a_run_with_failed_tasks_is_a_failure(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with TaskRunner(on_task_error="continue", tracing=provider) as runner:
        fail.submit()
        add.submit(1, 2)
        runner.run()

    run = only(spans(exporter), RUN)
    assert run.attributes is not None
    assert run.attributes["cicd.pipeline.result"] == "failure"
    assert run.attributes["pyworkflowy.run.failed"] == 1
    assert run.status.status_code is StatusCode.ERROR


def test_a_run_that_raises_records_the_error_on_the_run_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with TaskRunner(tracing=provider) as runner:
        fail.submit()
        with pytest.raises(ValueError, match="bad input"):
            runner.run()

    run = only(spans(exporter), RUN)
    assert run.attributes is not None
    assert run.attributes["error.type"] == "ValueError"
    assert [e.name for e in run.events] == ["exception"]


def test_a_timeout_has_result_timeout(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    @task(name="slow", timeout=0.05)
    async def slow() -> None:
        await asyncio.Event().wait()  # never set: only the timeout ends this

    with TaskRunner(on_task_error="continue", tracing=provider) as runner:
        slow.submit()
        runner.run()

    span = only(spans(exporter), "slow")
    assert span.attributes is not None
    assert span.attributes[RESULT] == "timeout"
    assert span.attributes["error.type"] == "pyworkflowy.TaskTimeoutError"
    assert span.status.status_code is StatusCode.ERROR


def test_a_running_task_that_is_cancelled_has_result_cancellation(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    @task(name="forever")
    async def forever() -> None:
        await asyncio.Event().wait()

    @task(name="canceller")
    async def canceller(target: TaskHandle) -> None:
        target.cancel()

    with TaskRunner(on_task_error="continue", tracing=provider) as runner:
        target = forever.submit()
        runner.submit(canceller, target)
        runner.run()

    span = only(spans(exporter), "forever")
    assert span.attributes is not None
    assert span.attributes[RESULT] == "cancellation"
    assert span.attributes["pyworkflowy.task.attempt"] == 1
    assert span.status.status_code is StatusCode.UNSET  # a cancellation is not an error


def test_a_task_cancelled_before_it_started_gets_a_zero_length_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with TaskRunner(on_task_error="continue", tracing=provider) as runner:
        handle = add.submit(1, 2)
        handle.cancel()
        runner.run()

    span = only(spans(exporter), "add")
    assert span.attributes is not None
    assert span.attributes[RESULT] == "cancellation"
    assert span.attributes["pyworkflowy.task.attempt"] == 0
    assert span.start_time == span.end_time
    assert span.parent is None  # it ended when cancelled, before the run began


def test_a_skipped_task_gets_a_zero_length_child_span_with_result_skip(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    @task(name="optional", on_dep_failure="skip")
    def optional(value: object) -> None:
        raise AssertionError("never runs")

    with TaskRunner(on_task_error="continue", tracing=provider) as runner:
        upstream = fail.submit()
        optional.submit(upstream.output)
        runner.run()

    found = spans(exporter)
    span = only(found, "optional")
    assert span.attributes is not None
    assert span.attributes[RESULT] == "skip"
    assert span.attributes["pyworkflowy.task.attempt"] == 0
    assert span.start_time == span.end_time
    assert span.status.status_code is StatusCode.UNSET
    assert parent_id(span) == span_id(only(found, RUN))


# -- events on spans ---------------------------------------------------------------------------


def test_a_retried_attempt_ends_with_a_retry_event_and_the_next_gets_its_own_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    @task(name="flaky", retries=1, retry_on=ConnectionError)
    def flaky() -> str:
        ctx = current_task()
        assert ctx is not None
        if ctx.attempt == 1:
            raise ConnectionError("refused")
        return "ok"

    with TaskRunner(backend="thread", tracing=provider) as runner:
        flaky.submit()
        runner.run()

    first, second = attempts_of(spans(exporter), "flaky")
    assert first.attributes is not None
    assert second.attributes is not None
    assert first.attributes[RESULT] == "failure"
    assert first.attributes["error.type"] == "ConnectionError"
    assert [e.name for e in first.events] == ["retry", "exception"]
    retry = first.events[0]
    assert retry.attributes is not None
    assert retry.attributes["pyworkflowy.task.attempt"] == 2  # the one that follows
    assert retry.attributes["pyworkflowy.retry.delay"] == 0.0
    assert second.attributes[RESULT] == "success"
    assert second.attributes["pyworkflowy.task.attempt"] == 2
    assert first.end_time <= second.start_time  # type: ignore[operator]


def test_progress_reports_are_events_of_the_attempt_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    @task(name="crawl")
    async def crawl(pages: int) -> None:
        ctx = current_task()
        assert ctx is not None
        for page in range(1, pages + 1):
            await asyncio.sleep(0)
            ctx.report_progress(page, pages, f"page {page}")

    with TaskRunner(tracing=provider) as runner:
        crawl.submit(2)
        runner.run()

    span = only(spans(exporter), "crawl")
    assert [dict(e.attributes or {}) for e in span.events if e.name == "progress"] == [
        {
            "pyworkflowy.progress.done": 1,
            "pyworkflowy.progress.total": 2,
            "pyworkflowy.progress.fraction": 0.5,
            "pyworkflowy.progress.message": "page 1",
        },
        {
            "pyworkflowy.progress.done": 2,
            "pyworkflowy.progress.total": 2,
            "pyworkflowy.progress.fraction": 1.0,
            "pyworkflowy.progress.message": "page 2",
        },
    ]


def test_a_cached_task_gets_a_zero_length_span_marked_cached(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    from pyworkflowy.cache import MemoryCache

    @task(name="square", cache=True)
    def square(x: int) -> int:
        return x * x

    cache = MemoryCache()
    for _ in range(2):
        with TaskRunner(cache=cache, tracing=provider) as runner:
            square.submit(3)
            runner.run()

    hit, ran = attempts_of(spans(exporter), "square")  # by attempt: 0 (from the cache), 1
    assert hit.attributes is not None
    assert hit.attributes["pyworkflowy.task.cached"] is True
    assert hit.attributes[RESULT] == "success"
    assert hit.start_time == hit.end_time
    assert ran.attributes is not None
    assert "pyworkflowy.task.cached" not in ran.attributes


# -- serving -----------------------------------------------------------------------------------


def test_while_serving_each_attempt_span_is_a_root_and_there_is_no_run_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with TaskRunner(tracing=provider) as runner:
        runner.start()
        first = add.submit(1, 2)
        second = add.submit(3, 4)
        assert first.result(timeout=30) == 3
        assert second.result(timeout=30) == 7
        runner.stop(timeout=30)

    found = spans(exporter)
    assert [s.name for s in found] == ["add", "add"]
    assert all(s.parent is None for s in found)
    assert trace_id(found[0]) != trace_id(found[1])


# -- configuration -----------------------------------------------------------------------------


def test_a_tracer_can_be_passed_instead_of_a_provider(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with TaskRunner(tracing=provider.get_tracer("mine")) as runner:
        add.submit(1, 2)
        runner.run()

    found = spans(exporter)
    assert {s.name for s in found} == {"add", RUN}
    assert {s.instrumentation_scope.name for s in found if s.instrumentation_scope} == {"mine"}


def test_tracing_true_uses_the_global_tracer_provider(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    trace.set_tracer_provider(provider)  # once per process: only this test sets it

    with TaskRunner(tracing=True) as runner:
        add.submit(1, 2)
        runner.run()

    found = spans(exporter)
    assert {s.name for s in found} == {"add", RUN}
    assert {s.instrumentation_scope.name for s in found if s.instrumentation_scope} == {
        "pyworkflowy"
    }


def test_tracing_false_makes_no_spans(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with TaskRunner(tracing=False) as runner:
        add.submit(1, 2)
        runner.run()
    assert spans(exporter) == []


def test_tracing_refuses_what_is_not_a_tracer_or_provider() -> None:
    with pytest.raises(TypeError, match="tracing must be True, False"):
        TaskRunner(tracing="yes")


def test_tracing_without_opentelemetry_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if not installed

    with pytest.raises(
        ImportError,
        match=r"^tracing= needs opentelemetry-api: pip install 'pyworkflowy-core\[otel\]'$",
    ):
        TaskRunner(tracing=True)


def test_the_last_attempt_records_its_own_error_not_retry_exhausted(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    @task(name="refuse", retries=1, retry_on=ConnectionError)
    def refuse() -> None:
        raise ConnectionError("refused")

    with TaskRunner(on_task_error="continue", tracing=provider) as runner:
        handle = refuse.submit()
        runner.run()

    assert isinstance(handle.exception(), RetryExhaustedError)
    found = attempts_of(spans(exporter), "refuse")
    assert len(found) == 2
    for span in found:
        assert span.attributes is not None
        assert span.attributes[RESULT] == "failure"
        assert span.attributes["error.type"] == "ConnectionError"


def test_a_task_whose_dependency_failed_gets_a_zero_length_failure_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with TaskRunner(on_task_error="continue", tracing=provider) as runner:
        upstream = fail.submit()
        add.submit(1, 1, depends_on=[upstream])
        runner.run()

    span = only(spans(exporter), "add")
    assert span.attributes is not None
    assert span.attributes[RESULT] == "failure"
    assert span.attributes["error.type"] == "pyworkflowy.DependencyFailedError"
    assert span.attributes["pyworkflowy.task.attempt"] == 0
    assert span.start_time == span.end_time


def test_an_interrupted_run_has_result_cancellation(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async def main() -> None:
        with TaskRunner(tracing=provider) as runner:
            outer = asyncio.current_task()
            assert outer is not None

            @task(name="interrupt")
            async def interrupt() -> None:
                outer.cancel()  # as Ctrl-C does to asyncio.run(main())
                await asyncio.Event().wait()

            interrupt.submit()
            with pytest.raises(asyncio.CancelledError):
                await runner.arun()

    asyncio.run(main())
    run = only(spans(exporter), RUN)
    assert run.attributes is not None
    assert run.attributes["cicd.pipeline.result"] == "cancellation"
    assert run.status.status_code is StatusCode.UNSET


def test_without_tracing_neither_the_tracing_module_nor_opentelemetry_is_imported() -> None:
    script = (
        "import sys\n"
        "from pyworkflowy import TaskRunner\n"
        "with TaskRunner() as runner:\n"
        "    runner.submit(sum, [1, 2])\n"
        "    runner.run()\n"
        "print(sorted(m for m in sys.modules if 'tracing' in m or m.startswith('opentelemetry')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_handles_cancelled_when_a_failure_aborts_the_run_are_children_of_its_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with TaskRunner(tracing=provider) as runner:
        upstream = fail.submit()
        add.submit(1, 2, depends_on=[upstream])
        with pytest.raises(ValueError, match="bad input"):
            runner.run()

    found = spans(exporter)
    span = only(found, "add")
    assert span.attributes is not None
    assert span.attributes[RESULT] == "cancellation"
    assert parent_id(span) == span_id(only(found, RUN))

"""TaskRunner(tracing=...) with the process backend: attempt spans are made in the parent,
from the events the workers' outcomes and progress reports produce."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from pyworkflowy import TaskRunner, current_task, task

RESULT = "cicd.pipeline.task.run.result"


@task(name="halfway", backend="process")
def halfway() -> str:
    ctx = current_task()
    assert ctx is not None
    ctx.report_progress(1, 2, "halfway")
    return "done"


@task(name="refuse", backend="process", retries=1, retry_on=ConnectionError)
def refuse() -> None:
    raise ConnectionError("refused")


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def attempt(span: ReadableSpan) -> int:
    value = (span.attributes or {})["pyworkflowy.task.attempt"]
    assert isinstance(value, int)
    return value


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.shutdown()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


def test_a_process_attempt_is_a_child_of_the_run_with_its_progress(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with TaskRunner(max_workers=1, tracing=provider) as runner:
        handle = halfway.submit()
        runner.run()

    found = {s.name: s for s in exporter.get_finished_spans()}
    assert set(found) == {"halfway", "pyworkflowy run"}
    span, run = found["halfway"], found["pyworkflowy run"]
    assert span.parent is not None
    assert span.parent.span_id == span_id(run)
    assert span.attributes is not None
    assert span.attributes["pyworkflowy.task.backend"] == "process"
    assert span.attributes["cicd.pipeline.task.run.id"] == handle.id
    assert span.attributes[RESULT] == "success"
    progress = [dict(e.attributes or {}) for e in span.events if e.name == "progress"]
    assert progress[-1]["pyworkflowy.progress.message"] == "halfway"


def test_a_process_failure_is_retried_and_recorded_on_each_attempt(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with TaskRunner(max_workers=1, on_task_error="continue", tracing=provider) as runner:
        refuse.submit()
        runner.run()

    attempts = sorted((s for s in exporter.get_finished_spans() if s.name == "refuse"), key=attempt)
    assert [attempt(s) for s in attempts] == [1, 2]
    assert [e.name for e in attempts[0].events] == ["retry", "exception"]
    for span in attempts:
        assert span.attributes is not None
        assert span.attributes[RESULT] == "failure"
        assert span.attributes["error.type"] == "ConnectionError"
        assert span.status.status_code is StatusCode.ERROR

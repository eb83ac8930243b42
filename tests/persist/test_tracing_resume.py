"""TaskRunner.resume(..., tracing=...): handles restored from the checkpoint ran in an
earlier process and get no span; those that run again do."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pyworkflowy import TaskRunner, task


@task(name="double")
def double(x: int) -> int:
    return 2 * x


def test_a_resume_traces_only_what_runs_again(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    with TaskRunner(checkpoint_path=path) as runner:
        runner.submit(double, 1, key="done-before")
        runner.run()

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with TaskRunner.resume(path, tracing=provider) as runner:
        restored = runner.submit(double, 1, key="done-before")
        runner.submit(double, 2, key="new")
        runner.run()
    provider.shutdown()

    assert restored.result() == 2
    attempts = [s for s in exporter.get_finished_spans() if s.name == "double"]
    assert [(s.attributes or {})["cicd.pipeline.task.run.id"] for s in attempts] == ["new"]

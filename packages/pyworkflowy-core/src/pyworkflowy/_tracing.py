"""``TaskRunner(tracing=...)``: OpenTelemetry spans made from the runner's public events.

One span per ``run()``/``arun()`` and, as its children, one span per attempt, named after
the task. The times are the events' times (spans are started and ended after the fact, on
the loop thread), so the spans say when things happened, not when the subscriber heard.
While serving there is no run span: each attempt span is the root of its own trace.

It imports ``opentelemetry-api`` (the ``[otel]`` extra) only when tracing is asked for.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ._errors import RetryExhaustedError, TaskCancelledError, TaskTimeoutError
from ._types import TaskStatus
from .events import (
    RunFinished,
    TaskCached,
    TaskFinished,
    TaskProgress,
    TaskRetrying,
    TaskStarted,
)

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

    from ._handle import TaskHandle
    from ._runner import TaskRunner

__all__ = ["RESULT", "attach"]

HINT = "tracing= needs opentelemetry-api: pip install 'pyworkflowy-core[otel]'"
RUN_SPAN = "pyworkflowy run"

# OpenTelemetry's CI/CD semantic conventions name a task run's outcome this way.
RESULT = "cicd.pipeline.task.run.result"
_BY_STATUS = {
    TaskStatus.COMPLETED: "success",
    TaskStatus.FAILED: "failure",
    TaskStatus.CANCELLED: "cancellation",
    TaskStatus.SKIPPED: "skip",
}
_INTERRUPTS = (KeyboardInterrupt, asyncio.CancelledError, TaskCancelledError)


def attach(runner: TaskRunner, tracing: object) -> None:
    """Subscribe a `Tracing` to ``runner``; ``tracing`` is True, a TracerProvider or a Tracer."""
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise ImportError(HINT) from exc
    from . import __version__

    if tracing is True:
        tracer = trace.get_tracer("pyworkflowy", __version__)
    elif callable(getattr(tracing, "get_tracer", None)):
        tracer = tracing.get_tracer("pyworkflowy", __version__)  # type: ignore[union-attr]
    elif callable(getattr(tracing, "start_span", None)):
        tracer = tracing
    else:
        raise TypeError(
            "tracing must be True, False, an opentelemetry TracerProvider or a Tracer, "
            f"got {tracing!r}"
        )
    runner.subscribe(Tracing(runner, tracer, trace))  # type: ignore[arg-type]


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def error_type(error: BaseException) -> str:
    """The ``error.type`` of ``error``: its class's importable, qualified name."""
    cls = type(error)
    module = cls.__module__
    if module == "builtins":
        return cls.__qualname__
    if module.startswith("pyworkflowy._"):  # its errors are public from pyworkflowy
        module = "pyworkflowy"
    return f"{module}.{cls.__qualname__}"


def record(span: Span, error: BaseException, time: float, trace: Any) -> None:
    """Put ``error`` on ``span``: ``error.type``, an exception event, status ERROR."""
    span.set_attribute("error.type", error_type(error))
    span.record_exception(error, timestamp=_ns(time))
    span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(error).__name__}: {error}"))


class Tracing:
    """The subscriber: turns events into spans (see the module docstring)."""

    def __init__(self, runner: TaskRunner, tracer: Tracer, trace: Any) -> None:
        self.engine = runner._engine
        self.tracer = tracer
        self.trace = trace
        self.run_span: Span | None = None
        self.run_context: Any = None
        self.attempts: dict[TaskHandle, Span] = {}
        self.cached: set[TaskHandle] = set()
        self.handlers: dict[type, Any] = {
            TaskStarted: self.started,
            TaskRetrying: self.retrying,
            TaskProgress: self.progress,
            TaskFinished: self.finished,
            TaskCached: self.was_cached,
            RunFinished: self.run_finished,
        }

    def __call__(self, event: Any) -> None:
        handler = self.handlers.get(type(event))
        if handler is not None:
            handler(event)

    # -- spans -----------------------------------------------------------------------------
    def parent(self, time: float) -> Any:
        """The context attempt spans start in: the run span's, opened at the first event
        of a run; ``None`` while serving, or outside a run."""
        engine = self.engine
        if engine.loop is None or engine.serving:
            return None
        if self.run_span is None:
            self.run_span = span = self.tracer.start_span(RUN_SPAN, start_time=_ns(time))
            self.run_context = self.trace.set_span_in_context(span)
        return self.run_context

    def attempt_span(self, h: TaskHandle, time: float, attempt: int) -> Span:
        attributes = {
            "cicd.pipeline.task.name": h.name,
            "cicd.pipeline.task.run.id": h.id,
            "pyworkflowy.task.attempt": attempt,
            "pyworkflowy.task.backend": h.backend,
        }
        return self.tracer.start_span(
            h.name, self.parent(time), attributes=attributes, start_time=_ns(time)
        )

    def end(self, span: Span, result: str, error: BaseException | None, time: float) -> None:
        """Set the outcome; a failure or timeout records ``error`` with status ERROR."""
        if isinstance(error, TaskTimeoutError) and result == "failure":
            result = "timeout"
        span.set_attribute(RESULT, result)
        if error is not None and result in ("failure", "timeout"):
            record(span, error, time, self.trace)
        span.end(_ns(time))

    # -- events ----------------------------------------------------------------------------
    def started(self, event: TaskStarted) -> None:
        self.attempts[event.handle] = self.attempt_span(event.handle, event.time, event.attempt)

    def retrying(self, event: TaskRetrying) -> None:
        span = self.attempts.pop(event.handle, None)
        if span is None:
            return
        span.add_event(
            "retry",
            {"pyworkflowy.task.attempt": event.attempt + 1, "pyworkflowy.retry.delay": event.delay},
            _ns(event.time),
        )
        self.end(span, "failure", event.error, event.time)

    def progress(self, event: TaskProgress) -> None:
        span = self.attempts.get(event.handle)
        if span is None:
            return
        progress = event.progress
        attributes: dict[str, Any] = {"pyworkflowy.progress.done": progress.done}
        if progress.total is not None:
            attributes["pyworkflowy.progress.total"] = progress.total
            attributes["pyworkflowy.progress.fraction"] = progress.done / progress.total
        if progress.message is not None:
            attributes["pyworkflowy.progress.message"] = progress.message
        span.add_event("progress", attributes, _ns(event.time))

    def was_cached(self, event: TaskCached) -> None:
        self.cached.add(event.handle)

    def finished(self, event: TaskFinished) -> None:
        h, status = event.handle, event.status
        span = self.attempts.pop(h, None)
        if span is None:  # it never ran here: a zero-length span, unless resumed as done
            cached = h in self.cached
            if cached:
                self.cached.discard(h)
            elif status is TaskStatus.COMPLETED:
                return  # restored from a checkpoint: it ran in an earlier process
            span = self.attempt_span(h, event.time, 0)
            if cached:
                span.set_attribute("pyworkflowy.task.cached", True)
        error = event.error
        if isinstance(error, RetryExhaustedError) and error.__cause__ is not None:
            error = error.__cause__  # the last attempt's own exception
        self.end(span, _BY_STATUS[status], error, event.time)

    def run_finished(self, event: RunFinished) -> None:
        span, self.run_span, self.run_context = self.run_span, None, None
        if span is None:  # serving, or a run with nothing to run
            return
        for status, count in event.counts.items():
            span.set_attribute(f"pyworkflowy.run.{status}", count)
        error = event.error
        if isinstance(error, _INTERRUPTS):
            result = "cancellation"
        elif error is not None or event.counts.get(TaskStatus.FAILED):
            result = "failure"
        else:
            result = "success"
        span.set_attribute("cicd.pipeline.result", result)
        if result == "failure":
            if error is not None:
                record(span, error, event.time, self.trace)
            else:  # on_task_error="continue": the run went on past failed tasks
                failed = event.counts[TaskStatus.FAILED]
                description = f"{failed} task(s) failed"
                span.set_status(self.trace.Status(self.trace.StatusCode.ERROR, description))
        span.end(_ns(event.time))

"""Jobs fired by named events of your application: `EventSource` and `Scheduler.on`.

The scheduler ships no event bus: any object with ``subscribe(event_name, handler)``
returning an unsubscribe callable is an `EventSource` (upstream pyworkflowy 0.2-0.4's
protocol). A job of ``scheduler.on(name).do(task, payload_map={...})`` subscribes when it
is added; each event submits one run, with the mapped payload keys as keyword arguments.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Mapping
from datetime import tzinfo
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ._jobs import Job, JobBuilder

__all__ = ["EventHandler", "EventJobs", "EventSource"]

logger = logging.getLogger("pyworkflowy.schedule")

EventHandler = Callable[[Mapping[str, Any]], None]
"""What an `EventSource` calls with each event's payload."""


@runtime_checkable
class EventSource(Protocol):
    """Anything that calls ``handler(payload)`` for each event named ``event_name``.

    ``subscribe`` may be called from any thread and returns a callable that ends the
    subscription (calling it twice must be harmless).
    """

    def subscribe(self, event_name: str, handler: EventHandler) -> Callable[[], None]:
        """Call ``handler(payload)`` for every ``event_name`` event until unsubscribed."""
        ...


class _OnEvent:
    """The trigger of `Scheduler.on`: it fires from events, never from the clock."""

    def __init__(self, name: str, payload_map: Mapping[str, str] | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"on() needs a non-empty event name, got {name!r}")
        pairs = dict(payload_map or {})
        for key, kwarg in pairs.items():
            if not isinstance(key, str) or not isinstance(kwarg, str):
                raise TypeError(
                    f"payload_map maps payload keys to keyword names (str to str), "
                    f"got {key!r}: {kwarg!r}"
                )
        self.name = name
        self.payload_map = pairs

    def first(self, now: float) -> float | None:
        return None

    def after(self, due: float, now: float) -> float | None:
        return None

    def describe(self, tz: tzinfo) -> str:
        return f"on {self.name!r}"


class EventJobs:
    """Part of `Scheduler`: the jobs of `on` and their event source."""

    _cond: threading.Condition
    _event_source: EventSource | None
    _unsubscribe: dict[int, Callable[[], None]]

    def on(self, event_name: str, *, max_instances: int | None = None) -> JobBuilder:
        """Fire each time the bound `EventSource` publishes ``event_name``.

        ``.do(task, *args, payload_map={"key": "kwarg"}, **kwargs)`` passes those payload
        values as keyword arguments. The job subscribes when added, and each event submits
        one run whether or not the scheduler is running (runs wait for the runner).
        ``max_instances`` bounds its unfinished runs (an event beyond it is skipped with a
        warning); by default every event runs.
        """
        from ._jobs import _builder

        limit = sys.maxsize if max_instances is None else max_instances
        return _builder(self, _OnEvent(event_name), "coalesce", None, limit)  # type: ignore[arg-type]

    def bind_tasks(self, *tasks: Any) -> list[Job]:
        """Deprecated (upstream 0.2-0.4): `on` each event in each task's ``triggers``."""
        return bind_tasks(self, tasks)

    def bind_event_source(self, source: EventSource) -> None:
        """Use ``source`` for the jobs of `on`; not while such jobs are active."""
        if not isinstance(source, EventSource):
            raise TypeError(
                f"an event source has subscribe(event_name, handler) -> unsubscribe, got {source!r}"
            )
        with self._cond:
            if self._unsubscribe:
                raise RuntimeError(
                    "cannot change the event source while jobs of on() are active; "
                    "cancel them first"
                )
            self._event_source = source


def bind_tasks(scheduler: EventJobs, tasks: tuple[Any, ...]) -> list[Job]:
    """`Scheduler.bind_tasks`: one job of ``on`` per event name in each task's ``triggers``."""
    import warnings

    warnings.warn(
        "Scheduler.bind_tasks() is upstream pyworkflowy 0.x's spelling; use "
        "Scheduler.on(event).do(task, payload_map=...) for each event",
        DeprecationWarning,
        stacklevel=3,
    )
    jobs = []
    for task in tasks:
        for name in getattr(task, "triggers", ()):
            payload_map = getattr(task, "payload_map", None)
            jobs.append(scheduler.on(name).do(task, payload_map=payload_map))
    return jobs


def subscribe(job: Job, source: EventSource) -> Callable[[], None]:
    """Subscribe ``job`` (of an `_OnEvent` trigger) to ``source``; returns unsubscribe."""
    trigger = job._trigger
    assert isinstance(trigger, _OnEvent)
    pairs = tuple(trigger.payload_map.items())

    def handler(payload: Mapping[str, Any]) -> None:
        if not job.active:
            return
        try:
            kwargs = dict(job.kwargs)
            for key, kwarg in pairs:
                if key in payload:
                    kwargs[kwarg] = payload[key]
            now = job._scheduler.clock()
            job._fire(now, now, kwargs)
        except Exception:
            logger.exception("%s: the run for event %r was not submitted", job._label(), payload)

    unsubscribe = source.subscribe(trigger.name, handler)
    if not callable(unsubscribe):
        raise TypeError(
            f"{source!r}.subscribe() must return a callable that unsubscribes, got {unsubscribe!r}"
        )
    return unsubscribe

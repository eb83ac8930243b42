"""Where task bodies run: the public `Backend` interface, and the backends that ship with core.

A backend runs bodies; the runner does everything else (dependencies, slots, retries,
backoff, timeouts, failure policies, checkpoints, events). The contract:

* The runner calls `Backend.start` on its event-loop thread with an `Attempt`, at most
  ``max_workers`` attempts at once per backend (the built-in asyncio backend's coroutines
  are unbounded unless ``TaskRunner(max_concurrency=...)``).
* The backend reports the outcome exactly once: `Attempt.succeed` or `Attempt.fail`, from
  any thread, at any time (inside ``start`` too). Reports for an attempt the runner has
  already ended (it timed out, or its run was aborted) are ignored. Cancelling a running
  attempt calls `Backend.stop` and waits for the backend's report.
* A backend with ``reports_begin = True`` calls `Attempt.began` when the body really
  starts (a pool thread took it); the timeout counts from then. Otherwise from ``start``.
* `Backend.stop` asks to stop a running attempt (cancel, timeout, an aborted run); a
  backend that cannot (``can_stop = False``) leaves it to the body, which sees
  ``current_task().cancel_event`` set.
* `Backend.prepare` (optional) runs at submit time: raise to refuse the submission (the
  caller of ``submit`` gets the error); what it returns is `Attempt.prepared` later.
* `Backend.open` is called on the loop thread before the first start of each run.
* Logs from bodies that run elsewhere: a backend that runs bodies away from this process
  catches the records they log there (a `logging.Handler` on the remote root logger,
  while a body runs), sends each as `portable_record` made it, and relays it here with
  ``attempt.log(logging.makeLogRecord(data))``: it then reaches this process's handlers
  and formatters with the task's fields, subject to this process's logger levels. A
  backend may drop records below those levels before sending them, to save the trip.

Backends are found by name: ``TaskRunner(backends={name: instance})`` first (so an
instance may replace a built-in), then the built-ins (``asyncio``, ``thread``,
``process`` from pyworkflowy-process), then the ``pyworkflowy.backends`` entry-point
group (a `Backend` subclass or a factory taking no arguments). A backend instance serves
one runner.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from ._context import _current_runner, _current_task
from ._types import TaskContext, make_progress

if TYPE_CHECKING:
    import asyncio
    import logging
    from contextvars import Token
    from types import TracebackType

    from ._handle import TaskHandle
    from ._task import Task

__all__ = [
    "AsyncioBackend",
    "Attempt",
    "Backend",
    "ExecutorBackend",
    "ThreadBackend",
    "portable_record",
    "task_context",
]


class Attempt:
    """One attempt of a handle, as its backend sees it: what to run and where to report.

    Read the call (`fn`, `args`, `kwargs`) in `Backend.start`: a handle that ends (a
    timeout) lets go of its arguments while an abandoned body may still run.
    """

    __slots__ = ("_context", "handle", "number", "state")

    def __init__(self, handle: TaskHandle, number: int) -> None:
        self.handle = handle
        """The `TaskHandle` being run."""
        self.number = number
        """1 for the first attempt, 2 for the first retry, ..."""
        self.state: Any = None
        """Free for the backend: its future, task or worker for this attempt."""
        self._context: TaskContext | None = None  # made when current_task() first asks

    # -- what to run -------------------------------------------------------------------
    @property
    def task(self) -> Task:
        """The `Task` (its options included)."""
        return self.handle._task

    @property
    def fn(self) -> Callable[..., Any]:
        """The function to call."""
        return self.handle._task.fn

    @property
    def args(self) -> tuple[Any, ...]:
        """The positional arguments, as submitted."""
        return self.handle._args

    @property
    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments, as submitted (do not mutate)."""
        return self.handle._kwargs

    @property
    def is_async(self) -> bool:
        """True when calling `fn` returns a coroutine."""
        return self.handle._task.is_async

    @property
    def timeout(self) -> float | None:
        """The task's per-attempt timeout in seconds, or ``None``."""
        return self.handle._task.timeout

    @property
    def deadline(self) -> float | None:
        """When the runner ends this attempt, if timed: a ``time.monotonic()`` value (the
        virtual clock's, for a runner on a `pyworkflowy.testing.VirtualClock`).

        ``None`` without a timeout, or while a ``reports_begin`` backend has not begun.
        """
        timeout, x = self.handle._task.timeout, self.handle._x
        if timeout is None or x is None or x.began is None or not self.current:
            return None
        return x.began + timeout

    @property
    def cancel_event(self) -> threading.Event:
        """Set when the handle is cancelled or this attempt timed out."""
        return self.handle._cancel_flag()

    @property
    def idempotency_key(self) -> str:
        """The same string for every attempt of this handle, across resumes of its
        checkpoint too: pass it to a body that runs elsewhere (see `TaskContext`)."""
        handle = self.handle
        x = handle._x
        if x is not None and x.in_doubt is not None and isinstance(x.in_doubt["value"], str):
            run_id = x.in_doubt["value"]  # the run that started it before the resume
        else:
            run_id = handle._lane.engine.run_id()
        return f"{run_id}:{handle.id}"

    @property
    def current(self) -> bool:
        """True until the runner has settled this attempt (reports after that are ignored)."""
        return self.handle._attempt is self

    @property
    def prepared(self) -> Any:
        """What `Backend.prepare` returned for the handle (``None`` if it was not called)."""
        x = self.handle._x
        return None if x is None else x.payload

    @prepared.setter
    def prepared(self, value: Any) -> None:
        self.handle._extra().payload = value

    def call(self) -> Any:
        """Call the body: ``fn(*args, **kwargs)`` (for backends that run it in this process)."""
        handle = self.handle
        return handle._task.fn(*handle._args, **handle._kwargs)

    def bind(self) -> None:
        """Bind `current_task()` (and the runner) for good in the current context.

        For a body that runs in a context of its own, such as an asyncio task: cheaper
        than `context`, and nothing to undo. Elsewhere use ``with attempt.context():``.
        """
        _current_task.set(self)  # current_task() turns it into a TaskContext when asked
        _current_runner.set(self.handle._lane.engine.runner)

    def task_context(self) -> TaskContext:
        """The `TaskContext` its body sees as `current_task()` (one per attempt)."""
        context = self._context
        if context is None:
            context = self._context = TaskContext._of(self)
        return context

    def context(self) -> _Bound:
        """A context manager that binds `current_task()` (and the runner) for the body."""
        return _Bound(self)

    # -- reporting (from any thread) -------------------------------------------------------
    def began(self) -> None:
        """The body starts now: a ``reports_begin`` backend's timeout counts from here."""
        if self.handle._attempt is self and self.handle._task.timeout is not None:
            self.handle._extra().began = self.handle._lane.engine.monotonic()

    def succeed(self, value: Any) -> None:
        """The body returned ``value``."""
        self.handle._lane.engine.report(self, True, value)

    def fail(self, error: BaseException) -> None:
        """The body raised ``error`` (a `TaskCancelledError` if it was stopped)."""
        if not isinstance(error, BaseException):
            raise TypeError(f"fail() takes an exception, got {error!r}")
        self.handle._lane.engine.report(self, False, error)

    def report_progress(
        self, done: float, total: float | None = None, message: str | None = None
    ) -> None:
        """Relay progress the body reported (a remote body's, say): see `TaskContext`."""
        self.handle._lane.engine.progress(self, make_progress(done, total, message))

    def log(self, record: logging.LogRecord) -> None:
        """Relay a record the body logged away from this process (a worker process, a
        cluster): see "Logs from bodies that run elsewhere" in the module docstring.

        The record gets this attempt's ``task_id``, ``task_name`` and ``attempt`` (where it
        has none) and goes to the logger it names here, with that logger's level, filters,
        handlers and formatters, as if it had been logged in this process. Any thread.
        """
        from ._logs import relay

        relay(record, self.handle.id, self.handle.name, self.number)

    def __repr__(self) -> str:
        return f"<Attempt {self.number} of {self.handle.id!r}>"


class _Bound:
    """`Attempt.context`: a plain class, cheaper than a generator context manager."""

    __slots__ = ("_attempt", "_runner_token", "_task_token")

    def __init__(self, attempt: Attempt) -> None:
        self._attempt = attempt

    def __enter__(self) -> TaskContext:
        context = self._attempt.task_context()
        self._task_token = _current_task.set(context)
        self._runner_token = _current_runner.set(self._attempt.handle._lane.engine.runner)
        return context

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _current_runner.reset(self._runner_token)
        _current_task.reset(self._task_token)


class task_context:
    """Bind `current_task()` to ``context`` for a body run away from the runner.

    For backends that run bodies in another process or on another machine: build a
    `TaskContext` from the attempt's name, id and number (and an ``on_progress`` that
    sends progress home), and run the body inside ``with task_context(context):``.
    """

    __slots__ = ("_context", "_token")

    def __init__(self, context: TaskContext) -> None:
        if not isinstance(context, TaskContext):
            raise TypeError(f"task_context() takes a TaskContext, got {context!r}")
        self._context = context

    def __enter__(self) -> TaskContext:
        self._token: Token[TaskContext | Attempt | None] = _current_task.set(self._context)
        return self._context

    def __exit__(self, *exc_info: object) -> None:
        _current_task.reset(self._token)


def portable_record(record: logging.LogRecord) -> dict[str, Any]:
    """``record`` as a dict that pickles, for a backend to send from where a body runs to
    the runner's process, which rebuilds it with ``logging.makeLogRecord`` and relays it
    with `Attempt.log`. The message is formatted with its arguments, a traceback becomes
    its text (``exc_text``, which formatters print), a value that does not pickle its repr.
    """
    from ._logs import portable

    return portable(record)


class Backend(ABC):
    """Runs task bodies for a runner; subclass it and implement `start` (see the module)."""

    runs_coroutines: ClassVar[bool] = False
    """Can run ``async def`` bodies (an async task on a backend that cannot is refused)."""
    runs_sync: ClassVar[bool] = True
    """Can run plain (sync) bodies; if not, the runner gives this backend's sync tasks a
    thread pool of their own, as it does for ``"asyncio"``."""
    can_stop: ClassVar[bool] = False
    """`stop` really stops a running body (otherwise the body must poll its cancel event)."""
    reports_begin: bool = False
    """Calls `Attempt.began` when a body really starts; timeouts count from then."""
    max_workers: int | None = None
    """How many attempts it takes at once; ``None``: the runner's ``max_workers``. Read
    when its lane is made and again as each run starts (a property may follow a cluster);
    ``TaskRunner(max_workers={name: n})`` overrides it."""

    def open(self, loop: asyncio.AbstractEventLoop, max_workers: int | None) -> None:  # noqa: B027
        """A run starts on ``loop``; at most ``max_workers`` attempts at once (None: no bound)."""

    def prepare(self, handle: TaskHandle) -> Any:
        """Check (or serialise) a submission early; raise to refuse it. Optional."""
        return None

    @abstractmethod
    def start(self, attempt: Attempt) -> None:
        """Begin running ``attempt``; report through `Attempt.succeed`/`Attempt.fail`."""

    def stop(self, attempt: Attempt) -> None:  # noqa: B027
        """Stop ``attempt`` if this backend can (the runner has set its cancel event)."""

    def shutdown(self, wait: bool = True) -> None:  # noqa: B027
        """Release pools and workers (``runner.shutdown()``); nothing starts after it."""


# The built-in backends build on the classes above: imported once those exist.
from ._builtin import AsyncioBackend, ExecutorBackend, ThreadBackend  # noqa: E402

"""What follows a failed attempt: a retry after its backoff, or the end of the handle; and
the timeout that fails an attempt."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ._errors import RetryExhaustedError, TaskCancelledError, TaskError, TaskTimeoutError
from ._types import TaskStatus

if TYPE_CHECKING:
    import asyncio

    from ._handle import TaskHandle
    from .backends import Attempt

__all__ = ["Failures"]

READY, RETRYING = TaskStatus.READY, TaskStatus.RETRYING
FAILED, CANCELLED = TaskStatus.FAILED, TaskStatus.CANCELLED
_monotonic = time.monotonic  # a runner on a VirtualClock reads its clock instead (use_clock)
_TIMER_SLACK = 0.001  # seconds: a deadline closer than this has come (coarse loop clocks)


class Failures:
    """Part of `Engine`: retries, backoff and timeouts."""

    if TYPE_CHECKING:  # provided by Engine
        loop: asyncio.AbstractEventLoop | None
        backlog: bool
        pumping: bool

        def to(
            self,
            h: TaskHandle,
            status: TaskStatus,
            attempt: int = 0,
            error: BaseException | None = None,
            delay: float = 0.0,
        ) -> None: ...
        def finish(self, h: TaskHandle, status: TaskStatus, value: Any, error: Any) -> None: ...
        def settle(self, attempt: Attempt, ok: bool, value: Any) -> None: ...
        def pump(self) -> None: ...

    def failed_attempt(self, h: TaskHandle, attempt: int, exc: BaseException) -> None:
        options = h._task.options
        if exc.__class__ is TypeError:  # missing an argument that submit() took?
            from ._callables import note_reserved

            note_reserved(exc, h._task.fn, h._task.name)
        if isinstance(exc, TaskError) and exc._terminal:  # a timeout, ...: never retried
            self.finish(h, FAILED, None, exc)
            return
        if _is_cancellation(exc):
            if not isinstance(exc, TaskCancelledError):
                exc = TaskCancelledError(f"task {h.id!r} was cancelled while running")
            self.finish(h, CANCELLED, None, exc)
            return
        retryable = isinstance(exc, options.retry_on) and not h._cancel_requested
        if retryable and attempt <= options.retries:
            delay = options.backoff_delay(attempt)
            from ._logs import retrying  # logging is imported at the first retry

            retrying(h, attempt, exc, delay)
            x = h._extra()  # the times of each attempt, for the checkpoint's records
            if x.attempt_times is None:
                x.attempt_times = [h._started_at]
            x.attempt_times.append(time.time())
            self.to(h, RETRYING, attempt, exc, delay)
            if delay > 0:
                assert self.loop is not None
                h._extra().timer = self.loop.call_later(delay, self.retry, h)
            else:
                self.retry(h)
            return
        if retryable and options.retries:  # every attempt was made and failed
            error: BaseException = RetryExhaustedError(
                f"task {h.id!r} failed {attempt} attempts; last error: {exc!r}", attempts=attempt
            )
            error.__cause__ = exc
        else:
            error = exc
            if isinstance(exc, Exception):
                exc.add_note(f"raised by pyworkflowy task {h.id!r} (attempt {attempt})")
        self.finish(h, FAILED, None, error)

    def retry(self, h: TaskHandle) -> None:
        """The backoff has passed: the handle goes ahead of those that have not started."""
        h._extra().timer = None
        if h._status is RETRYING:
            self.to(h, READY)
            h._lane.ready.appendleft(h)
            self.backlog = True
            if not self.pumping:
                self.pump()

    def on_timeout(self, attempt: Attempt) -> None:
        h = attempt.handle
        if h._attempt is not attempt:
            return
        x, timeout, loop = h._extra(), h._task.timeout, self.loop
        assert timeout is not None
        assert loop is not None
        # Counted from when the body began (a pool thread may take it a moment later);
        # not begun yet: wait again. One clock: the runner's monotonic one.
        began = x.began
        left = timeout if began is None else began + timeout - _monotonic()
        if left > _TIMER_SLACK:
            x.timer = loop.call_later(left, self.on_timeout, attempt)
            return
        x.timer = None
        h._set_cancel_flag()  # lets a body that polls the flag stop too
        error = TaskTimeoutError(
            f"task {h.id!r} timed out after {timeout:g} s (attempt {attempt.number})",
            elapsed=timeout if began is None else _monotonic() - began,
        )
        backend = h._lane.backend
        if not backend.can_stop:
            error.add_note(f"backend {h._lane.name!r} cannot stop a running body; it may run on")
        self.settle(attempt, False, error)
        backend.stop(attempt)
        self.pump()


def _is_cancellation(exc: BaseException) -> bool:
    if isinstance(exc, TaskCancelledError):
        return True
    import asyncio

    return isinstance(exc, asyncio.CancelledError)

"""The thread pool behind `ThreadBackend`: worker threads that take attempts from one queue.

Lighter than `concurrent.futures.ThreadPoolExecutor` on purpose: an attempt reports its
own outcome, so a call needs no `Future` (a lock and a condition each), no work item and
no idle semaphore, just a `queue.SimpleQueue`. That is most of what a sync task costs.

The pool grows, never blocks: the runner starts at most ``size`` attempts at once, but a
body abandoned at its timeout, or one that waits on another handle, keeps its thread
while its slot is given to the next attempt. When every thread is held, `submit` starts
one more, so no attempt waits for a thread behind such a body. Threads are daemons: a
body that never returns does not keep the interpreter from exiting.
"""

from __future__ import annotations

import threading
from collections import deque
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from .backends import Attempt

from ._context import _current_task

__all__ = ["ThreadPool"]

_unbind = _current_task.set
_Call = tuple["Attempt", "Callable[..., Any]", tuple[Any, ...], dict[str, Any]]


class ThreadPool:
    """Runs attempts on daemon threads named ``pyworkflowy_N``; see the module docstring.

    `submit`, `cancel` and `shutdown` are called on the runner's loop thread only; the
    worker threads touch only the queue, `_queued` (``dict.pop`` is atomic) and
    `_returned` (``deque.append`` is atomic).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._queue: SimpleQueue[_Call | None] = SimpleQueue()
        self._queued: dict[Attempt, bool] = {}  # submitted, not yet taken by a thread
        self._returned: deque[bool] = deque()  # one entry per body that ended
        self._busy = 0  # submitted and not known to have ended (loop thread)
        self._threads: list[threading.Thread] = []

    def submit(
        self,
        attempt: Attempt,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        returned = self._returned
        while returned:
            returned.popleft()
            self._busy -= 1
        self._busy += 1
        if self._busy > len(self._threads):  # every thread is held: one more
            thread = threading.Thread(
                target=self._work, name=f"pyworkflowy_{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        self._queued[attempt] = True
        self._queue.put((attempt, fn, args, kwargs))

    def cancel(self, attempt: Attempt) -> bool:
        """Take ``attempt`` back if no thread has taken it yet; True if it never runs."""
        if self._queued.pop(attempt, None) is None:
            return False
        self._returned.append(True)  # its call is done with
        return True

    def _work(self) -> None:
        get, run = self._queue.get, self.run
        while (call := get()) is not None:
            run(call)
            del call  # let go of the attempt before waiting for the next

    def run(self, call: _Call) -> None:
        """Run one submitted call here (a worker thread's job), unless it was cancelled."""
        attempt, fn, args, kwargs = call
        if self._queued.pop(attempt, None) is None:
            return  # cancelled while it waited
        attempt.began()
        attempt.bind()  # a pool thread runs bodies only: nothing to restore after
        try:
            value = fn(*args, **kwargs)
        except BaseException as exc:  # reported to the handle, never lost
            self._returned.append(True)
            attempt.fail(exc)
        else:
            self._returned.append(True)
            attempt.succeed(value)
        _unbind(None)  # an idle thread must not keep the attempt (and its result) alive

    def shutdown(self, wait: bool) -> None:
        """Stop every thread once the calls already given have run (and join if ``wait``).

        Calls still queued are cancelled, as `concurrent.futures` does with
        ``cancel_futures=True``: their attempts were ended by the runner.
        """
        self._queued.clear()
        threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(None)
        if wait:
            for thread in threads:
                thread.join()

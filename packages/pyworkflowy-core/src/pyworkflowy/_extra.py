"""The rarely needed state of a handle (`Extra`), allocated on first use, and the
`RELEASED` value of a handle whose result was let go of."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._gates import Gate
    from ._handle import TaskHandle
    from ._outputs import Inputs
    from ._types import Progress

__all__ = ["LOCK", "RELEASED", "Extra"]

LOCK = threading.Lock()  # guards the making of a handle's Extra, its waiters and cancel flag


class _Released:
    """The value of a handle whose result was released (`TaskHandle.release`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<released>"


RELEASED: Any = _Released()


class Extra:
    """The rarely needed state of a handle, allocated on first use.

    Kept apart so that the million-handle case stays small: every slot of `TaskHandle`
    is memory, and work for the garbage collector on each full collection.
    """

    __slots__ = (
        "attempt_times",
        "began",
        "blocker",
        "cache_hit",
        "cache_key",
        "caching",
        "cancel_event",
        "cancel_requested",
        "fingerprint",
        "held",
        "in_doubt",
        "inputs",
        "parked",
        "payload",
        "progress",
        "progress_due",
        "seceded",
        "tags",
        "timer",
        "waiters",
    )

    def __init__(self) -> None:
        #: once retried: [start1, end1, start2, ...] (time.time()), the last attempt's end
        #: missing while it runs; None for a handle whose one attempt is its started_at
        self.attempt_times: list[float | None] | None = None
        self.began: float | None = None  # time.monotonic() when the timed attempt's body began
        self.blocker: TaskHandle | None = None  # the first dependency that did not complete
        self.cancel_event: threading.Event | None = None
        self.cancel_requested = False
        self.caching = False  # @task(cache=True) on a runner with a cache (see _caching)
        self.cache_key: str | None = None  # this call's key, once computed
        self.cache_hit = False  # it completed from the cache without running
        self.fingerprint: str | None = None  # of the arguments, when checkpointing
        self.held: tuple[Gate, ...] | None = None  # tag gates its running attempt holds
        self.in_doubt: dict[str, Any] | None = None  # the in-doubt record it claimed (resume)
        self.inputs: Inputs | None = None  # arguments holding outputs, until they are put in
        self.parked: tuple[Gate, ...] | None = None  # the tag gates it waits in (READY)
        self.payload: Any = None  # what the backend's prepare() returned
        self.progress: Progress | None = None  # the body's last report_progress
        self.progress_due = False  # a TaskProgress event is on its way to the loop thread
        self.seceded = False  # the running body waits on another handle: slot given back
        self.tags: frozenset[str] | None = None  # its task's tags and its submission's
        self.timer: Any = None  # timeout or backoff timer
        self.waiters: list[Any] | None = None  # threads and futures waiting for the outcome

"""`DaskBackend`: task bodies on a ``dask.distributed`` cluster.

How an attempt runs. `start` (on the runner's loop) pickles the call, submits one dask
task for it (``run_attempt``, key ``"{task}-{handle id}-{attempt}-{session}{n}"``: new for
every attempt, ``pure=False``, ``retries=0``: retries, backoff and timeouts stay the
runner's). The runner hands it up to `DaskBackend.max_workers` attempts at once (sized
by the cluster), so some wait in dask's queues: an attempt with a timeout has its worker
send a begin event when the body starts (`Attempt.began`), and its timeout counts from
there. A small value comes home in an event (``[key, pickled value]``, `_on_progress`)
ahead of dask's "done", and is reported at once. When the future is done
(`_await_done`, on the client's event loop) any other outcome is fetched there
(``client.gather(..., asynchronous=True)``, which batches the fetches of concurrent
attempts) and reported from that thread.

Stopping (a cancel, a timeout, an aborted run) cancels the attempt's dask future, so work
still queued never starts, and sets the body's ``current_task().cancel_event`` on the
workers and interrupts a body already running (``client.run(cancel_keys, keys)``; stops
are batched): an exception raised in a sync body's thread, an async body's task
cancelled. ``stop_grace`` seconds later the workers where a stopped body still runs (it
is blocked in C code) are restarted (``client.restart_workers``). The attempt ends
``CANCELLED``; its result, if any, is dropped.

Shared state: the runner's loop thread runs `start` and `stop`; the dask client's loop
thread runs `_await_done`, `_watch`, `_flush_stops` and `_on_progress`; a helper thread
connects (or
starts the local cluster) when the first attempt comes. ``_lock`` guards what they share
(the attempts waiting for the client, the stops to send); ``_live`` and ``_stopping`` are
only touched by single dict and set operations, atomic under the GIL.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import pickle
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyworkflowy import TaskCancelledError
from pyworkflowy.backends import Attempt, Backend

from ._cluster import ClusterClient, close
from ._errors import TaskLostError
from ._outcomes import failure, has_dict, logger_levels, relay_logs
from ._serialize import CallChecker, dumps, submission_error
from ._stops import enforce_stop, stop_now
from ._worker import (
    LOGS_ATTR,
    Call,
    Logged,
    SentHome,
    cancel_keys,
    run_attempt,
)

if TYPE_CHECKING:
    import asyncio

    from distributed import Client, LocalCluster
    from pyworkflowy import TaskHandle

__all__ = ["DaskBackend"]

_log = logging.getLogger("pyworkflowy.dask")


class DaskBackend(ClusterClient, Backend):
    """Runs task bodies, sync and async, on a dask cluster.

    ``DaskBackend()`` starts a `distributed.LocalCluster` (one single-threaded worker
    process per core) when the first attempt comes, and closes it at ``shutdown``.
    ``DaskBackend(address="tcp://host:8786")`` connects to a running scheduler (the client
    is closed at ``shutdown``, the cluster is left alone); ``DaskBackend(client=client)``
    uses your client and leaves it open. Other keyword arguments configure the local
    cluster (``n_workers``, ``threads_per_worker``, ``processes``, ``memory_limit``, ...).

    A stopped body (cancel, timeout) is interrupted on its worker; one still running
    ``stop_grace`` seconds later (blocked in C code) has its worker restarted
    (``None``: never restart a worker).

    The client sends its messages to the scheduler every ``send_interval`` seconds (dask's
    default is 10 ms; ``None`` leaves the client's own): a chain of tasks waits that long
    at each step. Your client gets its interval back at ``shutdown``.
    """

    runs_coroutines = True
    can_stop = True  # a running body is interrupted, its worker restarted as a last resort
    reports_begin = True  # began() when a worker starts the body: queueing is free

    def __init__(
        self,
        address: str | None = None,
        client: Client | None = None,
        *,
        stop_grace: float | None = 5.0,
        send_interval: float | None = 0.001,
        **cluster_kwargs: Any,
    ) -> None:
        if address is not None and client is not None:
            raise ValueError("DaskBackend takes address= or client=, not both")
        if cluster_kwargs and (address is not None or client is not None):
            names = ", ".join(sorted(cluster_kwargs))
            raise ValueError(
                f"DaskBackend: {names} configure the LocalCluster it starts itself; with "
                "address= or client= there is none to configure"
            )
        if address is not None and not isinstance(address, str):
            raise TypeError(f"DaskBackend address must be a string, got {address!r}")
        if stop_grace is not None and not stop_grace >= 0:
            raise ValueError(f"DaskBackend stop_grace must be >= 0 or None, got {stop_grace!r}")
        if send_interval is not None and not send_interval >= 0:
            raise ValueError(
                f"DaskBackend send_interval must be >= 0 or None, got {send_interval!r}"
            )
        self.stop_grace = stop_grace
        self.send_interval = send_interval
        self._interval_was: float | None = None  # the user's client's own, given back
        self.address = address
        self._user_client = client
        self._cluster_kwargs = cluster_kwargs
        self._client: Client | None = client  # ready for submissions (None: not yet)
        self._cluster: LocalCluster | None = None  # the LocalCluster this backend started
        self._owns_client = client is None
        self._subscribed = False
        self._lock = threading.Lock()
        self._waiting: list[tuple[Attempt, Call]] = []  # started before the client was ready
        self._connecting: threading.Thread | None = None
        self._generation = 0  # shutdown() moves it on: a late connection is closed
        self._stops: list[Any] = []  # futures to cancel, sent in one batch
        self._stopping: set[str] = set()  # keys this backend cancelled
        self._live: dict[str, Attempt] = {}  # key -> attempt, while dask has it
        session = uuid.uuid4().hex[:12]
        self._session = session
        self._topic = f"pyworkflowy-progress-{session}"
        self._counter = itertools.count()
        self._checker = CallChecker()
        self._levels: tuple[tuple[str, int], ...] = ()
        self._threads: int | None = None  # the cluster's worker threads, last read

    @property
    def max_workers(self) -> int | None:  # type: ignore[override]
        """How many attempts the runner hands dask at once: 2 x the cluster's worker
        threads + 16, enough to keep every worker busy while results travel home. Read
        again as each run starts, so it follows workers that come and go; ``None`` (the
        runner's ``max_workers``) until a scheduler of unknown size is reached.
        """
        threads = self._cluster_threads()
        return None if threads is None else 2 * threads + 16

    @property
    def client(self) -> Client | None:
        """The dask client attempts go to (``None`` until the first attempt connects)."""
        return self._client

    @property
    def cluster(self) -> LocalCluster | None:
        """The `LocalCluster` this backend started, if it did (its dashboard, its workers)."""
        return self._cluster

    # -- the backend contract ----------------------------------------------------------
    def prepare(self, handle: TaskHandle) -> Any:
        self._checker.check(handle)
        return None

    def open(self, loop: asyncio.AbstractEventLoop, max_workers: int | None) -> None:
        # The client keeps its own loop; nothing depends on the runner's. Workers take
        # this process's logger levels as they are when the run starts.
        self._levels = logger_levels()

    def start(self, attempt: Attempt) -> None:
        handle = attempt.handle
        try:  # read the call now: an abandoned body must not need the handle's arguments
            payload = dumps((attempt.fn, attempt.args, attempt.kwargs))
        except Exception as exc:
            error: BaseException = submission_error(handle, exc, attempt.args, attempt.kwargs)
            error.__cause__ = exc
            attempt.fail(error)
            return
        key = f"{handle.name}-{handle.id}-{attempt.number}-{self._session}{next(self._counter)}"
        topic = self._topic
        call = Call(
            payload,
            key,
            handle.name,
            handle.id,
            attempt.number,
            attempt.is_async,
            topic,
            attempt.idempotency_key,
            os.getpid(),
            self._levels,
            attempt.timeout is not None,
        )
        client = self._client
        if client is None:
            with self._lock:
                client = self._client
                if client is None:
                    self._waiting.append((attempt, call))
                    attempt.state = call
                    self._connect_in_background()
                    return
        self._submit(client, attempt, call)

    def stop(self, attempt: Attempt) -> None:
        state = attempt.state
        if isinstance(state, Call):  # still waiting for the cluster
            with self._lock:
                waiting = [w for w in self._waiting if w[0] is not attempt]
                found = len(waiting) < len(self._waiting)
                self._waiting = waiting
            if found:
                attempt.state = None
                message = f"task {attempt.handle.id!r} was cancelled before it reached dask"
                attempt.fail(TaskCancelledError(message))
            return
        if not isinstance(state, _Submitted) or state.future.key in self._stopping:
            return  # done already, or a stop was sent: stop() may come more than once
        self._stopping.add(state.future.key)
        with self._lock:
            self._stops.append(state.future)
            first = len(self._stops) == 1
        if first:
            with contextlib.suppress(RuntimeError):  # a closed client: nothing left to stop
                _on_loop(state.client, self._flush_stops, state.client)

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            self._generation += 1
            waiting, self._waiting = self._waiting, []
            connecting, self._connecting = self._connecting, None
            client, self._client = self._client, self._user_client
            cluster, self._cluster = self._cluster, None
            stops, self._stops = self._stops, []
        for attempt, _ in waiting:
            attempt.fail(TaskCancelledError(f"task {attempt.handle.id!r}: the runner shut down"))
        if connecting is not None and wait:
            connecting.join()  # it closes what it made: the generation has moved on
        live, self._live = list(self._live.values()), {}
        if client is None:
            return
        # What still runs (abandoned at a timeout, or an aborted run) is cancelled now, and
        # its bodies are told, before the client or cluster goes.
        futures = {f.key: f for f in stops}
        submitted = [a.state for a in live if isinstance(a.state, _Submitted)]
        futures.update((s.future.key, s.future) for s in submitted)
        if futures:
            self._stopping.update(futures)
            stop_now(client, list(futures.values()))
        if self._subscribed:
            self._subscribed = False
            comm = getattr(client, "scheduler_comm", None)
            if self._interval_was is not None and comm is not None:
                comm.interval, self._interval_was = self._interval_was, None  # yours again
            if not self._owns_client:
                with contextlib.suppress(Exception):  # the user closed their client already
                    client.unsubscribe_topic(self._topic)
        if self._owns_client:
            close(client, cluster)

    def __repr__(self) -> str:
        if self._user_client is not None:
            where = f"client={self._user_client!r}"
        elif self.address is not None:
            where = f"address={self.address!r}"
        else:
            where = "LocalCluster" + (f"({self._cluster_kwargs})" if self._cluster_kwargs else "")
        return f"DaskBackend({where})"

    # -- submitting --------------------------------------------------------------------
    def _submit(self, client: Client, attempt: Attempt, call: Call) -> None:
        """Hand ``call`` to dask; its outcome is awaited on the client's loop (any thread)."""
        self._subscribe(client)
        key = call.key
        self._live[key] = attempt  # before dask has it: its begin event finds it
        try:
            future = client.submit(run_attempt, call, key=key, pure=False, retries=0)
        except Exception as exc:
            self._live.pop(key, None)
            exc.add_note(f"pyworkflowy could not submit task {attempt.handle.id!r} to dask")
            attempt.fail(exc)
            return
        attempt.state = _Submitted(future, client)
        _on_loop(client, self._await_done, client, future, attempt)

    async def _await_done(self, client: Any, future: Any, attempt: Attempt) -> None:
        """On the client's loop: wait until dask has the outcome, without fetching it. A
        value that came home in an event is reported already; other outcomes `_watch`
        fetches. (``future._state.wait()`` is what ``Future.add_done_callback`` waits on,
        without its hop through a thread; a dask without it goes straight to `_watch`.)"""
        wait = getattr(getattr(future, "_state", None), "wait", None)
        if wait is not None:
            while future.status == "pending":
                await wait()
            state = attempt.state
            if isinstance(state, _Submitted) and state.home:
                self._forget(attempt, future.key)
                return
        await self._watch(client, future, attempt)

    def _forget(self, attempt: Attempt, key: str) -> None:
        self._live.pop(key, None)
        self._stopping.discard(key)
        attempt.state = None  # the future goes: dask may forget the result

    def _subscribe(self, client: Client) -> None:
        if not self._subscribed:
            self._subscribed = True
            self._tune(client)
            client.subscribe_topic(self._topic, self._on_progress)
            if self._cluster is None:  # a scheduler this backend did not configure
                _on_loop(client, self._check_allowed_failures, client)

    # -- on the client's loop ----------------------------------------------------------
    async def _watch(self, client: Any, future: Any, attempt: Attempt) -> None:
        """Await one attempt's outcome and report it (runs on the dask client's loop)."""
        key = future.key
        try:
            value = await client.gather(future, asynchronous=True)
        except BaseException as exc:  # asyncio's CancelledError too: the client is closing
            relay_logs(attempt, exc.__dict__.pop(LOGS_ATTR, None) if has_dict(exc) else None)
            attempt.fail(failure(exc, attempt.handle.id, key, key in self._stopping))
        else:
            if isinstance(value, SentHome):  # its event reported it, unless it was lost
                if attempt.current:
                    handle_id = attempt.handle.id
                    message = f"the value of task {handle_id!r} was lost on its way from dask"
                    attempt.fail(TaskLostError(message))
                return
            if isinstance(value, Logged):
                relay_logs(attempt, value.records)
                value = value.value
            attempt.succeed(value)
        finally:
            self._forget(attempt, key)

    async def _flush_stops(self, client: Any) -> None:
        """Cancel the futures stopped since the last flush, and tell their bodies."""
        with self._lock:
            futures, self._stops = self._stops, []
        if not futures:
            return
        keys = [f.key for f in futures]
        if self.stop_grace is not None:  # counted from now, however long the stop takes
            loop = client.loop
            assert loop is not None
            loop.call_later(self.stop_grace, enforce_stop, client, keys, self.stop_grace)
        try:
            await client.cancel(futures, asynchronous=True, reason="stopped by pyworkflowy")
            await client.run(cancel_keys, keys, on_error="ignore", asynchronous=True)
        except Exception as exc:  # a closing client: the watchers report what happens
            _log.debug("could not stop dask keys %s: %s", keys, exc)

    def _on_progress(self, event: tuple[float, Any]) -> None:
        """A body's event (on the client's loop): it began (``[key]``, a timed attempt's
        timeout counts from here), or its progress; relayed to its attempt."""
        try:
            data = event[1]
            if len(data) == 1:
                attempt = self._live.get(data[0])
                if attempt is not None:
                    attempt.began()
                return
            if len(data) == 2:  # a small value, ahead of dask's "done"
                attempt = self._live.get(data[0])
                if attempt is not None:
                    self._value_home(attempt, data[1])
                return
            key, done, total, message = data
        except (TypeError, ValueError):
            return
        attempt = self._live.get(key)
        if attempt is None or not attempt.current:
            return
        try:
            attempt.report_progress(done, total, message)
        except Exception as exc:  # a bad report must not cost the task its result
            handle = attempt.handle
            fields = {"task_id": handle.id, "task_name": handle.name, "attempt": attempt.number}
            _log.warning(
                "task %r: progress from dask was refused: %s", handle.id, exc, extra=fields
            )

    def _value_home(self, attempt: Attempt, data: bytes) -> None:
        try:
            value = pickle.loads(data)
        except Exception as exc:  # a class this process cannot import: say which
            exc.add_note(f"pyworkflowy could not load the value of task {attempt.handle.id!r}")
            attempt.fail(exc)
            return
        attempt.succeed(value)
        state = attempt.state
        if isinstance(state, _Submitted):
            state.home = True  # dask's "done", which follows, fetches nothing


class _Submitted:
    """`Attempt.state` once dask has the attempt: its future and the client that owns it."""

    __slots__ = ("client", "future", "home")

    def __init__(self, future: Any, client: Client) -> None:
        self.future = future
        self.client = client
        self.home = False  # its value came home in an event


def _on_loop(client: Client, fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` (a coroutine function too) on the client's event loop, from any
    thread."""
    loop = client.loop
    assert loop is not None, "a client that is not closed has a loop"
    loop.add_callback(fn, *args)

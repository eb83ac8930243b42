"""Part of `DaskBackend`: the dask client it submits to and the cluster behind it.

The client is made on a helper thread when the first attempt comes: it connects to
``address``, or starts a `distributed.LocalCluster` (``allowed-failures`` 0), and the
attempts that waited are then submitted. Here too: the cluster's size (for
`DaskBackend.max_workers`), the client's send interval, the check that a scheduler this
backend did not configure does not re-run the tasks of dead workers, and closing what the
backend made.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from ._worker import Call, allowed_failures

if TYPE_CHECKING:
    from distributed import Client, LocalCluster
    from pyworkflowy.backends import Attempt

__all__ = ["ClusterClient", "close"]

_log = logging.getLogger("pyworkflowy.dask")


class ClusterClient:
    """Part of `DaskBackend`: its client, made when the first attempt comes."""

    address: str | None
    send_interval: float | None
    _cluster_kwargs: dict[str, Any]
    _client: Client | None
    _cluster: LocalCluster | None
    _owns_client: bool
    _interval_was: float | None
    _threads: int | None
    _lock: threading.Lock
    _waiting: list[tuple[Attempt, Call]]
    _connecting: threading.Thread | None
    _generation: int

    if TYPE_CHECKING:  # DaskBackend's: hands an attempt that waited to dask

        def _submit(self, client: Client, attempt: Attempt, call: Call) -> None: ...

    def _cluster_threads(self) -> int | None:
        client = self._client
        if client is not None:
            try:  # cluster-wide totals only: one small request, once per run
                total = client.scheduler_info(n_workers=0).get("total_threads")
            except Exception as exc:  # a closing client: keep the last figure
                _log.debug("could not read the dask cluster's size: %s", exc)
            else:
                if isinstance(total, int) and total > 0:
                    self._threads = total
            return self._threads
        if self.address is None and self._threads is None:  # the LocalCluster to come
            options = self._cluster_kwargs
            workers = options.get("n_workers", os.cpu_count() or 1)
            threads = options.get("threads_per_worker", 1)
            if isinstance(workers, int) and isinstance(threads, int) and workers * threads > 0:
                return workers * threads
        return self._threads

    def _tune(self, client: Client) -> None:
        """Send to the scheduler every ``send_interval`` s rather than dask's 10 ms: each
        attempt that a result readies is one message, and a chain waits for each."""
        comm = getattr(client, "scheduler_comm", None)
        interval = getattr(comm, "interval", None)
        if self.send_interval is None or not isinstance(interval, float):
            return
        if not self._owns_client:
            self._interval_was = interval
        comm.interval = self.send_interval  # type: ignore[union-attr]

    async def _check_allowed_failures(self, client: Any) -> None:
        """Warn once if the scheduler re-runs the tasks of dead workers by itself."""
        try:
            allowed = await client.run_on_scheduler(allowed_failures, asynchronous=True)
        except Exception as exc:  # no pyworkflowy-dask on the scheduler, or no pickle
            _log.debug("could not read the scheduler's allowed-failures: %s", exc)
            return
        if isinstance(allowed, int) and allowed > 0:
            _log.warning(
                "pyworkflowy: the dask scheduler %s re-runs a task whose worker died up to "
                "%d time(s) before pyworkflowy hears of it (distributed.scheduler."
                "allowed-failures); start it with DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=0 "
                "so that the tasks' own retries= decide",
                client.scheduler.address,
                allowed,
            )

    def _connect_in_background(self) -> None:
        """Called under ``_lock`` by the first attempt: connect (or start the cluster)."""
        if self._connecting is None:
            thread = threading.Thread(
                target=self._connect,
                args=(self._generation,),
                name="pyworkflowy-dask-connect",
                daemon=True,
            )
            self._connecting = thread
            thread.start()

    def _connect(self, generation: int) -> None:
        """On a helper thread: make the client, then submit the attempts that waited."""
        cluster = None
        try:
            from distributed import Client, LocalCluster

            if self.address is not None:
                client = Client(self.address, set_as_default=False)
            else:
                import dask

                options: dict[str, Any] = {
                    "n_workers": os.cpu_count() or 1,
                    "threads_per_worker": 1,
                    "processes": True,
                }
                options.update(self._cluster_kwargs)
                # A task whose worker dies fails at once (WorkerDiedError): the runner's
                # retries decide whether it runs again, not dask's rescheduling.
                with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                    cluster = LocalCluster(**options)
                client = Client(cluster, set_as_default=False)
        except Exception as exc:
            what = f"connect to {self.address!r}" if self.address else "start a LocalCluster"
            with self._lock:
                waiting, self._waiting = self._waiting, []
                if self._generation == generation:
                    self._connecting = None  # the next attempt tries again
            for attempt, _ in waiting:
                reason = f"{type(exc).__name__}: {exc}"
                error = RuntimeError(f"backend 'dask' could not {what}: {reason}")
                error.__cause__ = exc
                attempt.fail(error)
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close()
            return
        with self._lock:
            if self._generation != generation:  # shut down meanwhile
                close(client, cluster)
                return
            self._cluster = cluster
            for attempt, call in self._waiting:
                self._submit(client, attempt, call)
            self._waiting = []
            self._client = client
            self._connecting = None


def close(client: Client, cluster: LocalCluster | None) -> None:
    """Close ``client``, then the `LocalCluster` the backend started, if any."""
    try:
        client.close()
    finally:
        if cluster is not None:
            cluster.close()

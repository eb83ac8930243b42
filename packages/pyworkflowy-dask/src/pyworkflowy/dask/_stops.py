"""Stopping dask attempts whose bodies already run: what the backend does after it has
cancelled their futures and told their workers (see `DaskBackend._flush_stops`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ._worker import cancel_keys, still_running

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["enforce_stop", "stop_now"]

_log = logging.getLogger("pyworkflowy.dask")


async def enforce_stop(client: Any, keys: list[str], grace: float) -> None:
    """``stop_grace`` after a stop: restart the workers where a stopped body still runs
    (blocked in C code, or it swallowed the interruption). The last resort: that
    worker's other tasks are rescheduled elsewhere."""
    try:
        running = await client.run(still_running, keys, on_error="ignore", asynchronous=True)
        workers = sorted(w for w, left in running.items() if isinstance(left, list) and left)
        if not workers:
            return
        for worker in workers:
            _log.warning(
                "pyworkflowy: restarting dask worker %s: stopped task(s) %s still ran "
                "%s s after their stop",
                worker,
                ", ".join(running[worker]),
                grace,
            )
        import asyncio

        # restart_workers has no asynchronous form: it blocks a helper thread while
        # this loop talks to the scheduler.
        await asyncio.to_thread(client.restart_workers, workers)
    except Exception as exc:  # no nanny (a cluster of threads), or a closing client
        _log.warning("pyworkflowy: could not restart dask workers for %s: %s", keys, exc)


def stop_now(client: Client, futures: list[Any]) -> None:
    """`DaskBackend._flush_stops`, from a thread other than the client's loop."""
    try:
        client.cancel(futures, reason="pyworkflowy runner shut down")
        client.run(cancel_keys, [f.key for f in futures], on_error="ignore")
    except Exception as exc:  # a closed client: nothing left to stop
        _log.debug("could not stop dask keys at shutdown: %s", exc)

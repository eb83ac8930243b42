"""Shared fixtures for the dask-backend tests: one cluster per session, handshakes through dask.

Task bodies are pickled, so they cannot share a `threading.Event` with the test, even on
a cluster of threads. Handshakes go through the scheduler instead: `distributed.Event`
("the body has started", "the body may finish") and `distributed.Variable` (what a body
saw), named per test. Every test module starts with ``pytest.importorskip("distributed")``:
without it the folder is skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from distributed import Client
    from pyworkflowy.dask import DaskBackend


def _cluster_and_client(**options: Any) -> tuple[Any, Client]:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(dashboard_address=":0", **options)  # any free port: no clash
    return cluster, Client(cluster, set_as_default=False)


@pytest.fixture(scope="session")
def client() -> Iterator[Client]:
    """A cluster of threads (one worker, two threads): fast, and bodies see the test's files."""
    cluster, client = _cluster_and_client(processes=False, n_workers=1, threads_per_worker=2)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="session")
def process_client() -> Iterator[Client]:
    """Two worker processes of one thread each. A worker that dies fails its task at once
    (``allowed-failures`` 0: dask does not re-run it elsewhere), and its nanny restarts it."""
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster, client = _cluster_and_client(processes=True, n_workers=2, threads_per_worker=1)
    client.wait_for_workers(2)
    yield client
    client.close()
    cluster.close()


@pytest.fixture
def backend(client: Client) -> DaskBackend:
    """A backend on the session's thread cluster (a new one per test: one per runner)."""
    from pyworkflowy.dask import DaskBackend

    return DaskBackend(client=client)


@pytest.fixture
def name() -> Callable[[str], str]:
    """``name("started")``: a name for a dask Event or Variable, unique to this test."""
    prefix = uuid.uuid4().hex[:8]
    return lambda what: f"test-{prefix}-{what}"


@pytest.fixture
def events(client: Client) -> Iterator[Callable[[str], Any]]:
    """``events(name)``: a `distributed.Event` on the thread cluster; all are set at teardown,
    so that no body of this test stays blocked on the shared cluster."""
    from distributed import Event

    made: list[Any] = []

    def make(event_name: str) -> Any:
        event = Event(event_name, client=client)
        made.append(event)
        return event

    yield make
    for event in made:
        event.set()

"""The pyworkflowy-dask README: its examples run as written and it says what it must."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed")

README = Path(__file__).resolve().parents[2] / "packages" / "pyworkflowy-dask" / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(), re.S | re.M)
# The examples' clusters take dask's default dashboard port; the test session's clusters may
# hold it already, and dask then warns that it serves on another port.
# When the port is taken, distributed's retry leaks the socket of the failed bind, which
# the garbage collector reports as an unclosed socket.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Port 8787 is already in use:UserWarning"),
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
    ),
]


def test_the_readme_has_two_examples() -> None:
    assert len(BLOCKS) == 2


def test_the_first_example_runs_on_a_local_cluster_of_worker_processes() -> None:
    # Run as a main program, so that its guarded part runs; the backend starts (and at
    # shutdown closes) a LocalCluster with one worker process per core.
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(BLOCKS[0], f"{README.name} example 1", "exec"), namespace)
    report = namespace["report"].result()
    assert re.fullmatch(r"__main__\.summarise#0: 8 runs, mean 0\.50", report)
    assert all(run.attempts == 1 for run in namespace["runs"])


def test_the_second_example_uses_your_client_and_leaves_it_open() -> None:
    namespace: dict[str, Any] = {"__name__": "dask_readme_client"}
    exec(compile(BLOCKS[1], f"{README.name} example 2", "exec"), namespace)
    assert namespace["greeting"].result() == "hello from dask, reader"


@pytest.mark.parametrize(
    "text",
    [
        "pip install 'pyworkflowy-core[dask]'",
        'DaskBackend(address="tcp://scheduler:8786")',
        "`pure=False` and `retries=0`",
        "WorkerDiedError",
        "allowed-failures",
        "**stops the body**",
        "stop_grace",
        "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=0",
        "## Not yet",
    ],
)
def test_the_readme_documents(text: str) -> None:
    assert text in README.read_text()

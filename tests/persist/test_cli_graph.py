"""``pyworkflowy graph CHECKPOINT``: the dependency graph of a checkpoint's records.

The command runs in a subprocess (``python -m pyworkflowy``), as a user runs it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pyworkflowy import TaskRunner, task

from .test_cli_inspect import cli, trust


@task
def ok() -> int:
    return 1


@task
def bad() -> None:
    raise ValueError("boom")


@task(on_dep_failure="skip")
def after() -> None:
    pass


@task(name="item")
def item(n: int) -> int:
    return n


def write_run(path: Path) -> None:
    """ok -> bad -> after: completed, failed, skipped."""
    with TaskRunner(checkpoint_path=path, on_task_error="continue") as runner:
        first = runner.submit(ok, key="first")
        failed = runner.submit(bad, depends_on=[first], key="broken")
        runner.submit(after, depends_on=[failed], key="later")
        runner.run()


def test_graph_prints_a_mermaid_flowchart_of_the_records(path: Path, kind: str) -> None:
    write_run(path)
    done = cli("graph", path, *trust(kind))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "flowchart TD",
        '    n0["first"]:::completed',
        '    n1["broken"]:::failed',
        '    n2["later"]:::skipped',
        "    n0 --> n1",
        "    n1 --> n2",
        "    classDef completed fill:#d4edda,stroke:#28a745,color:#000",
        "    classDef failed fill:#f8d7da,stroke:#dc3545,color:#000",
        "    classDef skipped fill:#fafafa,stroke:#bdbdbd,color:#000",
    ]


def test_graph_format_dot_prints_a_graphviz_digraph(tmp_path: Path) -> None:
    path = tmp_path / "run.db"
    write_run(path)
    done = cli("graph", path, "--format", "dot")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "digraph pyworkflowy {"
    broken = '    n1 [label="broken", fillcolor="#f8d7da", color="#dc3545", tooltip="failed"];'
    assert broken in lines
    assert "    n0 -> n1;" in lines
    assert "    n1 -> n2;" in lines


def test_graph_draws_the_items_of_a_map_as_one_node(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    with TaskRunner(checkpoint_path=path) as runner:
        first = runner.submit(ok, key="first")
        for n in range(12):
            runner.submit(item, n, depends_on=[first], key=f"item-{n}")
        runner.run()
    done = cli("graph", path)
    assert done.returncode == 0, done.stderr
    assert '    n1["item \u00d712<br>12 completed"]:::completed' in done.stdout.splitlines()
    expanded = cli("graph", path, "--collapse", "0")
    assert expanded.stdout.count(":::completed") == 13


def test_graph_of_a_pickle_checkpoint_needs_trust(tmp_path: Path) -> None:
    path = tmp_path / "run.pkl"
    write_run(path)
    done = cli("graph", path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Pass --trust" in done.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b'{"some": "json"}', "is not a pyworkflowy checkpoint"),
        (b'{"format": "pyworkflowy-checkpoint", "vers', "is corrupt or truncated"),
    ],
)
def test_graph_of_a_file_that_is_not_a_checkpoint_exits_2(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "run.json"
    if content is not None:
        path.write_bytes(content)
    done = cli("graph", path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("pyworkflowy graph: error: ")
    assert message in done.stderr


def test_graph_refuses_a_collapse_of_one(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    write_run(path)
    done = cli("graph", path, "--collapse", "1")
    assert done.returncode == 2
    assert "--collapse takes 0 (never) or a number >= 2" in done.stderr

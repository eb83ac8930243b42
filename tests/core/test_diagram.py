"""runner.to_mermaid() and runner.to_dot(): the handle graph as diagram text.

The DOT output is checked against the DOT language grammar (a strict parser of the part of
it the runner writes: graphviz is not a test dependency), and labels are decoded back to
the handle ids they escape.
"""

from __future__ import annotations

import html
import re

import pytest
from pyworkflowy import TaskRunner, task


@task
def fetch() -> int:
    return 1


@task
def double(x: int = 1) -> int:
    return 2 * x


@task
def boom() -> None:
    raise ValueError("boom")


@task(on_dep_failure="skip")
def after_boom() -> None:
    pass


@task
def combine() -> int:
    return 0


# -- parsing what the runner writes ---------------------------------------------------------
MERMAID_NODE = re.compile(r'^    (n\d+)\["([^"]*)"\]:::(\w+)$')
MERMAID_EDGE = re.compile(r"^    (n\d+) --> (n\d+)$")
MERMAID_CLASS = re.compile(
    r"^    classDef (\w+) fill:(#[0-9a-f]{6}),stroke:(#[0-9a-f]{6}),color:#000$"
)


def parse_mermaid(text: str) -> tuple[dict[str, tuple[str, str]], list[tuple[str, str]], dict]:
    """(node -> (label, class), edges, class -> fill); fails on any line it does not know."""
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    nodes: dict[str, tuple[str, str]] = {}
    edges: list[tuple[str, str]] = []
    classes: dict[str, str] = {}
    for line in lines[1:]:
        if m := MERMAID_NODE.match(line):
            nodes[m[1]] = (m[2], m[3])
        elif m := MERMAID_EDGE.match(line):
            edges.append((m[1], m[2]))
        elif m := MERMAID_CLASS.match(line):
            classes[m[1]] = m[2]
        else:
            pytest.fail(f"unexpected Mermaid line {line!r}")
    assert {a for e in edges for a in e} <= set(nodes)
    assert {cls for _, cls in nodes.values()} <= set(classes)
    return nodes, edges, classes


def mermaid_label(label: str) -> str:
    """What Mermaid shows for a label: entity codes decoded, <br> a line break."""
    assert "\n" not in label
    return re.sub(r"#(\d+);", lambda m: chr(int(m[1])), label.replace("<br>", "\n"))


DOT_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<id>[A-Za-z_][A-Za-z_0-9]*|-?\d+)|(?P<op>->|[{}\[\];,=]))',
    re.S,
)


def dot_tokens(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while text[pos:].strip():
        m = DOT_TOKEN.match(text, pos)
        assert m is not None, f"not DOT at {text[pos : pos + 40]!r}"
        kind = m.lastgroup
        assert kind is not None
        tokens.append((kind, m[kind]))
        pos = m.end()
    return tokens


def parse_dot(text: str) -> tuple[dict[str, dict[str, str]], list[tuple[str, str]]]:
    """Parse ``digraph ID { stmt* }`` per the DOT grammar: (node -> attributes, edges)."""
    tokens = dot_tokens(text)
    assert tokens[:3] == [("id", "digraph"), ("id", "pyworkflowy"), ("op", "{")]
    assert tokens[-1] == ("op", "}")
    body = tokens[3:-1]
    nodes: dict[str, dict[str, str]] = {}
    edges: list[tuple[str, str]] = []
    i = 0

    def attributes() -> dict[str, str]:
        nonlocal i
        found: dict[str, str] = {}
        assert body[i] == ("op", "[")
        i += 1
        while body[i] != ("op", "]"):
            key, eq, value = body[i : i + 3]
            assert key[0] in ("id", "str")
            assert eq == ("op", "=")
            assert value[0] in ("id", "str")
            found[key[1]] = value[1]
            i += 3
            if body[i] in (("op", ","), ("op", ";")):
                i += 1
        i += 1
        return found

    while i < len(body):
        kind, value = body[i]
        assert kind == "id", f"a statement starts with an ID, not {value!r}"
        i += 1
        if value in ("graph", "node", "edge"):
            attributes()
        elif body[i] == ("op", "->"):
            assert body[i + 1][0] == "id"
            edges.append((value, body[i + 1][1]))
            i += 2
        else:
            nodes[value] = attributes() if body[i] == ("op", "[") else {}
        assert body[i] == ("op", ";")
        i += 1
    assert {a for e in edges for a in e} <= set(nodes)
    return nodes, edges


def dot_label(quoted: str) -> str:
    """What Graphviz shows for a quoted label: escapes and entities decoded."""
    inner = quoted[1:-1]
    text = re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], inner)
    return html.unescape(text)


def labels_by_id(runner: TaskRunner) -> tuple[dict[str, str], dict[str, str]]:
    """{shown label: status} for each format."""
    nodes, _, _ = parse_mermaid(runner.to_mermaid())
    dot_nodes, _ = parse_dot(runner.to_dot())
    return (
        {mermaid_label(label): cls for label, cls in nodes.values()},
        {dot_label(attrs["label"]): attrs["tooltip"].strip('"') for attrs in dot_nodes.values()},
    )


# -- structure ------------------------------------------------------------------------------
def small_dag(runner: TaskRunner) -> None:
    a = runner.submit(fetch, key="a")
    b = runner.submit(double, depends_on=[a], key="b")
    c = runner.submit(double, depends_on=[a], key="c")
    runner.submit(combine, depends_on=[b, c], key="d")


def test_mermaid_draws_each_handle_and_each_dependency() -> None:
    with TaskRunner() as runner:
        small_dag(runner)
        nodes, edges, _ = parse_mermaid(runner.to_mermaid())
    names = {node: mermaid_label(label) for node, (label, _) in nodes.items()}
    assert sorted(names.values()) == ["a", "b", "c", "d"]
    assert sorted((names[x], names[y]) for x, y in edges) == [
        ("a", "b"),
        ("a", "c"),
        ("b", "d"),
        ("c", "d"),
    ]


def test_dot_draws_each_handle_and_each_dependency() -> None:
    with TaskRunner() as runner:
        small_dag(runner)
        nodes, edges = parse_dot(runner.to_dot())
    names = {node: dot_label(attrs["label"]) for node, attrs in nodes.items()}
    assert sorted(names.values()) == ["a", "b", "c", "d"]
    assert sorted((names[x], names[y]) for x, y in edges) == [
        ("a", "b"),
        ("a", "c"),
        ("b", "d"),
        ("c", "d"),
    ]


def test_an_empty_runner_draws_an_empty_graph() -> None:
    with TaskRunner() as runner:
        assert parse_mermaid(runner.to_mermaid())[0] == {}
        assert parse_dot(runner.to_dot()) == ({}, [])


# -- colours --------------------------------------------------------------------------------
def test_before_a_run_nodes_are_coloured_pending_or_ready() -> None:
    with TaskRunner() as runner:
        small_dag(runner)
        mermaid, dot = labels_by_id(runner)
    assert mermaid == {"a": "ready", "b": "pending", "c": "pending", "d": "pending"}
    assert dot == mermaid


def test_after_a_run_each_node_has_the_colour_of_its_status() -> None:
    with TaskRunner(on_task_error="continue") as runner:
        runner.submit(fetch, key="ok")
        bad = runner.submit(boom, key="bad")
        runner.submit(after_boom, depends_on=[bad], key="skipped")
        runner.submit(fetch, key="cancelled").cancel()
        runner.run()
        mermaid_text, dot_text = runner.to_mermaid(), runner.to_dot()
        mermaid, dot = labels_by_id(runner)
    expected = {"ok": "completed", "bad": "failed", "skipped": "skipped", "cancelled": "cancelled"}
    assert mermaid == expected
    assert dot == expected
    _, _, classes = parse_mermaid(mermaid_text)
    assert classes["completed"] == "#d4edda"  # green
    assert classes["failed"] == "#f8d7da"  # red
    fills = {dot_label(a["label"]): a["fillcolor"] for a in parse_dot(dot_text)[0].values()}
    assert fills["ok"] == '"#d4edda"'
    assert fills["bad"] == '"#f8d7da"'
    assert len(set(classes.values())) == 4  # four statuses, four colours


# -- collapsing -----------------------------------------------------------------------------
def test_a_map_of_ten_thousand_is_one_node_with_a_count() -> None:
    with TaskRunner() as runner:
        source = runner.submit(fetch, key="source")
        items = runner.map(double, range(10_000), depends_on=[source])
        runner.submit(combine, depends_on=items, key="sink")
        runner.run()
        nodes, edges, _ = parse_mermaid(runner.to_mermaid())
        dot_nodes, dot_edges = parse_dot(runner.to_dot())
    labels = sorted(mermaid_label(label) for label, _ in nodes.values())
    assert labels == ["sink", "source", f"{double.name} \u00d710,000\n10,000 completed"]
    assert len(edges) == 2
    assert len(dot_nodes) == 3
    assert len(dot_edges) == 2


def test_a_collapsed_node_counts_each_status_and_shows_the_worst() -> None:
    with TaskRunner(on_task_error="continue") as runner:
        items = runner.map(double, range(12))
        items[3].cancel()
        runner.run()
        mermaid, _ = labels_by_id(runner)
    assert mermaid == {f"{double.name} \u00d712\n11 completed, 1 cancelled": "cancelled"}


def test_fewer_siblings_than_the_threshold_are_drawn_one_by_one() -> None:
    with TaskRunner() as runner:
        runner.map(double, range(9))
        assert len(parse_mermaid(runner.to_mermaid())[0]) == 9
        assert len(parse_mermaid(runner.to_mermaid(collapse=9))[0]) == 1
        assert len(parse_dot(runner.to_dot(collapse=3))[0]) == 1


def test_collapse_none_draws_every_handle() -> None:
    with TaskRunner() as runner:
        runner.map(double, range(50))
        assert len(parse_mermaid(runner.to_mermaid(collapse=None))[0]) == 50
        assert len(parse_dot(runner.to_dot(collapse=None))[0]) == 50


def test_siblings_with_different_dependencies_are_not_collapsed() -> None:
    with TaskRunner() as runner:
        roots = [runner.submit(fetch) for _ in range(12)]
        for root in roots:
            runner.submit(double, depends_on=[root])
        nodes, edges, _ = parse_mermaid(runner.to_mermaid())
    # the roots are alike only in name: each has its own dependent
    assert len(nodes) == 24
    assert len(edges) == 12


@pytest.mark.parametrize("bad", [0, 1, -5, 2.5, True, "10"])
def test_a_bad_collapse_threshold_is_refused(bad: object) -> None:
    with TaskRunner() as runner, pytest.raises(ValueError, match="collapse"):
        runner.to_mermaid(collapse=bad)  # type: ignore[arg-type]


# -- escaping -------------------------------------------------------------------------------
AWKWARD = [
    'say "hi"',
    "list[0] (x) {y} a|b",
    "two\nlines",
    "back\\slash \\n",
    "a & b <br> <b>bold</b>",
    "hash#35; semi;colon `tick`",
]


@pytest.mark.parametrize("key", AWKWARD)
def test_labels_are_escaped_for_mermaid(key: str) -> None:
    with TaskRunner() as runner:
        runner.submit(fetch, key=key)
        nodes, _, _ = parse_mermaid(runner.to_mermaid())
    assert [mermaid_label(label) for label, _ in nodes.values()] == [key]


@pytest.mark.parametrize("key", AWKWARD)
def test_labels_are_escaped_for_dot(key: str) -> None:
    with TaskRunner() as runner:
        runner.submit(fetch, key=key)
        nodes, _ = parse_dot(runner.to_dot())
    assert [dot_label(attrs["label"]) for attrs in nodes.values()] == [key]


def test_control_characters_are_shown_not_written_raw() -> None:
    with TaskRunner() as runner:
        runner.submit(fetch, key="bell\x07")
        mermaid_text, dot_text = runner.to_mermaid(), runner.to_dot()
    assert "\x07" not in mermaid_text
    assert "\x07" not in dot_text
    assert [mermaid_label(x) for x, _ in parse_mermaid(mermaid_text)[0].values()] == ["bell\\x07"]

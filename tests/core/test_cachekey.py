"""Cache keys (``@task(cache=True)``): equal calls give equal keys, in any process and under
any ``PYTHONHASHSEED``; different tasks, code, captures or arguments give different keys;
what cannot be hashed stably is refused, naming the argument or closure variable.

How the runner uses the keys is tested with the runner; this is `pyworkflowy._cachekey`.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import enum
import functools
import json
import os
import random
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyworkflowy import TaskBase
from pyworkflowy._cachekey import Unhashable, cache_key, encode, task_identity
from pyworkflowy._outputs import Output


def no_outputs(ref: Any) -> bytes | None:
    """The ``output_key`` of calls that hold no output references."""
    raise AssertionError(f"unexpected output reference {ref!r}")


def key(*args: Any, **kwargs: Any) -> str:
    """The key of ``add(*args, **kwargs)``."""
    return cache_key(IDENTITY, args, kwargs, no_outputs)


def add(a: Any, b: Any = 0) -> Any:
    return a + b


IDENTITY = task_identity(add, "add")


def define(source: str, name: str = "body") -> Callable[..., Any]:
    """The function ``name`` that ``source`` defines (same module, same qualified name)."""
    namespace: dict[str, Any] = {"__name__": "tests.core.probe"}
    exec(source, namespace)
    return namespace[name]


# -- across processes -----------------------------------------------------------------------

PROBE = """
import dataclasses, json
from pyworkflowy._cachekey import cache_key, task_identity

@dataclasses.dataclass
class Config:
    name: str
    tags: set

def price(item, config, options):
    return item in {"apple", "pear", "plum", "fig", "kiwi", "lime", "date", "sloe"}

TAGS = [f"tag-{i}" for i in range(32)]
VALUES = {
    "set and dict": ({"n": {"b": 2, "a": 1}, "tags": set(TAGS)}, frozenset(TAGS)),
    "dataclass": (Config("db", set(TAGS)),),
}
args = VALUES[%r]
print(json.dumps({
    "key": cache_key(task_identity(price, "price"), args, {"extra": set(TAGS)}, lambda ref: None),
    "order": list(set(TAGS)),
}))
"""


def run_probe(case: str, seed: int) -> dict[str, Any]:
    """The key the probe computes for ``case`` in a fresh interpreter with hash seed ``seed``."""
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE % case],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)


@pytest.mark.parametrize("case", ["set and dict", "dataclass"])
def test_the_key_is_the_same_in_a_process_with_another_hash_seed(case: str) -> None:
    first, second = run_probe(case, seed=1), run_probe(case, seed=2)
    assert first["order"] != second["order"]  # the sets iterate in different orders
    assert first["key"] == second["key"]


# -- what makes keys differ -----------------------------------------------------------------


def test_the_key_is_a_sha256_hex_digest() -> None:
    assert len(key(1)) == 64
    int(key(1), 16)


def test_equal_arguments_give_equal_keys() -> None:
    assert key(1, [2, {"a": 3}]) == key(1, [2, {"a": 3}])


def test_different_arguments_give_different_keys() -> None:
    assert key(1, 2) != key(1, 3)


def test_different_keyword_values_give_different_keys() -> None:
    assert key(1, b=2) != key(1, b=3)


def test_different_keyword_names_give_different_keys() -> None:
    assert key(a=1) != key(b=1)


def test_the_order_of_keyword_arguments_does_not_matter() -> None:
    assert key(a=1, b=2) == key(b=2, a=1)


def test_passing_by_position_or_by_keyword_gives_different_keys() -> None:
    assert key(1, 2) != key(1, b=2)


def test_different_task_names_give_different_keys() -> None:
    first = cache_key(task_identity(add, "add"), (1,), {}, no_outputs)
    second = cache_key(task_identity(add, "plus"), (1,), {}, no_outputs)
    assert first != second


def test_a_changed_function_body_gives_a_different_identity() -> None:
    before = define("def body(x):\n    return x + 1\n")
    after = define("def body(x):\n    return x + 2\n")
    assert task_identity(before, "t") != task_identity(after, "t")


def test_the_same_function_source_gives_the_same_identity() -> None:
    source = "def body(x):\n    return x + 1\n"
    assert task_identity(define(source), "t") == task_identity(define(source), "t")


def test_a_changed_default_gives_a_different_identity() -> None:
    before = define("def body(x, y=1):\n    return x + y\n")
    after = define("def body(x, y=2):\n    return x + y\n")
    assert task_identity(before, "t") != task_identity(after, "t")


def test_a_changed_nested_function_gives_a_different_identity() -> None:
    source = "def body(xs):\n    return sorted(xs, key=lambda x: x %s 1)\n"
    assert task_identity(define(source % "+"), "t") != task_identity(define(source % "-"), "t")


def adder(n: Any) -> Callable[[int], Any]:
    def body(x: int) -> Any:
        return x + n

    return body


def test_a_changed_closure_value_gives_a_different_identity() -> None:
    assert task_identity(adder(1), "t") != task_identity(adder(2), "t")


def test_equal_closure_values_give_the_same_identity() -> None:
    assert task_identity(adder({"a", "b"}), "t") == task_identity(adder({"b", "a"}), "t")


def test_running_the_function_does_not_change_its_identity() -> None:
    before = task_identity(add, "add")
    for i in range(1000):  # enough calls for the interpreter to specialize the bytecode
        add(i, i)
    assert task_identity(add, "add") == before


def test_lambdas_with_different_bodies_as_arguments_give_different_keys() -> None:
    assert key(lambda x: x + 1) != key(lambda x: x + 2)


def test_values_that_compare_equal_across_types_give_different_keys() -> None:
    values = [1, 1.0, True, "1", b"1", bytearray(b"1"), 1 + 0j, (1,), [1]]
    assert len({key(value) for value in values}) == len(values)


def test_a_tuple_of_two_strings_differs_from_one_joined_string() -> None:
    assert key(("a", "b")) != key(("ab",))


def test_a_named_tuple_differs_from_a_plain_tuple_of_the_same_values() -> None:
    class Point(NamedTuple):
        x: int
        y: int

    assert key(Point(1, 2)) != key((1, 2))
    assert key(Point(1, 2)) == key(Point(1, 2))


def test_a_dict_subclass_differs_from_a_dict_with_the_same_items() -> None:
    assert key(collections.Counter(a=1)) != key({"a": 1})


def test_an_ordered_dict_keeps_its_order_in_the_key() -> None:
    ordered = collections.OrderedDict
    assert key(ordered(a=1, b=2)) != key(ordered(b=2, a=1))


def test_every_nan_gives_the_same_key() -> None:
    nan = float("nan")
    assert key(nan) == key(-nan) == key(float("inf") - float("inf"))


def test_a_string_with_a_lone_surrogate_has_a_key() -> None:
    assert key("\ud800") != key("\ud801")


def test_enum_members_are_keyed_by_type_and_name() -> None:
    Color = enum.Enum("Color", "RED GREEN")
    assert key(Color.RED) == key(Color["RED"])
    assert key(Color.RED) != key(Color.GREEN)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (Path("/data/a.csv"), Path("/data/b.csv")),
        (range(3), range(4)),
        (slice(1, 2), slice(1, 3)),
        (len, abs),
        (int, float),
        (functools.partial(add, 1), functools.partial(add, 2)),
    ],
    ids=["path", "range", "slice", "builtin", "class", "partial"],
)
def test_values_of_the_standard_library_have_stable_distinct_keys(first: Any, second: Any) -> None:
    assert key(first) == key(copy.copy(first))
    assert key(first) != key(second)


# -- dicts, sets and objects ----------------------------------------------------------------


def test_dicts_in_different_insertion_orders_give_the_same_key() -> None:
    assert key({"a": 1, "b": 2}) == key({"b": 2, "a": 1})


def shuffled(value: Any, rng: random.Random) -> Any:
    """An equal copy of ``value`` whose dicts and sets are built in a shuffled order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    if isinstance(value, (set, frozenset)):
        elements = list(value)
        rng.shuffle(elements)
        return type(value)(elements)
    if isinstance(value, list):
        return [shuffled(item, rng) for item in value]
    return value


ATOMS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
VALUES = st.recursive(
    ATOMS | st.frozensets(st.text() | st.integers()),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@given(value=VALUES, rng=st.randoms(use_true_random=False))
def test_equal_values_built_in_any_order_give_equal_keys(value: Any, rng: random.Random) -> None:
    assert key(value) == key(shuffled(value, rng))


@given(value=VALUES)
def test_a_deep_copy_gives_the_same_key(value: Any) -> None:
    assert key(value) == key(copy.deepcopy(value))


@dataclasses.dataclass
class Job:
    name: str
    tags: set[str]
    conn: Any = None


def test_a_dataclass_with_equal_fields_gives_the_same_key() -> None:
    assert key(Job("a", {"x", "y"})) == key(Job("a", {"y", "x"}))


def test_a_dataclass_with_different_fields_gives_a_different_key() -> None:
    assert key(Job("a", {"x"})) != key(Job("a", {"z"}))


def test_a_shared_object_gives_the_same_key_as_equal_copies() -> None:
    job = Job("a", {"x"})
    assert key([job, job]) == key([job, copy.deepcopy(job)])


# -- cycles and depth -----------------------------------------------------------------------


def test_a_list_containing_itself_has_a_key() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    other: list[Any] = [1]
    other.append(other)
    assert key(loop) == key(other)
    assert key(loop) != key([1, [1]])


class Node:
    def __init__(self, name: str, parent: Node | None = None) -> None:
        self.name = name
        self.parent = parent
        self.children: list[Node] = []
        if parent is not None:
            parent.children.append(self)


def test_an_object_graph_with_back_references_has_a_key() -> None:
    def tree(leaf: str) -> Node:
        root = Node("root")
        Node(leaf, root)
        return root

    assert key(tree("a")) == key(tree("a"))
    assert key(tree("a")) != key(tree("b"))


def test_a_recursive_nested_function_has_an_identity() -> None:
    def outer() -> Callable[[int], int]:
        def countdown(n: int) -> int:
            return countdown(n - 1) if n else 0

        return countdown

    assert task_identity(outer(), "t") == task_identity(outer(), "t")


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def test_a_list_nested_100_000_levels_deep_has_a_key() -> None:
    assert key(nested(100_000)) != key(nested(99_999))


# -- output references ----------------------------------------------------------------------


def output(task_id: str) -> Output[Any]:
    handle: Any = SimpleNamespace(id=task_id)
    return Output(handle)


def test_an_output_reference_is_keyed_by_what_output_key_gives() -> None:
    ref = output("fetch")
    calls: list[Any] = []

    def output_key(value: Any) -> bytes:
        calls.append(value)
        return b"upstream-key"

    first = cache_key(IDENTITY, (ref,), {}, output_key)
    assert calls == [ref]
    assert first != cache_key(IDENTITY, (ref,), {}, lambda _: b"another-key")


def test_output_references_to_equal_upstream_values_give_equal_keys() -> None:
    first = cache_key(IDENTITY, (output("a"),), {}, lambda _: b"42")
    second = cache_key(IDENTITY, (output("b"),), {}, lambda _: b"42")
    assert first == second


def test_an_output_reference_without_a_key_is_unhashable_naming_the_argument() -> None:
    with pytest.raises(Unhashable) as info:
        cache_key(IDENTITY, (1,), {"rows": {"db": output("fetch")}}, lambda _: None)
    assert info.value.where == "argument 'rows' (at ['db'])"


# -- what is refused ------------------------------------------------------------------------


def test_an_open_file_argument_is_unhashable_naming_the_argument(tmp_path: Path) -> None:
    with open(tmp_path / "data.txt", "w") as file, pytest.raises(Unhashable) as info:
        key(1, file)
    assert info.value.where == "argument 1"
    assert "TextIOWrapper" in info.value.reason
    assert "cache_key=" in info.value.reason


def test_a_lock_keyword_argument_is_unhashable_naming_the_keyword() -> None:
    with pytest.raises(Unhashable) as info:
        key(1, b=threading.Lock())
    assert info.value.where == "argument 'b'"
    assert "_thread.lock" in info.value.reason


def test_a_lock_deep_in_an_argument_is_unhashable_naming_the_path() -> None:
    with pytest.raises(Unhashable) as info:
        key({"db": [Job("a", set(), conn=threading.Lock())]})
    assert info.value.where == "argument 0 (at ['db'][0].conn)"


def test_a_lock_captured_in_a_closure_is_unhashable_naming_the_variable() -> None:
    lock = threading.Lock()

    def body() -> bool:
        return lock.locked()

    with pytest.raises(Unhashable) as info:
        task_identity(body, "t")
    assert info.value.where == "closure variable 'lock'"


def test_a_generator_argument_is_unhashable() -> None:
    with pytest.raises(Unhashable):
        key(x for x in range(3))


def test_the_message_of_unhashable_says_where_and_why() -> None:
    error = Unhashable("argument 'f'", "cannot hash a _io.TextIOWrapper stably")
    assert str(error) == "argument 'f': cannot hash a _io.TextIOWrapper stably"


def test_encode_refuses_an_output_reference() -> None:
    with pytest.raises(Unhashable) as info:
        encode([output("fetch")])
    assert info.value.where == "value (at [0])"


# -- kinds of task --------------------------------------------------------------------------


class Fetch(TaskBase):
    def run(self, url: str) -> str:
        return url


class Store(TaskBase):
    def run(self, url: str) -> str:
        return url.upper()


def test_a_task_base_method_has_a_stable_identity_naming_its_class() -> None:
    assert task_identity(Fetch().fn, "t") == task_identity(Fetch().fn, "t")
    assert task_identity(Fetch().fn, "t") != task_identity(Store().fn, "t")


def test_a_partial_identity_includes_its_arguments() -> None:
    first = task_identity(functools.partial(add, 1), "t")
    assert first == task_identity(functools.partial(add, 1), "t")
    assert first != task_identity(functools.partial(add, 2), "t")
    assert first != task_identity(functools.partial(add, b=1), "t")


class Scale:
    def __init__(self, factor: int) -> None:
        self.factor = factor

    def __call__(self, x: int) -> int:
        return x * self.factor


def test_a_callable_object_identity_includes_its_state() -> None:
    assert task_identity(Scale(2), "t") == task_identity(Scale(2), "t")
    assert task_identity(Scale(2), "t") != task_identity(Scale(3), "t")

"""What each checkpointer can store, and where a value it cannot store is reported.

Arguments are checked at submit (the error names the task and the argument); a return
value is checked when the task returns (the task fails with `CheckpointError` naming the
value's type). JSON and SQLite share the JSON rules; pickle refuses what pickle refuses.
"""

from __future__ import annotations

import datetime
import enum
import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyworkflowy import CheckpointError, TaskRunner, TaskStatus, task
from pyworkflowy.persist import JSONCheckpointer, PickleCheckpointer, SQLiteCheckpointer

WHAT = "task 'job#0': return value"


@pytest.fixture
def json_cp(tmp_path: Path) -> JSONCheckpointer:
    return JSONCheckpointer(tmp_path / "s.json")


@pytest.fixture
def pickle_cp(tmp_path: Path) -> PickleCheckpointer:
    return PickleCheckpointer(tmp_path / "s.pkl")


class Color(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


@dataclass
class Point:
    x: int
    y: int


def refusal(checkpointer: Any, value: object) -> str:
    with pytest.raises(CheckpointError) as info:
        checkpointer.validate(value, WHAT)
    return str(info.value)


# -- the JSON rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -(2**80),
        1.5,
        "text",
        "",
        [],
        {},
        [1, [2, [3, {"a": None}]]],
        {"nested": {"list": [1.0, "x", False]}},
        (1, "tuple", (2,)),
        OrderedDict(a=1),
        Color.RED,
        Level.HIGH,
    ],
)
def test_json_accepts_json_data(json_cp: JSONCheckpointer, value: object) -> None:
    json_cp.validate(value, WHAT)


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        ({1, 2}, "set"),
        (frozenset(), "frozenset"),
        (b"bytes", "bytes"),
        (bytearray(b"x"), "bytearray"),
        (1j, "complex"),
        (datetime.date(2024, 1, 1), "date"),
        (Point(1, 2), "Point"),
        (object(), "object"),
        (len, "builtin_function_or_method"),
    ],
)
def test_json_refuses_other_types_naming_the_type(
    json_cp: JSONCheckpointer, value: object, type_name: str
) -> None:
    message = refusal(json_cp, value)
    assert message.startswith(f"{WHAT} of type {type_name} cannot be stored as JSON")


def test_json_refusal_says_where_inside_the_value(json_cp: JSONCheckpointer) -> None:
    message = refusal(json_cp, {"rows": [1, {"tags": {"a"}}]})
    assert message.startswith(f"{WHAT}['rows'][1]['tags'] of type set cannot be stored as JSON")


def test_json_refusal_suggests_a_fix(json_cp: JSONCheckpointer) -> None:
    assert "PickleCheckpointer" in refusal(json_cp, {1, 2})


@pytest.mark.parametrize("key", [1, 2.5, True, None, ("a", "b")])
def test_json_refuses_dict_keys_that_are_not_strings(json_cp: JSONCheckpointer, key: Any) -> None:
    message = refusal(json_cp, {"ok": {key: "v"}})
    assert message.startswith(f"{WHAT}['ok'] has a key of type {type(key).__name__}")


def test_json_refuses_a_reference_cycle(json_cp: JSONCheckpointer) -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    assert "reference cycle" in refusal(json_cp, loop)


def test_json_accepts_the_same_list_twice(json_cp: JSONCheckpointer) -> None:
    shared = [1, 2]
    json_cp.validate({"a": shared, "b": shared}, WHAT)


def test_json_refuses_nesting_too_deep_to_encode(json_cp: JSONCheckpointer) -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    assert "nested too deeply" in refusal(json_cp, deep)


def test_json_refuses_an_int_too_long_to_write_in_decimal(json_cp: JSONCheckpointer) -> None:
    assert "too long to write in decimal" in refusal(json_cp, [10**5000])


def test_json_keeps_nan_and_infinities(json_cp: JSONCheckpointer) -> None:
    value = [math.nan, math.inf, -math.inf]
    json_cp.validate(value, WHAT)
    json_cp.save({"a#0": record_of(value)})
    loaded = JSONCheckpointer(json_cp.path).load()["a#0"]["value"]
    assert math.isnan(loaded[0])
    assert loaded[1:] == [math.inf, -math.inf]


def test_json_gives_tuples_back_as_lists(json_cp: JSONCheckpointer) -> None:
    json_cp.save({"a#0": record_of({"pair": (1, (2, 3))})})
    assert JSONCheckpointer(json_cp.path).load()["a#0"]["value"] == {"pair": [1, [2, 3]]}


def test_json_gives_enums_back_as_their_plain_values(json_cp: JSONCheckpointer) -> None:
    json_cp.save({"a#0": record_of([Color.RED, Level.HIGH])})
    loaded = JSONCheckpointer(json_cp.path).load()["a#0"]["value"]
    assert loaded == ["red", 3]
    assert [type(v) for v in loaded] == [str, int]


def test_sqlite_refuses_what_json_refuses_and_says_it_stores_json(tmp_path: Path) -> None:
    checkpointer = SQLiteCheckpointer(tmp_path / "s.db")
    message = refusal(checkpointer, {"when": datetime.date(2024, 1, 1)})
    assert message.startswith(f"{WHAT}['when'] of type date cannot be stored as JSON")
    assert "SQLiteCheckpointer stores values as JSON" in message


def record_of(value: object) -> dict[str, Any]:
    return {
        "name": "job",
        "status": "completed",
        "value": value,
        "error": None,
        "attempts": 1,
        "started_at": None,
        "finished_at": None,
        "fingerprint": "f",
    }


# -- the JSON rules as properties ---------------------------------------------------------

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON_DATA = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)
ODD_KEYS = st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False)
ANY_DATA = st.recursive(
    SCALARS | st.binary(max_size=3) | st.sets(st.integers(), max_size=2),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=3) | ODD_KEYS, inner, max_size=4)
    ),
    max_leaves=20,
)


def as_json_reads_it(value: Any) -> Any:
    """``value`` as it comes back from JSON: tuples as lists."""
    if isinstance(value, (list, tuple)):
        return [as_json_reads_it(v) for v in value]
    if isinstance(value, dict):
        return {k: as_json_reads_it(v) for k, v in value.items()}
    return value


def survives_json(value: Any) -> bool:
    try:
        return json.loads(json.dumps(value)) == as_json_reads_it(value)
    except (TypeError, ValueError):
        return False


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=ANY_DATA)
def test_json_accepts_exactly_the_values_that_survive_a_json_round_trip(
    json_cp: JSONCheckpointer, value: Any
) -> None:
    try:
        json_cp.validate(value, WHAT)
        accepted = True
    except CheckpointError:
        accepted = False
    assert accepted == survives_json(value)


@pytest.mark.parametrize("cls", [JSONCheckpointer, SQLiteCheckpointer])
@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=JSON_DATA)
def test_what_json_accepts_loads_back_equal(tmp_path: Path, cls: type, value: Any) -> None:
    checkpointer = cls(tmp_path / "prop.store")
    try:
        checkpointer.validate(value, WHAT)
        checkpointer.save({"a#0": record_of(value)})
        loaded = cls(tmp_path / "prop.store")
        assert loaded.load()["a#0"]["value"] == as_json_reads_it(value)
        loaded.close()
    finally:
        checkpointer.clear()
        checkpointer.close()


# -- the pickle rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [{1, 2}, b"raw", datetime.datetime(2024, 1, 1, 12), Point(1, 2), {(1, 2): "tuple key"}, 1j],
)
def test_pickle_accepts_what_pickle_can_store(pickle_cp: PickleCheckpointer, value: object) -> None:
    pickle_cp.validate(value, WHAT)
    pickle_cp.save({"a#0": record_of(value)})
    assert PickleCheckpointer(pickle_cp.path).load()["a#0"]["value"] == value


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (lambda: 1, "function"),
        (threading.Lock(), "lock"),
        ((i for i in range(3)), "generator"),
    ],
)
def test_pickle_refuses_what_pickle_refuses_naming_the_type(
    pickle_cp: PickleCheckpointer, value: object, type_name: str
) -> None:
    message = refusal(pickle_cp, value)
    assert message.startswith(f"{WHAT} of type {type_name} cannot be pickled")


def test_pickle_refusal_gives_pickles_reason(pickle_cp: PickleCheckpointer) -> None:
    assert "(TypeError: cannot pickle '_thread.lock' object)" in refusal(
        pickle_cp, {"lock": threading.Lock()}
    )


# -- in the runner: arguments at submit ---------------------------------------------------


@task(name="job")
def job(*args: Any, **kwargs: Any) -> str:
    return "done"


@pytest.mark.parametrize("suffix", [".json", ".db"])
def test_an_argument_json_refuses_raises_at_submit_naming_task_and_argument(
    tmp_path: Path, suffix: str
) -> None:
    with (
        TaskRunner(checkpoint_path=str(tmp_path / f"s{suffix}")) as runner,
        pytest.raises(
            CheckpointError, match=r"^task 'job#0': argument 1 of type set cannot be stored"
        ),
    ):
        runner.submit(job, "fine", {"not", "json"})


def test_a_keyword_argument_json_refuses_is_named_by_keyword(tmp_path: Path) -> None:
    with (
        TaskRunner(checkpoint_path=str(tmp_path / "s.json")) as runner,
        pytest.raises(
            CheckpointError,
            match=r"^task 'job#0': keyword argument 'when' of type date cannot be stored",
        ),
    ):
        runner.submit(job, when=datetime.date(2024, 1, 1))


def test_an_argument_pickle_refuses_raises_at_submit(tmp_path: Path) -> None:
    with (
        TaskRunner(checkpoint_path=str(tmp_path / "s.pkl")) as runner,
        pytest.raises(
            CheckpointError, match=r"^task 'job#0': argument 0 of type function cannot be pickled"
        ),
    ):
        runner.submit(job, lambda: 1)


def test_pickle_accepts_arguments_json_refuses(tmp_path: Path) -> None:
    with TaskRunner(checkpoint_path=str(tmp_path / "s.pkl")) as runner:
        handle = runner.submit(job, {"a", "set"}, when=datetime.date(2024, 1, 1))
        runner.run()
    assert handle.result() == "done"


def test_a_refused_submission_registers_nothing(tmp_path: Path) -> None:
    with TaskRunner(checkpoint_path=str(tmp_path / "s.json")) as runner:
        with pytest.raises(CheckpointError):
            runner.submit(job, {1})
        assert runner.handles() == []
        assert runner.submit(job, [1]).id == "job#0"


def test_without_a_checkpointer_nothing_is_validated() -> None:
    with TaskRunner() as runner:
        handle = runner.submit(job, {1}, lambda: 1)
        runner.run()
    assert handle.result() == "done"


# -- in the runner: return values ---------------------------------------------------------


@task(name="tags")
def tags() -> set[str]:
    return {"a", "b"}


@task(name="tags_async")
async def tags_async() -> set[str]:
    return {"a", "b"}


@task(name="tags_thread", backend="thread")
def tags_thread() -> set[str]:
    return {"a", "b"}


@pytest.mark.parametrize("fn", [tags, tags_async, tags_thread])
@pytest.mark.parametrize("suffix", [".json", ".db"])
def test_a_return_value_json_refuses_fails_the_task_naming_its_type(
    tmp_path: Path, fn: Any, suffix: str
) -> None:
    with TaskRunner(checkpoint_path=str(tmp_path / f"s{suffix}"), on_task_error="continue") as r:
        handle = r.submit(fn)
        r.run()
    assert handle.status is TaskStatus.FAILED
    error = handle.exception()
    assert isinstance(error, CheckpointError)
    assert str(error).startswith(
        f"task '{fn.name}#0': return value of type set cannot be stored as JSON"
    )


def test_a_return_value_json_refuses_is_recorded_as_failed(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    with TaskRunner(checkpoint_path=str(path), on_task_error="continue") as runner:
        runner.submit(tags)
        runner.run()
    stored = JSONCheckpointer(path).load()["tags#0"]
    assert stored["status"] == "failed"
    assert stored["value"] is None
    assert stored["error"].startswith("CheckpointError: task 'tags#0': return value of type set")


def test_a_return_value_json_refuses_is_not_retried(tmp_path: Path) -> None:
    @task(name="flaky_tags", retries=3)
    def flaky_tags() -> set[int]:
        return {1}

    with TaskRunner(checkpoint_path=str(tmp_path / "s.json"), on_task_error="continue") as r:
        handle = r.submit(flaky_tags)
        r.run()
    assert (handle.status, handle.attempts) == (TaskStatus.FAILED, 1)


def test_a_return_value_json_refuses_makes_run_raise_by_default(tmp_path: Path) -> None:
    with TaskRunner(checkpoint_path=str(tmp_path / "s.json")) as runner:
        runner.submit(tags)
        with pytest.raises(CheckpointError, match="return value of type set"):
            runner.run()


def test_a_return_value_pickle_refuses_fails_the_task(tmp_path: Path) -> None:
    @task(name="make_lock")
    def make_lock() -> Any:
        return threading.Lock()

    with TaskRunner(checkpoint_path=str(tmp_path / "s.pkl"), on_task_error="continue") as r:
        handle = r.submit(make_lock)
        r.run()
    error = handle.exception()
    assert isinstance(error, CheckpointError)
    assert str(error).startswith("task 'make_lock#0': return value of type lock cannot be pickled")


def test_a_return_value_that_can_be_stored_completes(tmp_path: Path) -> None:
    with TaskRunner(checkpoint_path=str(tmp_path / "s.json")) as runner:
        handle = runner.submit(job)
        runner.run()
    assert handle.result() == "done"

"""Records as columns, and checkpoint files made of one segment per save.

What users rely on: whatever sequence of ``save(records, removed)`` calls was made, a new
checkpointer on the same path loads what a plain dict would hold (a later record of an id
wins, removed ids go, compaction past `MAX_SEGMENTS` changes nothing, ``1``, ``1.0`` and
``True`` stay apart); `RecordBatch` is a read-only mapping built from columns once; a
damaged segment is reported as malformed, naming the path; and a runner writes every task,
before any later task starts when ``checkpoint_interval=0``.
"""

from __future__ import annotations

import base64
import enum
import io
import json
import pickle
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyworkflowy import (
    Checkpointer,
    CheckpointError,
    RecordBatch,
    RecordColumns,
    TaskHandle,
    TaskRunner,
    TaskStatus,
    task,
)
from pyworkflowy.persist import JSONCheckpointer, PickleCheckpointer, SQLiteCheckpointer
from pyworkflowy.persist._files import MAX_SEGMENTS

STARTED = frozenset({"started", "started-once"})  # the statuses of start records

EVENT_WAIT = 10.0  # seconds: only reached if the library hangs
Make = Callable[[], Checkpointer]
Record = Callable[..., dict[str, Any]]
Records = dict[str, dict[str, Any]]

KINDS: dict[str, tuple[Callable[[Path], Checkpointer], str]] = {
    "json": (JSONCheckpointer, "state.json"),
    "pickle": (PickleCheckpointer, "state.pkl"),
    "sqlite": (SQLiteCheckpointer, "state.db"),
}


def open_kind(kind: str, folder: Path) -> Checkpointer:
    cls, name = KINDS[kind]
    return cls(folder / name)


def reload(kind: str, folder: Path) -> Records:
    """What a new checkpointer on the same path loads."""
    checkpointer = open_kind(kind, folder)
    try:
        return checkpointer.load()
    finally:
        checkpointer.close()


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same type all the way down (``1``, ``1.0`` and ``True`` differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def same_records(loaded: Records, model: Records) -> bool:
    return loaded.keys() == model.keys() and all(same(loaded[k], model[k]) for k in model)


def apply(model: Records, records: Mapping[str, dict[str, Any]], removed: Collection[str]) -> None:
    """What a save does, done to a plain dict: update, then drop removed ids not in the batch."""
    model.update(records)
    for hid in removed:
        if hid not in records:
            model.pop(hid, None)


def batch_of(records: Records) -> RecordBatch:
    """``records`` the way the runner hands them over: a `RecordBatch` over columns."""
    return RecordBatch(lambda: RecordColumns.of(records))


# -- any sequence of saves loads back as a dict model --------------------------------------

IDS = ["a#0", "a#1", "b#0", "b#1", "key with spaces", "ünï/☃#0"]
# ids, names, errors and fingerprints: any text SQLite takes (it refuses lone surrogates)
SAFE_TEXT = st.text(st.characters(codec="utf-8"), max_size=8)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from([0, 1, 0.0, 1.0, True, False, "", "1"])
)
VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)
TIMES = st.none() | st.floats(allow_nan=False)  # NaN is how JSON writes None
RECORDS = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["job", "square", "fetch", "ünï"]) | SAFE_TEXT,
        "status": st.sampled_from(["completed", "failed", "cancelled", "skipped"]),
        "value": VALUES,
        "error": st.none() | SAFE_TEXT,
        "attempts": st.integers(min_value=0, max_value=2**40),
        "started_at": TIMES,
        "finished_at": TIMES,
        "fingerprint": st.sampled_from(["no-args", "0123abcd"]) | SAFE_TEXT,
        "depends_on": st.lists(st.sampled_from(IDS) | SAFE_TEXT | st.just("[x]"), max_size=3),
        "attempt_times": st.lists(st.lists(TIMES, min_size=2, max_size=2), max_size=3),
        "backend": st.none() | st.sampled_from(["asyncio", "thread", "process"]) | SAFE_TEXT,
    }
)
SAVES = st.lists(
    st.tuples(
        st.dictionaries(st.sampled_from(IDS), RECORDS, max_size=4),  # records
        st.lists(st.sampled_from([*IDS, "never#0"]), max_size=3),  # removed
        st.booleans(),  # hand the records over as a RecordBatch
        st.booleans(),  # reopen the checkpointer before this save (no load())
    ),
    min_size=1,
    max_size=10,
)


@pytest.mark.parametrize("kind", sorted(KINDS))
@settings(max_examples=40, deadline=None)
@given(saves=SAVES)
def test_any_sequence_of_saves_loads_back_as_a_dict_model(
    kind: str,
    saves: list[tuple[Records, list[str], bool, bool]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = tmp_path_factory.mktemp(kind)
    model: Records = {}
    writer = open_kind(kind, folder)
    try:
        for records, removed, as_batch, reopen in saves:
            if reopen:
                writer.close()
                writer = open_kind(kind, folder)
            writer.save(batch_of(records) if as_batch else records, removed)
            apply(model, records, removed)
    finally:
        writer.close()
    loaded = reload(kind, folder)
    assert loaded == model
    assert same_records(loaded, model)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_more_saves_than_max_segments_load_back_as_a_dict_model(
    kind: str, tmp_path: Path, record: Record
) -> None:
    saves = 3 * MAX_SEGMENTS + 5
    values: list[Any] = [1, 1.0, True, None, [1, 1.0, True], {"n": 1}, "1", 0, False]
    model: Records = {}
    writer = open_kind(kind, tmp_path)
    try:
        for i in range(saves):
            records = {
                f"hot#{i % 5}": record(value=values[i % len(values)], attempts=i),
                f"new#{i}": record(name=f"n{i % 3}", value=values[(i + 1) % len(values)]),
            }
            removed = [f"new#{i - 2}", f"hot#{(i + 3) % 5}"] if i % 7 == 0 else []
            writer.save(batch_of(records) if i % 2 else records, removed)
            apply(model, records, removed)
            if i % 50 == 49:  # a new checkpointer in the middle keeps appending
                writer.close()
                writer = open_kind(kind, tmp_path)
    finally:
        writer.close()
    loaded = reload(kind, tmp_path)
    assert len(loaded) > saves // 2
    assert same_records(loaded, model)


@pytest.mark.parametrize("size", [1, 64, 65, 300])
@pytest.mark.parametrize("removing", [False, True], ids=["upsert", "upsert-and-remove"])
def test_batches_of_any_size_replace_and_remove(
    kind: str, make: Make, record: Record, size: int, removing: bool
) -> None:
    old = {f"t#{i}": record(value=i, status="failed") for i in range(0, 2 * size, 2)}
    make().save(old)
    new = {f"t#{i}": record(value=[i], attempts=2) for i in range(size)}
    removed = [f"t#{i}" for i in range(0, 2 * size, 3)] if removing else []
    make().save(batch_of(new), removed)
    model = dict(old)
    apply(model, new, removed)
    assert same_records(make().load(), model)


def segment_count(kind: str, path: Path) -> int:
    data = path.read_bytes()
    if kind == "json":
        return len(json.loads(data)["segments"])
    stream = io.BytesIO(data[data.index(b"\n") + 1 :])
    return pickle.load(stream)


@pytest.mark.parametrize("kind", ["json", "pickle"])
def test_files_never_hold_more_than_max_segments(kind: str, tmp_path: Path, record: Record) -> None:
    cls, name = KINDS[kind]
    path = tmp_path / name
    writer = cls(path)
    counts = []
    for i in range(2 * MAX_SEGMENTS + 1):
        writer.save({f"t#{i}": record(value=i)})
        counts.append(segment_count(kind, path))
    assert counts[:MAX_SEGMENTS] == list(range(1, MAX_SEGMENTS + 1))  # one segment per save
    assert counts[MAX_SEGMENTS] == 1  # one more, and they are merged into one
    assert max(counts) <= MAX_SEGMENTS
    assert reload(kind, tmp_path) == {f"t#{i}": record(value=i) for i in range(len(counts))}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_one_and_one_point_zero_and_true_keep_their_types(
    kind: str, tmp_path: Path, record: Record
) -> None:
    writer = open_kind(kind, tmp_path)
    mixed = {"int#0": 1, "float#0": 1.0, "bool#0": True}
    writer.save({hid: record(value=value) for hid, value in mixed.items()})
    for hid, value in mixed.items():  # each alone in a segment, all equal to 1
        writer.save({f"alone-{hid}": record(value=value)})
    writer.save({f"{hid}-again": record(value=value) for hid, value in mixed.items()})
    writer.close()
    loaded = reload(kind, tmp_path)
    for hid, value in mixed.items():
        for stored in (hid, f"alone-{hid}", f"{hid}-again"):
            assert type(loaded[stored]["value"]) is type(value), stored
            assert loaded[stored]["value"] == value


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_types_survive_compaction_too(kind: str, tmp_path: Path, record: Record) -> None:
    writer = open_kind(kind, tmp_path)
    values = [1, 1.0, True]
    for i in range(MAX_SEGMENTS + 2):  # the last save merges every segment into one
        writer.save({f"v#{i}": record(value=values[i % 3], attempts=1)})
    writer.close()
    loaded = reload(kind, tmp_path)
    assert [type(loaded[f"v#{i}"]["value"]) for i in range(MAX_SEGMENTS + 2)] == [
        type(values[i % 3]) for i in range(MAX_SEGMENTS + 2)
    ]


def test_json_squeezes_only_columns_whose_entries_are_identical(
    tmp_path: Path, record: Record
) -> None:
    path = tmp_path / "state.json"
    JSONCheckpointer(path).save(
        {
            "a#0": record(value=1, attempts=1),
            "b#0": record(value=1.0, attempts=1),
            "c#0": record(value=True, attempts=1),
        }
    )
    (segment,) = json.loads(path.read_text())["segments"]
    assert [type(v) for v in segment["values"]] == [int, float, bool]
    assert segment["attempts"] == {"all": 1}
    assert segment["errors"] == {"all": None}
    assert segment["name"] == {"all": 0}


@pytest.mark.parametrize("kind", ["json", "pickle", "sqlite"])
@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [("attempts", 2.0, "an int"), ("attempts", True, "an int"), ("error", 404, "a str or None")],
)
def test_a_record_of_the_wrong_type_is_refused_and_the_file_stays_readable(
    kind: str, tmp_path: Path, record: Record, field: str, value: Any, expected: str
) -> None:
    writer = open_kind(kind, tmp_path)
    writer.save({"kept#0": record()})
    with pytest.raises(
        CheckpointError, match=rf"the {field} of task 'odd#0' is .*, not {expected}"
    ):
        writer.save({"odd#0": record(**{field: value})})
    assert reload(kind, tmp_path) == {"kept#0": record()}


# -- RecordBatch and RecordColumns ---------------------------------------------------------


@pytest.fixture
def three(record: Record) -> Records:
    return {
        "b#0": record(value=2, status="completed"),
        "a#0": record(name="other", status="failed", error="E", value=None),
        "c#0": record(value=[1, {"x": None}], attempts=3, started_at=None),
    }


class CountingSource:
    def __init__(self, records: Records) -> None:
        self.records = records
        self.calls = 0

    def __call__(self) -> RecordColumns:
        self.calls += 1
        return RecordColumns.of(self.records)


def test_record_batch_is_a_read_only_mapping_in_ids_order(three: Records) -> None:
    batch = RecordBatch(CountingSource(three))
    assert isinstance(batch, Mapping)
    assert len(batch) == 3
    assert list(batch) == ["b#0", "a#0", "c#0"]
    assert list(batch.keys()) == list(three)
    assert batch["a#0"] == three["a#0"]
    assert dict(batch) == three
    assert batch == three
    assert "c#0" in batch
    assert "z#0" not in batch
    with pytest.raises(KeyError):
        batch["z#0"]
    assert batch.get("z#0") is None
    assert not hasattr(batch, "__setitem__")


def test_record_batch_follows_the_order_of_its_ids_column() -> None:
    columns = RecordColumns(
        ids=["z#0", "a#0", "m#0"],
        names=["z", "a", "m"],
        statuses=["completed", "skipped", "cancelled"],
        values=[26, None, None],
        errors=[None, "DependencyFailedError: a", "TaskCancelledError: m"],
        attempts=[1, 0, 1],
        started_at=[1.0, None, 3.0],
        finished_at=[2.0, 2.5, 4.0],
        fingerprints=["f", "no-args", "g"],
    )
    batch = RecordBatch(lambda: columns)
    assert list(batch) == ["z#0", "a#0", "m#0"]
    assert [record["name"] for record in batch.values()] == ["z", "a", "m"]
    assert batch["a#0"] == {
        "name": "a",
        "status": "skipped",
        "value": None,
        "error": "DependencyFailedError: a",
        "attempts": 0,
        "started_at": None,
        "finished_at": 2.5,
        "fingerprint": "no-args",
        "depends_on": [],
        "attempt_times": [],
        "backend": None,
    }
    assert batch["m#0"] == columns.record(2)
    assert batch.columns() is columns


def test_record_batch_builds_its_columns_once(three: Records) -> None:
    source = CountingSource(three)
    batch = RecordBatch(source)
    assert source.calls == 0  # nothing is built until asked for
    columns = batch.columns()
    assert len(batch) == 3
    assert list(batch) == list(three)
    assert batch["c#0"] == three["c#0"]
    assert "a#0" in batch
    assert batch.columns() is columns
    assert source.calls == 1


def test_an_empty_record_batch_is_an_empty_mapping() -> None:
    batch = RecordBatch(lambda: RecordColumns.of({}))
    assert len(batch) == 0
    assert dict(batch) == {}
    assert "a#0" not in batch


def test_record_columns_of_a_dict_are_parallel_lists(three: Records) -> None:
    columns = RecordColumns.of(three)
    assert columns.ids == ["b#0", "a#0", "c#0"]
    assert columns.names == ["job", "other", "job"]
    assert columns.statuses == ["completed", "failed", "completed"]
    assert columns.values == [2, None, [1, {"x": None}]]
    assert columns.errors == [None, "E", None]
    assert columns.attempts == [1, 1, 3]
    assert columns.started_at == [1.5, 1.5, None]
    assert columns.finished_at == [2.5, 2.5, 2.5]
    assert columns.fingerprints == ["no-args"] * 3
    assert [columns.record(i) for i in range(3)] == list(three.values())


def test_record_columns_of_nothing_is_twelve_empty_lists() -> None:
    columns = RecordColumns.of({})
    assert len(columns) == 12
    assert all(column == [] for column in columns)


def test_record_columns_of_a_record_batch_is_its_own_columns(three: Records) -> None:
    source = CountingSource(three)
    batch = RecordBatch(source)
    assert RecordColumns.of(batch) is batch.columns()
    assert source.calls == 1


@pytest.mark.parametrize("field", ["name", "value", "started_at", "fingerprint"])
def test_record_columns_of_a_record_missing_a_field_names_the_id_and_the_field(
    record: Record, field: str
) -> None:
    incomplete = record()
    del incomplete[field]
    with pytest.raises(KeyError) as info:
        RecordColumns.of({"ok#0": record(), "bad#0": incomplete})
    message = str(info.value.args[0])
    assert "'bad#0'" in message
    assert f"'{field}'" in message


@pytest.mark.parametrize("as_batch", [False, True], ids=["dict", "batch"])
def test_save_of_a_record_missing_a_field_raises_checkpoint_error_and_changes_nothing(
    make: Make, record: Record, as_batch: bool
) -> None:
    make().save({"kept#0": record(value=1)})
    incomplete = record()
    del incomplete["attempts"]
    records = {"new#0": record(), "bad#0": incomplete}
    checkpointer = make()
    with pytest.raises(CheckpointError, match=r"'bad#0'.*'attempts'"):
        checkpointer.save(batch_of(records) if as_batch else records, ["kept#0"])
    assert make().load() == {"kept#0": record(value=1)}


# -- damaged JSON segments -----------------------------------------------------------------


def _times(n: int) -> str:
    return base64.b64encode(b"\0" * 8 * n).decode()


def _set(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        document["segments"][-1][field] = value

    return edit


def _top(value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        document["segments"] = value

    return edit


# The last segment holds two records, of two names: "job" (index 0) and "other" (index 1).
DAMAGE: dict[str, Callable[[dict[str, Any]], None]] = {
    "started_at not base64": _set("started_at", "not*base64!"),
    "started_at not a string": _set("started_at", [1.5, 2.5]),
    "finished_at badly padded": _set("finished_at", _times(2)[:-1]),
    "started_at one double short": _set("started_at", _times(1)),
    "started_at one double too many": _set("started_at", _times(3)),
    "finished_at a byte too long": _set("finished_at", base64.b64encode(b"\0" * 17).decode()),
    "unknown status letter": _set("status", "CZ"),
    "lower-case status letter": _set("status", "Cc"),
    "status too short": _set("status", "C"),
    "status too long": _set("status", "CCC"),
    "status not a string": _set("status", ["C", "C"]),
    "name index out of range": _set("name", [0, 2]),
    "name index negative": _set("name", [0, -1]),
    "name index a bool": _set("name", [0, True]),
    "name index a float": _set("name", [0, 1.0]),
    "squeezed name index out of range": _set("name", {"all": 2}),
    "name indexes too short": _set("name", [0]),
    "names not a table": _set("names", "job"),
    "ids not a list": _set("ids", "a#0"),
    "values too short": _set("values", [1]),
    "errors too long": _set("errors", [None, None, None]),
    "attempts too short": _set("attempts", [1]),
    "fingerprints too long": _set("fingerprints", ["x", "y", "z"]),
    "a squeezed column with another key": _set("values", {"all": 1, "extra": 2}),
    "attempts a string": _set("attempts", {"all": "1"}),
    "segments an object": _top({"0": {}}),
    "segments null": _top(None),
    "a segment not an object": _top([[]]),
}


@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
def test_a_damaged_json_segment_is_reported_as_malformed_with_the_path(
    damage: str, tmp_path: Path, record: Record
) -> None:
    path = tmp_path / "state.json"
    writer = JSONCheckpointer(path)
    writer.save({"first#0": record()})
    writer.save({"a#0": record(), "b#0": record(name="other", status="failed", attempts=2)})
    document = json.loads(path.read_text())
    assert document["segments"][-1]["name"] == [0, 1]  # the edits start from this shape
    DAMAGE[damage](document)
    path.write_text(json.dumps(document))
    damaged = path.read_bytes()

    with pytest.raises(CheckpointError) as info:
        JSONCheckpointer(path).load()
    assert "malformed" in str(info.value)
    assert str(path) in str(info.value)
    # and a save does not write over it
    with pytest.raises(CheckpointError, match="malformed"):
        JSONCheckpointer(path).save({"c#0": record()})
    assert path.read_bytes() == damaged


def test_the_undamaged_json_file_loads(tmp_path: Path, record: Record) -> None:
    """The file the damage tests start from is itself fine (so each edit is the cause)."""
    path = tmp_path / "state.json"
    writer = JSONCheckpointer(path)
    writer.save({"first#0": record()})
    writer.save({"a#0": record(), "b#0": record(name="other", status="failed", attempts=2)})
    path.write_text(json.dumps(json.loads(path.read_text())))
    assert list(JSONCheckpointer(path).load()) == ["first#0", "a#0", "b#0"]


# -- damaged pickle files ------------------------------------------------------------------


def pickle_layout(path: Path) -> tuple[bytes, int, list[int]]:
    """The file's bytes, where its count starts, and where each segment ends."""
    data = path.read_bytes()
    start = data.index(b"\n") + 1
    stream = io.BytesIO(data[start:])
    count = pickle.load(stream)
    ends = [stream.tell()]
    for _ in range(count):
        pickle.load(stream)
        ends.append(stream.tell())
    assert ends[-1] == len(data) - start
    return data, start, ends


@pytest.fixture
def pickled(tmp_path: Path, record: Record) -> Path:
    path = tmp_path / "state.pkl"
    writer = PickleCheckpointer(path)
    for i in range(3):
        writer.save({f"t#{i}": record(value=i)})
    assert len(pickle_layout(path)[2]) == 4  # the count, then three segments
    return path


def test_a_pickle_cut_at_a_segment_boundary_is_refused(pickled: Path) -> None:
    data, start, ends = pickle_layout(pickled)
    pickled.write_bytes(data[: start + ends[-2]])  # the last segment's bytes dropped
    with pytest.raises(CheckpointError) as info:
        PickleCheckpointer(pickled).load()
    assert str(pickled) in str(info.value)
    assert "truncated" in str(info.value)


def test_a_pickle_with_every_segment_cut_is_refused(pickled: Path) -> None:
    data, start, ends = pickle_layout(pickled)
    pickled.write_bytes(data[: start + ends[0]])  # only the count is left
    with pytest.raises(CheckpointError, match="truncated"):
        PickleCheckpointer(pickled).load()


@pytest.mark.parametrize("extra", ["a byte", "a segment again"])
def test_a_pickle_with_trailing_bytes_is_refused(pickled: Path, extra: str) -> None:
    data, start, ends = pickle_layout(pickled)
    tail = b"\0" if extra == "a byte" else data[start + ends[-2] :]
    pickled.write_bytes(data + tail)
    with pytest.raises(CheckpointError) as info:
        PickleCheckpointer(pickled).load()
    assert str(pickled) in str(info.value)
    assert "after its last segment" in str(info.value)


def test_the_undamaged_pickle_loads(pickled: Path, record: Record) -> None:
    assert PickleCheckpointer(pickled).load() == {f"t#{i}": record(value=i) for i in range(3)}


# -- the runner's side ---------------------------------------------------------------------


squared: list[int] = []  # what seg_square ran


@task(name="seg_square")
def seg_square(x: int) -> int:
    squared.append(x)
    return x * x


@pytest.mark.parametrize("interval", [5.0, 0])
def test_two_runs_of_one_runner_leave_every_task_in_the_file(
    tmp_path: Path, interval: float
) -> None:
    squared.clear()
    path = tmp_path / "run.json"
    with TaskRunner(checkpoint_path=path, checkpoint_interval=interval) as runner:
        first = [runner.submit(seg_square, x) for x in (1, 2, 3)]
        runner.run()
        after_first = JSONCheckpointer(path).load()
        second = [runner.submit(seg_square, x) for x in (4, 5)]
        second.append(runner.submit(seg_square, 6, depends_on=[second[0]]))
        runner.run()
        after_second = JSONCheckpointer(path).load()
    final = JSONCheckpointer(path).load()

    def expected(handles: list[Any]) -> dict[str, tuple[str, Any]]:
        return {h.id: ("completed", h.result()) for h in handles}

    def outcomes(stored: Records) -> dict[str, tuple[str, Any]]:
        return {hid: (r["status"], r["value"]) for hid, r in stored.items()}

    assert outcomes(after_first) == expected(first)
    assert outcomes(after_second) == expected(first + second)
    assert outcomes(final) == expected(first + second)
    assert sorted(r["value"] for r in final.values()) == [1, 4, 9, 16, 25, 36]

    # a resume of the same six tasks finds all of them, and runs none
    squared.clear()
    with TaskRunner.resume(path) as runner:
        again = [runner.submit(seg_square, x) for x in (1, 2, 3, 4, 5)]
        again.append(runner.submit(seg_square, 6, depends_on=[again[3]]))
        runner.run()
    assert squared == []
    assert [h.result() for h in again] == [1, 4, 9, 16, 25, 36]


class SavedSoFar(Checkpointer):
    """Keeps the records in memory; notes, at each save, what was saved and what runs."""

    def __init__(self) -> None:
        self.records: Records = {}
        self.saved: list[str] = []  # every id saved so far, in order (the task bodies read it)
        self.handles: list[TaskHandle] = []  # the run's handles (the test fills it)
        self.running_at_save: list[list[str]] = []  # per save: the ids RUNNING meanwhile

    def save(self, records: Mapping[str, dict[str, Any]], removed: Collection[str] = ()) -> None:
        self.running_at_save.append([h.id for h in self.handles if h.status is TaskStatus.RUNNING])
        for hid in removed:
            self.records.pop(hid, None)
        self.records.update(records)
        self.saved.extend(hid for hid, r in records.items() if r["status"] not in STARTED)

    def load(self) -> Records:
        return dict(self.records)


@pytest.mark.parametrize("record_starts", [False, True], ids=["", "starts"])
@pytest.mark.parametrize("backend", ["thread", "asyncio"])
def test_with_interval_zero_a_task_starts_only_after_every_finished_task_was_saved(
    backend: str, record_starts: bool
) -> None:
    store = SavedSoFar()
    returned: list[str] = []  # ids whose bodies returned (or raised), in order
    began: list[tuple[str, list[str], list[str]]] = []  # (id, returned, saved) at each start

    def body(hid: str, fail: bool) -> str:
        began.append((hid, list(returned), list(store.saved)))
        returned.append(hid)
        if fail:
            raise ValueError(f"{hid} failed on purpose")
        return hid

    if backend == "thread":

        @task(name="seg_step", backend="thread")
        def step(hid: str, fail: bool = False) -> str:
            return body(hid, fail)

    else:

        @task(name="seg_step")
        async def step(hid: str, fail: bool = False) -> str:
            return body(hid, fail)

    # One worker: a body that returned belongs to a task that finished before the next
    # one started, so each body must find every earlier one saved.
    with TaskRunner(
        max_workers=1,
        max_concurrency=1,
        checkpointer=store,
        checkpoint_interval=0,
        on_task_error="continue",
        record_starts=record_starts,
    ) as runner:
        for i in range(4):  # independent ones (free2 fails), then a chain
            store.handles.append(runner.submit(step, f"free{i}", fail=i == 2, key=f"free{i}"))
        for i in range(4):
            after = store.handles[-1:] if i else []
            store.handles.append(runner.submit(step, f"link{i}", key=f"link{i}", depends_on=after))
        runner.run()

    ids = [h.id for h in store.handles]
    assert [hid for hid, _, _ in began] == ids  # one at a time, in submission order
    for n, (hid, before, saved) in enumerate(began):
        assert before == ids[:n]
        assert set(before) <= set(saved), (
            f"{hid} started before {set(before) - set(saved)} was saved"
        )
    assert sorted(store.saved) == sorted(ids)
    assert store.records["free2"]["status"] == "failed"
    if not record_starts:  # (with start records the next one is RUNNING when saved)
        # no task was ever started while a finished one waited to be saved
        assert store.running_at_save == [[] for _ in ids]


def test_json_refuses_a_timestamp_too_large_for_a_float(tmp_path: Path, record: Record) -> None:
    writer = open_kind("json", tmp_path)
    writer.save({"kept#0": record()})
    with pytest.raises(CheckpointError, match="out of range"):
        writer.save({"far#0": record(started_at=10**400)})
    assert reload("json", tmp_path) == {"kept#0": record()}


# -- names, keys and errors of unusual types -----------------------------------------------


class Step(enum.StrEnum):
    SCALE = "scale"


@pytest.mark.parametrize("suffix", [".json", ".pkl", ".db"])
def test_a_str_enum_task_name_and_key_are_stored_as_plain_text(tmp_path: Path, suffix: str) -> None:
    ran: list[int] = []

    @task(name=Step.SCALE)
    def scale(n: int) -> int:
        ran.append(n)
        return n * 2

    path = tmp_path / f"run{suffix}"
    with TaskRunner(checkpoint_path=path) as runner:
        keyed = runner.submit(scale, 1, key=Step.SCALE)
        unkeyed = runner.submit(scale, 2)
        runner.run()
    assert (type(keyed.id), type(scale.name)) == (str, str)
    ran.clear()
    with TaskRunner.resume(path) as runner:
        again = [runner.submit(scale, 1, key=Step.SCALE), runner.submit(scale, 2)]
        runner.run()
    assert [h.result() for h in again] == [2, 4]
    assert ran == []  # both came from the checkpoint
    assert {h.id for h in again} == {keyed.id, unkeyed.id}


class Problems(Exception):
    """An exception that is false when it holds no problems (it has a length)."""

    def __init__(self, message: str, problems: Collection[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)

    def __len__(self) -> int:
        return len(self.problems)


@pytest.mark.parametrize("suffix", [".json", ".pkl", ".db"])
def test_an_exception_that_is_false_is_stored_as_its_text(tmp_path: Path, suffix: str) -> None:
    @task(name="check")
    def check() -> None:
        raise Problems("bad input")

    @task(name="work")
    def work(n: int) -> int:
        return n

    path = tmp_path / f"run{suffix}"
    with TaskRunner(checkpoint_path=path, checkpoint_interval=0, on_task_error="continue") as r:
        r.submit(check)
        r.map(work, range(3))
        r.run()
    loaded = KINDS[{".json": "json", ".pkl": "pickle", ".db": "sqlite"}[suffix]][0](path).load()
    assert loaded["check#0"]["error"] == "Problems: bad input"
    assert sorted(loaded) == ["check#0", "work#0", "work#1", "work#2"]


def test_an_id_forgotten_and_submitted_again_is_saved_once_with_its_last_record() -> None:
    batches: list[list[str]] = []

    class Batches(Checkpointer):
        def save(self, records: Mapping[str, Any], removed: Collection[str] = ()) -> None:
            batches.append(list(records))
            self.last = {hid: record["value"] for hid, record in records.items()}

        def load(self) -> Records:
            return {}

    @task(name="job")
    def job(n: int) -> int:
        return n

    store = Batches()
    with TaskRunner(checkpointer=store, checkpoint_interval=60) as runner:
        runner.start()  # serving, as under a scheduler: no run() ends to write a batch
        runner.submit(job, 0, key="first").result(timeout=EVENT_WAIT)  # written at once
        for n in (1, 2, 3):  # these wait for the interval, or for stop()
            handle = runner.submit(job, n, key="daily")
            handle.result(timeout=EVENT_WAIT)
            runner.forget(handle)
        runner.stop()
    assert batches == [["first"], ["daily"]]
    assert store.last == {"daily": 3}


def test_a_record_that_is_not_a_dict_is_refused_naming_its_type(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"the record of 'a#0' is a NoneType, not a dict"):
        JSONCheckpointer(tmp_path / "s.json").save({"a#0": None})  # type: ignore[dict-item]

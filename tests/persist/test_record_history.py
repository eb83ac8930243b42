"""Records keep what a report needs: each handle's dependencies and its attempts' times."""

from __future__ import annotations

import json
import pickle
import sqlite3
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pyworkflowy import Checkpointer, TaskRunner, task
from pyworkflowy.backends import ExecutorBackend
from pyworkflowy.persist import (
    JSONCheckpointer,
    PickleCheckpointer,
    SQLiteCheckpointer,
    checkpointer_for_path,
)

OLD_RECORD = {
    "name": "job",
    "status": "completed",
    "value": 1,
    "error": None,
    "attempts": 2,
    "started_at": 1.5,
    "finished_at": 2.5,
    "fingerprint": "no-args",
}


def run_flaky_and_dependents(path: Path) -> dict[str, dict[str, Any]]:
    """A task failing twice before it succeeds, and two tasks depending on it."""
    calls = []

    @task(retries=2)
    def flaky() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise ValueError("not yet")
        return 1

    @task
    def after(x: int) -> int:
        return x

    runner = TaskRunner(checkpoint_path=path)
    first = runner.submit(flaky, key="flaky")
    second = runner.submit(after, first.output, key="second")
    runner.submit(after, 2, depends_on=[first, second], key="third")
    runner.run()
    runner.shutdown()
    return checkpointer_for_path(path).load()


@pytest.mark.filterwarnings("ignore")
def test_a_record_lists_the_ids_its_handle_depended_on(path: Path) -> None:
    records = run_flaky_and_dependents(path)
    assert records["flaky"]["depends_on"] == []
    assert records["second"]["depends_on"] == ["flaky"]
    assert records["third"]["depends_on"] == ["flaky", "second"]


@pytest.mark.filterwarnings("ignore")
def test_a_record_holds_the_start_and_end_of_each_attempt(path: Path) -> None:
    records = run_flaky_and_dependents(path)
    times = records["flaky"]["attempt_times"]
    assert len(times) == 3
    flat = [t for pair in times for t in pair]
    assert flat == sorted(flat)  # one attempt after the other, each ending after it starts
    assert times[0][0] == records["flaky"]["started_at"]
    assert times[-1][1] == records["flaky"]["finished_at"]


@pytest.mark.filterwarnings("ignore")
def test_a_task_run_once_has_one_attempt_from_its_start_to_its_finish(path: Path) -> None:
    record = run_flaky_and_dependents(path)["second"]
    assert record["attempt_times"] == [[record["started_at"], record["finished_at"]]]


def test_a_task_that_never_ran_has_no_attempt_times(path: Path) -> None:
    @task
    def boom() -> None:
        raise ValueError("boom")

    @task
    def child() -> None:
        pass

    runner = TaskRunner(checkpoint_path=path, on_task_error="continue")
    failed = runner.submit(boom, key="boom")
    runner.submit(child, depends_on=[failed], key="child")
    runner.run()
    runner.shutdown()
    records = checkpointer_for_path(path).load()
    assert records["child"]["attempts"] == 0  # its dependency failed
    assert records["child"]["attempt_times"] == []
    assert records["child"]["depends_on"] == ["boom"]


def test_saved_dependencies_and_attempt_times_load_back(path: Path) -> None:
    record = {
        **OLD_RECORD,
        "depends_on": ["a#0", "[starts with a bracket]", "ünï"],
        "attempt_times": [[1.5, 2.0], [2.25, 2.5]],
        "backend": "gpu",
    }
    checkpointer = checkpointer_for_path(path)
    checkpointer.save({"b#0": record})
    checkpointer.close()
    assert checkpointer_for_path(path).load() == {"b#0": record}


def test_a_record_saved_without_them_loads_with_none(path: Path) -> None:
    checkpointer = checkpointer_for_path(path)
    checkpointer.save({"b#0": OLD_RECORD})
    checkpointer.close()
    loaded = checkpointer_for_path(path).load()["b#0"]
    assert loaded["depends_on"] == []
    assert loaded["attempt_times"] == []
    assert loaded["backend"] is None


# -- files written before these fields existed ------------------------------------------


def old_json_segment() -> dict[str, Any]:
    return {
        "ids": ["a#0"],
        "names": ["job"],
        "name": {"all": 0},
        "status": "C",
        "values": [1],
        "errors": {"all": None},
        "attempts": [2],
        "started_at": "AAAAAAAA+D8=",  # 1.5 as a little-endian float64
        "finished_at": "AAAAAAAABEA=",  # 2.5
        "fingerprints": ["no-args"],
    }


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_json_checkpoint_loads_with_no_dependencies_or_times(
    tmp_path: Path, version: int
) -> None:
    path = tmp_path / "old.json"
    document = {"format": "pyworkflowy-checkpoint", "version": version}
    path.write_text(json.dumps({**document, "segments": [old_json_segment()]}))
    assert JSONCheckpointer(path).load() == {
        "a#0": {**OLD_RECORD, "depends_on": [], "attempt_times": [], "backend": None}
    }


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_pickle_checkpoint_loads_with_no_dependencies_or_times(
    tmp_path: Path, version: int
) -> None:
    path = tmp_path / "old.pkl"
    segment = {
        "ids": ["a#0"],
        "names": ["job"],
        "statuses": ["completed"],
        "values": [1],
        "errors": [None],
        "attempts": [2],
        "started_at": [1.5],
        "finished_at": [2.5],
        "fingerprints": ["no-args"],
    }
    head = f"pyworkflowy-checkpoint pickle v{version}\n".encode()
    path.write_bytes(head + pickle.dumps(1, protocol=5) + pickle.dumps(segment, protocol=5))
    assert PickleCheckpointer(path).load() == {
        "a#0": {**OLD_RECORD, "depends_on": [], "attempt_times": [], "backend": None}
    }


def make_old_sqlite(path: Path, version: int) -> None:
    """A database as pyworkflowy-persist wrote it before it stored these fields."""
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE pyworkflowy_records (id TEXT PRIMARY KEY NOT NULL, name TEXT, "
        "status TEXT, value TEXT, error TEXT, attempts INTEGER, started_at REAL, "
        "finished_at REAL, fingerprint TEXT) WITHOUT ROWID"
    )
    conn.execute(
        "INSERT INTO pyworkflowy_records VALUES "
        "('a#0', 'job', 'completed', '1', NULL, 2, 1.5, 2.5, 'no-args')"
    )
    conn.execute("PRAGMA application_id=1347896921")
    conn.execute(f"PRAGMA user_version={version}")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_sqlite_checkpoint_loads_with_no_dependencies_or_times(
    tmp_path: Path, version: int
) -> None:
    path = tmp_path / "old.db"
    make_old_sqlite(path, version)
    checkpointer = SQLiteCheckpointer(path)
    try:
        assert checkpointer.load() == {
            "a#0": {**OLD_RECORD, "depends_on": [], "attempt_times": [], "backend": None}
        }
    finally:
        checkpointer.close()


def test_an_older_sqlite_checkpoint_takes_new_records_after_its_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    make_old_sqlite(path, 2)
    record = {
        **OLD_RECORD,
        "depends_on": ["a#0"],
        "attempt_times": [[3.0, 4.0]],
        "backend": "thread",
    }
    checkpointer = SQLiteCheckpointer(path)
    checkpointer.save({"b#0": record})
    checkpointer.close()
    loaded = SQLiteCheckpointer(path).load()
    assert loaded["b#0"] == record
    assert loaded["a#0"]["attempt_times"] == []


# -- checkpointers of one's own ---------------------------------------------------------


class DictCheckpointer(Checkpointer):
    """Keeps plain copies of the records; ``keep`` says which fields it stores."""

    def __init__(self, keep: Collection[str] | None = None) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.keep = keep

    def save(self, records: Mapping[str, dict[str, Any]], removed: Collection[str] = ()) -> None:
        for hid in removed:
            self.records.pop(hid, None)
        for hid, record in records.items():
            keep = self.keep
            self.records[hid] = {k: v for k, v in record.items() if keep is None or k in keep}

    def load(self) -> dict[str, dict[str, Any]]:
        return {hid: dict(record) for hid, record in self.records.items()}


@task
def double(x: int) -> int:
    return 2 * x


def test_a_custom_checkpointer_is_given_dependencies_and_attempt_times() -> None:
    store = DictCheckpointer()
    runner = TaskRunner(checkpointer=store)
    first = runner.submit(double, 1, key="first")
    runner.submit(double, first.output, key="second")
    runner.run()
    runner.shutdown()
    assert store.records["second"]["depends_on"] == ["first"]
    assert len(store.records["second"]["attempt_times"]) == 1


def test_a_custom_checkpointer_that_drops_the_new_fields_still_resumes() -> None:
    old_keys = set(OLD_RECORD)
    store = DictCheckpointer(keep=old_keys)
    runner = TaskRunner(checkpointer=store)
    first = runner.submit(double, 1, key="first")
    runner.submit(double, first.output, key="second")
    runner.run()
    runner.shutdown()
    assert set(store.records["second"]) == old_keys

    resumed = TaskRunner.resume(store)
    first = resumed.submit(double, 1, key="first")
    second = resumed.submit(double, first.output, key="second")
    results = resumed.run()
    resumed.shutdown()
    assert results["second"].value == 4
    assert second.attempts == 1  # primed from its record, not run again


def test_a_start_record_holds_the_dependencies_and_the_running_attempts_start(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.db"
    seen: dict[str, Any] = {}

    @task
    def parent() -> int:
        return 1

    @task(retries=1)
    def child(x: int) -> int:
        reader = SQLiteCheckpointer(path)  # what a crash now would leave behind
        try:
            seen.update(reader.load())
        finally:
            reader.close()
        if len(seen["child"]["attempt_times"]) == 1:
            raise ConnectionError("fails once")
        return x

    with TaskRunner(checkpoint_path=path) as runner:  # SQLite records every start
        first = runner.submit(parent, key="parent")
        runner.submit(child, first.output, key="child")
        runner.run()
    record = seen["child"]  # as the second attempt began
    assert record["status"] == "started"
    assert record["depends_on"] == ["parent"]
    (first_start, first_end), (second_start, second_end) = record["attempt_times"]
    assert first_start <= first_end <= second_start
    assert second_end is None  # still running


@task(name="on_thread", backend="thread")
def on_thread() -> int:
    return 1


@task(name="on_pool", backend="pool")
def on_pool(x: int) -> int:
    return x + 1


@task(name="on_loop")
async def on_loop(x: int) -> int:
    return x + 1


@task(name="sync_on_loop")
def sync_on_loop(x: int) -> int:  # an "asyncio" task's sync body runs in that lane's threads
    return x + 1


def test_each_record_names_the_lane_that_ran_it(path: Path) -> None:
    pool = ThreadPoolExecutor(2)
    with TaskRunner(checkpoint_path=path, backends={"pool": ExecutorBackend(pool)}) as runner:
        first = runner.submit(on_thread, key="first")
        second = runner.submit(on_pool, first.output, key="second")
        third = runner.submit(on_loop, second.output, key="third")
        runner.submit(sync_on_loop, third.output, key="fourth")
        runner.run()
    pool.shutdown()
    records = checkpointer_for_path(path).load()
    assert {hid: record["backend"] for hid, record in records.items()} == {
        "first": "thread",
        "second": "pool",
        "third": "asyncio",
        "fourth": "asyncio",
    }


def test_a_start_record_names_the_lane_it_started_on(tmp_path: Path) -> None:
    path = tmp_path / "run.db"  # SQLite records starts
    seen: dict[str, Any] = {}

    @task(name="look", backend="thread")
    def look() -> None:  # runs while its start record is the stored one
        seen.update(SQLiteCheckpointer(path).load()["look"])

    with TaskRunner(checkpoint_path=path) as runner:
        runner.submit(look, key="look")
        runner.run()
    assert seen["status"] == "started"
    assert seen["backend"] == "thread"


def make_sqlite_without_backend(path: Path) -> None:
    """A database as pyworkflowy-persist wrote it with dependencies and attempt times but
    before records named their backend."""
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE pyworkflowy_records (id TEXT PRIMARY KEY NOT NULL, name TEXT, "
        "status TEXT, value TEXT, error TEXT, attempts INTEGER, started_at REAL, "
        "finished_at REAL, fingerprint TEXT, depends_on TEXT, attempt_times TEXT) WITHOUT ROWID"
    )
    conn.execute(
        "INSERT INTO pyworkflowy_records VALUES "
        "('a#0', 'job', 'completed', '1', NULL, 2, 1.5, 2.5, 'no-args', NULL, '[1.5,2.0,2.25,2.5]')"
    )
    conn.execute("PRAGMA application_id=1347896921")
    conn.execute("PRAGMA user_version=2")
    conn.commit()
    conn.close()


def test_a_sqlite_checkpoint_without_backends_gets_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    make_sqlite_without_backend(path)
    checkpointer = SQLiteCheckpointer(path)
    checkpointer.save({"b#0": {**OLD_RECORD, "backend": "thread"}})
    checkpointer.close()
    loaded = SQLiteCheckpointer(path).load()
    assert loaded["a#0"]["backend"] is None
    assert loaded["a#0"]["attempt_times"] == [[1.5, 2.0], [2.25, 2.5]]
    assert loaded["b#0"]["backend"] == "thread"


def test_two_openers_of_an_older_sqlite_checkpoint_add_its_columns_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyworkflowy.persist import _sqlite

    path = tmp_path / "old.db"
    make_sqlite_without_backend(path)
    # Both look before either adds: what two processes opening it at once may see.
    monkeypatch.setattr(_sqlite, "_has_columns", lambda conn: False)
    first, second = SQLiteCheckpointer(path), SQLiteCheckpointer(path)
    try:
        assert first.load()["a#0"]["backend"] is None
        assert second.load()["a#0"]["backend"] is None  # no "duplicate column name"
    finally:
        first.close()
        second.close()

"""``pyworkflowy inspect CHECKPOINT``: the records of JSON, pickle and SQLite checkpoints.

The command runs in a subprocess (``python -m pyworkflowy``), as a user runs it.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from pyworkflowy import CheckpointError, TaskRunner, task
from pyworkflowy.persist import checkpointer_for_path


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyworkflowy", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@task
def ok() -> int:
    return 1


@task(retries=1)
def bad() -> None:
    raise ValueError("boom\nand a second line")


@task(on_dep_failure="skip")
def after() -> None:
    pass


def write_run(path: Path) -> None:
    """A checkpoint with one record of each way to end."""
    with TaskRunner(checkpoint_path=path, on_task_error="continue") as runner:
        runner.submit(ok, key="ok")
        failed = runner.submit(bad, key="bad")
        runner.submit(after, depends_on=[failed], key="after")
        runner.submit(ok, key="stopped").cancel()
        runner.run()


def trust(kind: str) -> list[str]:
    return ["--trust"] if kind == "pickle" else []


def test_inspect_prints_a_table_and_a_summary(path: Path, kind: str) -> None:
    write_run(path)
    done = cli("inspect", path, *trust(kind))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "ATTEMPTS", "DURATION", "ERROR"]
    rows = {line.split()[0]: line.split() for line in lines[1:-1]}
    assert rows["ok"][1:4] == ["completed", "1", rows["ok"][3]]
    assert rows["ok"][3].endswith("s")
    assert rows["bad"][1:3] == ["failed", "2"]
    assert "ValueError('boom" in lines[list(rows).index("bad") + 1]
    assert rows["after"][1] == "skipped"
    assert rows["stopped"][1] == "cancelled"
    assert lines[-1] == "4 records: 1 completed, 1 failed, 1 cancelled, 1 skipped"


def test_inspect_shows_only_the_first_line_of_an_error(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    checkpointer = checkpointer_for_path(path)
    record = {
        "name": "t",
        "status": "failed",
        "value": None,
        "error": "ValueError: first\nsecond",
        "attempts": 1,
        "started_at": 10.0,
        "finished_at": 12.5,
        "fingerprint": "x",
    }
    checkpointer.save({"t#0": record})
    checkpointer.close()
    done = cli("inspect", path)
    assert done.stdout.splitlines()[1].split() == [
        "t#0",
        "failed",
        "1",
        "2.500s",
        "ValueError:",
        "first",
    ]
    assert "second" not in done.stdout


def test_status_filters_the_rows_and_the_summary_says_so(path: Path, kind: str) -> None:
    write_run(path)
    done = cli("inspect", path, "--status", "failed", "--status", "skipped", *trust(kind))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sorted(line.split()[0] for line in lines[1:-1]) == ["after", "bad"]
    assert lines[-1] == (
        "2 of 4 records shown (status failed, skipped); "
        "all: 1 completed, 1 failed, 1 cancelled, 1 skipped"
    )


def test_json_prints_one_document_with_every_stored_field(path: Path, kind: str) -> None:
    write_run(path)
    done = cli("inspect", path, "--json", "--status", "failed", *trust(kind))
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["format"] == kind
    assert document["summary"] == {
        "total": 4,
        "shown": 1,
        "statuses": {"completed": 1, "failed": 1, "cancelled": 1, "skipped": 1},
    }
    [record] = document["records"]
    assert record["id"] == "bad"
    assert record["name"] == bad.name
    assert record["status"] == "failed"
    assert record["attempts"] == 2
    assert record["error"].endswith("ValueError('boom\\nand a second line')")
    assert record["duration"] == record["finished_at"] - record["started_at"]


def test_a_checkpoint_named_for_another_format_is_read_by_its_content(tmp_path: Path) -> None:
    write_run(tmp_path / "run.db")
    (tmp_path / "run.db").rename(tmp_path / "run.checkpoint")
    done = cli("inspect", tmp_path / "run.checkpoint", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["format"] == "sqlite"


class Touch:
    """Unpickling it creates a file: what a malicious pickle could do, made visible."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return Path.touch, (self.marker,)


@task
def make_touch(marker: str) -> Touch:
    return Touch(Path(marker))


def test_a_pickle_checkpoint_is_not_unpickled_without_trust(tmp_path: Path) -> None:
    path, marker = tmp_path / "run.pkl", tmp_path / "unpickled"
    with TaskRunner(checkpoint_path=path) as runner:
        runner.submit(make_touch, str(marker))
        runner.run()
    assert not marker.exists()  # pickling it did not create it; unpickling would
    refused = cli("inspect", path)
    assert refused.returncode == 2
    assert "--trust" in refused.stderr
    assert not marker.exists()
    trusted = cli("inspect", path, "--trust")
    assert trusted.returncode == 0, trusted.stderr
    assert "warning: unpickling" in trusted.stderr
    assert marker.exists()


def load_error(path: Path) -> str:
    checkpointer = checkpointer_for_path(path)
    try:
        with pytest.raises(CheckpointError) as caught:
            checkpointer.load()
    finally:
        checkpointer.close()
    return str(caught.value)


def test_a_damaged_checkpoint_exits_2_with_the_checkpoint_error(path: Path, kind: str) -> None:
    write_run(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if kind != "sqlite" else data[:100] + b"\0" * 2000)
    done = cli("inspect", path, *trust(kind))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.endswith(f"pyworkflowy inspect: error: {load_error(path)}\n")


def foreign_json(path: Path) -> None:
    path.write_text('{"not": "a checkpoint"}')


def foreign_pickle(path: Path) -> None:
    path.write_bytes(pickle.dumps({"not": "a checkpoint"}))


def foreign_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE people (name TEXT)")
    db.close()


@pytest.mark.parametrize(
    ("name", "write"),
    [("other.json", foreign_json), ("other.pkl", foreign_pickle), ("other.db", foreign_sqlite)],
)
def test_a_foreign_file_exits_2_and_is_left_alone(tmp_path: Path, name: str, write) -> None:
    path = tmp_path / name
    write(path)
    before = path.read_bytes()
    done = cli("inspect", path, "--trust")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.endswith(f"pyworkflowy inspect: error: {load_error(path)}\n")
    assert "not a pyworkflowy" in done.stderr
    assert path.read_bytes() == before


def test_an_empty_sqlite_file_is_not_turned_into_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    done = cli("inspect", path)
    assert done.returncode == 2
    assert "not a SQLite database" in done.stderr
    assert path.read_bytes() == b""


def test_a_folder_exits_2(tmp_path: Path) -> None:
    done = cli("inspect", tmp_path)
    assert done.returncode == 2
    assert "is a folder" in done.stderr


def test_the_console_script_inspects_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    write_run(path)
    script = Path(sys.executable).parent / (
        "pyworkflowy.exe" if sys.platform == "win32" else "pyworkflowy"
    )
    done = subprocess.run(
        [str(script), "inspect", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["total"] == 4

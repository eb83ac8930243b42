"""``pyworkflowy report CHECKPOINT -o run.html``: one self-contained HTML page of a run.

The command runs in a subprocess (``python -m pyworkflowy``), as a user runs it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from threading import Barrier

import pytest
from pyworkflowy import TaskRunner, task
from pyworkflowy._report import ROWS_PER_LANE
from pyworkflowy.persist import JSONCheckpointer

from .test_cli_inspect import cli, trust

EXTERNAL = re.compile(
    r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.I
)
tries: list[int] = []


@task(name="load")
def load() -> int:
    return 1


@task(name="flaky", retries=1)
def flaky(x: int) -> int:
    tries.append(x)
    if len(tries) % 2:
        raise ConnectionError("once more")
    return x + 1


@task(name="broken")
def broken(x: int) -> None:
    raise ValueError(f"bad {x}")


def write_run(path: Path) -> None:
    """load -> flaky (retried once) -> broken (fails)."""
    with TaskRunner(checkpoint_path=path, on_task_error="continue") as runner:
        first = runner.submit(load, key="load")
        second = runner.submit(flaky, first.output, key="flaky")
        runner.submit(broken, second.output, key="broken")
        runner.run()


def test_report_writes_one_html_file(tmp_path: Path, path: Path, kind: str) -> None:
    write_run(path)
    output = tmp_path / "run.html"
    done = cli("report", path, "-o", output, *trust(kind))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"wrote {output} (3 records)\n"
    assert output.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_the_report_refers_to_no_other_host(tmp_path: Path) -> None:
    write_run(tmp_path / "run.db")
    output = tmp_path / "run.html"
    assert cli("report", tmp_path / "run.db", "-o", output).returncode == 0
    page = output.read_text(encoding="utf-8")
    assert EXTERNAL.search(page) is None
    assert "Plotly.newPlot" in page  # plotly's script is in the page itself
    assert len(page) > 1_000_000


def test_the_report_holds_each_task_its_attempts_and_the_graph(tmp_path: Path) -> None:
    write_run(tmp_path / "run.db")
    output = tmp_path / "run.html"
    assert cli("report", tmp_path / "run.db", "-o", output).returncode == 0
    # plotly writes the chart's data as JSON with < and > escaped
    page = output.read_text(encoding="utf-8").replace("\\u003c", "<").replace("\\u003e", ">")
    for hid in ("load", "flaky", "broken"):
        assert f"{hid}<br>attempt 1 of " in page
    assert "flaky<br>attempt 1 of 2: retried" in page
    assert "flaky<br>attempt 2 of 2: completed" in page
    assert "broken<br>attempt 1 of 1: failed" in page
    assert "Timeline: each attempt, in the rows of the lane that ran it" in page
    assert "<br>flaky on asyncio" in page  # each bar names its task and lane
    assert "Dependencies: an arrow from each dependency to its dependent" in page
    assert "<p>3 records (2 completed, 1 failed); " in page


def test_report_of_a_pickle_checkpoint_needs_trust(tmp_path: Path) -> None:
    write_run(tmp_path / "run.pkl")
    done = cli("report", tmp_path / "run.pkl", "-o", tmp_path / "run.html")
    assert done.returncode == 2
    assert "Pass --trust" in done.stderr
    assert not (tmp_path / "run.html").exists()


def test_report_of_a_missing_checkpoint_exits_2(tmp_path: Path) -> None:
    done = cli("report", tmp_path / "nothing.json", "-o", tmp_path / "run.html")
    assert done.returncode == 2
    assert done.stderr.startswith("pyworkflowy report: error: the checkpoint ")
    assert "does not exist" in done.stderr
    assert not (tmp_path / "run.html").exists()


def test_report_without_plotly_exits_2_with_the_install_hint(tmp_path: Path) -> None:
    write_run(tmp_path / "run.db")
    code = (
        "import sys; sys.modules['plotly'] = None\n"  # as if it were not installed
        "from pyworkflowy._cli import main\n"
        f"sys.exit(main(['report', {str(tmp_path / 'run.db')!r}, '-o', 'x.html']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "pip install 'pyworkflowy-core[report]'" in done.stderr
    assert not (tmp_path / "x.html").exists()


def test_report_to_a_folder_that_does_not_exist_exits_2(tmp_path: Path) -> None:
    write_run(tmp_path / "run.db")
    done = cli("report", tmp_path / "run.db", "-o", tmp_path / "no" / "run.html")
    assert done.returncode == 2
    assert "cannot write" in done.stderr


def saved(path: Path, records: dict[str, dict[str, object]]) -> str:
    """The report page of ``records``, with plotly's escapes of < and > undone."""
    store = JSONCheckpointer(path)
    store.save(records)
    store.close()
    output = path.with_suffix(".html")
    done = cli("report", path, "-o", output)
    assert done.returncode == 0, done.stderr
    return output.read_text(encoding="utf-8").replace("\\u003c", "<").replace("\\u003e", ">")


def bare(status: str, start: float | None, end: float | None) -> dict[str, object]:
    """A record as checkpoints held them before attempt times and dependencies."""
    return {
        "name": "step",
        "status": status,
        "value": None,
        "error": None,
        "attempts": 0 if start is None else 1,
        "started_at": start,
        "finished_at": end,
        "fingerprint": "no-args",
    }


def test_a_task_still_running_is_drawn_until_the_last_known_time(tmp_path: Path) -> None:
    page = saved(
        tmp_path / "run.json",
        {"done": bare("completed", 10.0, 14.0), "busy": bare("started", 11.0, None)},
    )
    assert "busy<br>attempt 1 of 1: running<br>1.000s to 4.000s (3.000s)" in page
    assert '"name":"running"' in page.replace(" ", "")


def test_a_cancelled_attempt_has_its_own_colour(tmp_path: Path) -> None:
    page = saved(tmp_path / "run.json", {"stop": bare("cancelled", 10.0, 11.0)})
    assert "stop<br>attempt 1 of 1: cancelled" in page
    assert '"name":"cancelled"' in page.replace(" ", "")


def test_a_task_that_never_started_has_no_bar(tmp_path: Path) -> None:
    page = saved(
        tmp_path / "run.json",
        {"ran": bare("completed", 10.0, 11.0), "never": bare("skipped", None, 11.0)},
    )
    assert "never<br>attempt" not in page
    assert '"never"' in page  # it is in the graph


def test_a_record_without_attempt_times_is_one_bar_from_start_to_end(tmp_path: Path) -> None:
    record = {**bare("failed", 10.0, 12.5), "attempts": 3}
    page = saved(tmp_path / "run.json", {"old": record})
    assert "old<br>attempt 1 of 1: failed<br>0.000s to 2.500s (2.500s)" in page


def rows_of(page: str) -> list[list[str]]:
    """The rows (``y``) of each trace of the timeline, in the order plotly draws them."""
    timeline = page.split("Plotly.newPlot(")[1]  # the first figure; the graph is the second
    return [json.loads(m) for m in re.findall(r'"y":(\[[^\]]*\])', timeline)]


def on(lane: str, start: float, end: float, name: str = "step") -> dict[str, object]:
    """A record of one attempt that ran on ``lane``."""
    return {**bare("completed", start, end), "name": name, "backend": lane}


def test_a_lanes_attempts_are_packed_into_as_few_rows_as_never_overlap(tmp_path: Path) -> None:
    page = saved(
        tmp_path / "run.json",
        {
            "a": on("thread", 0.0, 2.0),
            "b": on("thread", 1.0, 3.0),  # overlaps a: a second row
            "c": on("thread", 2.0, 4.0),  # starts as a ends: a's row again
            "d": on("process", 0.5, 1.0),  # the only process attempt: its lane's one row
        },
    )
    (rows,) = rows_of(page)  # all completed: one trace
    assert rows == ["thread #1", "thread #2", "thread #1", "process"]


def test_a_lane_has_at_most_rows_per_lane_rows(tmp_path: Path) -> None:
    records = {f"t{i}": on("asyncio", 0.0, 1.0) for i in range(ROWS_PER_LANE + 5)}
    (rows,) = rows_of(saved(tmp_path / "run.json", records))
    assert len(set(rows)) == ROWS_PER_LANE
    assert len(rows) == ROWS_PER_LANE + 5  # every attempt is drawn


MEETING = Barrier(3)  # three tasks that run on only when all three run at once


@task(name="meet", backend="thread")
def meet(n: int) -> int:
    MEETING.wait(timeout=60)
    return n


def test_a_run_shows_one_row_per_thread_that_ran_at_once(tmp_path: Path) -> None:
    path = tmp_path / "run.pkl"
    with TaskRunner(checkpoint_path=path, max_workers=4) as runner:
        for n in range(3):
            runner.submit(meet, n, key=f"meet-{n}")
        runner.run()
    output = tmp_path / "run.html"
    assert cli("report", path, "-o", output, "--trust").returncode == 0
    (rows,) = rows_of(output.read_text(encoding="utf-8"))
    assert sorted(rows) == ["thread #1", "thread #2", "thread #3"]


@pytest.mark.parametrize("tasks", [60])
def test_an_old_large_run_has_one_timeline_row_per_task_name(tmp_path: Path, tasks: int) -> None:
    records = {f"load-{n}": {**bare("completed", 1.0, 2.0), "name": "load"} for n in range(tasks)}
    page = saved(tmp_path / "run.json", records)
    assert rows_of(page) == [["load"] * tasks]
    assert "Timeline: each attempt of each task" in page


def test_records_that_do_not_name_a_lane_keep_a_row_per_task(tmp_path: Path) -> None:
    # a resumed run: records reused from a checkpoint written before records named lanes
    page = saved(
        tmp_path / "run.json",
        {
            "old": bare("completed", 0.0, 1.0),
            "new": on("thread", 1.0, 2.0),
            "mine": on("unknown", 1.0, 2.0),  # a backend of the user's, named "unknown"
        },
    )
    (rows,) = rows_of(page)
    assert rows == ["old", "thread", "unknown"]


def test_a_bar_too_short_to_see_does_not_share_its_row_with_one_starting_with_it(
    tmp_path: Path,
) -> None:
    page = saved(
        tmp_path / "run.json",
        {"blink": on("thread", 5.0, 5.0), "long": on("thread", 5.0, 9.0)},
    )
    (rows,) = rows_of(page)
    assert sorted(rows) == ["thread #1", "thread #2"]  # drawn 0.1 ms wide: they would overlap

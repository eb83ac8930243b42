"""Every script in examples/ runs as a user would run it and prints what it promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def run_example(name: str, *args: str) -> str:
    """Run ``examples/<name>`` with this interpreter from the repository root; its stdout."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"{name} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_every_example_is_covered_here() -> None:
    tested = {
        "api_enrichment.py",
        "etl.py",
        "dataflow_etl.py",
        "fanout_process.py",
        "crash_resume.py",
        "progress.py",
        "scheduled_job.py",
    }
    assert {path.name for path in EXAMPLES.glob("*.py")} == tested


def test_api_enrichment_holds_the_limit_and_pays_once_per_question() -> None:
    out = run_example("api_enrichment.py")
    first = re.search(r"first pass: (\d+) paid calls, (\d+) cache hits", out)
    assert first is not None
    assert first.groups() == ("6", "0")
    most = re.search(r"at most (\d+) calls in flight \(limit 4\)", out)
    assert most is not None
    assert 1 <= int(most.group(1)) <= 4
    assert "second pass: 0 paid calls, 6 cache hits" in out
    assert "  Paris   " in out


def test_etl_retries_the_flaky_source_skips_the_dead_one_and_reports_the_rest() -> None:
    out = run_example("etl.py")
    assert "north: 1 extract attempt(s), loaded 2 rows" in out
    assert "south: 1 extract attempt(s), loaded 2 rows" in out
    assert " east: 3 extract attempt(s), loaded 2 rows" in out  # two retries, then success
    # retries exhausted -> its transform fails ("fail") -> its load is skipped ("skip")
    assert " west: 4 extract attempt(s), load skipped (west: connection reset)" in out
    # the report runs anyway ("run-anyway") over what was loaded: no west rows
    totals = dict(re.findall(r"(2026-11-\d\d):\s+([\d.]+)", out))
    assert totals == {"2026-11-01": "15.50", "2026-11-02": "22.00", "2026-11-03": "2.50"}


def test_dataflow_etl_maps_over_the_extracted_records_and_loads_their_values() -> None:
    out = run_example("dataflow_etl.py")
    assert "extract: 8 records" in out
    # the map became one task per record, with ids "{map id}[{i}]"
    assert "clean:   8 tasks, etl.clean#0[0] .. etl.clean#0[7]" in out
    # load got the cleaned values in record order, the rejections as values too
    assert "load:    6 sales loaded, 2 rejected" in out
    assert re.findall(r"^  rejected (\d+): (.+)$", out, re.M) == [
        ("1004", "amount 'n/a' is not a number"),
        ("1007", "no exchange rate for JPY"),
    ]
    regions = re.findall(r"^\s+(\w+): (\d) order\(s\)\s+([\d.]+) EUR$", out, re.M)
    assert regions == [("east", "1", "9.00"), ("north", "3", "24.50"), ("south", "2", "21.45")]


def test_fanout_process_finds_the_longest_collatz_chain_in_worker_processes() -> None:
    out = run_example("fanout_process.py", "--limit", "10000", "--chunks", "6", "--workers", "2")
    assert "longest Collatz chain below 10,000: 6,171 takes 261 steps" in out
    assert re.search(r"fan-out: 6 tasks on [12] worker process(es)? \(max_workers=2\)", out)
    assert "serially in this process" in out


def test_crash_resume_reruns_only_what_did_not_complete_before_the_kill() -> None:
    out = run_example("crash_resume.py")
    assert re.search(r"child \d+ ran: fetch-1, fetch-2, fetch-3, fetch-4\n", out)
    assert re.search(r"killed by SIGKILL in the middle of fetch-4 \(exit code -9\)", out)
    assert "checkpoint after the crash: fetch-1, fetch-2, fetch-3 completed" in out
    assert re.search(r"resumed in \d+, which ran: fetch-4, fetch-5, fetch-6, report\n", out)
    assert "report: 210 orders over 6 days" in out


def test_scheduled_job_prints_the_simulated_fires_and_three_real_ones() -> None:
    out = run_example("scheduled_job.py")
    simulated = re.findall(r"^  (\d\d:\d\d)  (\w+)\s+-> (.+)$", out, re.M)
    assert simulated == [
        ("00:20", "sync_inbox", "synced ops@example.com"),
        ("00:40", "sync_inbox", "synced ops@example.com"),
        ("01:00", "hourly_report", "report sent"),
        ("01:00", "sync_inbox", "synced ops@example.com"),
        ("01:20", "sync_inbox", "synced ops@example.com"),
        ("01:30", "migrate", "migrated to v7"),
        ("01:40", "sync_inbox", "synced ops@example.com"),
        ("02:00", "hourly_report", "report sent"),
        ("02:00", "sync_inbox", "synced ops@example.com"),
    ]
    assert re.findall(r"^  fire (\d) at \+\d+ ms$", out, re.M) == ["1", "2", "3"]


def test_progress_shows_a_plain_summary_when_stderr_is_not_a_terminal() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "progress.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines() == [
        "part 0 loaded",
        "part 100 loaded",
        "part 200 loaded",
        "sum of the parts: 44850",
    ]
    summary = done.stderr.splitlines()[-1]
    assert summary.startswith("pyworkflowy: 301/301 done (100%), ")
    assert summary.endswith("; 0 running, 0 retrying, 0 failed, 0 skipped, 0 cancelled")

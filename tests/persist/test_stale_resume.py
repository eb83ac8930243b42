"""Resume never returns a stale result: the record must be of the same task, with the same
code (closure values and defaults included) and arguments the format can tell apart; ids
are the same in every run of the program, lambdas and scripts included."""

from __future__ import annotations

import functools
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyworkflowy import Task, TaskRunner, task

CHANGED = "runs again: its arguments or its code"


def make_adder(n: int) -> Task[..., int]:
    @task(name="add")
    def add(x: int) -> int:
        return x + n

    return add


def run_once(path: Path, fn: Any, *args: Any, resume: bool = False, key: str | None = None) -> Any:
    runner = TaskRunner.resume(path) if resume else TaskRunner(checkpoint_path=path)
    with runner:
        handle = runner.submit(fn, *args, key=key)
        runner.run()
    return handle


def test_a_changed_closure_value_runs_the_task_again(path: Path) -> None:
    assert run_once(path, make_adder(1), 5).result() == 6
    with pytest.warns(RuntimeWarning, match=CHANGED):
        again = run_once(path, make_adder(2), 5, resume=True)
    assert again.result() == 7


def test_an_unchanged_closure_value_resumes(path: Path) -> None:
    run_once(path, make_adder(1), 5)
    events: list[object] = []
    with TaskRunner.resume(path) as runner:
        runner.subscribe(events.append)
        again = runner.submit(make_adder(1), 5)
        runner.run()
    assert again.result() == 6
    assert not [e for e in events if type(e).__name__ == "TaskStarted"]  # primed, not run


def test_a_changed_default_runs_the_task_again(path: Path) -> None:
    def make(default: int) -> Task[..., int]:
        def scale(x: int, factor: int = default) -> int:
            return x * factor

        return task(name="scale")(scale)

    run_once(path, make(2), 5)
    with pytest.warns(RuntimeWarning, match=CHANGED):
        again = run_once(path, make(3), 5, resume=True)
    assert again.result() == 15


def test_a_record_of_another_task_under_the_same_key_is_not_returned(path: Path) -> None:
    run_once(path, task(name="first")(lambda: "first's"), key="shared")
    with pytest.warns(RuntimeWarning, match="record of that id is of task 'first', not 'second'"):
        again = run_once(path, task(name="second")(lambda: "second's"), key="shared", resume=True)
    assert again.result() == "second's"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({1: "x"}, {"1": "x"}),
        ((1, 2), [1, 2]),
        (b"ab", {"<bytes>": "6162"}),
        (1, 1.0),
        (1, True),
        ("1", 1),
        (frozenset({1}), {1}),
    ],
    ids=[
        "int-or-str-key",
        "tuple-or-list",
        "bytes-or-dict",
        "int-or-float",
        "int-or-bool",
        "str-or-int",
        "frozenset-or-set",
    ],
)
def test_arguments_pickle_tells_apart_are_told_apart(
    tmp_path: Path, before: object, after: object
) -> None:
    path = tmp_path / "state.pkl"

    @task(name="echo")
    def echo(value: object) -> object:
        return value

    run_once(path, echo, before)
    with pytest.warns(RuntimeWarning, match=CHANGED):
        again = run_once(path, echo, after, resume=True)
    assert again.result() == after
    assert type(again.result()) is type(after)


def test_lambdas_are_named_by_where_they_are_written() -> None:
    first, second = task(lambda: 1), task(lambda: 2)
    line = sys._getframe().f_lineno - 1
    assert first.name.startswith(f"{__name__}.test_lambdas_are_named_by_where_they_are_written")
    assert first.name.split(":")[1] == second.name.split(":")[1] == str(line)
    assert first.name != second.name  # the column tells them apart
    assert "@" not in first.name


def test_a_partial_is_named_after_what_it_wraps() -> None:
    def greet(greeting: str, name: str) -> str:
        return f"{greeting} {name}"

    hello = functools.partial(greet, "hello")
    assert Task(hello).name == f"partial({__name__}.{greet.__qualname__})"


WORKFLOW = textwrap.dedent(
    """
    import sys
    from pyworkflowy import TaskRunner, task

    @task
    def fetch(n: int) -> int:
        with open(sys.argv[2], "a") as log:
            log.write(f"fetch {n}\\n")
        return n * 2

    def main(path: str, resume: bool) -> list[str]:
        runner = TaskRunner.resume(path) if resume else TaskRunner(checkpoint_path=path)
        with runner:
            handles = [runner.submit(fetch, n) for n in range(3)]
            handles.append(runner.submit(lambda: "done"))
            runner.run()
        return [h.id for h in handles]

    if __name__ == "__main__":
        print(main(sys.argv[1], resume=False))
    """
)


def test_a_script_and_its_import_give_the_same_ids_so_resume_runs_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "etl.py").write_text(WORKFLOW)
    checkpoint, log = tmp_path / "state.db", tmp_path / "ran.txt"
    run: Callable[..., subprocess.CompletedProcess[str]] = functools.partial(
        subprocess.run, capture_output=True, text=True, cwd=tmp_path, timeout=60, check=True
    )
    as_script = run([sys.executable, "etl.py", str(checkpoint), str(log)])
    imported = run(
        [
            sys.executable,
            "-W",
            "error::RuntimeWarning",
            "-c",
            f"import etl, sys; sys.argv[1:] = [{str(checkpoint)!r}, {str(log)!r}]; "
            f"print(etl.main({str(checkpoint)!r}, resume=True))",
        ]
    )
    assert as_script.stdout == imported.stdout
    assert "'etl.fetch#0'" in as_script.stdout
    assert sorted(log.read_text().splitlines()) == ["fetch 0", "fetch 1", "fetch 2"]  # once

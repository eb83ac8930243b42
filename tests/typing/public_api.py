"""What type checkers see of the public API: every `assert_type` must hold, and each line
marked ``# E`` must be reported as an error (and no other line); ``# E:pyright`` marks
an error of (based)pyright's alone.

Not run by pytest: tests/typing/test_type_checkers.py runs mypy --strict, pyrefly and
basedpyright over this file and compares the lines they report with the ``# E`` marks.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, assert_type

from pyworkflowy import AsyncTask, Task, TaskBase, TaskHandle, TaskResult, TaskRunner, task
from pyworkflowy.backends import Backend
from pyworkflowy.events import TaskFinished
from pyworkflowy.persist import SQLiteCheckpointer
from pyworkflowy.process import ProcessBackend
from pyworkflowy.schedule import Scheduler


@task
def square(x: int) -> int:
    return x * x


@task(retries=2)
async def fetch(url: str) -> bytes:
    return url.encode()


@task(tags={"db"}, cache=True, cache_ttl=60.0, cache_key=lambda n: str(n))
def lookup(n: int) -> str:
    return str(n)


@task
def rows(n: int) -> list[int]:
    return list(range(n))


@task(backend="thread")
def total(xs: list[int]) -> int:
    return sum(xs)


def label(n: int, suffix: str = "") -> str:
    return f"{n}{suffix}"


async def halve(n: int) -> float:
    return n / 2


class Resize(TaskBase):  # a plain subclass: a Task[..., Any]
    def run(self, size: int) -> int:
        return size


class Fetch(TaskBase[[str], bytes]):
    retries = 1

    async def run(self, url: str) -> bytes:
        return url.encode()


def direct_calls() -> None:
    assert_type(square(3), int)
    coroutine: Coroutine[Any, Any, bytes] = fetch("u")  # a direct call: the coroutine
    coroutine.close()
    not_bytes: bytes = fetch("u")  # E
    del not_bytes
    assert_type(Task(label)(1, "a"), str)
    coro_task: AsyncTask[..., bytes] = fetch
    plain_task: Task[..., int] = square
    del coro_task, plain_task
    square("3")  # E


def submissions(runner: TaskRunner) -> None:
    h = square.submit(3)
    assert_type(h, TaskHandle[int])
    assert_type(h.result(), int)
    assert_type(h.get_result(), TaskResult[int])
    assert_type(h.get_result().value, int | None)
    assert_type(fetch.submit("u"), TaskHandle[bytes])
    assert_type(Fetch().submit("u"), TaskHandle[bytes])
    assert_type(Resize().submit(3), TaskHandle[Any])
    assert_type(runner.submit(square, 2), TaskHandle[int])
    assert_type(runner.submit(label, 1, "x"), TaskHandle[str])
    assert_type(runner.submit(label, 1, suffix="x"), TaskHandle[str])
    assert_type(runner.submit(halve, 4), TaskHandle[float])
    assert_type(runner.submit(fetch, "u"), TaskHandle[bytes])
    # depends_on= and key=: the result is typed, the arguments are not checked.
    assert_type(square.submit(3, depends_on=h), TaskHandle[int])
    assert_type(square.submit(3, key="k"), TaskHandle[int])
    assert_type(runner.submit(square, 2, depends_on=[h]), TaskHandle[int])
    assert_type(runner.submit(halve, 2, key="k"), TaskHandle[float])
    assert_type(square.submit(3, tags="db"), TaskHandle[int])
    assert_type(runner.submit(fetch, "u", tags={"api"}), TaskHandle[bytes])
    assert_type(runner.submit(halve, 2, tags=["a", "b"]), TaskHandle[float])
    assert_type(h.tags, frozenset[str])
    assert_type(h.cached, bool)
    assert_type(lookup.submit(1), TaskHandle[str])
    lookup.submit("1")  # E
    square.submit("3")  # E
    square.submit(3, 4)  # E
    fetch.submit(1)  # E
    Fetch().submit(1)  # E
    runner.submit(square, "3")  # E
    runner.submit(label, "1")  # E
    runner.submit(halve, 1, 2)  # E
    wrong: TaskHandle[str] = square.submit(3)  # E
    del wrong


def outputs(runner: TaskRunner) -> None:
    h = square.submit(3)
    r = rows.submit(5)
    assert_type(square.submit(h.output), TaskHandle[int])
    assert_type(total.submit(r.output), TaskHandle[int])
    assert_type(runner.submit(total, r.output), TaskHandle[int])
    assert_type(runner.submit(label, h.output, suffix="!"), TaskHandle[str])
    total.submit(h.output)  # E
    fetch.submit(h.output)  # E


def maps(runner: TaskRunner) -> None:
    r = rows.submit(5)
    assert_type(square.map([1, 2]), list[TaskHandle[int]])
    assert_type(runner.map(square, [1, 2]), list[TaskHandle[int]])
    assert_type(runner.map(label, [1], ["a"]), list[TaskHandle[str]])
    assert_type(runner.map(halve, range(3)), list[TaskHandle[float]])
    m = square.map(r.output)
    assert_type(m, TaskHandle[list[int]])
    assert_type(runner.map(square, r.output), TaskHandle[list[int]])
    assert_type(runner.map(fetch, r.output), TaskHandle[list[bytes]])
    assert_type(square.map(m.output), TaskHandle[list[int]])
    assert_type(total.submit(m.output), TaskHandle[int])
    square.map(r.output).result().upper()  # E


async def awaiting() -> None:
    h = fetch.submit("u")
    assert_type(await h, bytes)


def other_distributions(runner: TaskRunner) -> None:
    TaskRunner(checkpointer=SQLiteCheckpointer("run.db"), backends={"p": ProcessBackend()})
    backend: Backend = ProcessBackend()
    del backend
    scheduler = Scheduler(runner)
    scheduler.every(60).do(square, 3)
    scheduler.every(60).do(square, "3")  # E
    scheduler.cron("0 * * * *").do(label, 1, suffix="h")

    def watch(event: object) -> None:
        if isinstance(event, TaskFinished):
            assert_type(event.handle, TaskHandle[Any])

    runner.subscribe(watch)


@task
def pair(n: int) -> tuple[int, ...]:
    return (n, n)


def maps_over_other_outputs(runner: TaskRunner) -> None:
    p = pair.submit(2)
    r = rows.submit(5)
    assert_type(square.map(p.output), TaskHandle[list[int]])
    assert_type(runner.map(label, [1, 2], r.output), TaskHandle[list[str]])
    assert_type(square.map([1, 2], r.output), TaskHandle[list[int]])


def outputs_of_untyped_handles(h: TaskHandle[Any]) -> None:
    # mypy and pyrefly take it as Any; pyright matches the list overload first (docs/dag.md)
    square.submit(h.output)  # E:pyright

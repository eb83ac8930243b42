"""Third-party backends: found by name through the ``pyworkflowy.backends`` entry-point group."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyworkflowy import TaskRunner, TaskStatus, current_task, task

PLUGIN = '''
from pyworkflowy.backends import Backend


class InlineBackend(Backend):
    """Runs each body on the loop thread, right away, through the public API only."""

    started = []

    def start(self, attempt):
        InlineBackend.started.append(attempt.handle.id)
        try:
            with attempt.context():
                value = attempt.fn(*attempt.args, **attempt.kwargs)
        except Exception as exc:
            attempt.fail(exc)
        else:
            attempt.succeed(value)


class NotABackend:
    pass
'''


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A distribution on sys.path whose entry points register two backends."""
    (tmp_path / "inline_backend.py").write_text(PLUGIN)
    info = tmp_path / "inline_backend-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: inline-backend\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [pyworkflowy.backends]
            inline = inline_backend:InlineBackend
            broken = inline_backend:NotABackend
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("inline_backend", None)


@pytest.mark.usefixtures("installed_plugin")
def test_a_backend_registered_by_entry_point_runs_tasks_that_name_it() -> None:
    @task(backend="inline", retries=1)
    def flaky(x: int) -> str:
        ctx = current_task()
        assert ctx is not None
        if ctx.attempt == 1:
            raise OSError("first attempt fails")
        return f"{x} on attempt {ctx.attempt}"

    with TaskRunner(on_task_error="continue") as runner:
        handle = flaky.submit(7)
        after = runner.submit(lambda: "asyncio lane", depends_on=[handle])
        runner.run()

    assert handle.result() == "7 on attempt 2"  # the runner's retries apply to it too
    assert after.status is TaskStatus.COMPLETED
    started = sys.modules["inline_backend"].InlineBackend.started
    assert started == [handle.id, handle.id]


@pytest.mark.usefixtures("installed_plugin")
def test_a_registered_name_is_a_valid_runner_default() -> None:
    with TaskRunner(backend="inline") as runner:
        handle = runner.submit(lambda: "inline")
        runner.run()
    assert handle.result() == "inline"


@pytest.mark.usefixtures("installed_plugin")
def test_an_entry_point_that_is_not_a_backend_is_refused_by_name() -> None:
    with TaskRunner() as runner, pytest.raises(TypeError, match=r"'broken'.*Backend"):
        runner.submit(task(backend="broken")(lambda: None))


def test_an_unregistered_backend_name_is_refused_when_the_task_is_submitted() -> None:
    elsewhere = task(backend="inline")(lambda: None)  # may be provided by the runner it meets
    with (
        TaskRunner() as runner,
        pytest.raises(ValueError, match=r"unknown backend 'inline'.*pyworkflowy\.backends"),
    ):
        runner.submit(elsewhere)
    assert runner.handles() == []

"""The public import surface of pyworkflowy-core and its zero-dependency promise."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import pyworkflowy

PINNED_NAMES = [
    "task",
    "Task",
    "TaskBase",
    "TaskHandle",
    "TaskResult",
    "TaskStatus",
    "TaskContext",
    "current_task",
    "TaskRunner",
    "get_current_runner",
    "Checkpointer",
    "TaskError",
    "TaskTimeoutError",
    "TaskCancelledError",
    "CycleError",
    "DependencyFailedError",
    "RetryExhaustedError",
    "CheckpointError",
    "Backend",
    "Backoff",
    "DepFailurePolicy",
]

# Imports pyworkflowy in a fresh interpreter, runs a small DAG on the asyncio and thread
# backends and reports what got imported along the way.
DAG_SCRIPT = textwrap.dedent(
    """
    import json
    import sys

    before = set(sys.modules)

    from pyworkflowy import TaskRunner, task

    @task
    def load():
        return [1, 2, 3]

    @task
    async def count():
        return 3

    @task(backend="thread")
    def total():
        return 6

    results = {}
    for backend in ("asyncio", "thread"):
        with TaskRunner(backend=backend) as runner:
            a = load.submit()
            b = count.submit(depends_on=[a])
            c = total.submit(depends_on=[a, b])
            runner.run()
            results[backend] = [a.result(), b.result(), c.result()]

    new = {name.split(".")[0] for name in set(sys.modules) - before}
    print(json.dumps({
        "results": results,
        "optional_loaded": sorted({"cloudpickle", "croniter"} & set(sys.modules)),
        "outside_stdlib": sorted(new - set(sys.stdlib_module_names) - {"pyworkflowy"}),
    }))
    """
)


@pytest.fixture(scope="module")
def dag_run() -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", DAG_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_fresh_interpreter_runs_a_dag_on_asyncio_and_thread_backends(
    dag_run: dict[str, Any],
) -> None:
    expected = [[1, 2, 3], 3, 6]
    assert dag_run["results"] == {"asyncio": expected, "thread": expected}


def test_running_a_dag_imports_neither_cloudpickle_nor_croniter(dag_run: dict[str, Any]) -> None:
    assert dag_run["optional_loaded"] == []


def test_running_a_dag_imports_nothing_outside_the_standard_library(
    dag_run: dict[str, Any],
) -> None:
    assert dag_run["outside_stdlib"] == []


def test_package_init_extends_its_path_for_sibling_distributions(tmp_path: Path) -> None:
    # A sibling distribution installed in another sys.path directory (an editable install)
    # ships only its subpackage; it must import as pyworkflowy.<name>.
    sibling = tmp_path / "pyworkflowy" / "sibling_part"
    sibling.mkdir(parents=True)
    (sibling / "__init__.py").write_text("WHERE = 'the other directory'\n")
    code = "import pyworkflowy.sibling_part as part; print(part.WHERE)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*sys.path, str(tmp_path)])}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "the other directory"


def test_importing_pyworkflowy_does_not_import_pkgutil() -> None:
    code = "import sys, pyworkflowy; print('pkgutil' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_importing_pyworkflowy_leaves_the_engine_to_the_first_runner() -> None:
    code = (
        "import sys, pyworkflowy\n"
        "late = ('pyworkflowy._engine', 'pyworkflowy._submit', 'pyworkflowy._lanes', 'weakref')\n"
        "print([m for m in late if m in sys.modules])\n"
        "pyworkflowy.TaskRunner().shutdown()\n"
        "print([m for m in late[:3] if m not in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "[]"]


@pytest.mark.parametrize("name", pyworkflowy.__all__)
def test_every_name_in_all_is_importable(name: str) -> None:
    assert getattr(pyworkflowy, name) is not None


@pytest.mark.parametrize("name", PINNED_NAMES)
def test_pinned_public_name_is_exported(name: str) -> None:
    assert name in pyworkflowy.__all__
    assert hasattr(pyworkflowy, name)


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = pyworkflowy.no_such_name


# -- optional distributions ------------------------------------------------------------------------


@pytest.fixture
def hide(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make an optional distribution look uninstalled: a None entry in sys.modules fails
    its import exactly as a missing package does (core's tests must not depend on siblings)."""

    def hide_module(module: str) -> None:
        monkeypatch.setitem(sys.modules, module, None)

    return hide_module


def test_json_checkpointer_without_persist_raises_import_error_naming_the_extra(
    hide: Any,
) -> None:
    hide("pyworkflowy.persist")
    with pytest.raises(ImportError, match=re.escape("pyworkflowy-core[persist]")):
        from pyworkflowy import JSONCheckpointer  # noqa: F401


@pytest.mark.parametrize(
    ("name", "module", "extra"),
    [
        ("PickleCheckpointer", "pyworkflowy.persist", "pyworkflowy-core[persist]"),
        ("SQLiteCheckpointer", "pyworkflowy.persist", "pyworkflowy-core[persist]"),
        ("Scheduler", "pyworkflowy.schedule", "pyworkflowy-core[cron]"),
    ],
)
def test_optional_name_without_its_distribution_raises_import_error_naming_the_extra(
    name: str, module: str, extra: str, hide: Any
) -> None:
    hide(module)
    with pytest.raises(ImportError, match=re.escape(extra)):
        getattr(pyworkflowy, name)


PROCESS_HINT = "pip install 'pyworkflowy-core[process]'"


def test_process_backend_runner_without_pyworkflowy_process_raises_install_hint(
    hide: Any,
) -> None:
    hide("pyworkflowy.process")
    with pytest.raises(ImportError, match=re.escape(PROCESS_HINT)):
        pyworkflowy.TaskRunner(backend="process")


def test_submitting_a_process_task_without_pyworkflowy_process_raises_install_hint(
    hide: Any,
) -> None:
    hide("pyworkflowy.process")

    @pyworkflowy.task(backend="process")
    def heavy() -> int:
        return 1

    with (
        pyworkflowy.TaskRunner() as runner,
        pytest.raises(ImportError, match=re.escape(PROCESS_HINT)),
    ):
        runner.submit(heavy)


DASK_HINT = "backend 'dask' needs pyworkflowy-dask: pip install 'pyworkflowy-core[dask]'"


@pytest.fixture
def no_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if no distribution registered a backend (pyworkflowy-dask registers "dask")."""
    import pyworkflowy._lanes

    monkeypatch.setattr(pyworkflowy._lanes, "_entry_points", dict)


@pytest.mark.usefixtures("no_entry_points")
def test_dask_backend_runner_without_pyworkflowy_dask_raises_install_hint() -> None:
    with pytest.raises(ImportError, match=re.escape(DASK_HINT)):
        pyworkflowy.TaskRunner(backend="dask")


@pytest.mark.usefixtures("no_entry_points")
def test_submitting_a_dask_task_without_pyworkflowy_dask_raises_install_hint() -> None:
    @pyworkflowy.task(backend="dask")
    def remote() -> int:
        return 1

    with (
        pyworkflowy.TaskRunner() as runner,
        pytest.raises(ImportError, match=re.escape(DASK_HINT)),
    ):
        runner.submit(remote)


@pytest.mark.usefixtures("no_entry_points")
def test_another_unknown_backend_name_is_still_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown backend 'daskk'"):
        pyworkflowy.TaskRunner(backend="daskk")


@pytest.mark.parametrize(
    ("module", "source_dir", "extra"),
    [
        ("pyworkflowy.schedule", "pyworkflowy-cron", "pyworkflowy-core[cron]"),
        ("pyworkflowy.dask", "pyworkflowy-dask", "pyworkflowy-core[dask]"),
        ("pyworkflowy.persist", "pyworkflowy-persist", "pyworkflowy-core[persist]"),
        ("pyworkflowy.process", "pyworkflowy-process", "pyworkflowy-core[process]"),
    ],
)
def test_importing_a_missing_part_names_the_install_command(
    module: str, source_dir: str, extra: str
) -> None:
    """A plain ``import pyworkflowy.schedule`` without its distribution says what to install."""
    code = textwrap.dedent(
        f"""
        import sys
        sys.path[:] = [p for p in sys.path if {source_dir!r} not in p]
        try:
            import {module}
        except ModuleNotFoundError as exc:
            print(exc.name, "|", exc)
        else:
            print("imported")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    name, _, message = out.partition(" | ")
    assert name == module
    assert f"pip install '{extra}'" in message

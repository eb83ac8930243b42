"""The distributions as users get them: built wheels installed into fresh environments.

The wheels are built once per session from the repository, exactly as for publishing
(``uv build --all-packages --no-sources``); their contents and metadata are checked against
the pyproject files. Each install case is a new ``uv venv`` on this interpreter holding only
what the case installs: our wheel by path, its pyworkflowy siblings from the wheel folder
(``--find-links``), third-party packages from the registry. Scripts run there in a fresh
interpreter from an empty folder, so nothing of the workspace is importable.

Marked ``packaging``: deselect with ``-m "not packaging"`` (it needs uv and the registry).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ROOT / "packages"
README_META = PACKAGES / "pyworkflowy" / "README.md"

# distribution -> the folder of its import package inside a wheel (None: the meta-package)
DISTRIBUTIONS: dict[str, str | None] = {
    "pyworkflowy-core": "pyworkflowy",
    "pyworkflowy-process": "pyworkflowy/process",
    "pyworkflowy-persist": "pyworkflowy/persist",
    "pyworkflowy-cron": "pyworkflowy/schedule",
    "pyworkflowy-dask": "pyworkflowy/dask",
    "pyworkflowy": None,
}
# Offered as an extra only (its dependencies are heavy): neither the meta-package nor the
# 'all' extra installs it.
EXTRA_ONLY = {"pyworkflowy-dask"}

# Variables that would point a child process at the workspace's environment instead of its own.
_LEAKY = ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")


def uv_binary() -> str | None:
    """uv itself: ``uv run`` names it in $UV, otherwise it is looked up on PATH."""
    return os.environ.get("UV") or shutil.which("uv")


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _LEAKY}


def pyproject(distribution: str) -> dict[str, Any]:
    with (PACKAGES / distribution / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)["project"]


@dataclass(frozen=True)
class Wheel:
    """One built wheel: its path, its file names and its parsed METADATA."""

    path: Path
    names: frozenset[str]
    metadata: Message

    @property
    def distribution(self) -> str:
        return str(self.metadata["Name"])

    @property
    def metadata_text(self) -> str:
        with zipfile.ZipFile(self.path) as zf:
            (name,) = (n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            return zf.read(name).decode()


def _read_wheel(path: Path) -> Wheel:
    with zipfile.ZipFile(path) as zf:
        names = frozenset(zf.namelist())
        (meta,) = (n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = HeaderParser().parsestr(zf.read(meta).decode())
    return Wheel(path, names, metadata)


@pytest.fixture(scope="session")
def uv() -> str:
    found = uv_binary()
    if found is None:
        pytest.skip("uv is not installed: the install-matrix tests build and install with uv")
    return found


@pytest.fixture(scope="session")
def wheelhouse(uv: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every distribution of the workspace built as for publishing, into a fresh folder."""
    out = tmp_path_factory.mktemp("wheels")
    build = subprocess.run(
        [uv, "build", "--all-packages", "--no-sources", "--out-dir", str(out)],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    return out


@pytest.fixture(scope="session")
def wheels(wheelhouse: Path) -> dict[str, Wheel]:
    """The built wheels by distribution name; one per distribution, no others."""
    built = [_read_wheel(p) for p in sorted(wheelhouse.glob("*.whl"))]
    by_name = {w.distribution: w for w in built}
    assert len(by_name) == len(built)
    assert sorted(by_name) == sorted(DISTRIBUTIONS)
    return by_name


@dataclass(frozen=True)
class Venv:
    """A fresh virtual environment; ``run`` executes a script there and decodes its JSON."""

    python: Path
    workdir: Path
    uv: str

    def run(self, script: str) -> Any:
        """Run ``script`` in this environment from an empty folder; it must print JSON."""
        proc = subprocess.run(
            [str(self.python), "-c", textwrap.dedent(script)],
            cwd=self.workdir,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def installed(self) -> dict[str, str]:
        """{distribution: version} of everything installed, as the installer lists it."""
        proc = subprocess.run(
            [self.uv, "pip", "list", "--python", str(self.python), "--format", "json"],
            cwd=self.workdir,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return {d["name"]: d["version"] for d in json.loads(proc.stdout)}


MakeVenv = Callable[..., Venv]


@pytest.fixture(scope="module")
def make_venv(
    uv: str, wheelhouse: Path, wheels: dict[str, Wheel], tmp_path_factory: pytest.TempPathFactory
) -> MakeVenv:
    """``make_venv(distribution, extras=())``: a new environment with that wheel installed.

    The wheel is installed by path, its pyworkflowy siblings are found in the wheel folder. The
    registry has unrelated releases under some of these names (``pyworkflowy`` 0.1.0 and 0.4.0),
    so a check afterwards proves that every installed pyworkflowy distribution is one of ours.
    """

    def make(distribution: str, extras: tuple[str, ...] = ()) -> Venv:
        root = tmp_path_factory.mktemp(f"venv-{distribution}")
        workdir = root / "work"
        workdir.mkdir()
        subprocess.run(
            [uv, "venv", "--quiet", "--python", sys.executable, str(root / "venv")],
            cwd=workdir,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        venv = Venv(root / "venv" / "bin" / "python", workdir, uv)
        extra = f"[{','.join(extras)}]" if extras else ""
        requirement = f"{distribution}{extra} @ {wheels[distribution].path.as_uri()}"
        # uv's cache may hold an earlier build of the same name and version (a wheelhouse
        # path pytest reuses): never take ours from it.
        refresh = [arg for name in wheels for arg in ("--refresh-package", name)]
        pip = [uv, "pip", "install", "--python", str(venv.python), *refresh]
        install = subprocess.run(
            [*pip, "--find-links", str(wheelhouse), requirement],
            cwd=workdir,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert install.returncode == 0, install.stderr
        ours = venv.run(
            """
            import json
            from importlib.metadata import distributions

            print(json.dumps({
                d.metadata["Name"]: d.read_text("METADATA")
                for d in distributions()
                if d.metadata["Name"].startswith("pyworkflowy")
            }))
            """
        )
        for name, text in ours.items():
            assert text == wheels[name].metadata_text, f"{name} was not installed from our wheel"
        return venv

    return make


# -- the wheels --------------------------------------------------------------------------------

CODE_DISTRIBUTIONS = [name for name, package in DISTRIBUTIONS.items() if package is not None]
BUNDLED = [name for name in CODE_DISTRIBUTIONS if name not in EXTRA_ONLY]  # in pyworkflowy
PYTHONS = ["3.11", "3.12", "3.13", "3.14"]
PROJECT_URLS = {
    "Homepage": "https://github.com/kiliansen/pyWorkflowy",
    "Issues": "https://github.com/kiliansen/pyWorkflowy/issues",
    "Documentation": "https://github.com/kiliansen/pyWorkflowy/tree/main/docs",
    "Changelog": "https://github.com/kiliansen/pyWorkflowy/blob/main/CHANGELOG.md",
}


def declared_requirements(project: dict[str, Any]) -> set[str]:
    """Requires-Dist as the pyproject declares it: dependencies, then each extra's."""
    found = {str(Requirement(r)) for r in project.get("dependencies", [])}
    for extra, requirements in project.get("optional-dependencies", {}).items():
        for r in requirements:
            requirement = Requirement(r)
            requirement.marker = Requirement(f"x; extra == {extra!r}").marker
            found.add(str(requirement))
    return found


def test_only_the_core_wheel_ships_pyworkflowy_init(wheels: dict[str, Wheel]) -> None:
    owners = sorted(name for name, w in wheels.items() if "pyworkflowy/__init__.py" in w.names)
    assert owners == ["pyworkflowy-core"]


@pytest.mark.parametrize("distribution", CODE_DISTRIBUTIONS)
def test_each_code_wheel_ships_py_typed_in_its_package(
    wheels: dict[str, Wheel], distribution: str
) -> None:
    assert f"{DISTRIBUTIONS[distribution]}/py.typed" in wheels[distribution].names


@pytest.mark.parametrize("distribution", CODE_DISTRIBUTIONS)
def test_each_code_wheel_holds_only_its_own_package(
    wheels: dict[str, Wheel], distribution: str
) -> None:
    def owner(file: str) -> str:
        """The distribution whose package folder is the deepest one holding ``file``."""
        holders = [(len(p), d) for d, p in DISTRIBUTIONS.items() if p and file.startswith(p + "/")]
        return max(holders)[1] if holders else "nobody"

    files = [n for n in wheels[distribution].names if ".dist-info/" not in n and n[-1] != "/"]
    assert files
    assert {owner(file) for file in files} == {distribution}


def test_the_meta_package_wheel_holds_metadata_only(wheels: dict[str, Wheel]) -> None:
    assert all(".dist-info/" in n for n in wheels["pyworkflowy"].names)


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_wheel_version_is_the_pyproject_version(
    wheels: dict[str, Wheel], distribution: str
) -> None:
    assert wheels[distribution].metadata["Version"] == pyproject(distribution)["version"]


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_wheel_requirements_are_the_pyproject_requirements(
    wheels: dict[str, Wheel], distribution: str
) -> None:
    metadata = wheels[distribution].metadata
    project = pyproject(distribution)
    shipped = {str(Requirement(r)) for r in metadata.get_all("Requires-Dist") or []}
    assert shipped == declared_requirements(project)
    assert set(metadata.get_all("Provides-Extra") or []) == set(
        project.get("optional-dependencies", {})
    )
    assert metadata["Requires-Python"] == project["requires-python"] == ">=3.11"


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_sibling_requirements_are_ranges_not_pins(
    wheels: dict[str, Wheel], distribution: str
) -> None:
    siblings = [
        Requirement(r)
        for r in wheels[distribution].metadata.get_all("Requires-Dist") or []
        if r.startswith("pyworkflowy")
    ]
    assert siblings or distribution == "pyworkflowy-core"
    for requirement in siblings:
        assert sorted(s.operator for s in requirement.specifier) == ["<", ">="], requirement


def test_the_meta_package_requires_all_four_distributions(wheels: dict[str, Wheel]) -> None:
    requires = [
        Requirement(r) for r in wheels["pyworkflowy"].metadata.get_all("Requires-Dist") or []
    ]
    assert sorted(r.name for r in requires if r.marker is None) == sorted(BUNDLED)


def test_the_progress_extra_brings_rich(wheels: dict[str, Wheel]) -> None:
    for distribution, wanted in (("pyworkflowy-core", "rich"), ("pyworkflowy", "pyworkflowy-core")):
        requires = [
            Requirement(r) for r in wheels[distribution].metadata.get_all("Requires-Dist") or []
        ]
        named = [r for r in requires if r.marker and r.marker.evaluate({"extra": "progress"})]
        assert [r.name for r in named] == [wanted]
    (core,) = [
        Requirement(r)
        for r in wheels["pyworkflowy"].metadata.get_all("Requires-Dist") or []
        if "progress" in r and r.startswith("pyworkflowy-core")
    ]
    assert core.extras == {"progress"}


@pytest.mark.parametrize("distribution", ["pyworkflowy-core", "pyworkflowy"])
@pytest.mark.parametrize(
    ("extra", "distributions"),
    [
        ("process", ["pyworkflowy-process"]),
        ("persist", ["pyworkflowy-persist"]),
        ("cron", ["pyworkflowy-cron"]),
        ("dask", ["pyworkflowy-dask"]),
        ("all", ["pyworkflowy-cron", "pyworkflowy-persist", "pyworkflowy-process"]),
    ],
)
def test_extras_of_core_and_the_meta_package_name_the_sibling_distributions(
    wheels: dict[str, Wheel], distribution: str, extra: str, distributions: list[str]
) -> None:
    requires = [
        Requirement(r) for r in wheels[distribution].metadata.get_all("Requires-Dist") or []
    ]
    named = sorted(r.name for r in requires if r.marker and r.marker.evaluate({"extra": extra}))
    assert named == distributions


@pytest.mark.parametrize(
    ("distribution", "named_by_otel"),
    [("pyworkflowy-core", "opentelemetry-api"), ("pyworkflowy", "pyworkflowy-core[otel]")],
)
def test_otel_extra_brings_the_opentelemetry_api_alone(
    wheels: dict[str, Wheel], distribution: str, named_by_otel: str
) -> None:
    requires = [
        Requirement(r) for r in wheels[distribution].metadata.get_all("Requires-Dist") or []
    ]
    named = [
        f"{r.name}[{','.join(sorted(r.extras))}]" if r.extras else r.name
        for r in requires
        if r.marker and r.marker.evaluate({"extra": "otel"})
    ]
    assert named == [named_by_otel]


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_wheel_classifiers_name_python_3_11_to_3_14_and_typed(
    wheels: dict[str, Wheel], distribution: str
) -> None:
    classifiers = set(wheels[distribution].metadata.get_all("Classifier") or [])
    expected = {f"Programming Language :: Python :: {v}" for v in PYTHONS} | {"Typing :: Typed"}
    assert expected <= classifiers


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_wheel_is_mit_licensed_and_ships_the_license(
    wheels: dict[str, Wheel], distribution: str
) -> None:
    wheel = wheels[distribution]
    assert wheel.metadata["License-Expression"] == "MIT"
    assert wheel.metadata.get_all("License-File") == ["LICENSE"]
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in wheel.names)


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_wheel_names_the_project_urls(wheels: dict[str, Wheel], distribution: str) -> None:
    urls = dict(
        u.split(", ", 1) for u in wheels[distribution].metadata.get_all("Project-URL") or []
    )
    assert urls == PROJECT_URLS


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_wheel_description_is_the_distribution_readme(
    wheels: dict[str, Wheel], distribution: str
) -> None:
    metadata = wheels[distribution].metadata
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert str(metadata.get_payload()).lstrip().startswith(f"# {distribution}\n")


# -- the install matrix ------------------------------------------------------------------------

# ``report(attempt)`` prints, as JSON, what the exception ``attempt()`` raises is and says.
CATCH = """
import json

def report(attempt):
    try:
        attempt()
    except Exception as exc:
        print(json.dumps({
            "type": type(exc).__name__,
            "is_import_error": isinstance(exc, ImportError),
            "message": str(exc),
        }))
    else:
        print(json.dumps(None))
"""


def hint(extra: str) -> str:
    return f"pip install 'pyworkflowy-core[{extra}]'"


@pytest.fixture(scope="module")
def core_alone(make_venv: MakeVenv) -> Venv:
    return make_venv("pyworkflowy-core")


@pytest.fixture(scope="module")
def core_with_cron(make_venv: MakeVenv) -> Venv:
    return make_venv("pyworkflowy-core", extras=("cron",))


@pytest.fixture(scope="module")
def meta(make_venv: MakeVenv) -> Venv:
    return make_venv("pyworkflowy")


def test_core_alone_installs_no_third_party_package(core_alone: Venv) -> None:
    assert core_alone.installed() == {"pyworkflowy-core": pyproject("pyworkflowy-core")["version"]}


def test_core_alone_runs_a_dag_on_asyncio_and_threads(core_alone: Venv) -> None:
    results = core_alone.run(
        """
        import json
        from pyworkflowy import TaskRunner, task

        @task
        def load():
            return [1, 2, 3]

        @task
        async def count(rows):
            return len(rows.result())

        @task(backend="thread")
        def total(rows, n):
            return sum(rows.result()) * n.result()

        results = {}
        for backend in ("asyncio", "thread"):
            with TaskRunner(backend=backend) as runner:
                rows = load.submit()
                n = count.submit(rows, depends_on=[rows])
                result = total.submit(rows, n, depends_on=[rows, n])
                runner.run()
            results[backend] = result.result()
        print(json.dumps(results))
        """
    )
    assert results == {"asyncio": 18, "thread": 18}


def test_core_alone_import_of_the_scheduler_names_the_cron_extra(core_alone: Venv) -> None:
    error = core_alone.run(CATCH + "report(lambda: __import__('pyworkflowy.schedule'))")
    assert error["type"] == "ModuleNotFoundError"
    assert hint("cron") in error["message"]


def test_core_alone_process_backend_names_the_process_extra(core_alone: Venv) -> None:
    error = core_alone.run(
        CATCH + "from pyworkflowy import TaskRunner\nreport(lambda: TaskRunner(backend='process'))"
    )
    assert error["is_import_error"]
    assert hint("process") in error["message"]


def test_core_alone_dask_backend_names_the_dask_extra(core_alone: Venv) -> None:
    error = core_alone.run(
        CATCH + "from pyworkflowy import TaskRunner\nreport(lambda: TaskRunner(backend='dask'))"
    )
    assert error["is_import_error"]
    assert hint("dask") in error["message"]


def test_core_alone_tracing_names_the_otel_extra(core_alone: Venv) -> None:
    error = core_alone.run(
        CATCH + "from pyworkflowy import TaskRunner\nreport(lambda: TaskRunner(tracing=True))"
    )
    assert error["is_import_error"]
    assert hint("otel") in error["message"]


def test_core_alone_checkpoint_path_names_the_persist_extra(core_alone: Venv) -> None:
    error = core_alone.run(
        CATCH
        + "from pyworkflowy import TaskRunner\n"
        + "report(lambda: TaskRunner(checkpoint_path='state.json'))"
    )
    assert error["is_import_error"]
    assert hint("persist") in error["message"]


# Runs the installed ``pyworkflowy`` console script (next to the venv's interpreter).
RUN_CLI = """
import json, subprocess, sys
from pathlib import Path

def cli(*args):
    name = "pyworkflowy.exe" if sys.platform == "win32" else "pyworkflowy"
    done = subprocess.run(
        [str(Path(sys.executable).parent / name), *args], capture_output=True, text=True
    )
    return {"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
"""


def test_core_alone_console_script_inspect_names_the_persist_extra(core_alone: Venv) -> None:
    result = core_alone.run(
        RUN_CLI
        + "Path('state.json').write_text('{}')\n"
        + "print(json.dumps(cli('inspect', 'state.json')))"
    )
    assert result["rc"] == 2
    assert hint("persist") in result["stderr"]


def test_core_with_cron_extra_brings_croniter_but_not_cloudpickle(core_with_cron: Venv) -> None:
    installed = core_with_cron.installed()
    assert {"pyworkflowy-core", "pyworkflowy-cron", "croniter"} <= set(installed)
    assert not {"cloudpickle", "pyworkflowy-process", "pyworkflowy-persist"} & set(installed)


def test_core_with_cron_extra_scheduler_fires_on_a_fake_clock(core_with_cron: Venv) -> None:
    fired = core_with_cron.run(
        """
        import json
        from pyworkflowy import TaskRunner, task
        from pyworkflowy.schedule import Scheduler

        now = [1_800_000_000.0]  # on a minute boundary

        @task
        def beat(kind):
            return kind

        with TaskRunner() as runner:
            sched = Scheduler(runner=runner, clock=lambda: now[0], tz="UTC")
            sched.every(60).do(beat, "every")
            sched.cron("* * * * *").do(beat, "cron")
            early = sched.tick()
            now[0] += 60
            due = sched.tick()
            runner.run()
        print(json.dumps({"early": len(early), "due": sorted(h.result() for h in due)}))
        """
    )
    assert fired == {"early": 0, "due": ["cron", "every"]}


@pytest.fixture(scope="module")
def core_with_process(make_venv: MakeVenv) -> Venv:
    return make_venv("pyworkflowy-core", extras=("process",))


@pytest.fixture(scope="module")
def core_with_all(make_venv: MakeVenv) -> Venv:
    return make_venv("pyworkflowy-core", extras=("all",))


@pytest.fixture(scope="module")
def persist_by_name(make_venv: MakeVenv) -> Venv:
    return make_venv("pyworkflowy-persist")


@pytest.fixture(scope="module")
def core_with_dask(make_venv: MakeVenv) -> Venv:
    return make_venv("pyworkflowy-core", extras=("dask",))


def test_core_with_process_extra_runs_a_closure_in_a_worker_without_croniter(
    core_with_process: Venv,
) -> None:
    installed = core_with_process.installed()
    assert {"pyworkflowy-core", "pyworkflowy-process", "cloudpickle"} <= set(installed)
    assert not {"croniter", "pyworkflowy-cron", "pyworkflowy-persist"} & set(installed)
    result = core_with_process.run(
        """
        import json
        import os
        from pyworkflowy import TaskRunner

        factor = 3
        with TaskRunner(backend="process", max_workers=1) as runner:
            handle = runner.submit(lambda x: (os.getpid(), x * factor), 7)
            runner.run()
        pid, value = handle.result()
        print(json.dumps({"value": value, "in_a_worker": pid != os.getpid()}))
        """
    )
    assert result == {"value": 21, "in_a_worker": True}


def test_core_with_all_extra_installs_the_three_optional_distributions(core_with_all: Venv) -> None:
    installed = core_with_all.installed()
    expected = {name: pyproject(name)["version"] for name in BUNDLED}
    assert {name: installed.get(name) for name in BUNDLED} == expected
    assert "pyworkflowy" not in installed  # the extra names the parts, not the meta-package
    assert not {"pyworkflowy-dask", "distributed"} & set(installed)  # dask is its own extra
    imported = core_with_all.run(
        """
        import json
        import pyworkflowy.persist, pyworkflowy.process, pyworkflowy.schedule
        print(json.dumps("ok"))
        """
    )
    assert imported == "ok"


def test_core_with_dask_extra_brings_distributed_and_no_other_sibling(core_with_dask: Venv) -> None:
    installed = core_with_dask.installed()
    assert {"pyworkflowy-core", "pyworkflowy-dask", "distributed", "dask"} <= set(installed)
    assert installed["pyworkflowy-dask"] == pyproject("pyworkflowy-dask")["version"]
    siblings = {"pyworkflowy-process", "pyworkflowy-persist", "pyworkflowy-cron", "pyworkflowy"}
    assert not (siblings | {"croniter"}) & set(installed)


def test_core_with_dask_extra_runs_a_closure_on_a_local_cluster_it_starts(
    core_with_dask: Venv,
) -> None:
    result = core_with_dask.run(
        """
        import json
        import os
        from pyworkflowy import TaskRunner, current_task
        from pyworkflowy.dask import DaskBackend

        factor = 3
        backend = DaskBackend(n_workers=1, dashboard_address=":0")  # one worker process
        with TaskRunner(backends={"dask": backend}, backend="dask") as runner:
            handle = runner.submit(lambda x: (os.getpid(), current_task().attempt, x * factor), 7)
            runner.run()
            cluster = backend.cluster
        pid, attempt, value = handle.result()
        print(json.dumps({
            "value": value,
            "attempt": attempt,
            "in_a_worker": pid != os.getpid(),
            "closed": cluster.status.name,
        }))
        """
    )
    assert result == {"value": 21, "attempt": 1, "in_a_worker": True, "closed": "closed"}


def test_a_sibling_installed_by_its_own_name_brings_core_and_works(persist_by_name: Venv) -> None:
    installed = persist_by_name.installed()
    assert {"pyworkflowy-core", "pyworkflowy-persist"} <= set(installed)
    assert not {"cloudpickle", "croniter", "pyworkflowy-process"} & set(installed)
    calls = persist_by_name.run(
        """
        import json
        from pyworkflowy import TaskRunner, task

        calls = []

        @task
        def fetch(page):
            calls.append(page)
            return page * 10

        with TaskRunner(checkpoint_path="state.json") as runner:
            fetch.map([1, 2])
            runner.run()
        with TaskRunner.resume("state.json") as runner:
            handles = fetch.map([1, 2, 3])
            runner.run()
        print(json.dumps({"calls": calls, "results": [h.result() for h in handles]}))
        """
    )
    assert calls == {"calls": [1, 2, 3], "results": [10, 20, 30]}


def test_meta_package_installs_every_distribution_but_the_extras(meta: Venv) -> None:
    installed = meta.installed()
    bundled = [name for name in DISTRIBUTIONS if name not in EXTRA_ONLY]
    expected = {name: pyproject(name)["version"] for name in bundled}
    assert {name: installed.get(name) for name in bundled} == expected
    assert {"cloudpickle", "croniter"} <= set(installed)
    assert not {"pyworkflowy-dask", "distributed", "dask"} & set(installed)


def test_meta_package_runs_a_lambda_on_the_process_backend(meta: Venv) -> None:
    result = meta.run(
        """
        import json
        import os
        from pyworkflowy import TaskRunner

        with TaskRunner(backend="process", max_workers=1) as runner:
            handle = runner.submit(lambda x: (os.getpid(), x * 2), 21)
            runner.run()
        pid, value = handle.result()
        print(json.dumps({"value": value, "in_a_worker": pid != os.getpid()}))
        """
    )
    assert result == {"value": 42, "in_a_worker": True}


def test_meta_package_resumes_from_a_sqlite_checkpoint(meta: Venv) -> None:
    result = meta.run(
        """
        import json
        from pyworkflowy import TaskRunner, task

        calls = []

        @task
        def square(x):
            calls.append(x)
            return x * x

        with TaskRunner(checkpoint_path="state.db") as runner:
            square.map([1, 2])
            runner.run()
            kind = type(runner.checkpointer).__name__

        with TaskRunner.resume("state.db") as runner:
            handles = square.map([1, 2, 3])
            runner.run()
        print(json.dumps({
            "checkpointer": kind,
            "results": [h.result() for h in handles],
            "calls": sorted(calls),  # sync bodies run on threads, in any order
        }))
        """
    )
    assert result == {
        "checkpointer": "SQLiteCheckpointer",
        "results": [1, 4, 9],
        "calls": [1, 2, 3],
    }


def test_meta_package_console_script_inspects_a_checkpoint(meta: Venv) -> None:
    result = meta.run(
        RUN_CLI
        + """
from pyworkflowy import TaskRunner, task

@task
def square(x):
    return x * x

with TaskRunner(checkpoint_path="cli.db") as runner:
    square.map([1, 2])
    runner.run()
print(json.dumps(cli("inspect", "cli.db", "--json")))
"""
    )
    assert result["rc"] == 0, result["stderr"]
    assert json.loads(result["stdout"])["summary"]["statuses"] == {"completed": 2}


@pytest.mark.parametrize(
    "index", range(len(re.findall(r"^```python\n", README_META.read_text(), re.M)))
)
def test_meta_package_readme_examples_run_where_it_is_installed(meta: Venv, index: int) -> None:
    """The meta-package README is its index page: each example runs after installing it."""
    block = re.findall(r"^```python\n(.*?)^```", README_META.read_text(), re.S | re.M)[index]
    assert meta.run(block + "\nimport json\nprint(json.dumps('ok'))") == "ok"

"""The ``pyworkflowy`` command without a checkpoint: help, version, usage errors.

Run as a user runs it: ``python -m pyworkflowy`` in a subprocess, and the console script
the install put next to the interpreter. tests/persist/test_cli_inspect.py reads
checkpoints with it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import pyworkflowy


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyworkflowy", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_no_command_prints_help_to_stderr_and_exits_2() -> None:
    done = cli()
    assert done.returncode == 2
    assert done.stdout == ""
    assert "usage: pyworkflowy" in done.stderr
    assert "inspect" in done.stderr


def test_help_lists_the_commands_and_exits_0() -> None:
    done = cli("--help")
    assert done.returncode == 0
    assert done.stdout.startswith("usage: pyworkflowy")
    assert "inspect" in done.stdout
    assert "Exit codes" in done.stdout


def test_inspect_has_help() -> None:
    done = cli("inspect", "--help")
    assert done.returncode == 0
    for option in ("CHECKPOINT", "--status", "--json", "--trust"):
        assert option in done.stdout


def test_version_prints_the_core_version() -> None:
    done = cli("--version")
    assert done.returncode == 0
    assert done.stdout == f"pyworkflowy-core {pyworkflowy.__version__}\n"


@pytest.mark.parametrize(
    "args",
    [["frobnicate"], ["inspect"], ["inspect", "x.json", "--status", "done"], ["--nope"]],
    ids=["unknown command", "no checkpoint", "unknown status", "unknown option"],
)
def test_usage_errors_exit_2_with_a_message(args: list[str]) -> None:
    done = cli(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "error:" in done.stderr


def test_a_missing_checkpoint_exits_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    done = cli("inspect", str(missing))
    assert done.returncode == 2
    assert done.stdout == ""
    assert (
        done.stderr
        == f"pyworkflowy inspect: error: the checkpoint {str(missing)!r} does not exist\n"
    )


def test_without_pyworkflowy_persist_inspect_exits_2_with_the_install_hint(
    tmp_path: Path,
) -> None:
    checkpoint = tmp_path / "run.json"
    checkpoint.write_text("{}")
    # None in sys.modules makes the import fail, as when the distribution is not installed.
    code = (
        "import sys; sys.modules['pyworkflowy.persist'] = None; "
        "from pyworkflowy._cli import main; sys.exit(main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "inspect", str(checkpoint)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "pip install 'pyworkflowy-core[persist]'" in done.stderr


def test_the_console_script_is_installed_next_to_the_interpreter() -> None:
    script = Path(sys.executable).parent / (
        "pyworkflowy.exe" if sys.platform == "win32" else "pyworkflowy"
    )
    assert script.is_file()
    done = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0
    assert done.stdout == f"pyworkflowy-core {pyworkflowy.__version__}\n"


def test_importing_pyworkflowy_does_not_import_the_cli() -> None:
    code = (
        "import sys, pyworkflowy; "
        "print('pyworkflowy._cli' in sys.modules, 'argparse' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["False", "False"]

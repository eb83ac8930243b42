"""`running`, a Python program run in a child process, shared by the tests that signal one.

Not a test module (pytest collects ``test_*.py`` only). The tests import it as
``tests._children``: with ``--import-mode=importlib`` pytest names each test module after its
path from the rootdir and makes ``tests`` a namespace package.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def running(script: Path, program: str) -> Generator[subprocess.Popen[str], None, None]:
    """``program``, written to ``script``, run by this Python in a child process.

    Its stdout and stderr are pipes of text, and SIGINT is at its default in it (POSIX
    only). The child is killed if it still runs when the block ends (a failed test).
    """
    script.write_text(program)
    child = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a child started in the background may inherit SIGINT ignored: restore the default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()


def read_line(child: subprocess.Popen[str]) -> str:
    """The next line ``child`` prints, once it has printed it."""
    assert child.stdout is not None
    return child.stdout.readline()

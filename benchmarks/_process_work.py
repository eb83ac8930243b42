"""Work functions for bench_process.py, in an importable module.

Both pools get them by reference (module and name): the raw `ProcessPoolExecutor` needs
that, and it is how real code reaches pyworkflowy's process backend too.
"""

from __future__ import annotations


def trivial(x: int) -> int:
    """The no-op whose cost is all overhead."""
    return x


def cpu_bound(n: int) -> int:
    """About 10-20 ms of pure-Python work for n = 1,000,000."""
    return sum(range(n))

"""Upstream 0.2-0.4's process pools under names of their own run on the process backend."""

from __future__ import annotations

import os

import pytest
from pyworkflowy import Pool, TaskRunner, task


@task(backend="cpu")
def pid() -> int:
    return os.getpid()


def test_a_process_pool_of_any_name_is_a_process_backend() -> None:
    with pytest.deprecated_call(match="TaskRunner\\(pools=...\\)"):
        runner = TaskRunner(pools={"cpu": Pool("cpu", kind="process", max_workers=1)})
    with runner:
        handle = runner.submit(pid)
        runner.run()
    assert handle.result() != os.getpid()
    assert runner.max_workers == {"cpu": 1}

"""The pyworkflowy-process README: its example runs as written, on worker processes."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "packages" / "pyworkflowy-process" / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(), re.S | re.M)


def test_the_readme_example_runs_its_tasks_in_worker_processes() -> None:
    (block,) = BLOCKS
    # The same program, plus one task that reports the process it ran in.
    block = block.replace(
        "    runner.run()\n",
        "    pid = runner.submit(os.getpid, key='pid')\n    runner.run()\n",
    )
    namespace: dict[str, Any] = {"__name__": "process_readme", "os": os}
    exec(compile(block, f"{README.name} example", "exec"), namespace)

    handles = namespace["handles"]
    assert [h.result() for h in handles] == [sum(i * i for i in range(n)) for n in (10**6, 10**7)]
    assert namespace["anonymous"].result() == "lambdas work too"
    assert namespace["pid"].result() != os.getpid()  # plain callables run in worker processes
    Resize = namespace["Resize"]
    assert Resize().backend == "process"

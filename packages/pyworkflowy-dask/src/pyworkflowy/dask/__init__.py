"""pyworkflowy-dask: ``backend="dask"``, task bodies on a ``dask.distributed`` cluster.

Core finds it through the ``pyworkflowy.backends`` entry point ``dask``; pass an instance
to configure it: ``TaskRunner(backends={"dask": DaskBackend(address="tcp://host:8786")})``.

Version 0.1.0 is the first increment. Done: sync and async bodies (lambdas and closures
too), ``current_task()`` in the body (name, id, attempt, ``cancel_event``,
``report_progress``), upstream outputs as arguments, pyworkflowy's retries, backoff and
timeouts (dask's own retries are off), submit-time errors for arguments that cannot
travel, a worker that dies failing its attempt (`WorkerDiedError`), the idempotency key,
and stopping: a cancelled or timed-out attempt's dask future is cancelled (queued work
never starts), its body's ``cancel_event`` is set and the body is interrupted on its
worker (the worker restarted if the body still runs ``stop_grace`` seconds later). Not yet:
`TaskHandle` arguments (pass ``handle.output``), out-of-band buffers for large arguments,
and sizing the runner's slots from the cluster (use ``max_workers={"dask": n}``).
"""

from ._backend import DaskBackend
from ._errors import SerializationError, TaskLostError, WorkerDiedError

__version__ = "0.1.0"

__all__ = ["DaskBackend", "SerializationError", "TaskLostError", "WorkerDiedError", "__version__"]

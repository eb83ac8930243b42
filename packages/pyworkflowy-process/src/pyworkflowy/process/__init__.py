"""pyworkflowy-process: the ``backend="process"`` of pyworkflowy.

Core finds this package by import name (``from pyworkflowy.process import ProcessBackend``
when a task or runner asks for ``backend="process"``); it does not go through the
``pyworkflowy.backends`` entry-point group, which is for third-party backends.
"""

from ._backend import ProcessBackend
from ._errors import SerializationError, WorkerDiedError

__version__ = "0.2.0"

__all__ = ["ProcessBackend", "SerializationError", "WorkerDiedError", "__version__"]

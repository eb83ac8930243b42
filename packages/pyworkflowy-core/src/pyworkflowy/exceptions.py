"""The exception classes, importable as ``pyworkflowy.exceptions`` (upstream 0.x's home).

The same classes as ``from pyworkflowy import TaskError, ...``: not copies.

    >>> import pyworkflowy
    >>> from pyworkflowy.exceptions import TaskTimeoutError
    >>> TaskTimeoutError is pyworkflowy.TaskTimeoutError
    True
"""

from ._errors import *  # noqa: F403 - the module is the public home of these names
from ._errors import __all__ as __all__

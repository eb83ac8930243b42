"""What ``submit`` and ``map`` take as dependencies, and upstream 0.4's submit keywords.

Apart from `_submit` (which needs the engine) so that ``import pyworkflowy`` need not load
the engine: `_building`, a base of `TaskRunner`, uses these on every submission.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._handle import TaskHandle

__all__ = ["UPSTREAM_SUBMIT", "as_deps"]

UPSTREAM_SUBMIT = frozenset({"args", "payload", "source", "dedup_key"})  # 0.4's keywords


def as_deps(depends_on: Iterable[TaskHandle] | TaskHandle | None) -> tuple[TaskHandle, ...]:
    """``depends_on`` as a tuple: one handle, ``None`` (no dependency) or an iterable of them."""
    if depends_on.__class__ is tuple:
        return depends_on  # type: ignore[return-value]
    if isinstance(depends_on, TaskHandle):
        return (depends_on,)
    if depends_on is None:
        return ()
    if isinstance(depends_on, (str, bytes)) or not isinstance(depends_on, Iterable):
        raise TypeError(f"depends_on takes a TaskHandle or an iterable of them, got {depends_on!r}")
    return tuple(depends_on)

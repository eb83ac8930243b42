"""Argument checks shared by tasks and runners, so every option fails the same clear way."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .backends import Backend

__all__ = [
    "check_backends",
    "check_choice",
    "check_int",
    "check_seconds",
    "check_workers",
    "is_number",
]


def is_number(value: object) -> bool:
    """An int or float, but not a bool (``True`` is not a count or a duration)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_int(value: object, what: str, minimum: int) -> int:
    """``value`` as an int >= ``minimum``; `ValueError` naming ``what`` otherwise."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


def check_seconds(
    value: object, what: str, *, positive: bool = False, finite: bool = True, hint: str = ""
) -> float:
    """``value`` as a float of seconds, >= 0 (> 0 with ``positive``), finite unless told."""
    ok = is_number(value) and not math.isnan(value)  # type: ignore[arg-type]
    if ok:
        number = float(value)  # type: ignore[arg-type]
        ok = (number > 0 if positive else number >= 0) and (not finite or math.isfinite(number))
    if not ok:
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{what} must be a number of seconds {bound}{hint}, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def check_choice(value: object, what: str, choices: Collection[str]) -> str:
    """``value`` if it is one of ``choices``; `ValueError` listing them otherwise."""
    if value not in choices:
        raise ValueError(f"{what} must be one of {tuple(choices)}, got {value!r}")
    return value  # type: ignore[return-value]


def check_workers(max_workers: object) -> tuple[int, dict[str, int]]:
    """``max_workers`` as (default, {backend: workers}): an int >= 1 or a mapping of them."""
    if isinstance(max_workers, Mapping):
        per_backend: dict[str, int] = {}
        for name, count in max_workers.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"max_workers keys must be backend names, got {name!r}")
            per_backend[name] = check_int(count, f"max_workers[{name!r}]", 1)
        return 8, per_backend
    return check_int(max_workers, "max_workers", 1), {}


def check_backends(backends: object) -> dict[str, Backend]:
    """``backends=`` checked: a mapping of non-empty names to `Backend` instances."""
    from .backends import Backend

    if backends is None:
        return {}
    if not isinstance(backends, Mapping):
        raise TypeError(f"backends must be a mapping of name to Backend, got {backends!r}")
    for name, backend in backends.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"backends keys must be non-empty names, got {name!r}")
        if not isinstance(backend, Backend):
            raise TypeError(
                f"backends[{name!r}] must be a pyworkflowy.backends.Backend, got {backend!r}"
            )
    return dict(backends)

"""Argument checks shared by tasks and runners, so every option fails the same clear way."""

from __future__ import annotations

import math
from collections.abc import Collection

__all__ = ["check_choice", "check_int", "check_seconds", "is_number"]


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

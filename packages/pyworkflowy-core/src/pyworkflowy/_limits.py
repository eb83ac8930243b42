"""What ``TaskRunner(limits=..., rate_limits=...)`` accepts: checked limits, and rates
parsed into `RateLimit`. Imported when limits are given (the gates are in `_gates`)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import NamedTuple

from ._validate import check_int, is_number

__all__ = ["RateLimit", "check_limits", "check_rate_limits", "check_tag", "parse_rate"]

_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600.0),
    **dict.fromkeys(("d", "day", "days"), 86400.0),
}
_RATE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*/\s*([a-z]+)\s*", re.IGNORECASE)


class RateLimit(NamedTuple):
    """A rate: ``per_second`` starts a second on average, ``burst`` of them at once at most.

    With ``burst=1`` (the default) starts are spaced ``1 / per_second`` apart, so no
    window of any length holds more than its share (plus the one at its start).
    """

    per_second: float
    burst: int = 1


def parse_rate(spec: object, what: str) -> RateLimit:
    """``spec`` as a `RateLimit`: ``"10/s"``, ``"600/min"``, ``"5/h"``, ``"100/day"``, a
    number per second, ``(rate, burst)`` or a `RateLimit`; `ValueError` naming ``what``."""
    burst: object = 1
    rate = spec
    if isinstance(spec, tuple):
        if len(spec) != 2:
            raise ValueError(f"{what} takes (rate, burst), got {spec!r}")
        rate, burst = spec
    if isinstance(rate, str):
        match = _RATE.fullmatch(rate)
        unit = None if match is None else _UNITS.get(match[2].lower())
        if match is None or unit is None:
            raise ValueError(
                f"{what} must look like '10/s', '600/min', '5/h' or '100/day', got {rate!r}"
            )
        per_second = float(match[1]) / unit
    elif is_number(rate):
        per_second = float(rate)  # type: ignore[arg-type]
    else:
        raise ValueError(
            f"{what} must be a rate such as '10/s' or '600/min', a number per second, or "
            f"(rate, burst), got {spec!r}"
        )
    if not per_second > 0 or not math.isfinite(per_second):
        raise ValueError(f"{what} must be a rate > 0, got {spec!r}")
    return RateLimit(per_second, check_int(burst, f"the burst of {what}", 1))


def check_limits(limits: object) -> dict[str, int]:
    """``limits=`` checked: a mapping of tag to an int >= 1."""
    if limits is None:
        return {}
    if not isinstance(limits, Mapping):
        raise TypeError(f"limits must be a mapping of tag to a number of tasks, got {limits!r}")
    checked = {}
    for tag, limit in limits.items():  # type: ignore[attr-defined]
        check_tag(tag, "limits keys")
        checked[tag] = check_int(limit, f"limits[{tag!r}]", 1)
    return checked


def check_rate_limits(rate_limits: object) -> dict[str, RateLimit]:
    """``rate_limits=`` checked: a mapping of tag to a rate (see `parse_rate`)."""
    if rate_limits is None:
        return {}
    if not isinstance(rate_limits, Mapping):
        raise TypeError(f"rate_limits must be a mapping of tag to a rate, got {rate_limits!r}")
    checked = {}
    for tag, spec in rate_limits.items():  # type: ignore[attr-defined]
        check_tag(tag, "rate_limits keys")
        checked[tag] = parse_rate(spec, f"rate_limits[{tag!r}]")
    return checked


def check_tag(tag: object, what: str) -> None:
    """A tag is a non-empty string."""
    if not isinstance(tag, str) or not tag:
        raise ValueError(f"{what} must be non-empty tags (strings), got {tag!r}")

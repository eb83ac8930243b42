"""Wall-clock time in a time zone: resolving ``tz=`` and mapping local times to instants.

Only UTC-to-local conversion (``datetime.fromtimestamp(t, tz)``) is trusted, because every
tzinfo implements it exactly; local-to-UTC is solved from it. That covers zoneinfo, the
local zone from dateutil, fixed offsets and pytz zones alike.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, tzinfo

__all__ = [
    "gap_end",
    "instants",
    "local_time",
    "offset_at",
    "offset_change",
    "resolve_tz",
    "wall_to_instant",
]

_EPOCH = datetime(1970, 1, 1)
_DAY = 86400


def resolve_tz(tz: str | tzinfo | None) -> tzinfo:
    """``tz=`` as a tzinfo: a zoneinfo name, a tzinfo object, or ``None`` for local time."""
    if tz is None:
        from dateutil.tz import tzlocal

        return tzlocal()
    if isinstance(tz, tzinfo):
        return tz
    if isinstance(tz, str):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"tz={tz!r} is not a known time zone name (e.g. 'Europe/Berlin', 'UTC')"
            ) from exc
    raise TypeError(f"tz must be a zone name, a tzinfo or None, got {type(tz).__name__}")


def local_time(t: float, tz: tzinfo) -> datetime:
    """The aware local datetime of instant ``t`` (epoch seconds), fold set in repeated hours."""
    return datetime.fromtimestamp(t, tz)


def offset_at(t: float, tz: tzinfo) -> float:
    """The UTC offset of ``tz`` at instant ``t``, in seconds."""
    offset = datetime.fromtimestamp(t, tz).utcoffset()
    return 0.0 if offset is None else offset.total_seconds()


_offset = offset_at


def _first_change(low: int, high: int, offset: float, tz: tzinfo) -> int:
    """The first second after ``low`` (whose offset is ``offset``) with another offset,
    knowing that ``high`` has another one."""
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(middle, tz) == offset:
            low = middle
        else:
            high = middle
    return high


def offset_change(start: float, end: float, offset: float, tz: tzinfo) -> float | None:
    """The first instant in (start, end] whose UTC offset is not ``offset``, or ``None``.

    Offsets change at whole seconds, and (in every real zone) less than once a day, so a
    probe a day apart cannot step over a change and back.
    """
    probe = start
    while probe < end:
        low, probe = probe, min(probe + _DAY, end)
        if _offset(probe, tz) != offset:
            return float(_first_change(math.floor(low), math.ceil(probe), offset, tz))
    return None


def _wall(t: float, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(t, tz).replace(tzinfo=None, fold=0)


def instants(wall: datetime, tz: tzinfo) -> list[float]:
    """Every instant whose local time in ``tz`` is the naive ``wall``, earliest first.

    One normally; none in a spring-forward gap; two in a fall-back hour.
    """
    micro = wall.microsecond
    whole = wall.replace(microsecond=0, fold=0, tzinfo=None)
    base = (whole - _EPOCH) // timedelta(seconds=1)
    offsets = {_offset(base - _DAY, tz), _offset(base + _DAY, tz), _offset(base, tz)}
    found = sorted({base - o for o in offsets if _wall(base - o, tz) == whole})
    return [t + micro / 1e6 for t in found]


def gap_end(wall: datetime, tz: tzinfo) -> float:
    """The instant a spring-forward gap containing the nonexistent ``wall`` ends."""
    whole = wall.replace(microsecond=0, fold=0, tzinfo=None)
    base = (whole - _EPOCH) // timedelta(seconds=1)
    before, after = _offset(base - _DAY, tz), _offset(base + _DAY, tz)
    # Before the transition the offset is ``before``; the gap's wall times lie between.
    lo, hi = base - after - 1, base - before  # offset(lo) == before, offset(hi) == after
    if _offset(hi, tz) == _offset(lo, tz):  # not a simple gap: fall back to a scan
        t = base - before
        while _wall(t, tz) <= whole:
            t += 60
        return float(t)
    return float(_first_change(int(lo), int(hi), before, tz))


def wall_to_instant(wall: datetime, tz: tzinfo) -> float:
    """The instant a naive local time means in ``tz``.

    A time in a repeated hour takes ``wall.fold`` (0: the first pass, 1: the second); a
    time that does not exist (a spring-forward gap) means the instant the gap ends.
    """
    found = instants(wall, tz)
    if not found:
        return gap_end(wall, tz)
    return found[-1] if wall.fold and len(found) > 1 else found[0]

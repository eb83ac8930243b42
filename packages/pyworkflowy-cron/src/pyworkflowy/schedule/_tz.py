"""Wall-clock time in a time zone: resolving ``tz=`` and mapping local times to instants.

Only UTC-to-local conversion (``datetime.fromtimestamp(t, tz)``) is trusted, because every
tzinfo implements it exactly; local-to-UTC is solved from it. That covers zoneinfo, the
local zone from dateutil, fixed offsets and pytz zones alike.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

__all__ = ["instants", "local_time", "resolve_tz", "wall_to_instant"]

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


def _offset(t: float, tz: tzinfo) -> float:
    offset = datetime.fromtimestamp(t, tz).utcoffset()
    return 0.0 if offset is None else offset.total_seconds()


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
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset(mid, tz) == after:
            hi = mid
        else:
            lo = mid
    return float(hi)


def wall_to_instant(wall: datetime, tz: tzinfo) -> float:
    """The instant a naive local time means in ``tz``.

    A time in a repeated hour takes ``wall.fold`` (0: the first pass, 1: the second); a
    time that does not exist (a spring-forward gap) means the instant the gap ends.
    """
    found = instants(wall, tz)
    if not found:
        return gap_end(wall, tz)
    return found[-1] if wall.fold and len(found) > 1 else found[0]

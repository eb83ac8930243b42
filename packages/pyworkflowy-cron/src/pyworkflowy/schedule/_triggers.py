"""Interval, cron and one-shot ``at`` triggers: when a job is due, apart from the Scheduler."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, tzinfo

from ._cron import CronExpression
from ._events import _OnEvent
from ._tz import local_time, wall_to_instant


def _seconds(value: object, what: str, minimum: float, strict: bool) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number of seconds, got {value!r}")
    if value < minimum or (strict and value == minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{what} must be {relation} {minimum:g} seconds, got {value!r}")
    return float(value)


def _in_range(instant: float) -> bool:
    """Whether a date can hold the epoch time ``instant`` (years 1 to 9999)."""
    try:
        datetime.fromtimestamp(instant, UTC)
    except (OverflowError, OSError, ValueError):
        return False
    return True


def _interval(seconds: float, now: float) -> _Interval:
    """The trigger of `Scheduler.every`: its first time must be later than ``now`` and a
    date: an interval below the clock's resolution at ``now`` could never move on."""
    if now + seconds <= now:
        least = math.nextafter(now, math.inf) - now
        raise ValueError(
            f"every() interval {seconds:g} s is too small for the clock to advance by at its "
            f"time {now:g}: use at least {least:g} s"
        )
    if not _in_range(now + seconds):
        raise ValueError(
            f"every() interval {seconds:g} s puts the first run past any date "
            "(year 9999): use a shorter interval"
        )
    return _Interval(seconds)


class _Interval:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def first(self, now: float) -> float:
        return now + self.seconds

    def after(self, due: float, now: float) -> float | None:
        """The next due time in phase with ``due`` that is later than ``now``."""
        step = self.seconds
        missed = math.floor((now - due) / step) + 1 if now >= due else 1
        nxt = due + missed * step
        while nxt <= now:  # float rounding
            moved = nxt + step
            if moved <= nxt:  # a step below the clock's resolution here: the next instant
                return math.nextafter(now, math.inf)
            nxt = moved
        return nxt

    def describe(self, tz: tzinfo) -> str:
        return f"every {self.seconds:g}s"


class _Cron:
    def __init__(self, expr: CronExpression, tz: tzinfo) -> None:
        self.expr = expr
        self.tz = tz

    def first(self, now: float) -> float:
        return self.expr.next_instant(now, self.tz)

    def after(self, due: float, now: float) -> float | None:
        return self.expr.next_instant(max(due, now), self.tz, fired=due)

    def describe(self, tz: tzinfo) -> str:
        return f"cron {self.expr.expression!r}"


class _Once:
    def __init__(self, when: float) -> None:
        self.when = when

    def first(self, now: float) -> float:
        return self.when

    def after(self, due: float, now: float) -> float | None:
        return None

    def describe(self, tz: tzinfo) -> str:
        return f"at {local_time(self.when, tz).isoformat()}"


_Trigger = _Interval | _Cron | _Once | _OnEvent


def _once(when: datetime | float, tz: tzinfo) -> _Once:
    """The trigger of `Scheduler.at`: ``when`` is an aware datetime, a naive one or epoch."""
    if isinstance(when, datetime):
        if when.tzinfo is not None and when.utcoffset() is not None:
            instant = when.timestamp()
        else:
            instant = wall_to_instant(when.replace(tzinfo=None), tz)
    elif isinstance(when, (int, float)) and not isinstance(when, bool):
        if not math.isfinite(when):
            raise ValueError(f"at() needs a finite epoch time, got {when!r}")
        instant = float(when)
        if not _in_range(instant):
            raise ValueError(f"at() needs an epoch time within the years 1 to 9999, got {when!r}")
    else:
        raise TypeError(f"at() takes a datetime or epoch seconds, got {type(when).__name__}")
    return _Once(instant)

"""Cron expressions: validated by `parse_cron`, iterated by croniter in wall-clock time.

croniter computes the next matching *wall-clock* time (naive datetimes, pure calendar
arithmetic). Mapping a wall-clock time to an instant in a time zone is done here, with
Debian (Vixie) cron's rule for DST changes:

- A job with ``*`` at the start of its minute or hour field (``*/15 * * * *``,
  ``0 * * * *``, ``@hourly``) runs by real time: at every instant whose local time
  matches. It fires twice in a repeated hour and not at all for the times a
  spring-forward gap skips.
- A job at particular times (``30 2 * * *``) fires once per matching wall-clock time: in
  a repeated hour on the first pass only, and the matching times inside a spring-forward
  gap fire once, when the gap ends.

croniter's own tz-aware mode does neither, which is why it is not used.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo
from typing import Any

from croniter import CroniterBadDateError, CroniterError, croniter

from ._tz import gap_end, instants, local_time, offset_at, offset_change

__all__ = ["CronExpression", "parse_cron"]

FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week", "second")
_RANGES = ("0-59", "0-23", "1-31", "1-12 or jan-dec", "0-7 or sun-sat (0 and 7: Sunday)", "0-59")
_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_HASHED = re.compile(r"(^|[,\s])[hr](\(|/|,|$)", re.IGNORECASE)
_SINGLE_RANGE = re.compile(r"^(\w+)-(\w+)(?:/\d+)?$")
_DOM, _DOW = 2, 4
_FULL: dict[int, set[Any]] = {_DOM: set(range(1, 32)), _DOW: set(range(7))}
_PROBE_START = datetime(2000, 1, 1)  # never-matching check: search 50 years from here


class CronExpression:
    """A validated cron expression; ask it for fire times with `next` or `iter`.

    Naive datetimes are wall-clock times (pure calendar, no time zone). Aware datetimes
    are instants: the result is in the same tzinfo, with the scheduler's DST rules.
    """

    __slots__ = (
        "_iter",
        "_lock",
        "_sets",
        "expression",
        "fields",
        "has_seconds",
        "real_time",
    )

    def __init__(self, expression: str, fields: tuple[str, ...], itr: croniter) -> None:
        self.expression = expression
        self.fields = fields
        self.has_seconds = len(fields) == 6
        self.real_time = fields[0].startswith("*") or fields[1].startswith("*")
        """True when the minute or hour field starts with ``*``: the job runs by real
        time across DST changes (Debian cron's rule; see the module docstring)."""
        self._iter = itr
        self._lock = threading.Lock()
        self._sets: tuple[frozenset[int], ...] | None = None

    # -- the value sets (upstream pyworkflowy 0.x's view of an expression) -----------------
    def _values(self, index: int) -> frozenset[int]:
        if self._sets is None:
            expanded = croniter.expand(" ".join(self.fields))[0]
            nearest = "w" in self.fields[_DOM].lower()
            self._sets = tuple(
                _value_set(expanded[i], i, nearest) if i < len(expanded) else frozenset({0})
                for i in range(6)
            )
        return self._sets[index]

    @property
    def minute(self) -> frozenset[int]:
        """The minutes (0-59) the expression can fire at."""
        return self._values(0)

    @property
    def hour(self) -> frozenset[int]:
        """The hours (0-23)."""
        return self._values(1)

    @property
    def day_of_month(self) -> frozenset[int]:
        """The days of the month (1-31); ``L`` and ``W`` add the days they can fall on."""
        return self._values(2)

    @property
    def month(self) -> frozenset[int]:
        """The months (1-12)."""
        return self._values(3)

    @property
    def day_of_week(self) -> frozenset[int]:
        """The days of the week, 0 (Sunday) to 6 (Saturday); ``7`` is read as 0."""
        return self._values(4)

    @property
    def second(self) -> frozenset[int]:
        """The seconds (0-59): ``{0}`` for a five-field expression."""
        return self._values(5)

    @property
    def source(self) -> str:
        """The expression as it was given (upstream's name for `expression`)."""
        return self.expression

    def matches(self, when: datetime) -> bool:
        """Whether the wall-clock time of ``when`` is a fire time (to the minute or second).

        Exact, ``L``, ``W``, ``#`` and the day-of-month/day-of-week rule included; an aware
        datetime is read in its own time zone.
        """
        if not isinstance(when, datetime):
            raise TypeError(f"matches() takes a datetime, got {type(when).__name__}")
        wall = when.replace(tzinfo=None, microsecond=0)
        if not self.has_seconds:
            wall = wall.replace(second=0)
        return self.next_wall(wall - timedelta(seconds=1)) == wall

    def next_after(self, after: datetime) -> datetime:
        """The first fire time strictly after ``after``: the same as `next`.

        Naive datetimes are wall-clock times; an aware one gives the next instant in its
        time zone, a repeated hour firing once and a skipped one when it ends.
        """
        return self.next(after)

    def next_wall(self, after: datetime) -> datetime:
        """The first matching wall-clock time strictly after the naive ``after``."""
        with self._lock:
            result: Any = self._iter.get_next(datetime, start_time=after)
        return result

    def next_instant(self, after: float, tz: tzinfo, fired: float | None = None) -> float:
        """The first fire instant (epoch seconds) strictly after instant ``after`` in ``tz``.

        Wall-clock times at or before the wall-clock time of ``after`` count as done, so
        a repeated hour fires once; times in a spring-forward gap fire when it ends.
        ``fired`` is the previous due instant (fired, or dropped by the misfire policy or
        ``max_instances``): wall-clock times up to its wall-clock time are done too, which
        matters when ``after`` falls in the second pass of a repeated hour (a late tick)
        while that due time was in the first. A `real_time` expression instead fires at
        the first instant after ``after`` whose local time matches.
        """
        if self.real_time:
            return self._next_real_time(after if fired is None else max(after, fired), tz)
        wall = local_time(after, tz).replace(tzinfo=None, fold=0)
        if fired is not None:
            wall = max(wall, local_time(fired, tz).replace(tzinfo=None, fold=0))
        while True:
            wall = self.next_wall(wall)
            found = instants(wall, tz)
            if not found:
                return gap_end(wall, tz)
            for t in found:
                if t > after:
                    return t

    def _next_real_time(self, after: float, tz: tzinfo) -> float:
        """The first instant after ``after`` whose local time in ``tz`` matches.

        Between two changes of the UTC offset, local time runs with real time, so the
        next matching wall-clock time is the answer unless the offset changes first;
        then the search goes on from the change, in the new offset.
        """
        start, wall = after, local_time(after, tz).replace(tzinfo=None, fold=0)
        while True:
            offset = offset_at(start, tz)
            found = self.next_wall(wall)
            t = (found - _EPOCH).total_seconds() - offset
            change = offset_change(start, t, offset, tz)
            if change is None:
                return t
            start = change
            wall = local_time(change, tz).replace(tzinfo=None, fold=0) - _TICK

    def next(self, after: datetime) -> datetime:
        """The first fire time strictly after ``after`` (naive: wall clock; aware: instant)."""
        if not isinstance(after, datetime):
            raise TypeError(f"after must be a datetime, got {type(after).__name__}")
        tz = after.tzinfo
        if tz is None or after.utcoffset() is None:
            return self.next_wall(after.replace(tzinfo=None))
        return local_time(self.next_instant(after.timestamp(), tz), tz)

    def iter(self, after: datetime) -> Iterator[datetime]:
        """Successive fire times after ``after`` (an endless iterator)."""
        current = after
        while True:
            current = self.next(current)
            yield current

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CronExpression):
            return NotImplemented
        return self.fields == other.fields

    def __hash__(self) -> int:
        return hash(self.fields)

    def __repr__(self) -> str:
        return f"CronExpression({self.expression!r})"


_EPOCH = datetime(1970, 1, 1)
_TICK = timedelta(seconds=1)  # matching times are whole seconds


_LOWEST = (0, 0, 1, 1, 0, 0)
_HIGHEST = (59, 23, 31, 12, 6, 59)


def _value_set(values: list[Any], index: int, nearest: bool) -> frozenset[int]:
    """croniter's expansion of field ``index`` as a set of ints (``*`` is every value).

    ``L`` (the last day of the month) can fall on days 28 to 31, and ``nW`` (the weekday
    nearest day n, with ``nearest``) on days n-2 to n+2.
    """
    lowest, highest = _LOWEST[index], _HIGHEST[index]
    result: set[int] = set()
    for value in values:
        if value == "*":
            return frozenset(range(lowest, highest + 1))
        if value == "l":
            result.update(range(28, 32))
        elif index == _DOM and nearest:
            result.update(range(max(lowest, value - 2), min(highest, value + 2) + 1))
        else:
            result.add(0 if index == _DOW and value == 7 else value)
    return frozenset(result)


def _field_error(expression: str, index: int, value: str, detail: str = "") -> ValueError:
    name = FIELD_NAMES[index]
    extra = f" ({detail})" if detail else ""
    return ValueError(
        f"cron expression {expression!r}: invalid {name} field {value!r}{extra}; "
        f"allowed: {_RANGES[index]}, with *, a-b, a,b, */n, a-b/n"
    )


def _normalise(field: str) -> str:
    """Work around croniter 7.0 reading a one-value range ``a-a`` as ``*`` (every value)."""
    items = []
    for item in field.split(","):
        match = _SINGLE_RANGE.match(item)
        if match is not None and match.group(1).lower() == match.group(2).lower():
            item = match.group(1)
        items.append(item)
    return ",".join(items)


def _croniter_detail(exc: BaseException) -> str:
    """croniter's reason without its echo of the expression (``[...] is not acceptable``)."""
    text = re.sub(r"^\[.*?\]\s*(is not acceptable)?[.,:]?\s*", "", str(exc))
    return "" if text == str(exc) and text.startswith("[") else text


def _restricted(itr: croniter, index: int) -> bool:
    return itr.expanded[index][0] != "*"


def parse_cron(expression: str) -> CronExpression:
    """Validate a cron expression and return it as a `CronExpression`.

    Five fields ``minute hour day-of-month month day-of-week``, optionally a sixth for
    seconds (croniter's order: seconds go *last*), or an alias ``@hourly``, ``@daily``,
    ``@midnight``, ``@weekly``, ``@monthly``, ``@yearly``/``@annually``. Raises
    `ValueError` naming the field and value for a malformed or never-matching expression.
    """
    if not isinstance(expression, str):
        raise TypeError(f"a cron expression is a string, got {type(expression).__name__}")
    text = expression.strip()
    if text.startswith("@"):
        alias = _ALIASES.get(text.lower())
        if alias is None:
            raise ValueError(
                f"cron expression {expression!r}: unknown alias; use one of "
                + ", ".join(sorted(_ALIASES))
            )
        text = alias
    fields = tuple(_normalise(f) for f in text.split())
    if len(fields) not in (5, 6):
        raise ValueError(
            f"cron expression {expression!r} has {len(fields)} fields; expected 5 "
            "(minute hour day-of-month month day-of-week) or 6 (the same, then second)"
        )
    normalised = list(fields)
    for index, value in enumerate(fields):
        if _HASHED.search(value):
            raise _field_error(
                expression, index, value, "hashed/random values H and R are not supported"
            )
        probe = ["*"] * len(fields)
        probe[index] = value
        try:
            expanded, nth, *_ = croniter.expand(" ".join(probe))
        except (CroniterError, ValueError, TypeError, IndexError, KeyError) as exc:
            raise _field_error(expression, index, value, _croniter_detail(exc)) from exc
        values = set(expanded[index])
        if index in _FULL and not nth and ("*" in values or _FULL[index] <= values):
            # A day field matching every day is unrestricted, whatever its spelling:
            # croniter would otherwise switch to OR for some spellings and not others.
            normalised[index] = "*"
    fields = tuple(normalised)
    try:
        itr = croniter(" ".join(fields), _PROBE_START)
    except (CroniterError, ValueError, TypeError, IndexError, KeyError) as exc:
        raise ValueError(f"cron expression {expression!r}: {exc}") from exc
    dom, dow = fields[_DOM], fields[_DOW]
    special_dom = bool(itr.nearest_weekday)
    special_dow = bool(itr.nth_weekday_of_month)
    if (special_dom and _restricted(itr, _DOW)) or (special_dow and _restricted(itr, _DOM)):
        raise ValueError(
            f"cron expression {expression!r}: day of month {dom!r} and day of week {dow!r} "
            "cannot be combined when either uses W, # or L<n>; set the other field to *"
        )
    try:
        itr.get_next(datetime)
    except CroniterBadDateError:
        if _restricted(itr, _DOM) or special_dom:
            detail = f"day of month {dom!r} never falls in month {fields[3]!r}"
        else:
            detail = f"day of week {dow!r} never falls in month {fields[3]!r}"
        raise ValueError(f"cron expression {expression!r} never matches: {detail}") from None
    return CronExpression(expression, fields, itr)

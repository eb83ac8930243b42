"""Properties of cron fire times: croniter's answers agree with a brute-force scan.

The oracle below shares no code with the library: it parses the generated expressions
itself, walks the calendar day by day and then minute by minute (or second by second),
and, in a DST zone, scans real instants minute by minute applying the documented rules:
each matching wall-clock time fires once (a repeated hour is not fired twice), and
matching times that a spring-forward gap skips fire once, when the gap ends.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, reject, settings
from hypothesis import strategies as st
from pyworkflowy.schedule import parse_cron

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


# -- the oracle -----------------------------------------------------------------------------
@dataclass
class Spec:
    """An expression as sets of values, decoded by the oracle's own parser."""

    minutes: set[int]
    hours: set[int]
    doms: set[int]
    last_dom: bool
    weekday_doms: set[int]  # nW
    months: set[int]
    dows: set[int]
    nth_dows: set[tuple[int, int]]  # (weekday, k) for weekday#k
    last_dows: set[int]  # Ln
    seconds: set[int] | None
    dom_restricted: bool
    dow_restricted: bool
    real_time: bool = False  # minute or hour field starts with *: Debian's real-time rule


def _value(text: str, names: list[str] | None, offset: int) -> int:
    if names is not None and text.lower() in names:
        return names.index(text.lower()) + offset
    return int(text)


def _values(
    field: str, lo: int, hi: int, names: list[str] | None = None, offset: int = 0
) -> set[int]:
    out: set[int] = set()
    for item in field.split(","):
        step = 1
        if "/" in item:
            item, step_text = item.split("/")
            step = int(step_text)
        if item in ("*", "?"):
            start, end = lo, hi
        elif "-" in item:
            a, b = item.split("-")
            start, end = _value(a, names, offset), _value(b, names, offset)
        else:
            start = end = _value(item, names, offset)
        out.update(range(start, end + 1, step))
    return out


def decode(expr: str) -> Spec:
    fields = expr.split()
    dom_field, dow_field = fields[2], fields[4]
    doms: set[int] = set()
    weekday_doms: set[int] = set()
    last_dom = False
    for item in dom_field.split(","):
        if item == "L":
            last_dom = True
        elif item.endswith("W"):
            weekday_doms.add(int(item[:-1]))
        else:
            doms |= _values(item, 1, 31)
    dows: set[int] = set()
    nth: set[tuple[int, int]] = set()
    last_dows: set[int] = set()
    for item in dow_field.split(","):
        if "#" in item:
            wd, k = item.split("#")
            nth.add((_value(wd, DAYS, 0) % 7, int(k)))
        elif item.startswith("L"):
            last_dows.add(_value(item[1:], DAYS, 0) % 7)
        else:
            dows |= {v % 7 for v in _values(item, 0, 6, DAYS, 0)}
    return Spec(
        minutes=_values(fields[0], 0, 59),
        hours=_values(fields[1], 0, 23),
        doms=doms,
        last_dom=last_dom,
        weekday_doms=weekday_doms,
        months=_values(fields[3], 1, 12, MONTHS, 1),
        dows=dows,
        nth_dows=nth,
        last_dows=last_dows,
        seconds=_values(fields[5], 0, 59) if len(fields) == 6 else None,
        # A day field that matches every day (*, ?, */1, 1-31, 0-6, ...) is unrestricted.
        dom_restricted=doms != set(range(1, 32)),
        dow_restricted=dows != set(range(7)),
        real_time=fields[0].startswith("*") or fields[1].startswith("*"),
    )


def nearest_weekday(year: int, month: int, day: int) -> int:
    """The Monday-to-Friday day nearest ``day`` (clamped to the month), never leaving it."""
    last = calendar.monthrange(year, month)[1]
    day = min(day, last)
    wd = calendar.weekday(year, month, day)  # Monday 0
    if wd < 5:
        return day
    if wd == 5:
        return day - 1 if day > 1 else day + 2
    return day + 1 if day < last else day - 2


def day_matches(spec: Spec, d: date) -> bool:
    if d.month not in spec.months:
        return False
    last = calendar.monthrange(d.year, d.month)[1]
    dom = (
        d.day in spec.doms
        or (spec.last_dom and d.day == last)
        or any(nearest_weekday(d.year, d.month, n) == d.day for n in spec.weekday_doms)
    )
    wd = d.isoweekday() % 7
    dow = (
        wd in spec.dows
        or any(w == wd and (d.day - 1) // 7 + 1 == k for w, k in spec.nth_dows)
        or (wd in spec.last_dows and d.day + 7 > last)
    )
    if spec.dom_restricted and spec.dow_restricted:
        return dom or dow
    return dom and dow


def time_matches(spec: Spec, t: datetime) -> bool:
    return (
        t.minute in spec.minutes
        and t.hour in spec.hours
        and (spec.seconds is None or t.second in spec.seconds)
        and day_matches(spec, t.date())
    )


def brute_next_naive(spec: Spec, after: datetime) -> datetime:
    """First matching wall-clock time strictly after ``after``: day by day, then each time."""
    d = after.date()
    seconds = sorted(spec.seconds) if spec.seconds is not None else [0]
    for _ in range(366 * 30):
        if day_matches(spec, d):
            for h in sorted(spec.hours):
                for m in sorted(spec.minutes):
                    for s in seconds:
                        t = datetime(d.year, d.month, d.day, h, m, s)
                        if t > after:
                            return t
        d += timedelta(days=1)
    raise AssertionError("no match within 30 years")


def wall(t: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(t, tz).replace(tzinfo=None)


def brute_next_in_zone(spec: Spec, after: datetime, tz: ZoneInfo) -> datetime:
    """Scan real instants minute by minute over the matching local days (5-field only).

    Debian cron's rule: a real-time job fires at the first instant whose local time
    matches; one at particular times fires once per wall-clock time, and once when a
    spring-forward gap ends for the matching times it skipped.
    """
    start = int(after.timestamp())
    after_wall = wall(start, tz)
    d = after_wall.date()
    for _ in range(366 * 30):
        if day_matches(spec, d):
            midnight = int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())
            t = max(start - start % 60 + 60, midnight - 14 * 3600)
            previous = wall(t - 60, tz)
            while t < midnight + 38 * 3600:
                w = wall(t, tz)
                if spec.real_time:
                    if w.date() == d and t > start and time_matches(spec, w):
                        return datetime.fromtimestamp(t, tz)
                elif w.date() == d:
                    if w > after_wall and time_matches(spec, w):
                        return datetime.fromtimestamp(t, tz)
                    skipped = previous + timedelta(minutes=1)
                    while skipped < w:  # a spring-forward gap: wall times that never occur
                        if skipped > after_wall and time_matches(spec, skipped):
                            return datetime.fromtimestamp(t, tz)
                        skipped += timedelta(minutes=1)
                previous = w
                t += 60
        d += timedelta(days=1)
    raise AssertionError("no match within 30 years")


# -- generated expressions ------------------------------------------------------------------
def _num(
    lo: int, hi: int, names: list[str] | None = None, offset: int = 0
) -> st.SearchStrategy[str]:
    numbers = st.integers(lo, hi).map(str)
    if names is None:
        return numbers
    return st.one_of(numbers, st.integers(0, len(names) - 1).map(lambda i: names[i].upper()))


def _item(
    lo: int, hi: int, names: list[str] | None = None, offset: int = 0
) -> st.SearchStrategy[str]:
    @st.composite
    def ranged(draw: st.DrawFn) -> str:
        a = draw(st.integers(lo, hi))
        b = draw(st.integers(a, hi))
        text = f"{a}-{b}"
        if names is not None and draw(st.booleans()) and b - offset < len(names):
            text = f"{names[a - offset].upper()}-{names[b - offset]}"
        if draw(st.booleans()):
            text += f"/{draw(st.integers(1, hi - lo + 1))}"
        return text

    return st.one_of(
        _num(lo, hi, names, offset),
        ranged(),
        st.integers(1, hi - lo + 1).map(lambda n: f"*/{n}"),
    )


def _field(
    lo: int, hi: int, names: list[str] | None = None, offset: int = 0
) -> st.SearchStrategy[str]:
    listed = st.lists(_item(lo, hi, names, offset), min_size=1, max_size=3).map(",".join)
    return st.one_of(st.just("*"), listed)


MINUTE = _field(0, 59)
HOUR = st.one_of(_field(0, 23), st.sampled_from(["1", "2", "3", "1-3", "2,3", "*/2"]))
MONTH = _field(1, 12, MONTHS, 1)
PLAIN_DOM = st.one_of(_field(1, 28), _field(1, 31))
PLAIN_DOW = st.one_of(_field(0, 7), _field(0, 6, DAYS, 0))
SPECIAL_DOM = st.one_of(
    st.integers(1, 31).map(lambda n: f"{n}W"),  # W takes a single day
    st.lists(st.one_of(st.just("L"), st.integers(1, 31).map(str)), min_size=1, max_size=3)
    .filter(lambda items: "L" in items)
    .map(",".join),
)
SPECIAL_DOW = st.one_of(
    st.lists(
        st.tuples(st.integers(0, 6), st.integers(1, 5)).map(lambda p: f"{p[0]}#{p[1]}"),
        min_size=1,
        max_size=2,
    ).map(",".join),
    st.integers(0, 6).map(lambda n: f"L{n}"),
)


@st.composite
def expressions(draw: st.DrawFn, seconds: bool = False) -> str:
    """A valid expression: the spec's subset, names, 7 for Sunday, L, W and #."""
    kind = draw(st.sampled_from(["plain", "plain", "plain", "special-dom", "special-dow"]))
    if kind == "plain":
        dom, dow = draw(PLAIN_DOM), draw(PLAIN_DOW)
    elif kind == "special-dom":
        dom = draw(SPECIAL_DOM)
        dow = "*" if "W" in dom else draw(st.one_of(st.just("*"), PLAIN_DOW))
    else:
        dom, dow = draw(st.sampled_from(["*", "?"])), draw(SPECIAL_DOW)
    month = draw(MONTH)
    fields = [draw(MINUTE), draw(HOUR), dom, month, dow]
    if seconds:
        fields.append(draw(_field(0, 59)))
    expr = " ".join(fields)
    try:
        parse_cron(expr)
    except ValueError as exc:  # e.g. day 31 in April only: never matches
        message = str(exc)
    else:
        return expr
    assert "never matches" in message
    reject()


def _transition_neighbourhood(tz: ZoneInfo, changes: list[datetime]) -> st.SearchStrategy[datetime]:
    near = st.tuples(st.sampled_from(changes), st.integers(-4 * 3600, 4 * 3600)).map(
        lambda p: datetime.fromtimestamp(p[0].timestamp() + p[1], tz)
    )
    anywhere = st.integers(
        int(datetime(2025, 1, 1, tzinfo=UTC).timestamp()),
        int(datetime(2028, 12, 31, tzinfo=UTC).timestamp()),
    ).map(lambda t: datetime.fromtimestamp(t, tz))
    return st.one_of(near, near, anywhere)


BERLIN_CHANGES = [
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2027, 3, 28, 1, tzinfo=UTC),
]
NEW_YORK_CHANGES = [
    datetime(2026, 3, 8, 7, tzinfo=UTC),
    datetime(2026, 11, 1, 6, tzinfo=UTC),
    datetime(2027, 3, 14, 7, tzinfo=UTC),
]
NAIVE = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 12, 31))


# -- the properties ---------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(expr=expressions(), after=NAIVE)
def test_next_fire_time_in_naive_time_equals_a_brute_force_scan(expr: str, after: datetime) -> None:
    assert parse_cron(expr).next(after) == brute_next_naive(decode(expr), after)


@settings(max_examples=60, deadline=None)
@given(expr=expressions(seconds=True), after=NAIVE)
def test_next_fire_time_with_a_seconds_field_equals_a_brute_force_scan(
    expr: str, after: datetime
) -> None:
    assert parse_cron(expr).next(after) == brute_next_naive(decode(expr), after)


@settings(max_examples=150, deadline=None)
@given(expr=expressions(), after=_transition_neighbourhood(BERLIN, BERLIN_CHANGES))
def test_next_fire_time_in_berlin_equals_a_scan_of_real_minutes(expr: str, after: datetime) -> None:
    expected = brute_next_in_zone(decode(expr), after, BERLIN)
    got = parse_cron(expr).next(after)
    assert got.timestamp() == expected.timestamp()


@settings(max_examples=150, deadline=None)
@given(expr=expressions(), after=_transition_neighbourhood(NEW_YORK, NEW_YORK_CHANGES))
def test_next_fire_time_in_new_york_equals_a_scan_of_real_minutes(
    expr: str, after: datetime
) -> None:
    expected = brute_next_in_zone(decode(expr), after, NEW_YORK)
    got = parse_cron(expr).next(after)
    assert got.timestamp() == expected.timestamp()


@settings(max_examples=60, deadline=None)
@given(expr=expressions(), after=_transition_neighbourhood(BERLIN, BERLIN_CHANGES))
def test_successive_fire_times_strictly_increase_and_never_repeat_a_wall_time(
    expr: str, after: datetime
) -> None:
    # (a real-time expression repeats the wall times of a repeated hour, by design)
    times = []
    for t in parse_cron(expr).iter(after):
        times.append(t)
        if len(times) == 30:
            break
    instants = [t.timestamp() for t in times]
    walls = [t.replace(tzinfo=None) for t in times]
    assert instants == sorted(set(instants))
    if not parse_cron(expr).real_time:
        assert len(set(walls)) == len(walls)

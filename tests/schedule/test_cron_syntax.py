"""Cron syntax beyond the spec's subset (croniter's), the day-field rule and the errors."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from pyworkflowy import TaskRunner
from pyworkflowy.schedule import CronExpression, Scheduler, parse_cron

START = datetime(2026, 1, 1, 0, 0)  # a Thursday


def fire_times(expr: str, count: int, fmt: str = "%Y-%m-%d %a %H:%M") -> list[str]:
    out = []
    for t in parse_cron(expr).iter(START):
        out.append(t.strftime(fmt))
        if len(out) == count:
            return out
    raise AssertionError("unreachable")


def test_parse_cron_returns_an_expression_that_answers_next_fire_times() -> None:
    expr = parse_cron("30 9 * * *")
    assert isinstance(expr, CronExpression)
    assert expr.next(START) == datetime(2026, 1, 1, 9, 30)
    assert expr.expression == "30 9 * * *"


def test_next_is_strictly_after_the_given_time() -> None:
    assert parse_cron("30 9 * * *").next(datetime(2026, 1, 1, 9, 30)) == datetime(2026, 1, 2, 9, 30)


def test_month_and_weekday_names_are_accepted_in_any_case() -> None:
    assert fire_times("0 9 * FEB-mar Mon,fri", 3) == [
        "2026-02-02 Mon 09:00",
        "2026-02-06 Fri 09:00",
        "2026-02-09 Mon 09:00",
    ]


def test_seven_is_sunday_too() -> None:
    assert (
        fire_times("0 9 * * 7", 2)
        == fire_times("0 9 * * 0", 2)
        == [
            "2026-01-04 Sun 09:00",
            "2026-01-11 Sun 09:00",
        ]
    )


@pytest.mark.parametrize(
    ("alias", "equivalent"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
    ],
)
def test_aliases_mean_their_five_field_equivalent(alias: str, equivalent: str) -> None:
    assert fire_times(alias, 3) == fire_times(equivalent, 3)


def test_l_in_day_of_month_is_the_last_day_of_the_month() -> None:
    assert fire_times("0 0 L * *", 3, "%Y-%m-%d") == ["2026-01-31", "2026-02-28", "2026-03-31"]


def test_w_is_the_weekday_nearest_the_given_day_within_the_month() -> None:
    # 2026-02-15 is a Sunday: Monday the 16th; 2026-08-15 is a Saturday: Friday the 14th.
    times = fire_times("0 0 15W * *", 8, "%m-%d %a")
    assert times[1] == "02-16 Mon"
    assert times[7] == "08-14 Fri"


def test_w_on_a_day_past_the_months_end_is_its_last_weekday() -> None:
    expr = parse_cron("0 0 31W * *")
    assert expr.next(datetime(2026, 4, 1)) == datetime(2026, 4, 30)  # April has 30 days
    assert expr.next(datetime(2026, 2, 1)) == datetime(2026, 2, 27)  # Feb 28 is a Saturday


def test_hash_is_the_nth_weekday_of_the_month() -> None:
    assert fire_times("0 0 * * MON#2", 3, "%Y-%m-%d %a") == [
        "2026-01-12 Mon",
        "2026-02-09 Mon",
        "2026-03-09 Mon",
    ]


def test_l_before_a_weekday_is_the_last_such_weekday_of_the_month() -> None:
    assert fire_times("0 0 * * L5", 3, "%Y-%m-%d %a") == [
        "2026-01-30 Fri",
        "2026-02-27 Fri",
        "2026-03-27 Fri",
    ]


def test_an_optional_sixth_field_is_seconds() -> None:
    assert parse_cron("0 9 * * * 30").has_seconds
    assert fire_times("* * * * * */20", 4, "%H:%M:%S") == [
        "00:00:20",
        "00:00:40",
        "00:01:00",
        "00:01:20",
    ]


def test_a_range_whose_ends_are_equal_is_that_single_value() -> None:
    # croniter 7.0 reads "5-5" as "*"; parse_cron works around it.
    assert fire_times("5-5 1 * * *", 2) == ["2026-01-01 Thu 01:05", "2026-01-02 Fri 01:05"]


def test_a_range_that_runs_backwards_wraps_around() -> None:
    assert fire_times("0 22-2 * * *", 5, "%d %H") == ["01 01", "01 02", "01 22", "01 23", "02 00"]


# -- day of month and day of week -------------------------------------------------------------
def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    # The 13th, or any Friday.
    assert fire_times("0 0 13 * 5", 4, "%m-%d %a") == [
        "01-02 Fri",
        "01-09 Fri",
        "01-13 Tue",
        "01-16 Fri",
    ]


def test_only_day_of_week_constrains_when_day_of_month_is_star() -> None:
    assert fire_times("0 0 * * 5", 2, "%m-%d %a") == ["01-02 Fri", "01-09 Fri"]


def test_only_day_of_month_constrains_when_day_of_week_is_star() -> None:
    assert fire_times("0 0 13 * *", 2, "%m-%d %a") == ["01-13 Tue", "02-13 Fri"]


@pytest.mark.parametrize("everyday", ["*/1", "1-31", "?"])
def test_a_day_of_month_field_matching_every_day_counts_as_star(everyday: str) -> None:
    assert fire_times(f"0 0 {everyday} * 5", 2) == fire_times("0 0 * * 5", 2)


@pytest.mark.parametrize("everyday", ["*/1", "0-6", "1-7", "sun-sat"])
def test_a_day_of_week_field_matching_every_day_counts_as_star(everyday: str) -> None:
    assert fire_times(f"0 0 13 * {everyday}", 2) == fire_times("0 0 13 * *", 2)


# -- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expr", "field", "value"),
    [
        ("61 * * * *", "minute", "61"),
        ("* 24 * * *", "hour", "24"),
        ("* * 0 * *", "day of month", "0"),
        ("* * 32 * *", "day of month", "32"),
        ("* * * 13 *", "month", "13"),
        ("* * * foo *", "month", "foo"),
        ("* * * * 8", "day of week", "8"),
        ("*/0 * * * *", "minute", "*/0"),
        ("* * * * * 60", "second", "60"),
        ("1,,2 * * * *", "minute", "1,,2"),
    ],
)
def test_an_invalid_field_raises_value_error_naming_the_field_and_value(
    expr: str, field: str, value: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(f"invalid {field} field '{value}'")) as info:
        parse_cron(expr)
    assert expr in str(info.value)


@pytest.mark.parametrize(
    ("expr", "detail"),
    [
        ("0 0 30 2 *", "day of month '30' never falls in month '2'"),
        ("0 0 31 4,6,9,11 *", "day of month '31' never falls in month '4,6,9,11'"),
    ],
)
def test_a_never_matching_expression_raises_value_error_naming_the_fields(
    expr: str, detail: str
) -> None:
    with pytest.raises(ValueError, match="never matches") as info:
        parse_cron(expr)
    assert detail in str(info.value)


@pytest.mark.parametrize("expr", ["* * * *", "* * * * * * *", "", "@reboot"])
def test_a_wrong_number_of_fields_or_unknown_alias_raises_value_error(expr: str) -> None:
    with pytest.raises(ValueError, match="cron expression"):
        parse_cron(expr)


@pytest.mark.parametrize("expr", ["H * * * *", "R 0 * * *", "0 H(0-5) * * *"])
def test_hashed_and_random_values_are_rejected(expr: str) -> None:
    with pytest.raises(ValueError, match="H and R are not supported"):
        parse_cron(expr)


@pytest.mark.parametrize("expr", ["0 0 1 * 1#2", "0 0 15W * 1", "0 0 13 * L5"])
def test_w_hash_and_last_weekday_need_the_other_day_field_to_be_star(expr: str) -> None:
    with pytest.raises(ValueError, match="cannot be combined"):
        parse_cron(expr)


def test_parse_cron_rejects_a_non_string() -> None:
    with pytest.raises(TypeError):
        parse_cron(5)  # type: ignore[arg-type]


def test_scheduler_cron_raises_the_same_value_error() -> None:
    with TaskRunner() as runner, pytest.raises(ValueError, match="invalid minute field '61'"):
        Scheduler(runner=runner).cron("61 * * * *")


def test_expressions_with_the_same_meaningful_fields_are_equal() -> None:
    assert parse_cron("0 9 * * *") == parse_cron(" 0  9 * * * ")
    assert parse_cron("0 9 * * *") != parse_cron("0 10 * * *")
    assert repr(parse_cron("@daily")) == "CronExpression('@daily')"

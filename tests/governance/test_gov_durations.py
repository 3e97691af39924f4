"""Budget durations and their UTC-aligned periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tollway.governance.durations import ALL_TIME, Duration, Period, parse_duration, period_of


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "count", "unit", "seconds"),
    [
        ("30s", 30, "s", 30),
        ("5m", 5, "m", 300),
        ("1h", 1, "h", 3600),
        ("1d", 1, "d", 86_400),
        ("7d", 7, "d", 604_800),
        ("30d", 30, "d", 2_592_000),
        ("2w", 2, "w", 1_209_600),
        ("1mo", 1, "mo", None),
        ("12mo", 12, "mo", None),
        (" 1h ", 1, "h", 3600),
        ("01d", 1, "d", 86_400),
    ],
)
def test_parse_every_unit(text: str, count: int, unit: str, seconds: int | None) -> None:
    duration = parse_duration(text)
    assert duration == Duration(count, unit)
    assert duration.seconds == seconds
    assert str(duration) == f"{count}{unit}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0d", "at least 1 d"),
        ("0mo", "at least 1 mo"),
        ("-1h", "must be positive"),
        ("abc", "expected a whole number"),
        ("1y", "write '12mo'"),
        ("", "expected a whole number"),
        ("mo", "expected a whole number"),
        ("d", "expected a whole number"),
        ("1.5h", "expected a whole number"),
        ("1 h", "expected a whole number"),
        ("1H", "expected a whole number"),
        ("1M", "expected a whole number"),
        ("+1h", "expected a whole number"),
        ("\u0661d", "expected a whole number"),  # ARABIC-INDIC DIGIT ONE: isdigit() but not a number we accept
        ("101y", "write '12mo'"),
        ("1201mo", "at most 100 years"),
        ("36601d", "at most 100 years"),
    ],
)
def test_parse_rejects_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parse_duration(text)
    assert repr(text) in str(caught.value)


def test_parse_rejects_a_non_string() -> None:
    with pytest.raises(TypeError, match="a duration is a string"):
        parse_duration(86400)  # type: ignore[arg-type]


def test_no_duration_is_one_period_for_ever() -> None:
    assert period_of(None, 1_700_000_000.0) == Period("all", None, None) == ALL_TIME
    assert ALL_TIME.end_ts is None


def test_day_periods_reset_at_utc_midnight() -> None:
    last_instant = utc(2024, 3, 14, 23, 59, 59).timestamp() + 0.999
    period = period_of("1d", last_instant)
    assert (period.start, period.end) == (utc(2024, 3, 14), utc(2024, 3, 15))
    assert period.label == "1d:2024-03-14T00:00:00Z"
    following = period_of("1d", utc(2024, 3, 15).timestamp())
    assert following.start == utc(2024, 3, 15)
    assert following.label != period.label
    assert period.end_ts == utc(2024, 3, 15).timestamp()


def test_seconds_based_periods_are_floor_of_epoch_seconds() -> None:
    now = utc(2024, 3, 14, 13, 47, 31).timestamp()
    assert period_of("1h", now).start == utc(2024, 3, 14, 13)
    assert period_of("5m", now).start == utc(2024, 3, 14, 13, 45)
    assert period_of("30s", now).start == utc(2024, 3, 14, 13, 47, 30)
    assert period_of("30s", now).end == utc(2024, 3, 14, 13, 48)
    # 7d and 30d are blocks counted from the epoch (a Thursday), not calendar weeks or months.
    week = period_of("1w", now)
    assert week.start is not None
    assert week.start.weekday() == 3
    assert (week.start, week.end) == (utc(2024, 3, 14), utc(2024, 3, 21))
    thirty = period_of("30d", now)
    assert thirty.start is not None
    assert thirty.start.timestamp() == (now // 2_592_000) * 2_592_000
    assert thirty.end == thirty.start + timedelta(days=30)


@pytest.mark.parametrize(
    ("now", "start", "end"),
    [
        (utc(2024, 1, 31, 23, 59, 59), utc(2024, 1, 1), utc(2024, 2, 1)),
        (utc(2024, 2, 29, 12), utc(2024, 2, 1), utc(2024, 3, 1)),  # leap year: February has 29 days
        (utc(2023, 2, 28, 23, 59, 59), utc(2023, 2, 1), utc(2023, 3, 1)),
        (utc(2023, 3, 1), utc(2023, 3, 1), utc(2023, 4, 1)),
        (utc(2024, 4, 30, 23, 59), utc(2024, 4, 1), utc(2024, 5, 1)),
        (utc(2024, 12, 31, 23, 59, 59), utc(2024, 12, 1), utc(2025, 1, 1)),  # across the year end
    ],
)
def test_month_periods_are_calendar_months(now: datetime, start: datetime, end: datetime) -> None:
    period = period_of("1mo", now)
    assert (period.start, period.end) == (start, end)
    assert period.label == f"1mo:{start:%Y-%m-%d}T00:00:00Z"


def test_leap_february_last_instant_then_march() -> None:
    feb = period_of("1mo", utc(2024, 2, 29, 23, 59, 59).timestamp() + 0.5)
    march = period_of("1mo", utc(2024, 3, 1).timestamp())
    assert feb.end == march.start == utc(2024, 3, 1)
    assert feb.start == utc(2024, 2, 1)
    assert feb.label != march.label


def test_multi_month_periods_are_quarters_and_years() -> None:
    assert period_of("3mo", utc(2024, 5, 20)) == Period("3mo:2024-04-01T00:00:00Z", utc(2024, 4, 1), utc(2024, 7, 1))
    assert period_of("3mo", utc(2024, 12, 20)).end == utc(2025, 1, 1)
    assert period_of("12mo", utc(2024, 7, 1)).start == utc(2024, 1, 1)


def test_period_of_takes_an_aware_datetime_in_any_zone() -> None:
    # 00:30 in UTC+2 is 22:30 UTC the day before: the period follows UTC.
    local = datetime(2024, 3, 15, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    assert period_of("1d", local).start == utc(2024, 3, 14)
    with pytest.raises(ValueError, match="aware"):
        period_of("1d", datetime(2024, 3, 15))


def test_period_of_accepts_a_parsed_duration_and_labels_by_canonical_form() -> None:
    now = utc(2024, 3, 14, 9).timestamp()
    assert period_of(Duration(7, "d"), now) == period_of("7d", now) == period_of("07d", now)
    # Different durations never share a label, even when their periods start together.
    assert period_of("1d", utc(2024, 3, 1)).label != period_of("1mo", utc(2024, 3, 1)).label


def test_labels_fit_the_persisted_counter_column() -> None:
    longest = [period_of(text, 1_700_000_000.0).label for text in ("3162240000s", "52704000m", "1200mo", "5228w")]
    assert max(len(label) for label in longest) <= 32

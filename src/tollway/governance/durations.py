"""Budget durations (LiteLLM's ``budget_duration`` strings) and the calendar periods they cut time into.

A duration is a whole number and a unit: ``s`` seconds, ``m`` minutes, ``h`` hours, ``d`` days, ``w`` weeks, ``mo``
calendar months (LiteLLM's units; ``"1y"`` is refused: write ``"12mo"``). Periods are aligned in UTC and derived
from the time alone, so every gateway instance agrees on them and no job ever "resets" a budget: when the period
label changes, spending is counted under a new label that starts at zero.

- ``s``, ``m``, ``h``, ``d``, ``w``: the period starts at ``floor(epoch_seconds / length) * length``. So ``1d``
  resets at UTC midnight and ``1h`` on the hour; ``1w`` periods start on Thursdays (the epoch was a Thursday) and
  ``30d`` periods are 30-day blocks counted from 1970-01-01, not calendar months.
- ``mo``: calendar months. ``1mo`` resets on the 1st at 00:00 UTC; ``Nmo`` periods start at month numbers
  (``year * 12 + month - 1``) divisible by N, so ``3mo`` is calendar quarters and ``12mo`` calendar years.

No duration means one period for ever: ``Period("all", None, None)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType

__all__ = ["ALL_TIME", "Duration", "Period", "parse_duration", "period_of"]

_UNIT_SECONDS = MappingProxyType({"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800})

# A ceiling keeps every period inside datetime's range and every label within the 32 characters of
# ``spend_counters.period``; a longer budget period is better expressed as no duration at all.
_MAX_SECONDS = 100 * 366 * 86_400
_MAX_MONTHS = 1200

_HINT = "expected a whole number >= 1 followed by s, m, h, d, w or mo (e.g. '30s', '5m', '1h', '7d', '1mo')"


@dataclass(frozen=True, slots=True)
class Duration:
    """A parsed duration: ``count`` units, ``unit`` one of ``s m h d w mo``. ``str()`` gives the canonical form."""

    count: int
    unit: str

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"

    @property
    def seconds(self) -> int | None:
        """The length in seconds; None for months, which vary in length."""
        per_unit = _UNIT_SECONDS.get(self.unit)
        return None if per_unit is None else self.count * per_unit


@dataclass(frozen=True, slots=True)
class Period:
    """One budget period: a ``label`` unique to the duration and the period (the counters' and the persisted
    counter table's key), and its bounds as aware UTC datetimes, ``start`` inclusive and ``end`` exclusive."""

    label: str
    start: datetime | None
    end: datetime | None

    @property
    def end_ts(self) -> float | None:
        """``end`` in epoch seconds (None: the period never ends)."""
        return None if self.end is None else self.end.timestamp()


ALL_TIME = Period("all", None, None)
"""The single period of a budget without a duration."""


def parse_duration(text: str) -> Duration:
    """Parse ``"30s"``, ``"5m"``, ``"1h"``, ``"7d"``, ``"2w"``, ``"1mo"``, ...; ValueError saying what is wrong
    otherwise (zero, negative, fractional, unknown unit, longer than 100 years)."""
    if not isinstance(text, str):
        raise TypeError(f"a duration is a string such as '1d', got {type(text).__name__}")
    value = text.strip()
    unit = "mo" if value.endswith("mo") else value[-1:]
    digits = value[: len(value) - len(unit)]
    if unit == "y":
        raise ValueError(f"invalid duration {text!r}: years are not a unit, write '12mo' for a calendar year")
    if (unit not in _UNIT_SECONDS and unit != "mo") or not (digits.isascii() and digits.isdigit()):
        if digits.startswith("-"):
            raise ValueError(f"invalid duration {text!r}: a duration must be positive; {_HINT}")
        raise ValueError(f"invalid duration {text!r}: {_HINT}")
    count = int(digits)
    if count == 0:
        raise ValueError(f"invalid duration {text!r}: a duration must be at least 1 {unit}")
    too_long = count > _MAX_MONTHS if unit == "mo" else count * _UNIT_SECONDS[unit] > _MAX_SECONDS
    if too_long:
        raise ValueError(f"invalid duration {text!r}: at most 100 years; use no duration for a lifetime budget")
    return Duration(count, unit)


def period_of(duration: Duration | str | None, now: float | datetime) -> Period:
    """The period of ``duration`` that contains ``now`` (epoch seconds or an aware datetime)."""
    if duration is None:
        return ALL_TIME
    parsed = parse_duration(duration) if isinstance(duration, str) else duration
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("period_of needs an aware datetime (or epoch seconds), got a naive one")
        timestamp = now.timestamp()
    else:
        timestamp = float(now)
    length = parsed.seconds
    if length is None:
        start, end = _month_bounds(parsed.count, timestamp)
    else:
        first = math.floor(timestamp / length) * length
        start = datetime.fromtimestamp(first, UTC)
        end = datetime.fromtimestamp(first + length, UTC)
    return Period(f"{parsed}:{start:%Y-%m-%dT%H:%M:%SZ}", start, end)


def _month_bounds(months: int, timestamp: float) -> tuple[datetime, datetime]:
    """The ``months``-long calendar period containing ``timestamp``, aligned on month numbers divisible by it."""
    at = datetime.fromtimestamp(timestamp, UTC)
    index = at.year * 12 + at.month - 1
    first = index - index % months
    last = first + months
    return (
        datetime(first // 12, first % 12 + 1, 1, tzinfo=UTC),
        datetime(last // 12, last % 12 + 1, 1, tzinfo=UTC),
    )

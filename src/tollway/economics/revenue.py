"""Revenue records: what a customer paid, for which period, from which source; validated from an API payload or a
CSV row, and prorated over a reporting period. Pure: no I/O (the store is ``tollway.storage.revenue_store``).

Choices, each for a reason:

- **Refunds are rows of their own**, ``kind="refund"``, with a positive ``amount`` that totals subtract
  (``signed_amount``). An amount is never negative, so a typo'd minus sign is an error rather than a silent refund,
  and a refund keeps its own external id (a Stripe refund id) for idempotency.
- **Periods are inclusive dates.** ``date`` sets both ends (a one-off payment); ``period_start``/``period_end`` a
  service period (``2025-01-01``..``2025-01-31`` is January).
- **Proration by days**: a record whose period only partly overlaps a report's ``[start, end]`` counts for the
  share of its days inside it: ``amount * overlap_days / period_days``, rounded to 12 places (the store's scale);
  a record wholly inside counts exactly. So January's 31.00 counts 10.00 for 1..10 January.
- **Idempotency**: ``(source, external_id)`` names one record. Recording it again with the same content is a no-op;
  with different content it is a conflict, never a silent overwrite or a second count (``same_entry``).
- **Currencies** are ISO 4217 codes (``tollway.economics.currencies``); lower case is accepted and upper-cased.
  Totals are keyed by (customer, currency): amounts in two currencies are never added together.
- The customer need not exist in the ``customers`` table: a customer is often only the ``user`` field of requests.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from tollway.economics.currencies import is_currency
from tollway.governance.records import InvalidFieldError, money_str

__all__ = [
    "API_FIELDS",
    "CSV_COLUMNS",
    "KINDS",
    "CsvProblem",
    "InvalidRevenueCsvError",
    "RevenueRecord",
    "parse_amount",
    "parse_csv",
    "parse_revenue",
    "portion",
    "revenue_problems",
    "totals_by_customer",
]

KINDS = ("revenue", "refund")
API_FIELDS = frozenset(
    {
        "customer_id",
        "amount",
        "currency",
        "date",
        "period_start",
        "period_end",
        "kind",
        "source",
        "external_id",
        "metadata",
    }
)
CSV_COLUMNS = frozenset(
    {"customer_id", "amount", "currency", "date", "period_start", "period_end", "external_id", "source", "kind"}
)
_REQUIRED_CSV = ("customer_id", "amount", "currency", "external_id")
_EXTERNAL_ID_REQUIRED = "required in a CSV file (it makes importing the file again record nothing new)"
ID_LENGTH = 128
EXTERNAL_ID_LENGTH = 256
_SOURCE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
PLACES = Decimal(1).scaleb(-12)  # the store's scale (tollway.storage.money.MONEY_PLACES)


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class RevenueRecord:
    """One payment (or refund) by a customer for an inclusive period of days."""

    customer_id: str
    amount: Decimal  # >= 0; a refund's is subtracted (signed_amount)
    currency: str
    period_start: date
    period_end: date
    kind: str = "revenue"
    source: str = "manual"
    external_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=_new_id)
    created_at: datetime = field(default_factory=_now)
    created_by: str | None = None

    @property
    def signed_amount(self) -> Decimal:
        """The amount as totals add it: negative for a refund."""
        return -self.amount if self.kind == "refund" else self.amount

    @property
    def days(self) -> int:
        """How many days the period covers (both ends included)."""
        return (self.period_end - self.period_start).days + 1

    def same_entry(self, other: RevenueRecord) -> bool:
        """Whether ``other`` records the same money (what an idempotent repeat must match; metadata aside)."""
        return (
            self.customer_id == other.customer_id
            and self.kind == other.kind
            and self.amount == other.amount
            and self.currency == other.currency
            and self.period_start == other.period_start
            and self.period_end == other.period_end
        )

    def stamped(self, created_at: datetime, created_by: str | None) -> RevenueRecord:
        """The record with these creation stamps."""
        return replace(self, created_at=created_at, created_by=created_by)

    def to_api(self) -> dict[str, Any]:
        """The JSON form the API answers (amount as a decimal string, dates as ISO dates)."""
        return {
            "id": self.id,
            "customer_id": self.customer_id,
            "kind": self.kind,
            "amount": money_str(self.amount),
            "currency": self.currency,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "source": self.source,
            "external_id": self.external_id,
            "metadata": dict(self.metadata),
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
        }


# -- fields ---------------------------------------------------------------------------------------------------------


def parse_amount(value: Any, name: str = "amount") -> Decimal:
    """A non-negative amount: a decimal string (``"12.50"``) or a number; at most 16 digits before and 12 after the
    point (the store's NUMERIC(28, 12))."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InvalidFieldError(name, f'expected a decimal string such as "12.50", got {type(value).__name__}')
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidFieldError(name, f"{value!r} is not a decimal number") from None
    if not amount.is_finite():
        raise InvalidFieldError(name, "must be a finite amount")
    if amount < 0:
        raise InvalidFieldError(name, f"must be >= 0, got {money_str(amount)} (record a refund with kind 'refund')")
    exponent = amount.normalize().as_tuple().exponent
    if (isinstance(exponent, int) and exponent < -12) or amount.adjusted() >= 16:
        raise InvalidFieldError(name, "at most 16 digits before and 12 after the decimal point")
    return amount


def _text(value: Any, name: str, max_length: int) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidFieldError(name, "expected a non-empty string")
    if len(value) > max_length or not value.isprintable() or value.strip() != value:
        raise InvalidFieldError(name, f"expected at most {max_length} printable characters without surrounding spaces")
    return value


def _currency(value: Any, name: str = "currency") -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3}", value):
        raise InvalidFieldError(name, f'expected an ISO 4217 code such as "USD", got {value!r}')
    code = value.upper()
    if not is_currency(code):
        raise InvalidFieldError(name, f'unknown currency {value!r} (expected an ISO 4217 code such as "USD")')
    return code


def _date(value: Any, name: str) -> date:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise InvalidFieldError(name, f"expected a date YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidFieldError(name, f"{value!r} is not a calendar date") from None


def _period(payload: Mapping[str, Any]) -> tuple[date, date]:
    """``date`` alone, or ``period_start`` and ``period_end`` together (end on or after start)."""
    given = [name for name in ("period_start", "period_end") if payload.get(name) is not None]
    if payload.get("date") is not None:
        if given:
            raise InvalidFieldError(given[0], "give either date or period_start and period_end, not both")
        day = _date(payload["date"], "date")
        return day, day
    if not given:
        raise InvalidFieldError("date", "required: a date, or period_start and period_end")
    if len(given) == 1:
        missing = "period_end" if given[0] == "period_start" else "period_start"
        raise InvalidFieldError(missing, f"required with {given[0]}")
    start, end = _date(payload["period_start"], "period_start"), _date(payload["period_end"], "period_end")
    if end < start:
        raise InvalidFieldError("period_end", f"{end.isoformat()} is before period_start {start.isoformat()}")
    return start, end


def _choice(value: Any, name: str, default: str) -> str:
    if value is None:
        return default
    if name == "kind":
        if value not in KINDS:
            raise InvalidFieldError(name, f"expected one of {', '.join(repr(k) for k in KINDS)}")
        return str(value)
    if not isinstance(value, str) or not _SOURCE.fullmatch(value):
        raise InvalidFieldError(name, "expected 1 to 32 lower-case letters, digits, '_', '-' or '.' (e.g. 'stripe')")
    return value


# -- payloads -------------------------------------------------------------------------------------------------------


def revenue_problems(
    payload: Mapping[str, Any], *, source: str = "manual", created_by: str | None = None
) -> tuple[RevenueRecord | None, list[InvalidFieldError]]:
    """The record a payload describes, or None and every problem found (each naming its field).

    ``source`` is the default when the payload names none. Unknown fields are the caller's to refuse.
    """
    problems: list[InvalidFieldError] = []
    values: dict[str, Any] = {}

    def check(name: str, parse: Any) -> None:
        try:
            values[name] = parse()
        except InvalidFieldError as error:
            problems.append(error)

    customer = payload.get("customer_id")
    if customer is None:
        problems.append(InvalidFieldError("customer_id", "required: the customer who paid"))
    else:
        check("customer_id", lambda: _text(customer, "customer_id", ID_LENGTH))
    for name in ("amount", "currency"):
        if payload.get(name) is None:
            problems.append(InvalidFieldError(name, "required"))
    if payload.get("amount") is not None:
        check("amount", lambda: parse_amount(payload["amount"]))
    if payload.get("currency") is not None:
        check("currency", lambda: _currency(payload["currency"]))
    check("period", lambda: _period(payload))
    check("kind", lambda: _choice(payload.get("kind"), "kind", "revenue"))
    check("source", lambda: _choice(payload.get("source"), "source", source))
    external = payload.get("external_id")
    check("external_id", lambda: None if external is None else _text(external, "external_id", EXTERNAL_ID_LENGTH))
    metadata = payload.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        problems.append(InvalidFieldError("metadata", "expected an object"))
    if problems:
        return None, problems
    start, end = values.pop("period")
    record = RevenueRecord(
        period_start=start, period_end=end, metadata=dict(metadata or {}), created_by=created_by, **values
    )
    return record, []


def parse_revenue(
    payload: Mapping[str, Any], *, source: str = "manual", created_by: str | None = None
) -> RevenueRecord:
    """The record a payload describes; InvalidFieldError naming the first bad field otherwise."""
    record, problems = revenue_problems(payload, source=source, created_by=created_by)
    if problems:
        raise problems[0]
    assert record is not None
    return record


# -- CSV ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CsvProblem:
    """What is wrong at one line of a CSV file (line 1 is the header)."""

    line: int
    field: str
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.problem}"


class InvalidRevenueCsvError(ValueError):
    """A CSV file has bad rows: ``problems`` lists every one (nothing of the file is recorded)."""

    def __init__(self, problems: list[CsvProblem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


def parse_csv(text: str, *, source: str = "csv", created_by: str | None = None) -> list[RevenueRecord]:
    """Every row of a revenue CSV as a record, or InvalidRevenueCsvError listing every bad line.

    Header (any order, case-insensitive): ``customer_id, amount, currency, external_id`` and either ``date`` or
    ``period_start, period_end``; optional ``source`` (default ``source``) and ``kind``. ``external_id`` is required:
    it is what makes importing the same file twice record nothing new. Blank lines are skipped; the same
    (source, external_id) twice in a file is one record if the rows agree and an error if they do not.
    """
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header = [name.strip().lower() for name in next(reader, [])]
    problems = _header_problems(header)
    if problems:
        raise InvalidRevenueCsvError(problems)
    records: list[RevenueRecord] = []
    first_line: dict[tuple[str, str | None], tuple[int, RevenueRecord]] = {}
    line = reader.line_num
    for row in reader:
        start_line, line = line + 1, reader.line_num
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if len(cells) != len(header):
            problems.append(CsvProblem(start_line, "row", f"has {len(cells)} cells, the header {len(header)}"))
            continue
        payload = {name: cell for name, cell in zip(header, cells, strict=True) if cell}
        record, found = revenue_problems(payload, source=source, created_by=created_by)
        problems.extend(CsvProblem(start_line, error.field, error.problem) for error in found)
        if "external_id" not in payload:
            problems.append(CsvProblem(start_line, "external_id", _EXTERNAL_ID_REQUIRED))
            continue
        if record is None:
            continue
        key = (record.source, record.external_id)
        seen = first_line.get(key)
        if seen is None:
            first_line[key] = (start_line, record)
            records.append(record)
        elif not seen[1].same_entry(record):
            clash = f"{key[1]!r} is also on line {seen[0]} with other values"
            problems.append(CsvProblem(start_line, "external_id", clash))
    if problems:
        raise InvalidRevenueCsvError(problems)
    return records


def _header_problems(header: list[str]) -> list[CsvProblem]:
    if not any(header):
        return [CsvProblem(1, "header", "the file is empty: expected a header line")]
    problems = [CsvProblem(1, name or "header", "unknown column") for name in header if name not in CSV_COLUMNS]
    problems += [CsvProblem(1, name, "duplicate column") for name in sorted(set(header)) if header.count(name) > 1]
    problems += [CsvProblem(1, name, "missing column") for name in _REQUIRED_CSV if name not in header]
    has_period = "period_start" in header or "period_end" in header
    if "date" not in header and not has_period:
        problems.append(CsvProblem(1, "date", "missing column: date, or period_start and period_end"))
    elif has_period and ("period_start" not in header or "period_end" not in header):
        missing = "period_end" if "period_start" in header else "period_start"
        problems.append(CsvProblem(1, missing, "missing column (period_start and period_end go together)"))
    return problems


# -- proration ------------------------------------------------------------------------------------------------------


def portion(record: RevenueRecord, start: date, end: date) -> Decimal:
    """The record's signed amount that falls in ``[start, end]`` (both inclusive), prorated by days (see the
    module docstring); zero when the periods do not overlap."""
    first, last = max(start, record.period_start), min(end, record.period_end)
    if last < first:
        return Decimal(0)
    overlap = (last - first).days + 1
    if overlap == record.days:
        return record.signed_amount
    with localcontext() as context:
        context.prec = 60  # 28 digits of amount times a day count: no rounding before the final quantize
        return (record.signed_amount * overlap / record.days).quantize(PLACES)


def totals_by_customer(records: Iterable[RevenueRecord], start: date, end: date) -> dict[tuple[str, str], Decimal]:
    """``{(customer_id, currency): revenue in [start, end]}``: prorated, refunds subtracted, currencies apart."""
    totals: dict[tuple[str, str], Decimal] = {}
    for record in records:
        if record.period_start > end or record.period_end < start:
            continue
        key = (record.customer_id, record.currency)
        totals[key] = totals.get(key, Decimal(0)) + portion(record, start, end)
    return totals

"""The margin report (``GET /margin``, ``tollway report margin``): what each customer cost, paid and left, pure.

Inputs are the cost rows of a period (``CostRow``: one per customer, or per customer x model / feature / day, from
``tollway.storage.margin_queries``) and the revenue records that overlap it (``tollway.economics.revenue``).
``margin_report`` combines them into rows ``{customer_id, revenue, cost, margin, margin_pct, requests,
input_tokens, output_tokens, unpriced_requests}`` (plus ``model``, ``feature`` or ``day`` when grouped so) and
their totals, amounts as decimal strings.

Rules:
- One currency per report: revenue in any other currency is never added to it; it is listed under
  ``other_currencies`` (per customer and currency) instead. Spend is priced in USD (``COST_CURRENCY``, the price
  data's currency) and there is no exchange rate to apply, so USD is the only currency a report can be in today:
  asking for another is a ValueError (a 400 naming ``currency``), never a margin that subtracts dollars from euros.
- Revenue is prorated by days (``revenue.portion``), refunds subtracted. Grouped by day, each (customer, day) row
  carries that day's share. Grouped by model or feature, revenue cannot be split honestly (a payment is not for a
  model), so those rows have ``revenue``, ``margin`` and ``margin_pct`` null and the totals carry the revenue.
- ``margin = revenue - cost``; ``margin_pct = 100 * margin / revenue`` to two places, null when revenue is 0.
- Traffic without a customer is one customer ``None`` (revenue 0).
- Least profitable first: rows by margin ascending (grouped by model/feature: by their customer's margin, then by
  cost, largest first); ties by customer id then group.
- Cost counts unpriced requests as 0; ``unpriced_requests`` says how many there were, so a low cost is never
  mistaken for a cheap customer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal, get_args

from tollway.economics.revenue import RevenueRecord, totals_by_customer
from tollway.governance.records import money_str

__all__ = [
    "COST_CURRENCY",
    "GROUPINGS",
    "CostRow",
    "Grouping",
    "MarginReport",
    "check_currency",
    "margin_report",
    "report_days",
]

Grouping = Literal["customer", "feature", "model", "day"]
GROUPINGS: tuple[str, ...] = get_args(Grouping)
COST_CURRENCY = "USD"  # what tollway.pricing prices in
MAX_DAYS = 3660  # ten years: a day-by-day report longer than this is a mistake, not a report
_PERCENT = Decimal("0.01")
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class CostRow:
    """Usage and cost of one customer (None = unattributed) in one group (None when grouped by customer)."""

    customer_id: str | None
    group: str | None = None
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = field(default_factory=Decimal)
    unpriced: int = 0


@dataclass(frozen=True, slots=True)
class MarginReport:
    """The report as the API answers it (``to_api``) and as the CSV and the CLI table show it."""

    start: date
    end: date
    currency: str
    group_by: Grouping
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    other_currencies: list[dict[str, Any]]

    def to_api(self) -> dict[str, Any]:
        """``{"start", "end", "currency", "group_by", "rows", "totals", "other_currencies"}``."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "currency": self.currency,
            "group_by": self.group_by,
            "rows": self.rows,
            "totals": self.totals,
            "other_currencies": self.other_currencies,
        }

    def columns(self) -> list[str]:
        """The row fields in display order."""
        group = [] if self.group_by == "customer" else [self.group_by]
        return ["customer_id", *group, *_MEASURES]


_MEASURES = (
    "revenue",
    "cost",
    "margin",
    "margin_pct",
    "requests",
    "input_tokens",
    "output_tokens",
    "unpriced_requests",
)


def report_days(start: date, end: date) -> list[date]:
    """Every day of ``[start, end]``; ValueError when end is before start or the span is over ``MAX_DAYS``."""
    if end < start:
        raise ValueError("end is before start")
    count = (end - start).days + 1
    if count > MAX_DAYS:
        raise ValueError(f"a report spans at most {MAX_DAYS} days")
    return [start + timedelta(days=offset) for offset in range(count)]


def check_currency(currency: str) -> None:
    """ValueError unless a margin can be reported in ``currency`` (see the module docstring)."""
    if currency != COST_CURRENCY:
        raise ValueError(
            f"spend is priced in {COST_CURRENCY}, so margin is reported in {COST_CURRENCY} only "
            f"({currency} revenue is listed under other_currencies, never converted or added)"
        )


def margin_pct(revenue: Decimal | None, margin: Decimal | None) -> str | None:
    """``100 * margin / revenue`` to two places (half up), None when revenue is 0 or unknown."""
    if revenue is None or margin is None or revenue == 0:
        return None
    return str((margin * 100 / revenue).quantize(_PERCENT, rounding=ROUND_HALF_UP))


def _row(
    customer_id: str | None, group: tuple[str, str | None] | None, revenue: Decimal | None, usage: CostRow
) -> dict[str, Any]:
    margin = None if revenue is None else revenue - usage.cost
    row: dict[str, Any] = {"customer_id": customer_id}
    if group is not None:
        row[group[0]] = group[1]
    row.update(
        revenue=money_str(revenue),
        cost=money_str(usage.cost),
        margin=money_str(margin),
        margin_pct=margin_pct(revenue, margin),
        requests=usage.requests,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        unpriced_requests=usage.unpriced,
    )
    return row


def _add(total: CostRow | None, row: CostRow) -> CostRow:
    if total is None:
        return row
    return CostRow(
        customer_id=total.customer_id,
        group=total.group,
        requests=total.requests + row.requests,
        input_tokens=total.input_tokens + row.input_tokens,
        output_tokens=total.output_tokens + row.output_tokens,
        cost=total.cost + row.cost,
        unpriced=total.unpriced + row.unpriced,
    )


def _merged(rows: Iterable[CostRow]) -> dict[tuple[str | None, str | None], CostRow]:
    merged: dict[tuple[str | None, str | None], CostRow] = {}
    for row in rows:
        key = (row.customer_id, row.group)
        merged[key] = _add(merged.get(key), row)
    return merged


def _revenue(
    records: Sequence[RevenueRecord], start: date, end: date, currency: str, customer_id: str | None
) -> tuple[dict[str, Decimal], list[dict[str, Any]]]:
    """Revenue in ``currency`` per customer, and the other currencies' totals per customer."""
    chosen: dict[str, Decimal] = {}
    others: list[dict[str, Any]] = []
    for (customer, code), amount in sorted(totals_by_customer(records, start, end).items()):
        if customer_id is not None and customer != customer_id:
            continue
        if code == currency:
            chosen[customer] = amount
        else:
            others.append({"customer_id": customer, "currency": code, "revenue": money_str(amount)})
    return chosen, others


def _order(key: tuple[str | None, str | None]) -> tuple[bool, str, bool, str]:
    customer, group = key
    return (customer is None, customer or "", group is None, group or "")


def margin_report(
    start: date,
    end: date,
    costs: Iterable[CostRow],
    records: Sequence[RevenueRecord],
    *,
    group_by: Grouping = "customer",
    currency: str = "USD",
    customer_id: str | None = None,
) -> MarginReport:
    """The report of ``[start, end]`` (inclusive) from the period's cost rows and the revenue records overlapping it
    (see the module docstring). ``customer_id`` keeps only that customer's revenue (filter the cost rows too)."""
    check_currency(currency)
    days = report_days(start, end)
    usage = _merged(costs)
    revenue, others = _revenue(records, start, end, currency, customer_id)
    if group_by == "customer":
        for customer in revenue:
            usage.setdefault((customer, None), CostRow(customer))
        amounts = {key: revenue.get(key[0], _ZERO) if key[0] is not None else _ZERO for key in usage}
    elif group_by == "day":
        amounts = {}
        for day in days:
            text = day.isoformat()
            for (customer, code), amount in totals_by_customer(records, day, day).items():
                if code == currency and customer in revenue and amount != 0:
                    usage.setdefault((customer, text), CostRow(customer, text))
                    amounts[customer, text] = amount
        amounts = {key: amounts.get(key, _ZERO) for key in usage}
    else:
        amounts = {}
    rows, ranks = _rows(usage, amounts, revenue, group_by)
    rows = [row for _, row in sorted(zip(ranks, rows, strict=True), key=lambda pair: pair[0])]
    total_revenue = sum(amounts.values(), _ZERO) if group_by in ("customer", "day") else sum(revenue.values(), _ZERO)
    totals = _row(None, None, total_revenue, _total(usage.values()))
    del totals["customer_id"]
    return MarginReport(start, end, currency, group_by, rows, totals, others)


def _total(rows: Iterable[CostRow]) -> CostRow:
    total = CostRow(None)
    for row in rows:
        total = _add(total, row)
    return total


def _rows(
    usage: dict[tuple[str | None, str | None], CostRow],
    amounts: dict[tuple[str | None, str | None], Decimal],
    revenue: dict[str, Decimal],
    group_by: Grouping,
) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    """The report rows and the sort key of each (least profitable first)."""
    rows: list[dict[str, Any]] = []
    ranks: list[tuple[Any, ...]] = []
    if group_by in ("customer", "day"):
        for key, row in usage.items():
            amount = amounts[key]
            group = None if group_by == "customer" else (group_by, key[1])
            rows.append(_row(key[0], group, amount, row))
            ranks.append((amount - row.cost, *_order(key)))
        return rows, ranks
    # By model or feature: rank by the customer's margin over all its groups, then by the group's cost.
    spent: dict[str | None, Decimal] = {}
    for (customer, _), row in usage.items():
        spent[customer] = spent.get(customer, _ZERO) + row.cost
    for key, row in usage.items():
        customer = key[0]
        customer_margin = (revenue.get(customer, _ZERO) if customer is not None else _ZERO) - spent[customer]
        rows.append(_row(customer, (group_by, key[1]), None, row))
        ranks.append((customer_margin, _order((customer, None)), -row.cost, key[1] is None, key[1] or ""))
    return rows, ranks

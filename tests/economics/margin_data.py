"""A hand-computed margin dataset (shared by ``test_econ_margin_*.py``): 3 customers + unattributed traffic,
2 models, 2 days, 2 features; gamma is unprofitable; revenue with a prorated subscription, a refund, a payment in
another currency and records outside the period. The expected numbers below were worked out by hand (see the
comments), not by the code under test."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tollway.economics.revenue import RevenueRecord, parse_revenue
from tollway.governance.spend_event import SpendEvent
from tollway.storage.database import Database
from tollway.storage.revenue_store import RevenueStore
from tollway.storage.spend_store import SpendStore

__all__ = ["BY_CUSTOMER", "TOTALS", "seed"]


def _event(
    customer: str | None, model: str, day: int, feature: str | None, usage: tuple[str | None, int, int]
) -> SpendEvent:
    cost, input_tokens, output_tokens = usage
    return SpendEvent(
        ts=datetime(2025, 6, day, 12, 30, tzinfo=UTC),
        request_id=f"r-{customer}-{model}-{day}-{feature}-{cost}",
        customer_id=customer,
        feature=feature,
        model_group=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=None if cost is None else Decimal(cost),
    )


EVENTS = [
    _event("acme", "gpt-4o", 1, "chat", ("2.50", 1000, 200)),
    _event("acme", "mini", 2, "search", ("0.50", 500, 100)),
    _event("beta", "gpt-4o", 1, "chat", ("1.00", 400, 50)),
    _event("beta", "gpt-4o", 2, "chat", ("1.25", 500, 60)),
    _event("gamma", "gpt-4o", 1, "search", ("30.00", 10000, 3000)),
    _event("gamma", "mini", 2, "chat", ("5.00", 2000, 500)),
    _event("gamma", "mini", 2, None, (None, 100, 10)),  # unpriced: counts 0 cost, 1 unpriced request
    _event(None, "mini", 1, "chat", ("0.75", 300, 30)),  # no customer
    _event("acme", "gpt-4o", 3, "chat", ("9.00", 1, 1)),  # after the period
]

REVENUE = [
    {"customer_id": "acme", "amount": "100", "currency": "USD", "date": "2025-06-01", "external_id": "a1"},
    {"customer_id": "acme", "amount": "40", "currency": "USD", "date": "2025-06-05", "external_id": "a2"},  # after
    # 50 over 10 days = 5 a day: 10 in the period (5 on each day)
    {
        "customer_id": "beta",
        "amount": "50",
        "currency": "USD",
        "period_start": "2025-06-01",
        "period_end": "2025-06-10",
        "external_id": "b1",
    },
    {
        "customer_id": "beta",
        "amount": "2",
        "currency": "USD",
        "date": "2025-06-02",
        "kind": "refund",
        "external_id": "b2",
    },
    {"customer_id": "gamma", "amount": "20", "currency": "USD", "date": "2025-06-02", "external_id": "g1"},
    {"customer_id": "gamma", "amount": "15", "currency": "EUR", "date": "2025-06-01", "external_id": "g2"},
]


def _row(customer: str | None, *values: object) -> dict[str, object]:
    names = (
        "revenue",
        "cost",
        "margin",
        "margin_pct",
        "requests",
        "input_tokens",
        "output_tokens",
        "unpriced_requests",
    )
    return {"customer_id": customer, **dict(zip(names, values, strict=True))}


# revenue - cost = margin; margin_pct = 100 * margin / revenue (half up, 2 places); least profitable first.
BY_CUSTOMER = [
    _row("gamma", "20", "35", "-15", "-75.00", 3, 12100, 3510, 1),  # 30 + 5 + 0 (unpriced)
    _row(None, "0", "0.75", "-0.75", None, 1, 300, 30, 0),
    _row("beta", "8", "2.25", "5.75", "71.88", 2, 900, 110, 0),  # 10 - 2 refund; 575/8 = 71.875
    _row("acme", "100", "3", "97", "97.00", 2, 1500, 300, 0),
]
# 128 - 41 = 87; 8700/128 = 67.96875
TOTALS = {
    "revenue": "128",
    "cost": "41",
    "margin": "87",
    "margin_pct": "67.97",
    "requests": 8,
    "input_tokens": 14800,
    "output_tokens": 3950,
    "unpriced_requests": 1,
}


def _with(row: dict[str, object], name: str, value: object) -> dict[str, object]:
    first = {"customer_id": row.pop("customer_id"), name: value}
    return first | row


BY_DAY = [
    _with(_row("gamma", "0", "30", "-30", None, 1, 10000, 3000, 0), "day", "2025-06-01"),
    _with(_row(None, "0", "0.75", "-0.75", None, 1, 300, 30, 0), "day", "2025-06-01"),
    _with(_row("acme", "0", "0.5", "-0.5", None, 1, 500, 100, 0), "day", "2025-06-02"),
    _with(_row("beta", "3", "1.25", "1.75", "58.33", 1, 500, 60, 0), "day", "2025-06-02"),  # 5 - 2 refund
    _with(_row("beta", "5", "1", "4", "80.00", 1, 400, 50, 0), "day", "2025-06-01"),
    _with(_row("gamma", "20", "5", "15", "75.00", 2, 2100, 510, 1), "day", "2025-06-02"),
    _with(_row("acme", "100", "2.5", "97.5", "97.50", 1, 1000, 200, 0), "day", "2025-06-01"),
]
# Revenue cannot be split by model or feature: null on the rows, in the totals; rows ranked by their customer's
# margin (gamma -15, unattributed -0.75, beta 5.75, acme 97), then by cost, largest first.
BY_MODEL = [
    _with(_row("gamma", None, "30", None, None, 1, 10000, 3000, 0), "model", "gpt-4o"),
    _with(_row("gamma", None, "5", None, None, 2, 2100, 510, 1), "model", "mini"),
    _with(_row(None, None, "0.75", None, None, 1, 300, 30, 0), "model", "mini"),
    _with(_row("beta", None, "2.25", None, None, 2, 900, 110, 0), "model", "gpt-4o"),
    _with(_row("acme", None, "2.5", None, None, 1, 1000, 200, 0), "model", "gpt-4o"),
    _with(_row("acme", None, "0.5", None, None, 1, 500, 100, 0), "model", "mini"),
]
BY_FEATURE = [
    _with(_row("gamma", None, "30", None, None, 1, 10000, 3000, 0), "feature", "search"),
    _with(_row("gamma", None, "5", None, None, 1, 2000, 500, 0), "feature", "chat"),
    _with(_row("gamma", None, "0", None, None, 1, 100, 10, 1), "feature", None),
    _with(_row(None, None, "0.75", None, None, 1, 300, 30, 0), "feature", "chat"),
    _with(_row("beta", None, "2.25", None, None, 2, 900, 110, 0), "feature", "chat"),
    _with(_row("acme", None, "2.5", None, None, 1, 1000, 200, 0), "feature", "chat"),
    _with(_row("acme", None, "0.5", None, None, 1, 500, 100, 0), "feature", "search"),
]
OTHER_CURRENCIES = [{"customer_id": "gamma", "currency": "EUR", "revenue": "15"}]


async def seed(database: Database) -> None:
    """Write the spend rows through ``SpendStore.write_batch`` and the revenue through ``RevenueStore``."""
    assert await SpendStore(database).write_batch(EVENTS) == len(EVENTS)
    records: list[RevenueRecord] = [parse_revenue(payload) for payload in REVENUE]
    await RevenueStore(database).add_many(records)

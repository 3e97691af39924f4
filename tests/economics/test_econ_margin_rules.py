"""The pure margin rules (``tollway.economics.margin``): margin_pct rounding and its null, ties in the order,
revenue-only customers, the one-currency rule and the period checks."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tollway.economics.margin import CostRow, check_currency, margin_pct, margin_report, report_days
from tollway.economics.revenue import parse_revenue

DAY = date(2025, 6, 1)


def test_margin_pct() -> None:
    assert margin_pct(Decimal(8), Decimal("5.75")) == "71.88"  # 71.875 rounds half up
    assert margin_pct(Decimal(3), Decimal(-1)) == "-33.33"
    assert margin_pct(Decimal(0), Decimal(-1)) is None
    assert margin_pct(Decimal(-2), Decimal(-3)) == "150.00"  # a refund-only period: still a number, not hidden
    assert margin_pct(None, None) is None


def test_revenue_without_spend_and_ties() -> None:
    records = [parse_revenue({"customer_id": c, "amount": "1", "currency": "USD", "date": "2025-06-01"}) for c in "ba"]
    report = margin_report(DAY, DAY, [CostRow("c", cost=Decimal("1"))], records)
    # b and a both earn 1 at no cost (margin 1): ties go by customer id; c costs 1 and earns nothing (margin -1).
    assert [(row["customer_id"], row["margin"]) for row in report.rows] == [("c", "-1"), ("a", "1"), ("b", "1")]
    assert report.totals["margin"] == "1"


def test_currency_and_period_checks() -> None:
    check_currency("USD")
    with pytest.raises(ValueError, match="USD only"):
        check_currency("EUR")
    with pytest.raises(ValueError, match="end is before start"):
        report_days(DAY, date(2025, 5, 31))
    with pytest.raises(ValueError, match="at most"):
        report_days(date(2000, 1, 1), DAY)
    assert report_days(DAY, date(2025, 6, 3)) == [DAY, date(2025, 6, 2), date(2025, 6, 3)]

"""Revenue records without a database: payload validation (each error names its field), CSV parsing (each error
names its line), proration by days, and Stripe amounts and periods."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tollway.economics.revenue import (
    InvalidRevenueCsvError,
    RevenueRecord,
    parse_csv,
    parse_revenue,
    portion,
    revenue_problems,
    totals_by_customer,
)
from tollway.economics.stripe_sync import (
    StripeObjects,
    SyncReport,
    invoice_record,
    refund_record,
    stripe_amount,
    stripe_records,
)
from tollway.governance.records import InvalidFieldError

BASE = {"customer_id": "c1", "amount": "12.50", "currency": "USD", "date": "2025-06-01"}


def test_a_payload_with_a_date_is_a_one_day_record() -> None:
    record = parse_revenue(BASE | {"external_id": "inv-1", "metadata": {"plan": "pro"}}, created_by="master")
    assert (record.customer_id, record.amount, record.currency) == ("c1", Decimal("12.50"), "USD")
    assert record.period_start == record.period_end == date(2025, 6, 1)
    assert (record.kind, record.source, record.external_id, record.created_by) == (
        "revenue",
        "manual",
        "inv-1",
        "master",
    )
    assert record.to_api()["amount"] == "12.5"
    assert record.signed_amount == Decimal("12.50")


def test_a_period_lower_case_currency_and_a_refund() -> None:
    payload = {**BASE, "date": None, "period_start": "2025-06-01", "period_end": "2025-06-30", "currency": "eur"}
    record = parse_revenue(payload | {"kind": "refund", "amount": 3, "source": "stripe"})
    assert (record.period_start, record.period_end, record.days) == (date(2025, 6, 1), date(2025, 6, 30), 30)
    assert (record.currency, record.kind, record.source) == ("EUR", "refund", "stripe")
    assert record.signed_amount == Decimal(-3)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"currency": "XYZ"}, "currency", "unknown currency"),
        ({"currency": "US"}, "currency", "ISO 4217"),
        ({"currency": "XAU"}, "currency", "unknown currency"),  # gold is not money a customer pays in
        ({"amount": "-5"}, "amount", ">= 0"),
        ({"amount": "12,50"}, "amount", "not a decimal"),
        ({"amount": "1e400"}, "amount", "at most 16 digits"),
        ({"amount": "0.0000000000001"}, "amount", "12 after"),
        ({"amount": True}, "amount", "expected a decimal string"),
        ({"amount": "NaN"}, "amount", "finite"),
        ({"date": "2025-02-30"}, "date", "not a calendar date"),
        ({"date": "20250601"}, "date", "YYYY-MM-DD"),
        ({"date": None}, "date", "required"),
        ({"period_start": "2025-06-01"}, "period_start", "not both"),
        ({"date": None, "period_start": "2025-06-01"}, "period_end", "required with period_start"),
        ({"date": None, "period_end": "2025-06-01"}, "period_start", "required with period_end"),
        ({"date": None, "period_start": "2025-06-10", "period_end": "2025-06-09"}, "period_end", "before"),
        ({"customer_id": None}, "customer_id", "required"),
        ({"customer_id": " c1"}, "customer_id", "surrounding spaces"),
        ({"kind": "credit"}, "kind", "'revenue', 'refund'"),
        ({"source": "Stripe Inc"}, "source", "lower-case"),
        ({"external_id": ""}, "external_id", "non-empty"),
        ({"metadata": [1]}, "metadata", "object"),
    ],
)
def test_each_bad_field_is_named(change: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        parse_revenue(BASE | change)
    assert caught.value.field == field
    assert words in caught.value.problem


def test_every_problem_of_a_payload_is_reported() -> None:
    record, problems = revenue_problems({"amount": "-1", "currency": "ABC"})
    assert record is None
    assert [problem.field for problem in problems] == ["customer_id", "amount", "currency", "date"]


def test_a_csv_file_becomes_records() -> None:
    text = (
        "\ufeffCustomer_ID,amount,currency,date,period_start,period_end,external_id,kind\n"
        "c1,10.00,USD,2025-06-01,,,a-1,\n"
        "\n"
        'c2,"1000",jpy,,2025-06-01,2025-06-30,a-2,revenue\n'
        "c1,2.5,USD,2025-06-03,,,a-3,refund\n"
        "c1,10.00,USD,2025-06-01,,,a-1,\n"  # the same row twice is one record
    )
    records = parse_csv(text, created_by="cli")
    assert [(r.customer_id, r.amount, r.currency, r.kind, r.external_id) for r in records] == [
        ("c1", Decimal("10.00"), "USD", "revenue", "a-1"),
        ("c2", Decimal(1000), "JPY", "revenue", "a-2"),
        ("c1", Decimal("2.5"), "USD", "refund", "a-3"),
    ]
    assert {r.source for r in records} == {"csv"}
    assert records[1].days == 30


def test_csv_problems_name_every_bad_line() -> None:
    text = (
        "customer_id,amount,currency,date,external_id,source\n"
        "c1,10,USD,2025-06-01,x-1,\n"
        "c1,-3,USD,2025-06-01,x-2,\n"
        ",5,ZZZ,2025-06-31,x-3,\n"
        "c1,10,USD,2025-06-01,x-4\n"
        "c1,11,USD,2025-06-01,x-1,\n"
        "c1,1,USD,2025-06-01,,\n"
    )
    with pytest.raises(InvalidRevenueCsvError) as caught:
        parse_csv(text)
    assert [str(problem) for problem in caught.value.problems] == [
        "line 3: amount: must be >= 0, got -3 (record a refund with kind 'refund')",
        "line 4: customer_id: required: the customer who paid",
        "line 4: currency: unknown currency 'ZZZ' (expected an ISO 4217 code such as \"USD\")",
        "line 4: date: '2025-06-31' is not a calendar date",
        "line 5: row: has 5 cells, the header 6",
        "line 6: external_id: 'x-1' is also on line 2 with other values",
        "line 7: external_id: required in a CSV file (it makes importing the file again record nothing new)",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ["line 1: header: the file is empty: expected a header line"]),
        (
            "customer_id,amount,currency,external_id\n",
            ["line 1: date: missing column: date, or period_start and period_end"],
        ),
        (
            "customer_id,amount,currency,period_start,external_id,price\n",
            [
                "line 1: price: unknown column",
                "line 1: period_end: missing column (period_start and period_end go together)",
            ],
        ),
        (
            "customer_id,amount,amount,date\n",
            [
                "line 1: amount: duplicate column",
                "line 1: currency: missing column",
                "line 1: external_id: missing column",
            ],
        ),
    ],
)
def test_csv_header_problems(text: str, expected: list[str]) -> None:
    with pytest.raises(InvalidRevenueCsvError) as caught:
        parse_csv(text)
    assert [str(problem) for problem in caught.value.problems] == expected


def _record(amount: str, start: date, end: date, **fields: Any) -> RevenueRecord:
    values: dict[str, Any] = {"customer_id": "c1", "currency": "USD"} | fields
    return RevenueRecord(amount=Decimal(amount), period_start=start, period_end=end, **values)


def test_proration_by_days() -> None:
    january = _record("31.00", date(2025, 1, 1), date(2025, 1, 31))
    assert portion(january, date(2025, 1, 1), date(2025, 1, 10)) == Decimal("10.00")
    assert portion(january, date(2024, 12, 1), date(2025, 3, 1)) == Decimal("31.00")  # wholly inside: exact
    assert portion(january, date(2025, 2, 1), date(2025, 2, 28)) == 0
    third = portion(_record("100", date(2025, 1, 1), date(2025, 1, 3)), date(2025, 1, 1), date(2025, 1, 1))
    assert third == Decimal("33.333333333333")  # rounded to the store's 12 places
    refund = _record("6", date(2025, 1, 2), date(2025, 1, 2), kind="refund")
    assert portion(refund, date(2025, 1, 1), date(2025, 1, 31)) == Decimal(-6)


def test_totals_keep_currencies_apart_and_subtract_refunds() -> None:
    records = [
        _record("31", date(2025, 1, 1), date(2025, 1, 31)),
        _record("5", date(2025, 1, 5), date(2025, 1, 5), kind="refund"),
        _record("3100", date(2025, 1, 1), date(2025, 1, 31), currency="JPY"),
        _record("7", date(2025, 1, 20), date(2025, 1, 20), customer_id="c2"),
        _record("99", date(2025, 3, 1), date(2025, 3, 1), customer_id="c3"),  # outside: no key at all
    ]
    assert totals_by_customer(records, date(2025, 1, 1), date(2025, 1, 10)) == {
        ("c1", "USD"): Decimal(5),
        ("c1", "JPY"): Decimal(1000),
    }


@pytest.mark.parametrize(
    ("minor", "currency", "expected"),
    [(1250, "USD", "12.50"), (1250, "JPY", "1250"), (1250, "KRW", "1250"), (1250, "KWD", "1.250"), (5, "EUR", "0.05")],
)
def test_stripe_amounts_respect_the_currency_exponent(minor: int, currency: str, expected: str) -> None:
    assert stripe_amount(minor, currency) == Decimal(expected)
    assert str(stripe_amount(minor, currency)) == expected


def test_stripe_invoice_period_is_inclusive_and_one_off_invoices_use_the_payment_day() -> None:
    subscription = {
        "id": "in_1",
        "customer": "cus_1",
        "currency": "usd",
        "amount_paid": 3100,
        "period_start": 1735689600,  # 2025-01-01T00:00Z
        "period_end": 1738368000,  # 2025-02-01T00:00Z (exclusive)
    }
    record = invoice_record(subscription, "c1")
    assert (record.period_start, record.period_end) == (date(2025, 1, 1), date(2025, 1, 31))
    assert (record.amount, record.currency, record.external_id, record.source) == (Decimal(31), "USD", "in_1", "stripe")
    one_off = subscription | {"period_end": 1735689600, "status_transitions": {"paid_at": 1736000000}}
    assert invoice_record(one_off, "c1").period_start == invoice_record(one_off, "c1").period_end == date(2025, 1, 4)
    with pytest.raises(ValueError, match="unknown currency"):
        invoice_record(subscription | {"currency": "zzz"}, "c1")


def test_stripe_objects_left_out_are_reported() -> None:
    charge = {"id": "ch_1", "customer": "cus_1"}
    objects = StripeObjects(
        invoices=[
            {"id": "in_1", "customer": "cus_1", "currency": "usd", "amount_paid": 100, "created": 1736000000},
            {"id": "in_2", "customer": "cus_404", "currency": "usd", "amount_paid": 100, "created": 1736000000},
            {"id": "in_3", "customer": "cus_1", "currency": "usd", "amount_paid": -1, "created": 1736000000},
        ],
        refunds=[
            {
                "id": "re_1",
                "amount": 50,
                "currency": "usd",
                "charge": charge,
                "created": 1736000000,
                "status": "succeeded",
            },
            {
                "id": "re_2",
                "amount": 50,
                "currency": "usd",
                "charge": charge,
                "created": 1736000000,
                "status": "pending",
            },
            {
                "id": "re_3",
                "amount": 50,
                "currency": "usd",
                "charge": "ch_9",
                "created": 1736000000,
                "status": "succeeded",
            },
        ],
    )
    report = SyncReport()
    records = stripe_records(objects, {"cus_1": "c1"}, report)
    assert [(r.external_id, r.kind, r.signed_amount) for r in records] == [
        ("in_1", "revenue", Decimal(1)),
        ("re_1", "refund", Decimal("-0.5")),
    ]
    assert report.unmapped == {"(no customer)": 1, "cus_404": 1}
    assert set(report.skipped) == {"in_3", "re_2"}
    assert refund_record(objects.refunds[0], "c1").metadata == {"stripe_customer": "cus_1", "charge": "ch_1"}

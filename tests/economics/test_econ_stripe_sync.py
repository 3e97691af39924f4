"""The Stripe sync against a fake Stripe on loopback (``fakes.stripe_fake``), listed by the official ``stripe``
package, on SQLite and PostgreSQL: several pages, refunds, a zero-decimal currency, an unmapped Stripe customer,
and a second run that records nothing new; and ``tollway revenue sync-stripe`` end to end."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest

from fakes.stripe_fake import API_KEY, StripeFake, unix
from tollway.cli import main
from tollway.economics.stripe_sync import fetch_stripe, sync_stripe
from tollway.governance.records import CustomerRecord
from tollway.storage.audit import AuditLog
from tollway.storage.database import Database
from tollway.storage.entities import CustomerStore
from tollway.storage.revenue_store import RevenueStore

JUNE = (date(2025, 6, 1), date(2025, 6, 30))


@pytest.fixture
def stripe_fake() -> Iterator[StripeFake]:
    """A fresh fake Stripe server."""
    with StripeFake() as fake:
        yield fake


@pytest.fixture
async def mapped(database: Database) -> Database:
    """The database with customers acme (cus_acme) and yamada (cus_yamada)."""
    customers = CustomerStore(database)
    await customers.create(CustomerRecord(customer_id="acme", stripe_customer_id="cus_acme"))
    await customers.create(CustomerRecord(customer_id="yamada", stripe_customer_id="cus_yamada"))
    return database


async def sync(database: Database, fake: StripeFake, start: date, end: date) -> tuple[int, int, dict[str, int]]:
    objects = await asyncio.to_thread(fetch_stripe, API_KEY, start, end, api_base=fake.url)
    report = await sync_stripe(database, objects)
    return report.created, report.existing, report.unmapped


def month_of_invoices(fake: StripeFake, count: int) -> None:
    """``count`` paid invoices of acme in June, 1.00 to ``count``.00 USD, one-off (period = payment day)."""
    for n in range(count):
        day = JUNE[0] + timedelta(days=n % 30)
        fake.invoice("cus_acme", 100 * (n + 1), created=unix(day, hour=n % 24))


async def test_every_page_is_recorded_once_even_when_synced_twice(mapped: Database, stripe_fake: StripeFake) -> None:
    month_of_invoices(stripe_fake, 230)  # three pages of 100
    stripe_fake.invoice("cus_acme", 999, created=unix(date(2025, 5, 31), 23))  # before the range
    stripe_fake.invoice("cus_acme", 999, created=unix(date(2025, 7, 1), 0))  # after it
    stripe_fake.invoice("cus_acme", 999, created=unix(date(2025, 6, 2)), status="open")  # not paid
    assert await sync(mapped, stripe_fake, *JUNE) == (230, 0, {})
    pages = [query for path, query in stripe_fake.requests if path == "/v1/invoices"]
    assert len(pages) == 3
    assert "starting_after" not in pages[0]
    june = range(unix(JUNE[0], 0), unix(date(2025, 7, 1), 0))
    in_june = [i for i in stripe_fake.invoices if i["status"] == "paid" and i["created"] in june]
    newest_first = [i["id"] for i in sorted(in_june, key=lambda i: (i["created"], i["id"]), reverse=True)]
    assert [page["starting_after"] for page in pages[1:]] == [newest_first[99], newest_first[199]]
    assert {query["limit"] for query in pages} == {"100"}
    assert pages[0]["status"] == "paid"
    assert pages[0]["created[gte]"] == str(unix(date(2025, 6, 1), 0))
    assert pages[0]["created[lt]"] == str(unix(date(2025, 7, 1), 0))
    expected = {("acme", "USD"): Decimal(sum(range(1, 231)))}
    store = RevenueStore(mapped)
    assert await store.revenue_by_customer(*JUNE) == expected
    assert await sync(mapped, stripe_fake, *JUNE) == (0, 230, {})
    assert await store.revenue_by_customer(*JUNE) == expected
    assert (await store.query(source="stripe"))[1] == 230


async def test_refunds_zero_decimal_currencies_and_periods(mapped: Database, stripe_fake: StripeFake) -> None:
    may_first, june_first = unix(date(2025, 5, 1), 0), unix(date(2025, 6, 1), 0)
    stripe_fake.invoice("cus_acme", 3100, created=unix(date(2025, 6, 1), 1), period=(may_first, june_first))
    stripe_fake.invoice("cus_yamada", 5000, currency="jpy", created=unix(date(2025, 6, 3)))
    stripe_fake.refund("cus_acme", 1050, created=unix(date(2025, 6, 10)))
    stripe_fake.refund("cus_acme", 500, created=unix(date(2025, 6, 11)), status="pending")  # not yet
    stripe_fake.refund("cus_yamada", 1000, currency="jpy", created=unix(date(2025, 6, 12)))
    assert await sync(mapped, stripe_fake, *JUNE) == (4, 0, {})
    refunds = [query for path, query in stripe_fake.requests if path == "/v1/refunds"]
    assert any(value == "data.charge" for name, value in refunds[0].items() if name.startswith("expand"))
    store = RevenueStore(mapped)
    # The May subscription period counts in May, its refund in June.
    assert await store.revenue_by_customer(date(2025, 5, 1), date(2025, 5, 31)) == {("acme", "USD"): Decimal(31)}
    assert await store.revenue_by_customer(date(2025, 5, 1), date(2025, 5, 10)) == {("acme", "USD"): Decimal(10)}
    assert await store.revenue_by_customer(*JUNE) == {
        ("acme", "USD"): Decimal("-10.50"),
        ("yamada", "JPY"): Decimal(4000),  # 5000 yen, not 50.00
    }
    records = {r.external_id: r for r in (await store.query())[0]}
    invoice = records["in_000001"]
    assert (invoice.period_start, invoice.period_end, invoice.source) == (date(2025, 5, 1), date(2025, 5, 31), "stripe")
    assert invoice.metadata == {"stripe_customer": "cus_acme", "invoice_number": "INV-0001"}
    assert records["re_000003"].kind == "refund"
    assert records["re_000003"].period_start == date(2025, 6, 10)
    assert "re_000004" not in records


async def test_unmapped_customers_are_reported_then_recorded_once_mapped(
    mapped: Database, stripe_fake: StripeFake
) -> None:
    stripe_fake.invoice("cus_acme", 100, created=unix(date(2025, 6, 2)))
    stripe_fake.invoice("cus_new", 700, created=unix(date(2025, 6, 3)))
    stripe_fake.invoice("cus_new", 800, created=unix(date(2025, 6, 4)))
    stripe_fake.refund("cus_new", 100, created=unix(date(2025, 6, 5)))
    assert await sync(mapped, stripe_fake, *JUNE) == (1, 0, {"cus_new": 3})
    customers = CustomerStore(mapped)
    assert await customers.get("cus_new") is None  # reported, never invented
    await customers.create(CustomerRecord(customer_id="newco", stripe_customer_id="cus_new"))
    assert await sync(mapped, stripe_fake, *JUNE) == (3, 1, {})
    totals = await RevenueStore(mapped).revenue_by_customer(*JUNE)
    assert totals == {("acme", "USD"): Decimal(1), ("newco", "USD"): Decimal(14)}


async def test_the_cli_syncs_and_reports(
    mapped: Database, database_url: str, stripe_fake: StripeFake, capsys: pytest.CaptureFixture[str]
) -> None:
    month_of_invoices(stripe_fake, 120)
    stripe_fake.invoice("cus_other", 5, created=unix(date(2025, 6, 9)))
    argv = ["revenue", "sync-stripe", "--start", "2025-06-01", "--end", "2025-06-30", "--api-base", stripe_fake.url]
    argv += ["--database-url", database_url]
    os.environ["STRIPE_API_KEY"] = API_KEY  # restored by the autouse clean_environ fixture
    assert await asyncio.to_thread(main, argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "stripe: 121 paid invoices, 0 refunds: 120 new, 0 already recorded",
        "unmapped Stripe customer cus_other: 1 not recorded (set it as a customer's stripe_customer_id)",
    ]
    assert await asyncio.to_thread(main, argv) == 0
    assert (
        capsys.readouterr().out.splitlines()[0] == "stripe: 121 paid invoices, 0 refunds: 0 new, 120 already recorded"
    )
    entries, total = await AuditLog(mapped).query(action="revenue.sync_stripe")
    assert total == 1
    assert entries[0].note == "stripe 2025-06-01..2025-06-30"
    os.environ["STRIPE_API_KEY"] = "sk_test_wrong"
    assert await asyncio.to_thread(main, argv) == 1
    assert "Invalid API Key provided" in capsys.readouterr().err
    del os.environ["STRIPE_API_KEY"]
    assert await asyncio.to_thread(main, argv) == 1
    assert "set STRIPE_API_KEY" in capsys.readouterr().err
    os.environ["STRIPE_API_KEY"] = API_KEY
    assert await asyncio.to_thread(main, [*argv[:2], "--start", "2025-06-30", "--end", "2025-06-01"]) == 1
    assert "--end is before --start" in capsys.readouterr().err

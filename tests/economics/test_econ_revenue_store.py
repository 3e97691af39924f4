"""``RevenueStore`` on SQLite and PostgreSQL: idempotent recording, conflicts refused whole, filters, pagination,
and totals per customer and currency with proration."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from tollway.economics.revenue import RevenueRecord
from tollway.storage.database import Database, RecordNotFoundError
from tollway.storage.revenue_store import RevenueConflictError, RevenueStore


def record(amount: str, day: str, end: str | None = None, **fields: Any) -> RevenueRecord:
    values: dict[str, Any] = {"customer_id": "c1", "currency": "USD", "source": "manual"} | fields
    start = date.fromisoformat(day)
    return RevenueRecord(
        amount=Decimal(amount), period_start=start, period_end=date.fromisoformat(end or day), **values
    )


async def test_recording_twice_is_one_record(database: Database) -> None:
    store = RevenueStore(database, clock=lambda: datetime(2025, 7, 1, tzinfo=UTC))
    first, created = await store.add(record("12.50", "2025-06-01", external_id="inv-1", metadata={"a": 1}))
    assert created
    again, created_again = await store.add(record("12.5", "2025-06-01", external_id="inv-1"))
    assert not created_again
    assert again == first  # the stored record: same id, stamps and metadata
    assert first.created_at == datetime(2025, 7, 1, tzinfo=UTC)
    stored = await store.get(first.id)
    assert stored == first
    assert stored is not None
    assert stored.amount == Decimal("12.50")
    assert (await store.query())[1] == 1
    # Another source may use the same external id; records without one are always new.
    assert (await store.add(record("1", "2025-06-01", external_id="inv-1", source="csv")))[1]
    assert (await store.add(record("1", "2025-06-01")))[1]
    assert (await store.add(record("1", "2025-06-01")))[1]
    assert (await store.query())[1] == 4


async def test_a_key_recorded_with_other_values_refuses_the_whole_batch(database: Database) -> None:
    store = RevenueStore(database)
    await store.add(record("10", "2025-06-01", external_id="x-1"))
    batch = [record("5", "2025-06-02", external_id="x-2"), record("11", "2025-06-01", external_id="x-1")]
    with pytest.raises(RevenueConflictError) as caught:
        await store.add_many(batch)
    new, old = caught.value.conflicts[0]
    assert (new.amount, old.amount) == (Decimal(11), Decimal(10))
    assert "manual:x-1" in str(caught.value)
    _records, total = await store.query()
    assert total == 1  # x-2 was not written either
    # The same key twice in one batch with other values conflicts too; twice with the same values is one record.
    with pytest.raises(RevenueConflictError):
        await store.add_many([record("1", "2025-06-03", external_id="y"), record("2", "2025-06-03", external_id="y")])
    added = await store.add_many(
        [record("1", "2025-06-03", external_id="y"), record("1", "2025-06-03", external_id="y")]
    )
    assert [created for _, created in added] == [True, False]
    assert added[0][0] == added[1][0]


async def test_a_large_batch_and_its_repeat(database: Database) -> None:
    store = RevenueStore(database)
    batch = [record("1.01", "2025-06-01", external_id=f"row-{n}", customer_id=f"c{n % 7}") for n in range(1203)]
    assert all(created for _, created in await store.add_many(batch))
    assert not any(created for _, created in await store.add_many(batch))
    assert (await store.query(page_size=1))[1] == 1203
    totals = await store.revenue_by_customer(date(2025, 6, 1), date(2025, 6, 1))
    assert sum(totals.values()) == Decimal("1.01") * 1203


async def test_concurrent_writers_of_the_same_records_count_them_once(database: Database) -> None:
    stores = [RevenueStore(database) for _ in range(4)]
    batch = [record("2", "2025-06-01", external_id=f"k-{n}") for n in range(50)]
    results = await asyncio.gather(*(store.add_many(batch) for store in stores))
    assert sum(created for result in results for _, created in result) == 50
    assert (await stores[0].query())[1] == 50


async def test_filters_and_pages(database: Database) -> None:
    clock = iter(datetime(2025, 7, 1, hour, tzinfo=UTC) for hour in range(10))
    store = RevenueStore(database, clock=lambda: next(clock))
    await store.add(record("31", "2025-01-01", "2025-01-31", external_id="jan"))
    await store.add(record("28", "2025-02-01", "2025-02-28", external_id="feb", currency="EUR"))
    await store.add(record("3", "2025-02-10", external_id="r1", kind="refund", source="stripe"))
    await store.add(record("9", "2025-03-01", external_id="mar", customer_id="c2"))
    ids = lambda records: [r.external_id for r in records]  # noqa: E731
    assert ids((await store.query())[0]) == ["mar", "r1", "feb", "jan"]  # newest first
    assert ids((await store.query(start=date(2025, 1, 31), end=date(2025, 2, 1)))[0]) == ["feb", "jan"]
    assert ids((await store.query(customer_id="c2"))[0]) == ["mar"]
    assert ids((await store.query(currency="EUR"))[0]) == ["feb"]
    assert ids((await store.query(source="stripe", kind="refund"))[0]) == ["r1"]
    page, total = await store.query(page=2, page_size=3)
    assert (ids(page), total) == (["jan"], 4)
    with pytest.raises(ValueError, match="page_size"):
        await store.query(page_size=0)


async def test_revenue_by_customer_prorates_and_keeps_currencies_apart(database: Database) -> None:
    store = RevenueStore(database)
    await store.add_many(
        [
            record("31.00", "2025-01-01", "2025-01-31", external_id="c1-jan"),
            record("3100", "2025-01-01", "2025-01-31", currency="JPY", external_id="c1-jan-jpy"),
            record("5", "2025-01-05", kind="refund", external_id="c1-refund"),
            record("5", "2025-01-20", kind="refund", external_id="c1-refund-late"),
            record("100", "2025-01-01", "2025-01-03", customer_id="c2", external_id="c2"),
            record("50", "2025-02-01", customer_id="c3", external_id="c3-feb"),
        ]
    )
    totals = await store.revenue_by_customer(date(2025, 1, 1), date(2025, 1, 10))
    assert totals == {
        ("c1", "USD"): Decimal("5.00"),  # 31 * 10/31 - 5
        ("c1", "JPY"): Decimal(1000),
        ("c2", "USD"): Decimal(100),
    }
    one_day = await store.revenue_by_customer(date(2025, 1, 3), date(2025, 1, 3), customer_id="c2")
    assert one_day == {("c2", "USD"): Decimal("33.333333333333")}
    with pytest.raises(ValueError, match="before start"):
        await store.revenue_by_customer(date(2025, 1, 2), date(2025, 1, 1))


async def test_delete(database: Database) -> None:
    store = RevenueStore(database)
    stored, _ = await store.add(record("1", "2025-06-01", external_id="oops"))
    assert await store.delete(stored.id) == stored
    assert await store.get(stored.id) is None
    with pytest.raises(RecordNotFoundError):
        await store.delete(stored.id)
    assert (await store.add(record("1", "2025-06-01", external_id="oops")))[1]  # recordable again

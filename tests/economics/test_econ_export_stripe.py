"""Billing export to Stripe meter events, end to end on SQLite and PostgreSQL: the official ``stripe`` package sends
to the fake Stripe (``fakes.stripe_fake``, which keeps Stripe's rules: identifiers unique for 24 hours, the 35-day
window, whole values), from spend rows written by the real spend store."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from export_support import cursor, exporter, map_customers, spend, sqlite_database, stripe_settings, write

from fakes.stripe_fake import METER_EVENTS, StripeFake
from tollway.storage.database import Database
from tollway.storage.entities import CustomerStore
from tollway.storage.export_store import ExportStore


@pytest.fixture
def fake() -> Iterator[StripeFake]:
    with StripeFake() as running:
        yield running


@pytest.fixture
async def mapped(database: Database) -> Database:
    """SQLite and PostgreSQL, customers mapped: for what depends on the store (order, cursor, lease, records)."""
    await map_customers(database)
    return database


@pytest.fixture
async def lite(sqlite_database: Database) -> Database:
    """SQLite only, customers mapped: for the exporter's own behaviour (retries, halts, the window)."""
    await map_customers(sqlite_database)
    return sqlite_database


__all__ = ["sqlite_database"]  # a fixture, imported to be found


def ident(n: int, kind: str = "total") -> str:
    return f"{n:032x}:{kind}"


def posts(fake: StripeFake) -> int:
    return sum(1 for path, _ in fake.requests if path == METER_EVENTS)


async def test_every_row_is_exported_once_and_what_is_not_is_counted(mapped: Database, fake: StripeFake) -> None:
    await write(mapped, [spend(1), spend(2, "yamada"), spend(3, None), spend(4, "nobody"), spend(5)])
    export = exporter(mapped, stripe_settings(fake.url))
    try:
        reports = await export.run_once()
        assert sorted(fake.meter_identifiers()) == [ident(1), ident(2), ident(5)]
        first = next(e for e in fake.meter_events if e["identifier"] == ident(2))
        assert first["event_name"] == "llm_tokens"
        assert first["payload"] == {"stripe_customer_id": "cus_yamada", "value": "112"}
        assert (reports["stripe"].done, reports["stripe"].delivered) == (5, 3)
        state = await cursor(mapped)
        assert (state.rows_done, state.events_sent, state.rows_skipped, state.rows_unattributed) == (5, 3, 1, 1)
        assert state.spend_id == f"{5:032x}"
        [failure] = await ExportStore(mapped).failures("stripe")
        assert (failure.spend_id, failure.reason, failure.customer_id) == (f"{4:032x}", "unmapped_customer", "nobody")
        # A second run finds nothing new: not one request.
        sent = posts(fake)
        assert (await export.run_once())["stripe"].rows == 0
        assert posts(fake) == sent
    finally:
        await export.aclose()


async def test_the_first_run_starts_after_the_rows_already_there_unless_backfilling(
    mapped: Database, fake: StripeFake
) -> None:
    await write(mapped, [spend(1)])
    export = exporter(mapped, stripe_settings(fake.url, backfill=False))
    try:
        assert (await export.run_once())["stripe"].rows == 0
        await write(mapped, [spend(2)])
        await export.run_once()
        assert fake.meter_identifiers() == [ident(2)]
    finally:
        await export.aclose()


async def test_rows_arriving_late_are_exported_in_insertion_order(mapped: Database, fake: StripeFake) -> None:
    export = exporter(mapped, stripe_settings(fake.url))
    try:
        await write(mapped, [spend(1), spend(2)])
        await export.run_once()
        # A row replayed from the spool an hour late: older than the cursor's rows by time, newer by insertion.
        await write(mapped, [spend(3, ts=datetime.now(UTC) - timedelta(hours=2))])
        await export.run_once()
        assert fake.meter_identifiers() == [ident(1), ident(2), ident(3)]
    finally:
        await export.aclose()


async def test_500_and_429_are_retried_with_backoff_then_delivered(lite: Database, fake: StripeFake) -> None:
    await write(lite, [spend(1), spend(2)])
    fake.fail_next(500, 2)
    fake.fail_next(429, 1, retry_after="0")
    export = exporter(lite, stripe_settings(fake.url, concurrency=1))
    try:
        report = (await export.run_once())["stripe"]
    finally:
        await export.aclose()
    assert report.error is None
    assert fake.meter_identifiers() == [ident(1), ident(2)]
    assert posts(fake) == 5  # 3 failures, then one each
    assert fake.duplicates == []


async def test_failing_after_every_retry_keeps_the_cursor_until_stripe_is_back(
    lite: Database, fake: StripeFake
) -> None:
    await write(lite, [spend(1), spend(2)])
    fake.fail_next(503, 100)
    export = exporter(lite, stripe_settings(fake.url, concurrency=1))
    try:
        report = (await export.run_once())["stripe"]
        assert report.done == 0
        assert report.error is not None
        assert "503" in report.error
        state = await cursor(lite)
        assert (state.spend_id, state.rows_done) == ("", 0)
        assert state.last_error == report.error
        fake.recover()
        report = (await export.run_once())["stripe"]
        assert (report.error, report.done) == (None, 2)
        assert (await cursor(lite)).last_error is None
    finally:
        await export.aclose()
    assert fake.meter_identifiers() == [ident(1), ident(2)]


async def test_events_settled_past_a_failing_row_are_not_sent_again(lite: Database, fake: StripeFake) -> None:
    # acme's events go out in order; yamada's fail for now. Row 2 (yamada) holds the cursor back, yet acme's row 3,
    # delivered in the same pass, must not be sent again when its turn comes (after 24 hours Stripe would bill it
    # twice).
    await write(lite, [spend(1), spend(2, "yamada"), spend(3)])
    fake.failing_customers["cus_yamada"] = 503
    export = exporter(lite, stripe_settings(fake.url))
    try:
        await export.run_once()
        assert sorted(fake.meter_identifiers()) == [ident(1), ident(3)]
        assert (await cursor(lite)).spend_id == f"{1:032x}"
        del fake.failing_customers["cus_yamada"]
        await export.run_once()
    finally:
        await export.aclose()
    assert sorted(fake.meter_identifiers()) == [ident(1), ident(2), ident(3)]
    assert fake.duplicates == []  # row 3 was not even sent a second time
    state = await cursor(lite)
    assert (state.spend_id, state.events_sent) == (f"{3:032x}", 3)


# Cancelling the tasks mid-request (the kill) leaves the stripe package's HTTP connections to the garbage collector,
# which warns about them; a process really killed leaves them to the operating system.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <function Connection.__del__:pytest.PytestUnraisableExceptionWarning"
)
async def test_killed_mid_batch_a_restart_resumes_without_duplicates_or_gaps(
    mapped: Database, fake: StripeFake
) -> None:
    rows = [spend(n, "acme" if n % 2 else "yamada") for n in range(1, 61)]
    await write(mapped, rows)
    fake.latency = 0.004
    settings = stripe_settings(fake.url, concurrency=2)
    first = exporter(mapped, settings, owner="worker-1")
    first.start()
    for _ in range(2000):
        if len(fake.meter_events) >= 15:
            break
        await asyncio.sleep(0.005)
    # The process dies: its tasks stop where they are, the lease is not given back, the cursor never moved.
    for task in first._tasks:
        task.cancel()
    await asyncio.gather(*first._tasks, return_exceptions=True)
    for runner in first.runners:
        await runner.exporter.aclose()
    gc.collect()  # here, under this test's warning filter
    sent_before = len(fake.meter_events)
    assert 15 <= sent_before < 60
    assert (await cursor(mapped)).rows_done == 0
    # Another worker starts after the dead one's lease lapsed.
    later = datetime.now(UTC) + timedelta(seconds=settings.lease_seconds + 1)
    fake.latency = 0.0
    second = exporter(mapped, settings, owner="worker-2", clock=lambda: later)
    try:
        await second.run_once()
    finally:
        await second.aclose()
    identifiers = fake.meter_identifiers()
    assert sorted(identifiers) == sorted(ident(n) for n in range(1, 61))  # no gap, nothing twice
    assert len(fake.duplicates) >= sent_before - 2  # the dead worker's batch was sent again, and refused as copies
    assert (await cursor(mapped)).rows_done == 60


async def test_rows_outside_stripes_window_are_skipped_and_recorded(lite: Database, fake: StripeFake) -> None:
    now = datetime.now(UTC)
    await write(lite, [spend(1, ts=now - timedelta(days=36)), spend(2, ts=now + timedelta(minutes=20)), spend(3)])
    export = exporter(lite, stripe_settings(fake.url))
    try:
        await export.run_once()
    finally:
        await export.aclose()
    assert fake.meter_identifiers() == [ident(3)]
    failures = {f.spend_id: f.reason for f in await ExportStore(lite).failures("stripe")}
    assert failures == {f"{1:032x}": "too_old", f"{2:032x}": "in_future"}
    assert (await cursor(lite)).rows_skipped == 2


async def test_unmapped_rows_are_sent_once_their_customer_is_mapped(mapped: Database, fake: StripeFake) -> None:
    await write(mapped, [spend(1, "nobody"), spend(2, "nobody"), spend(3)])
    export = exporter(mapped, stripe_settings(fake.url))
    try:
        await export.run_once()
        assert fake.meter_identifiers() == [ident(3)]
        await CustomerStore(mapped).update("nobody", stripe_customer_id="cus_nobody")
        report = await export.retry("stripe", reasons=["unmapped_customer"])
        assert (report.sent, report.delivered, report.left) == (2, 2, {})
        again = await export.retry("stripe")
        assert again.sent == 0
    finally:
        await export.aclose()
    assert sorted(fake.meter_identifiers()) == [ident(1), ident(2), ident(3)]
    assert await ExportStore(mapped).failures("stripe") == []
    assert (await cursor(mapped)).events_sent == 3


async def test_events_stripe_refuses_are_recorded_and_the_cursor_moves_on(lite: Database, fake: StripeFake) -> None:
    fake.meters = {"llm_tokens_v2"}  # the meter of the configured event name does not exist
    await write(lite, [spend(1), spend(2)])
    export = exporter(lite, stripe_settings(fake.url))
    try:
        report = (await export.run_once())["stripe"]
        assert (report.done, report.rejected, report.error) == (2, 2, None)
        failures = await ExportStore(lite).failures("stripe")
        assert [(f.identifier, f.reason, f.status) for f in failures] == [
            (ident(1), "rejected", 400),
            (ident(2), "rejected", 400),
        ]
        assert "No active meter" in failures[0].detail
        fake.meters = {"llm_tokens"}  # created: now they go
        retried = await export.retry("stripe", reasons=["rejected"])
        assert (retried.delivered, retried.left) == (2, {})
    finally:
        await export.aclose()
    assert fake.meter_identifiers() == [ident(1), ident(2)]


async def test_a_wrong_api_key_halts_the_exporter_without_losing_anything(lite: Database, fake: StripeFake) -> None:
    await write(lite, [spend(1)])
    settings = stripe_settings(fake.url, api_key="sk_test_wrong")
    export = exporter(lite, settings)
    try:
        report = (await export.run_once())["stripe"]
    finally:
        await export.aclose()
    assert report.error is not None
    assert "401" in report.error
    assert posts(fake) == 1  # not retried: every request would fail the same way
    state = await cursor(lite)
    assert (state.rows_done, state.spend_id) == (0, "")
    assert await ExportStore(lite).failures("stripe") == []
    fixed = exporter(lite, stripe_settings(fake.url))
    try:
        await fixed.run_once()
    finally:
        await fixed.aclose()
    assert fake.meter_identifiers() == [ident(1)]


async def test_one_instance_exports_at_a_time(mapped: Database, fake: StripeFake) -> None:
    await write(mapped, [spend(1)])
    settings = stripe_settings(fake.url)
    first, second = exporter(mapped, settings, owner="a"), exporter(mapped, settings, owner="b")
    try:
        assert (await first.run_once())["stripe"].claimed
        await write(mapped, [spend(2)])
        assert not (await second.run_once())["stripe"].claimed  # a holds the lease
        await first.aclose()  # gives it up
        assert (await second.run_once())["stripe"].delivered == 1
    finally:
        await first.aclose()
        await second.aclose()
    assert fake.meter_identifiers() == [ident(1), ident(2)]

"""Billing export as CloudEvents batches to a receiver (``fakes.cloudevents_receiver``, OpenMeter-style), on SQLite
and PostgreSQL: the batch format and bearer token, retries, a refused batch recorded, a wrong token halting, copies
dropped after a resend, and a cursor of its own beside Stripe's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from export_support import cursor, exporter, map_customers, spend, sqlite_database, stripe_settings, write

from fakes.cloudevents_receiver import BATCH, CloudEventsReceiver
from fakes.stripe_fake import StripeFake
from tollway.economics.export_settings import CloudEventsSettings, ExportSettings
from tollway.storage.database import Database
from tollway.storage.export_store import ExportStore

TOKEN = "om-test-token"
__all__ = ["sqlite_database"]  # a fixture, imported to be found


@pytest.fixture
async def receiver() -> AsyncIterator[CloudEventsReceiver]:
    async with CloudEventsReceiver(token=TOKEN) as running:
        yield running


def settings(receiver: CloudEventsReceiver, **fields: Any) -> ExportSettings:
    events = CloudEventsSettings(url=receiver.url, token=fields.pop("token", TOKEN), source="tollway-test")
    base: dict[str, Any] = {"backfill": True, "backoff_base": 0.002, "backoff_max": 0.01, "max_attempts": 4}
    return ExportSettings(cloudevents=events, **{**base, **fields})


def ids(*numbers: int) -> list[str]:
    return [f"{n:032x}" for n in numbers]


async def test_rows_go_out_as_cloudevents_batches_with_the_bearer_token(
    sqlite_database: Database, receiver: CloudEventsReceiver
) -> None:
    await write(sqlite_database, [spend(n, "acme" if n != 3 else None, feature="chat") for n in range(1, 6)])
    export = exporter(sqlite_database, settings(receiver, batch_size=2))
    try:
        report = (await export.run_once())["cloudevents"]
    finally:
        await export.aclose()
    assert receiver.ids() == ids(1, 2, 4, 5)  # row 3 has no customer: no subject
    assert receiver.batches == [2, 1, 1]  # batch_size rows per request, fewer events where a row had none
    assert {headers["Content-Type"] for headers in receiver.requests} == {BATCH}
    assert {headers["Authorization"] for headers in receiver.requests} == {f"Bearer {TOKEN}"}
    first = receiver.events[0]
    assert (first["specversion"], first["source"], first["type"], first["subject"]) == (
        "1.0",
        "tollway-test",
        "tollway.llm.usage",
        "acme",
    )
    assert first["time"].endswith("Z")
    assert {k: first["data"][k] for k in ("tokens", "cost", "model", "feature", "request_id")} == {
        "tokens": 111,
        "cost": "0.000001",
        "model": "gpt-4o",
        "feature": "chat",
        "request_id": "req-1",
    }
    assert (report.done, report.delivered, report.unattributed) == (5, 4, 1)


async def test_busy_and_failing_receivers_are_retried(sqlite_database: Database, receiver: CloudEventsReceiver) -> None:
    await write(sqlite_database, [spend(1), spend(2)])
    receiver.fail_next(503)
    receiver.fail_next(429, retry_after="0")
    export = exporter(sqlite_database, settings(receiver))
    try:
        report = (await export.run_once())["cloudevents"]
    finally:
        await export.aclose()
    assert report.error is None
    assert receiver.ids() == ids(1, 2)
    assert len(receiver.requests) == 3


async def test_a_refused_batch_is_recorded_event_by_event_and_passed(
    sqlite_database: Database, receiver: CloudEventsReceiver
) -> None:
    await write(sqlite_database, [spend(1), spend(2)])
    receiver.fail_next(422)
    export = exporter(sqlite_database, settings(receiver))
    try:
        report = (await export.run_once())["cloudevents"]
        assert (report.done, report.rejected) == (2, 2)
        failures = await ExportStore(sqlite_database).failures("cloudevents")
        assert [(f.identifier, f.reason, f.status) for f in failures] == [(i, "rejected", 422) for i in ids(1, 2)]
        assert "injected failure" in failures[0].detail  # the receiver's answer is kept
        retried = await export.retry("cloudevents")
    finally:
        await export.aclose()
    assert (retried.delivered, retried.left) == (2, {})
    assert receiver.ids() == ids(1, 2)


async def test_a_wrong_token_halts_and_keeps_the_cursor(
    sqlite_database: Database, receiver: CloudEventsReceiver
) -> None:
    await write(sqlite_database, [spend(1)])
    wrong = exporter(sqlite_database, settings(receiver, token="nope"))
    try:
        report = (await wrong.run_once())["cloudevents"]
    finally:
        await wrong.aclose()
    assert report.error is not None
    assert "401" in report.error
    assert len(receiver.requests) == 1
    assert (await cursor(sqlite_database, "cloudevents")).rows_done == 0
    right = exporter(sqlite_database, settings(receiver))
    try:
        await right.run_once()
    finally:
        await right.aclose()
    assert receiver.ids() == ids(1)


async def test_a_batch_sent_again_is_dropped_as_copies(
    sqlite_database: Database, receiver: CloudEventsReceiver
) -> None:
    await write(sqlite_database, [spend(1), spend(2)])
    export = exporter(sqlite_database, settings(receiver))
    try:
        await export.run_once()
        # As if the process had died after sending but before moving the cursor: send the same rows again.
        store, runner = export.store, export.runners[0]
        rows = await store.rows_by_id(ids(1, 2))
        batch = await runner.exporter.prepare(rows, store.stripe_customers, runner.clock())
        outcomes, _ = await runner.exporter.send(batch.events)
    finally:
        await export.aclose()
    assert {outcome.kind for outcome in outcomes.values()} == {"delivered"}
    assert receiver.ids() == ids(1, 2)
    assert receiver.duplicates == 2


async def test_each_exporter_keeps_its_own_cursor(database: Database, receiver: CloudEventsReceiver) -> None:
    await map_customers(database)
    await write(database, [spend(1), spend(2)])
    with StripeFake() as stripe:
        stripe.fail_next(503, 1000)  # Stripe is down; the CloudEvents receiver is not
        both = stripe_settings(stripe.url, cloudevents=settings(receiver).cloudevents, max_attempts=2)
        export = exporter(database, both)
        try:
            reports = await export.run_once()
        finally:
            await export.aclose()
    assert reports["stripe"].error is not None
    assert reports["cloudevents"].error is None
    assert receiver.ids() == ids(1, 2)
    assert (await cursor(database, "cloudevents")).rows_done == 2
    assert (await cursor(database, "stripe")).rows_done == 0

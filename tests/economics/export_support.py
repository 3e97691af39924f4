"""Shared by the billing export tests (``test_econ_export_*.py``): spend rows with known numbers written through the
real spend store, customers mapped to Stripe, and settings whose retries wait milliseconds instead of seconds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tollway.economics.export_runner import BillingExport
from tollway.economics.export_settings import CloudEventsSettings, ExportSettings, StripeExportSettings
from tollway.governance.records import CustomerRecord
from tollway.governance.spend_event import SpendEvent
from tollway.storage.database import Database
from tollway.storage.entities import CustomerStore
from tollway.storage.export_store import ExportCursor, ExportStore
from tollway.storage.spend_store import SpendStore

__all__ = [
    "API_KEY",
    "exporter",
    "map_customers",
    "readable",
    "spend",
    "sqlite_database",
    "stripe_settings",
    "write",
]

API_KEY = "sk_test_tollway_fake"


def spend(n: int, customer: str | None = "acme", **fields: Any) -> SpendEvent:
    """Spend row ``n``: 100 + n input and 10 output tokens, ``n`` micro-dollars... a minute ago unless told."""
    values: dict[str, Any] = {
        "id": f"{n:032x}",
        "ts": datetime.now(UTC) - timedelta(minutes=1),
        "request_id": f"req-{n}",
        "customer_id": customer,
        "model_group": "smart",
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": 100 + n,
        "output_tokens": 10,
        "cost": Decimal(n) / 1_000_000,
    }
    values.update(fields)
    return SpendEvent(**values)


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated SQLite database, for the tests whose subject is the exporters rather than the store (the store's
    behaviour is tested on SQLite and PostgreSQL through ``database``)."""
    from tollway.storage.migrate import upgrade

    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'export.db'}")
    try:
        await upgrade(database)
        yield database
    finally:
        await database.aclose()


async def write(database: Database, events: Sequence[SpendEvent]) -> None:
    """Store ``events`` as the spend writer does (in order, one batch), and wait until the exporter may read them.

    On PostgreSQL the exporter reads rows of transactions older than the oldest one running on the whole server,
    and other tests' transactions run beside these: wait (a few milliseconds, usually) until they are done."""
    await SpendStore(database).write_batch(events)
    await readable(database)


async def readable(database: Database) -> None:
    """Wait until every spend row is older than PostgreSQL's horizon (at once on SQLite)."""
    if database.is_sqlite:
        return
    query = text(
        "SELECT count(*) FROM spend_logs WHERE write_txid >= (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint"
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        async with database.read() as connection:
            if (await connection.execute(query)).scalar_one() == 0:
                return
        await asyncio.sleep(0.01)
    raise TimeoutError("a transaction on the PostgreSQL server stayed open for 20 s: the export horizon is stuck")


async def map_customers(database: Database) -> None:
    """acme -> cus_acme, yamada -> cus_yamada; nobody has no Stripe customer."""
    customers = CustomerStore(database)
    await customers.create(CustomerRecord(customer_id="acme", stripe_customer_id="cus_acme"))
    await customers.create(CustomerRecord(customer_id="yamada", stripe_customer_id="cus_yamada"))
    await customers.create(CustomerRecord(customer_id="nobody"))


def stripe_settings(url: str, *, cloudevents: CloudEventsSettings | None = None, **fields: Any) -> ExportSettings:
    """Stripe exporting tokens to ``url``, from the first row (backfill), retrying after ~1 ms."""
    stripe_fields = {k: v for k, v in fields.items() if k in StripeExportSettings.__dataclass_fields__}
    export_fields = {k: v for k, v in fields.items() if k not in stripe_fields}
    stripe = StripeExportSettings(**{"api_key": API_KEY, "event_name": "llm_tokens", "api_base": url, **stripe_fields})
    base: dict[str, Any] = {"backfill": True, "backoff_base": 0.002, "backoff_max": 0.01, "max_attempts": 4}
    return ExportSettings(stripe=stripe, cloudevents=cloudevents, **{**base, **export_fields})


def exporter(database: Database, settings: ExportSettings, **kwargs: Any) -> BillingExport:
    """A ``BillingExport`` with a fixed owner name unless told."""
    return BillingExport(settings, database, **{"owner": "test-owner", **kwargs})


async def cursor(database: Database, name: str = "stripe") -> ExportCursor:
    """The stored cursor of ``name``."""
    found = {c.exporter: c for c in await ExportStore(database).cursors()}
    return found[name]

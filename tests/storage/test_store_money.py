"""Money is exact on every database: NUMERIC(28, 12) on PostgreSQL, the decimal string on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import insert, select, text

from tollway.storage import schema
from tollway.storage.database import Database

AMOUNTS = [
    Decimal("0.000000075"),
    Decimal("123456789.123456789012"),
    Decimal("0"),
    Decimal("0.000000000001"),
    Decimal("9999999999999999.999999999999"),  # the largest NUMERIC(28, 12) value
    Decimal("-1.5"),
]


@pytest.mark.parametrize("amount", AMOUNTS, ids=str)
async def test_money_round_trips_exactly(database: Database, amount: Decimal) -> None:
    now = datetime.now(UTC)
    table = schema.spend_counters
    async with database.write() as connection:
        await connection.execute(insert(table).values(scope="key:x", period="all", spent=amount, updated_at=now))
    async with database.read() as connection:
        stored = (await connection.execute(select(table.c.spent))).scalar_one()
    assert isinstance(stored, Decimal)
    assert stored == amount
    assert stored.normalize() == amount.normalize()  # the same digits, not just an equal float


async def test_money_is_stored_as_an_exact_type(database: Database) -> None:
    async with database.write() as connection:
        await connection.execute(
            insert(schema.spend_counters).values(
                scope="s", period="all", spent=Decimal("0.1"), updated_at=datetime.now(UTC)
            )
        )
        raw = (await connection.execute(text("SELECT spent FROM spend_counters"))).scalar_one()
    # SQLite: the text "0.1" (its NUMERIC would be a binary float); PostgreSQL: a numeric, read back as Decimal.
    assert raw == ("0.1" if database.is_sqlite else Decimal("0.1"))

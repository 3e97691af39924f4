"""The writer's memory stays bounded whatever the backlog (rows beyond ``memory_rows`` live in the spool file only
and are read back in ``max_batch`` chunks, in order); SQLite rows and rollups written through the driver read back
exactly as SQLAlchemy wrote them, and add to rollups it stored."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from spend_helpers import FakeStore, counters, daily_rows, event, many

from tollway.governance.spend_event import SpendEvent
from tollway.governance.spend_writer import SpendWriter
from tollway.storage.database import Database
from tollway.storage.schema import spend_counters, spend_daily
from tollway.storage.spend_store import SpendStore


class SizedStore(FakeStore):
    """A FakeStore that also keeps the size of every batch it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    async def write_batch(self, events: Any) -> int:
        written = await super().write_batch(events)
        self.sizes.append(len(events))
        return written


async def test_a_backlog_is_held_on_disk_and_written_in_batch_size_chunks(tmp_path: Path) -> None:
    store = SizedStore()
    store.down = True
    writer = SpendWriter(store, tmp_path / "spool", batch_size=4)
    assert (writer.max_batch, writer.memory_rows) == (4, 8)
    first = many(30)
    for item in first:
        writer.record(item)
    assert writer.held() == 8  # two batches; the other 22 rows are only in the spool file
    assert not await writer.flush()  # the database is down: a new segment for what comes next
    second = many(10, start=100)
    for item in second:
        writer.record(item)
    assert writer.held() == 8
    assert writer.pending() == 40
    store.down = False
    assert await writer.flush()
    assert store.ids == [e.id for e in first + second]  # every row once, in order
    assert store.sizes == [4, 4, 4, 4, 4, 4, 4, 2, 4, 4, 2]  # batch_size chunks: memory, the file; next segment
    assert writer.held() == 0
    more = many(3, start=200)
    for item in more:
        writer.record(item)
    assert writer.held() == 3  # memory is used again once the backlog is gone
    assert await writer.flush()
    await writer.aclose()


async def test_memory_rows_and_max_batch_can_be_set(tmp_path: Path) -> None:
    store = SizedStore()
    writer = SpendWriter(store, tmp_path / "spool", batch_size=2, max_batch=5, memory_rows=3)
    events = many(12)
    for item in events:
        writer.record(item)
    assert writer.held() == 3
    assert await writer.flush()
    assert store.ids == [e.id for e in events]
    assert store.sizes == [3, 5, 4]  # the rows held in memory, then the file in max_batch chunks
    await writer.aclose()
    with pytest.raises(ValueError, match="batch_size <= max_batch"):
        SpendWriter(store, tmp_path / "spool", batch_size=10, max_batch=5)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_values_read_back_as_recorded(database: Database) -> None:
    store = SpendStore(database)
    rich = event(
        1,
        stream=True,
        cache_hit=True,
        ttft_ms=12.5,
        latency_ms=30.25,
        status=429,
        error_class="RateLimitError",
        tags=["a", "é"],
        metadata={"n": 1, "nested": {"list": [1, "x", None], "flag": True}, "text": "ünï"},
        ts=datetime(2025, 6, 1, 0, 0, 0, tzinfo=UTC),  # no microseconds: stored with them all the same
    )
    assert await store.write_batch([rich]) == 1
    [row], _ = await store.logs()
    assert row == SpendEvent(**{**{name: getattr(rich, name) for name in rich.__slots__}, "counter_scopes": []})


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_batches_add_to_rollups_sqlalchemy_stored(database: Database) -> None:
    day = date(2025, 6, 1)
    old = {"requests": 5, "errors": 1, "input_tokens": 50, "cached_tokens": 0, "cache_write_tokens": 0}
    old |= {"output_tokens": 25, "reasoning_tokens": 0, "cost": Decimal("1.000000000001"), "unpriced": 2}
    async with database.write() as connection:
        keys = {"day": day, "entity_kind": "all", "entity_id": "", "model_group": "gpt-4o"}
        await connection.execute(spend_daily.insert(), [keys | old])
        spent = {"spent": Decimal("0.5"), "updated_at": datetime.now(UTC)}
        await connection.execute(spend_counters.insert(), [{"scope": "key:" + "k" * 64, "period": "2025-06"} | spent])
    store = SpendStore(database)
    await store.write_batch(many(3))  # costs 0, 1e-6 and 2e-6; 10 input and 5 output tokens each
    rows = await daily_rows(database)
    assert rows[day, "all", "", "gpt-4o"] == old | {
        "requests": 8,
        "input_tokens": 80,
        "output_tokens": 40,
        "cost": Decimal("1.000003000001"),
    }
    assert await counters(database) == {("key:" + "k" * 64, "2025-06"): Decimal("0.500003")}

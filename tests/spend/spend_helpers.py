"""Helpers shared by the spend tests: events with known numbers, and what the database holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tollway.governance.spend_event import SpendEvent
from tollway.storage.database import Database
from tollway.storage.schema import spend_counters, spend_daily, spend_logs
from tollway.storage.spend_rollup import check_event

T0 = datetime(2025, 6, 1, 23, 59, 58, tzinfo=UTC)


def event(i: int = 0, **fields: Any) -> SpendEvent:
    """A priced chat event; ``fields`` override anything."""
    values: dict[str, Any] = {
        "ts": T0 + timedelta(milliseconds=i),
        "request_id": f"req-{i}",
        "key_hash": "k" * 64,
        "key_name": "sk-...kkkk",
        "model_group": "gpt-4o",
        "provider": "openai",
        "model": "gpt-4o-2024-08-06",
        "input_tokens": 10,
        "output_tokens": 5,
        "cost": Decimal("0.000123456789"),
        "counter_scopes": [("key:" + "k" * 64, "2025-06")],
    }
    values.update(fields)
    return SpendEvent(**values)


def many(count: int, start: int = 0) -> list[SpendEvent]:
    """``count`` events with distinct ids and costs i * 1e-6."""
    return [event(i, cost=Decimal(i) / 1_000_000, request_id=f"r{i}") for i in range(start, start + count)]


async def stored_ids(database: Database) -> list[str]:
    """Every spend_logs id (with repeats, if there were any)."""
    async with database.read() as connection:
        return list((await connection.execute(select(spend_logs.c.id))).scalars())


async def daily_rows(database: Database) -> dict[tuple[Any, ...], dict[str, Any]]:
    """spend_daily as {(day, kind, entity_id, model_group): measures}."""
    async with database.read() as connection:
        rows = (await connection.execute(select(spend_daily))).mappings().all()
    return {
        (row["day"], row["entity_kind"], row["entity_id"], row["model_group"]): {
            name: row[name] for name in row if name not in ("day", "entity_kind", "entity_id", "model_group")
        }
        for row in rows
    }


async def counters(database: Database) -> dict[tuple[str, str], Decimal]:
    """spend_counters as {(scope, period): spent}."""
    async with database.read() as connection:
        rows = (
            await connection.execute(select(spend_counters.c.scope, spend_counters.c.period, spend_counters.c.spent))
        ).all()
    return {(scope, period): spent for scope, period, spent in rows}


async def all_requests(database: Database) -> int:
    """Requests counted in the "all" rollups (every row counts there once)."""
    async with database.read() as connection:
        query = select(func.coalesce(func.sum(spend_daily.c.requests), 0)).where(spend_daily.c.entity_kind == "all")
        return int((await connection.execute(query)).scalar_one())


async def until(predicate: Callable[[], bool], within: float = 15.0) -> None:
    """Poll ``predicate`` every 10 ms until it holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.01)


def segments(spool: Path) -> list[Path]:
    """The spool's segment files, oldest first."""
    return sorted(spool.glob("spend-*.jsonl"), key=lambda path: int(path.stem.rsplit("-", 1)[1]))


def spooled_ids(spool: Path) -> list[str]:
    """Ids of every complete line in the spool's segments."""
    return [
        SpendEvent.from_json(line).id
        for path in segments(spool)
        for line in path.read_bytes().splitlines(keepends=True)
        if line.endswith(b"\n")
    ]


class FakeStore:
    """A ``SpendSink`` that keeps ids in memory and fails while ``down`` is set."""

    def __init__(self) -> None:
        self.down = False
        self.ids: list[str] = []
        self.attempts: list[float] = []
        self.hang = False

    def check_event(self, event: SpendEvent) -> str | None:
        return check_event(event)

    async def write_batch(self, events: Sequence[SpendEvent]) -> int:
        self.attempts.append(time.monotonic())
        if self.hang:
            await asyncio.sleep(3600)
        if self.down:
            raise ConnectionRefusedError("connection refused (fake)")
        if any(check_event(event) is not None for event in events):
            raise ValueError("spend events that cannot be stored")
        self.ids.extend(event.id for event in events)
        return len(events)

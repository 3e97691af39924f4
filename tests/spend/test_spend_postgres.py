"""The PostgreSQL store sums the daily rollups in SQL (``spend_postgres``): on the real server, for the same events,
its rollup rows and counters equal exactly what the Python sums (``spend_rollup.Increments``, the SQLite path) give,
through duplicates within and across batches, replays with different content, NULL and empty entities, repeated and
over-long tags, several UTC days, unpriced rows and amounts beyond twelve decimal places; and concurrent writers
neither deadlock nor lose a row."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from spend_helpers import counters, daily_rows, event

from tollway.governance.spend_event import SpendEvent
from tollway.storage.database import Database
from tollway.storage.migrate import upgrade
from tollway.storage.spend_rollup import MEASURES, Batch, Increments, unique
from tollway.storage.spend_store import SpendStore

POSTGRES_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
START = datetime(2025, 6, 1, 22, 0, tzinfo=UTC)
LONG = "L" * 256  # tags longer than spend_daily.entity_id: cut to it, so these two are one tag
TAGS = ("prod", "eval", "", "é-ünïcode", "with space", LONG + "x", LONG + "y")


def maybe(rng: random.Random, value: str) -> str | None:
    """``value``, or None (a NULL entity) one time in five, or "" one time in twenty."""
    roll = rng.random()
    return None if roll < 0.2 else "" if roll < 0.25 else value


def cost_of(rng: random.Random) -> Decimal | None:
    """Unpriced, an amount beyond twelve places (rounded once), a big one (sums need 26-27 digits), or plain."""
    roll = rng.random()
    if roll < 0.1:
        return None
    if roll < 0.3:
        return Decimal(rng.randrange(1, 10**15)).scaleb(-15)  # 15 places: rounded half away from zero
    if roll < 0.35:
        return Decimal(rng.randrange(10**12, 10**13)) + Decimal("0.999999999999")
    return Decimal(rng.randrange(0, 10**9)).scaleb(-12)


def random_event(rng: random.Random, i: int) -> SpendEvent:
    """Event ``i``: over three UTC days (some stamped in other offsets), few enough entities to share rollups."""
    offset = timezone(timedelta(hours=rng.choice((0, 2, -5))))
    key = maybe(rng, f"{rng.randrange(6):064x}")
    scopes = [(f"key:{key}", "2025-06"), (f"team:t{rng.randrange(3)}", "all")]
    if rng.random() < 0.2:
        scopes.append(scopes[0])  # a scope listed twice counts once
    return event(
        i,
        ts=(START + timedelta(minutes=rng.randrange(3 * 24 * 60))).astimezone(offset),
        key_hash=key,
        user_id=maybe(rng, f"u{rng.randrange(4)}"),
        team_id=maybe(rng, f"t{rng.randrange(3)}"),
        customer_id=maybe(rng, f"c{rng.randrange(8)}"),
        feature=maybe(rng, f"f{rng.randrange(2)}"),
        model_group=maybe(rng, f"m{rng.randrange(3)}"),
        tags=rng.choices(TAGS, k=rng.randrange(4)),  # repeats on purpose
        status=rng.choice((200, 200, 200, 400, 429, 500)),
        input_tokens=rng.randrange(0, 10**6),
        cached_tokens=rng.randrange(0, 100),
        cache_write_tokens=rng.randrange(0, 10),
        output_tokens=rng.randrange(0, 10**4),
        reasoning_tokens=rng.randrange(0, 50),
        cost=cost_of(rng),
        counter_scopes=[] if rng.random() < 0.1 else scopes,
    )


def batches(seed: int) -> list[list[SpendEvent]]:
    """Four batches; later ones replay ids already written (with other content: the stored row counts) and repeat
    ids within themselves (the first counts)."""
    rng = random.Random(seed)
    fresh = [random_event(rng, i) for i in range(800)]
    out: list[list[SpendEvent]] = [fresh[:200]]
    for start in (200, 400, 600):
        replays = [dataclasses.replace(e, cost=Decimal(7), input_tokens=1) for e in rng.sample(fresh[:start], 40)]
        part = fresh[start : start + 200] + replays + fresh[start : start + 5]
        rng.shuffle(part)
        out.append(part)
    return out


def python_sums(written: list[list[SpendEvent]]) -> tuple[dict[Any, dict[str, Any]], dict[Any, Decimal]]:
    """What ``Increments`` (the Python sums) makes of the rows stored: the first event of each id."""
    increments = Increments()
    increments.add(Batch.of(unique(e for batch in written for e in batch)))
    daily = {key: dict(zip(MEASURES, measures, strict=True)) for key, measures in increments.daily().items()}
    return daily, increments.counters()


@POSTGRES_ONLY
@pytest.mark.parametrize("seed", [1, 2])
async def test_sql_rollups_equal_the_python_sums(database: Database, tmp_path: Path, seed: int) -> None:
    written = batches(seed)
    store = SpendStore(database)
    seen: set[str] = set()
    for batch in written:
        new = {e.id for e in batch} - seen
        assert await store.write_batch(batch) == len(new)
        seen |= new
    daily, spent = python_sums(written)
    assert any(key[1] == "tag" and key[2] == LONG for key in daily)  # the cases meant are in the data
    assert len({key[0] for key in daily}) >= 3
    assert await daily_rows(database) == daily
    assert await counters(database) == spent
    # The SQLite store (Python sums, read-modify-write) holds the same rollups for the same batches.
    sqlite = Database(f"sqlite+aiosqlite:///{tmp_path / 'same.db'}")
    try:
        await upgrade(sqlite)
        for batch in written:
            await SpendStore(sqlite).write_batch(batch)
        assert await daily_rows(sqlite) == daily
        assert await counters(sqlite) == spent
    finally:
        await sqlite.aclose()


@POSTGRES_ONLY
async def test_a_replay_that_fails_the_direct_copy_counts_only_new_rows(database: Database) -> None:
    store = SpendStore(database)
    first = [event(i, tags=["a"]) for i in range(10)]
    assert await store.write_batch(first) == 10
    # The stored id comes last: the direct COPY inserts nine rows, fails on it, and is rolled back.
    second = [event(100 + i, tags=["a"]) for i in range(9)] + [dataclasses.replace(first[0], cost=Decimal(5))]
    assert await store.write_batch(second) == 9
    daily, spent = python_sums([first, second])
    assert await daily_rows(database) == daily
    assert await counters(database) == spent


@POSTGRES_ONLY
async def test_concurrent_writers_share_rollups_without_deadlock(database: Database, database_url: str) -> None:
    rng = random.Random(3)
    events = [random_event(rng, i) for i in range(1200)]
    other = Database(database_url)
    try:
        stores = [SpendStore(database), SpendStore(other)]

        async def write(index: int) -> None:
            # Interleaved slices: both writers upsert the same rollup and counter rows at the same time.
            for start in range(index * 100, len(events), 200):
                await stores[index].write_batch(events[start : start + 100])

        await asyncio.wait_for(asyncio.gather(write(0), write(1)), 60)
    finally:
        await other.aclose()
    daily, spent = python_sums([events])
    assert await daily_rows(database) == daily
    assert await counters(database) == spent


@POSTGRES_ONLY
async def test_tags_that_are_not_a_list_are_refused_before_the_database(database: Database) -> None:
    # Stored as a JSON string or object, they could not be unnested by the rollup query: the batch would fail forever.
    store = SpendStore(database)
    for tags in ("prod", {"prod": 1}):
        bad = event(1, tags=tags)
        assert store.check_event(bad) == "tags must be a list of strings"
        with pytest.raises(ValueError, match="cannot be stored"):
            await store.write_batch([event(2), bad])
    assert store.check_event(event(3, tags=("a", "b"))) is None
    assert await store.write_batch([event(3, tags=("a", "b"))]) == 1
    assert await daily_rows(database) == python_sums([[event(3, tags=["a", "b"])]])[0]

"""Spend-log ingestion into PostgreSQL: rows per second through ``SpendWriter`` and through ``write_batch`` directly.

Run: ``python bench/spend_ingest.py [--rows 200000] [--batch-size 1000] [--url postgresql://postgres@127.0.0.1/test]``

In a fresh database (``tollway_bench_<uuid>``, migrated, dropped afterwards) it times, each on empty tables:

1. floor: asyncpg ``COPY`` of the same rows straight into ``spend_logs`` (no conflict check, no rollups, no
   counters): what PostgreSQL itself costs on this machine;
2. ``SpendStore.write_batch`` called directly, ``--batch-size`` rows per call (one transaction each: rows, daily
   rollups, budget counters);
3. ``SpendWriter``: ``record()`` of every row (JSON line appended to the spool file, no fsync) as a gateway would,
   yielding to the event loop every 100 rows, until the background flusher has written the last one
   (``pending() == 0``).

The rows look like a busy gateway's: 200 keys, 50 users, 10 teams, 2,000 customers, 8 model groups, 0-2 of 5 tags,
4 budget counters per row; every row is generated before the clock starts. The issue's target is >= 20,000 rows/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg

from tollway.governance.spend_event import SpendEvent
from tollway.governance.spend_writer import SpendWriter
from tollway.storage.database import Database
from tollway.storage.migrate import upgrade
from tollway.storage.spend_rollup import LOG_COLUMNS, Batch
from tollway.storage.spend_store import SpendStore

TAGS = ("prod", "batch", "eval", "beta", "internal")


def make_events(count: int, seed: int = 7) -> list[SpendEvent]:
    rng = random.Random(seed)
    start = datetime(2025, 6, 1, tzinfo=UTC)
    events = []
    for i in range(count):
        key = f"{rng.randrange(200):064x}"
        team = f"team-{rng.randrange(10)}"
        user = f"user-{rng.randrange(50)}"
        customer = f"cust-{rng.randrange(2000)}"
        cost = None if rng.random() < 0.02 else Decimal(rng.randrange(1, 10**9)).scaleb(-12)
        events.append(
            SpendEvent(
                ts=start + timedelta(seconds=i * 0.5),
                request_id=uuid.uuid4().hex,
                key_hash=key,
                key_name=f"sk-...{key[-4:]}",
                user_id=user,
                team_id=team,
                customer_id=customer,
                feature=f"feature-{rng.randrange(5)}",
                model_group=f"model-{rng.randrange(8)}",
                deployment_id="dep-1",
                provider="openai",
                model="gpt-4o-mini",
                input_tokens=rng.randrange(10, 4000),
                output_tokens=rng.randrange(1, 800),
                cached_tokens=rng.randrange(0, 100),
                cost=cost,
                price_source="genai-prices",
                latency_ms=rng.uniform(100, 3000),
                ttft_ms=rng.uniform(50, 500),
                status=200 if rng.random() < 0.97 else 429,
                tags=rng.sample(TAGS, rng.randrange(3)),
                metadata={"trace": i},
                counter_scopes=[
                    (f"key:{key}", "2025-06"),
                    (f"user:{user}", "all"),
                    (f"team:{team}", "2025-06"),
                    (f"customer:{customer}", "2025-06-01"),
                ],
            )
        )
    return events


class Cpu:
    """CPU seconds of this process and of the PostgreSQL backends serving the bench database (read from /proc:
    the server runs on this machine), so a figure can be judged apart from what else the machine is doing."""

    def __init__(self, admin: asyncpg.Connection, database: str) -> None:
        self.admin = admin
        self.database = database
        self.ticks = os.sysconf("SC_CLK_TCK")

    async def backends(self) -> dict[int, float]:
        rows = await self.admin.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", self.database)
        found = {}
        for row in rows:
            used = _process_cpu(row["pid"], self.ticks)
            if used is not None:
                found[row["pid"]] = used
        return found

    async def snapshot(self) -> tuple[float, dict[int, float]]:
        return time.process_time(), await self.backends()

    async def since(self, start: tuple[float, dict[int, float]]) -> tuple[float, float]:
        """(this process, PostgreSQL backends) CPU seconds since ``start``."""
        own, backends = await self.snapshot()
        server = sum(used - start[1].get(pid, 0.0) for pid, used in backends.items())
        return own - start[0], server


def _process_cpu(pid: int, ticks: int) -> float | None:
    """utime + stime of a process, in seconds (None if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / ticks


async def reset(db: Database) -> None:
    async with db.write() as connection:
        await connection.exec_driver_sql("TRUNCATE spend_logs, spend_daily, spend_counters")
    async with db.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.exec_driver_sql("VACUUM ANALYZE spend_logs")


async def floor(db: Database, events: list[SpendEvent], batch_size: int) -> float:
    records = Batch.of(events).copy_records()
    async with db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        started = time.perf_counter()
        for i in range(0, len(records), batch_size):
            async with driver.transaction():
                chunk = records[i : i + batch_size]
                await driver.copy_records_to_table("spend_logs", records=chunk, columns=LOG_COLUMNS)
        return time.perf_counter() - started


async def direct(store: SpendStore, events: list[SpendEvent], batch_size: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(events), batch_size):
        await store.write_batch(events[i : i + batch_size])
    return time.perf_counter() - started


async def through_writer(store: SpendStore, events: list[SpendEvent], batch_size: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="tollway-spool-") as spool:
        writer = SpendWriter(store, spool, batch_size=batch_size, max_batch=max(batch_size, 10_000))
        await writer.start()
        recorded = 0.0
        started = time.perf_counter()
        for i in range(0, len(events), 100):
            before = time.perf_counter()
            for event in events[i : i + 100]:
                writer.record(event)
            recorded += time.perf_counter() - before
            await asyncio.sleep(0)
        while True:  # until the background flusher has written the last row
            if not writer.pending():
                break
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
        await writer.aclose()
        if writer.written != len(events):
            raise SystemExit(f"writer wrote {writer.written} of {len(events)} rows")
    return elapsed, recorded


async def count_rows(db: Database) -> int:
    async with db.read() as connection:
        return int((await connection.exec_driver_sql("SELECT count(*) FROM spend_logs")).scalar_one())


async def main(rows: int, batch_size: int, admin_url: str) -> None:
    name = f"tollway_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    db = Database(admin_url.rsplit("/", 1)[0] + f"/{name}")
    cpu = Cpu(admin, name)
    try:
        await upgrade(db)
        store = SpendStore(db)
        events = make_events(rows)
        await direct(store, make_events(2000, seed=1), batch_size)  # warm the pool, prepared statements, caches
        print(f"{rows} rows, batches of {batch_size}, PostgreSQL {admin.get_server_version().major}, "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        print(f"{'path':<46} {'seconds':>8} {'rows/s':>9} {'CPU µs/row: python':>19} {'postgres':>9}")

        async def measure(label: str, run: Callable[[], Awaitable[float]]) -> None:
            await reset(db)
            start = await cpu.snapshot()
            seconds = await run()
            own, server = await cpu.since(start)
            if await count_rows(db) != rows:
                raise SystemExit(f"{label}: not every row arrived")
            print(f"{label:<46} {seconds:>8.2f} {rows / seconds:>9,.0f} {own / rows * 1e6:>19.1f} "
                  f"{server / rows * 1e6:>9.1f}")  # fmt: skip

        await measure("floor: COPY into spend_logs, nothing else", lambda: floor(db, events, batch_size))
        await measure("SpendStore.write_batch (rows+rollups+counters)", lambda: direct(store, events, batch_size))
        recorded = [0.0]

        async def writer() -> float:
            seconds, recorded[0] = await through_writer(store, events, batch_size)
            return seconds

        await measure("SpendWriter: record() until all written", writer)
        print(f"  record() alone: {recorded[0] / rows * 1e6:.1f} µs per row (spool append + queue); "
              f"load average at the end {os.getloadavg()[0]:.1f}")  # fmt: skip
    finally:
        await db.aclose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test", help="an admin database URL")
    options = parser.parse_args()
    asyncio.run(main(options.rows, options.batch_size, options.url))

"""Spend-log ingestion into PostgreSQL: rows per second through ``SpendWriter`` and through ``write_batch`` directly.

Run: ``python bench/spend_ingest.py [--rows 200000] [--batch-size 1000] [--workers 2] [--url postgresql://...]``

In a fresh database (``tollway_bench_<uuid>``, migrated, dropped afterwards) it times, each on empty tables:

1. floor: asyncpg ``COPY`` of the same rows straight into ``spend_logs`` (no conflict check, no rollups, no
   counters): what PostgreSQL itself costs on this machine;
2. ``SpendStore.write_batch`` called directly, ``--batch-size`` rows per call, then 10,000 rows per call (one
   transaction each: rows, daily rollups, budget counters);
3. ``SpendWriter`` (``batch_size=--batch-size``; ``max_batch`` its default, ``batch_size``, then 10,000):
   ``record()`` of every row (JSON line appended to the spool file, no fsync) as a gateway would, yielding to the
   event loop every 100 rows and staying within the writer's ``memory_rows`` of the database (the steady state of a
   gateway whose database keeps up; beyond it rows are read back from the spool file, the outage path), until the
   background flusher has written the last one (``pending() == 0``); in this process, then (``max_batch`` 10,000) in
   ``--workers`` processes at once (a gateway's workers: each its own writer and connection pool, one spool
   directory, one database), the rows split between them.

Each line is checked: every row arrived, and the "all" rollups count each once. CPU µs per row are this process's
(or the workers') and the PostgreSQL backends' (read from /proc: the server must run on this machine), so a figure
can be judged apart from whatever else the machine is doing; the load average is printed too.

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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

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


async def drained(writer: SpendWriter, rows: int) -> None:
    """Return once at most ``rows`` rows are waiting for the database."""
    while True:
        if writer.pending() <= rows:
            return
        await asyncio.sleep(0.002)


async def through_writer(
    store: SpendStore, events: list[SpendEvent], batch_size: int, spool: str, max_batch: int | None = None
) -> tuple[float, float]:
    """Seconds from the first record() until the last row is written, and seconds spent inside record()."""
    writer = SpendWriter(store, spool, batch_size=batch_size, max_batch=max_batch)
    # Unbounded, the whole run would be recorded in a second or two and most rows would pass memory_rows and be read
    # back from the spool file: the outage path, not the steady state this bench is about.
    ahead = writer.memory_rows * 3 // 4
    await writer.start()
    recorded = 0.0
    started = time.perf_counter()
    for i in range(0, len(events), 100):
        before = time.perf_counter()
        for event in events[i : i + 100]:
            writer.record(event)
        recorded += time.perf_counter() - before
        await asyncio.sleep(0)
        await drained(writer, ahead)
    await drained(writer, 0)
    elapsed = time.perf_counter() - started
    await writer.aclose()
    if writer.written != len(events):
        raise SystemExit(f"writer wrote {writer.written} of {len(events)} rows")
    return elapsed, recorded


async def count_rows(db: Database) -> tuple[int, int]:
    """Rows in spend_logs, and requests counted by the "all" rollups (equal when every row counted once)."""
    async with db.read() as connection:
        rows = (await connection.exec_driver_sql("SELECT count(*) FROM spend_logs")).scalar_one()
        query = "SELECT coalesce(sum(requests), 0) FROM spend_daily WHERE entity_kind = 'all'"
        counted = (await connection.exec_driver_sql(query)).scalar_one()
    return int(rows), int(counted)


@dataclass(frozen=True)
class Job:
    """What one worker process writes."""

    url: str
    rows: int
    seed: int
    batch_size: int
    spool: str


def worker(job: Job, go: Any, results: Any, release: Any) -> None:
    """One gateway worker's writer (a process of its own): waits for ``go``, records ``job.rows`` rows, reports
    (start, end, CPU seconds), and keeps its connections until ``release`` (their CPU is read before they go)."""

    async def run() -> None:
        db = Database(job.url)
        store = SpendStore(db)
        events = make_events(job.rows, seed=job.seed)
        await count_rows(db)  # connect before the clock starts
        go.wait()
        start, cpu = time.perf_counter(), time.process_time()
        await through_writer(store, events, job.batch_size, job.spool, 10_000)
        results.put((start, time.perf_counter(), time.process_time() - cpu))
        await asyncio.to_thread(release.wait)
        await db.aclose()

    asyncio.run(run())


async def in_workers(url: str, rows: int, batch_size: int, workers: int, cpu: Cpu) -> tuple[float, float, float]:
    """Wall seconds, the workers' CPU seconds and PostgreSQL's for ``workers`` processes writing ``rows`` rows
    between them."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    go, results, release = context.Event(), context.Queue(), context.Event()
    with tempfile.TemporaryDirectory(prefix="tollway-spool-") as spool:
        processes = [
            context.Process(
                target=worker, args=(Job(url, rows // workers, 100 + i, batch_size, spool), go, results, release)
            )
            for i in range(workers)
        ]
        for process in processes:
            process.start()
        await asyncio.sleep(0)
        # The workers warm up (imports, events, a first batch) before the clock starts.
        await asyncio.to_thread(time.sleep, 10)
        start = await cpu.snapshot()
        go.set()
        reports = [await asyncio.to_thread(results.get) for _ in processes]
        _, server = await cpu.since(start)
        release.set()
        for process in processes:
            await asyncio.to_thread(process.join)
    seconds = max(end for _, end, _ in reports) - min(start for start, _, _ in reports)
    return seconds, sum(used for *_, used in reports), server


async def main(rows: int, batch_size: int, workers: int, admin_url: str) -> None:
    name = f"tollway_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    db = Database(url)
    cpu = Cpu(admin, name)
    try:
        await upgrade(db)
        store = SpendStore(db)
        events = make_events(rows)
        await direct(store, make_events(2000, seed=1), batch_size)  # warm the pool, prepared statements, caches
        print(f"{rows} rows, PostgreSQL {admin.get_server_version().major}, {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        print(f"{'path':<58} {'seconds':>8} {'rows/s':>9} {'CPU µs/row: python':>19} {'postgres':>9}")

        async def measure(
            label: str,
            run: Callable[[], Awaitable[tuple[float, float, float] | float]],
            count: int,
            rollups: bool = True,
        ) -> None:
            await reset(db)
            start = await cpu.snapshot()
            result = await run()
            own, server = await cpu.since(start)
            seconds, python, server = result if isinstance(result, tuple) else (result, own, server)
            stored = await count_rows(db)
            if stored != (count, count if rollups else 0):
                raise SystemExit(f"{label}: {stored} (rows, rollup requests) for {count} rows")
            print(f"{label:<58} {seconds:>8.2f} {count / seconds:>9,.0f} {python / count * 1e6:>19.1f} "
                  f"{server / count * 1e6:>9.1f}")  # fmt: skip

        async def writer(max_batch: int | None) -> float:
            with tempfile.TemporaryDirectory(prefix="tollway-spool-") as spool:
                seconds, recorded[0] = await through_writer(store, events, batch_size, spool, max_batch)
            return seconds

        recorded = [0.0]
        label = "floor: COPY into spend_logs, nothing else"
        await measure(label, lambda: floor(db, events, 10_000), rows, rollups=False)
        for size in (batch_size, 10_000):
            label = f"SpendStore.write_batch, {size} rows per call"
            await measure(label, lambda size=size: direct(store, events, size), rows)  # type: ignore[misc]
        await measure(f"SpendWriter, batch_size {batch_size} (defaults), 1 process", lambda: writer(None), rows)
        await measure(f"SpendWriter, batch_size {batch_size}, max_batch 10000, 1 process", lambda: writer(10_000), rows)
        each = rows // workers
        label = f"SpendWriter, max_batch 10000, {workers} processes"
        await measure(label, lambda: in_workers(url, rows, batch_size, workers, cpu), each * workers)
        print(f"record() alone: {recorded[0] / rows * 1e6:.1f} µs per row (spool append + queue); "
              f"load average at the end {os.getloadavg()[0]:.1f}")  # fmt: skip
    finally:
        await db.aclose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="writer processes for the last line")
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test", help="an admin database URL")
    options = parser.parse_args()
    asyncio.run(main(options.rows, options.batch_size, options.workers, options.url))

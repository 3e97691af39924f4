"""Spend rows survive faults: PostgreSQL unreachable under load (through a loopback forwarder the test stops and
restarts) and ``kill -9`` of a process in the middle of recording. Every row arrives exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from spend_helpers import all_requests, counters, many, segments, spooled_ids, stored_ids, until
from sqlalchemy.engine import make_url

from forwarder import Forwarder
from tollway.governance.spend_writer import SpendWriter
from tollway.storage.database import Database
from tollway.storage.spend_store import SpendStore


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_postgres_outage_spools_and_every_row_arrives_once(
    database: Database, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tollway.spend")
    url = make_url(database_url)
    proxy = Forwarder(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    through = Database(url.set(port=proxy.port).render_as_string(hide_password=False), pool_timeout=5)
    spool = tmp_path / "spool"
    writer = SpendWriter(
        SpendStore(through), spool, batch_size=50, flush_interval=0.05, retry_initial=0.05, retry_max=0.3
    )
    try:
        await writer.start()
        before, during = many(120), many(300, start=1000)
        for item in before:
            writer.record(item)
        await until(lambda: writer.pending() < 120)  # the first batches are going through
        await proxy.stop()  # ... maybe in the middle of one
        for i, item in enumerate(during):
            writer.record(item)  # the request path never notices
            if i % 25 == 0:
                await asyncio.sleep(0.01)
        await until(lambda: writer.outage)
        assert writer.spooled() == writer.pending() >= 300
        assert set(spooled_ids(spool)) >= {e.id for e in during}  # on disk
        await asyncio.sleep(0.5)  # a few retries fail
        await proxy.start()
        # Files go once the writer has read past their last row: after pending() is 0, not with it.
        await until(lambda: writer.pending() == 0 and segments(spool) == [], within=30)
        ids = await stored_ids(database)
        assert sorted(ids) == sorted(e.id for e in before + during)  # all of them, each once
        assert await all_requests(database) == 420
        spent = sum(e.cost or 0 for e in before + during)
        assert spent == Decimal("0.351990")  # 0..119 and 1000..1299 micro-dollars
        assert await counters(database) == {("key:" + "k" * 64, "2025-06"): spent}
        outage_logs = [r for r in caplog.records if "cannot write spend rows" in r.getMessage()]
        assert len(outage_logs) == 1  # once per outage, not per retry
        assert segments(spool) == []
    finally:
        await writer.aclose()
        await through.aclose()
        await proxy.stop()


CHILD = """
import asyncio, sys
from datetime import UTC, datetime
from decimal import Decimal
from tollway.governance.spend_event import SpendEvent
from tollway.governance.spend_writer import SpendWriter
from tollway.storage.database import Database
from tollway.storage.spend_store import SpendStore

async def main(url, spool):
    writer = SpendWriter(SpendStore(Database(url)), spool, batch_size=100, flush_interval=0.02)
    await writer.start()
    i = 0
    while True:
        event = SpendEvent(ts=datetime.now(UTC), key_hash="k", cost=Decimal("0.001"), counter_scopes=[("key:k", "all")])
        writer.record(event)
        sys.stdout.write(event.id + "\\n")  # "returned": the gateway answers after record()
        sys.stdout.flush()
        i += 1
        if i % 20 == 0:
            await asyncio.sleep(0.001)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_kill_9_loses_no_returned_row(database: Database, database_url: str, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, database_url, str(spool), stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    returned: list[str] = []
    try:
        # Mid-load: some rows are in the database already, the rest are only in the spool.
        while len(returned) < 1500 or not await stored_ids(database):
            line = await asyncio.wait_for(child.stdout.readline(), 30)
            assert line.endswith(b"\n"), "the recording process ended by itself"
            returned.append(line.decode().strip())
        os.kill(child.pid, signal.SIGKILL)  # raises ProcessLookupError unless it was alive, mid-load
        for line in (await child.stdout.read()).splitlines(keepends=True):
            if line.endswith(b"\n"):  # a line cut by the kill was never "returned"
                returned.append(line.decode().strip())
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await child.wait()
    assert segments(spool)  # the dead process left rows behind
    assert len(await stored_ids(database)) < len(returned)

    store = SpendStore(database)
    successor = SpendWriter(store, spool)
    await successor.start()
    assert await successor.flush()
    await successor.aclose()
    ids = await stored_ids(database)
    assert set(returned) <= set(ids)
    assert len(ids) == len(set(ids))
    assert await all_requests(database) == len(ids)  # replayed rows were not counted twice
    assert await store.counter("key:k", "all") == Decimal("0.001") * len(ids)
    assert segments(spool) == []

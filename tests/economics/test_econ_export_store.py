"""The export store on SQLite and PostgreSQL: insertion order without gaps (a transaction still open holds the cursor
back on PostgreSQL; VACUUM's renumbered rowids on SQLite), leases, and the compare-and-set that drops the work of
an instance that lost its lease."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from export_support import readable, spend, sqlite_database, write
from sqlalchemy import insert

from tollway.economics.export_mapping import Failure, Settlement
from tollway.storage.database import Database
from tollway.storage.export_store import ExportStore
from tollway.storage.schema import spend_logs
from tollway.storage.spend_rollup import LOG_COLUMNS, log_values

LEASE = 60.0
__all__ = ["sqlite_database"]  # a fixture, imported to be found


def ids(*numbers: int) -> list[str]:
    return [f"{n:032x}" for n in numbers]


# PostgreSQL only: SQLite has one writer at a time, so its rowids are handed out in commit order anyway.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_transaction_still_open_holds_the_cursor_back(database: Database) -> None:
    store = ExportStore(database)
    cursor = await store.claim("stripe", "me", LEASE, backfill=True)
    assert cursor is not None
    slow = await database.engine.connect()
    try:
        transaction = await slow.begin()
        # This writer takes its transaction id first and commits last.
        await slow.execute(insert(spend_logs), [dict(zip(LOG_COLUMNS, log_values(spend(1)), strict=True))])
        await SpendStoreWriter(database).write(2)
        # A sequence would hand row 2 over and move past row 1 for good; the horizon waits for row 1's transaction.
        assert await store.rows_after(cursor, 10) == []
        await transaction.commit()
    finally:
        await slow.close()
    await readable(database)
    assert [row.id for row in await store.rows_after(cursor, 10)] == ids(1, 2)


class SpendStoreWriter:
    """Spend rows written and committed at once."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def write(self, *numbers: int) -> None:
        from tollway.storage.spend_store import SpendStore

        await SpendStore(self.database).write_batch([spend(n) for n in numbers])


async def test_rows_come_in_insertion_order_whatever_their_time(database: Database) -> None:
    store = ExportStore(database)
    cursor = await store.claim("stripe", "me", LEASE, backfill=True)
    assert cursor is not None
    now = datetime.now(UTC)
    await write(database, [spend(1, ts=now), spend(2, ts=now - timedelta(days=3))])
    await write(database, [spend(3, ts=now - timedelta(days=9))])
    rows = await store.rows_after(cursor, 10)
    assert [row.id for row in rows] == ids(1, 2, 3)
    assert [row.id for row in await store.rows_after(cursor, 2)] == ids(1, 2)
    settlement = Settlement(done=rows[:2])
    assert await store.advance(cursor, "me", settlement, LEASE, exporter="stripe")
    moved = await store.claim("stripe", "me", LEASE)
    assert moved is not None
    assert [row.id for row in await store.rows_after(moved, 10)] == ids(3)


async def test_renumbered_rowids_neither_resend_nor_skip(sqlite_database: Database) -> None:
    # SQLite only: PostgreSQL orders rows by write_txid, which nothing renumbers.
    database = sqlite_database
    store = ExportStore(database)
    await write(database, [spend(n) for n in range(1, 6)])
    cursor = await store.claim("stripe", "me", LEASE, backfill=True)
    assert cursor is not None
    rows = await store.rows_after(cursor, 10)
    assert await store.advance(cursor, "me", Settlement(done=rows), LEASE, exporter="stripe")
    # Rows 2 and 3 pruned, then rowids renumbered as VACUUM may do ("VACUUM may change the ROWIDs of entries in
    # any tables that do not have an explicit INTEGER PRIMARY KEY", https://sqlite.org/lang_vacuum.html).
    async with database.write() as connection:
        await connection.exec_driver_sql(f"DELETE FROM spend_logs WHERE id IN ('{ids(2)[0]}', '{ids(3)[0]}')")
        await connection.exec_driver_sql(f"UPDATE spend_logs SET rowid = 2 WHERE id = '{ids(4)[0]}'")
        await connection.exec_driver_sql(f"UPDATE spend_logs SET rowid = 3 WHERE id = '{ids(5)[0]}'")
    await write(database, [spend(6), spend(7)])  # rowids 4 and 5: at or below the stored position (5)
    cursor = await store.claim("stripe", "me", LEASE)
    assert cursor is not None
    assert [row.id for row in await store.rows_after(cursor, 10)] == ids(6, 7)


async def test_the_first_claim_starts_at_the_end_and_another_owner_waits_for_the_lease(database: Database) -> None:
    await write(database, [spend(1)])
    now = datetime(2030, 1, 1, tzinfo=UTC)
    clock = [now]
    store = ExportStore(database, clock=lambda: clock[0])
    mine = await store.claim("stripe", "a", LEASE)
    assert mine is not None
    assert mine.spend_id == ""
    assert await store.rows_after(mine, 10) == []  # row 1 was there before: not exported
    assert await store.claim("stripe", "b", LEASE) is None
    clock[0] = now + timedelta(seconds=LEASE + 1)
    theirs = await store.claim("stripe", "b", LEASE)
    assert theirs is not None
    assert theirs.lease_owner == "b"
    # a's pass is dropped: it no longer holds the lease.
    assert not await store.advance(mine, "a", Settlement(), LEASE, exporter="stripe")
    await store.release("stripe", "b")
    assert await store.claim("stripe", "a", LEASE) is not None


async def test_advance_refuses_a_cursor_that_moved_and_records_failures_once(database: Database) -> None:
    store = ExportStore(database)
    await write(database, [spend(1), spend(2)])
    cursor = await store.claim("stripe", "me", LEASE, backfill=True)
    assert cursor is not None
    rows = await store.rows_after(cursor, 10)
    failure = Failure(rows[0].id, rows[0].id, "unmapped_customer", "no stripe id", rows[0].ts, "req-1", "acme")
    settlement = Settlement(done=rows[:1], failures=[failure], skipped=1, ahead=[(f"{rows[1].id}:total", rows[1].id)])
    assert await store.advance(cursor, "me", settlement, LEASE, exporter="stripe")
    assert not await store.advance(cursor, "me", settlement, LEASE, exporter="stripe")  # stale: already moved
    assert await store.settled_ahead("stripe", [rows[1].id]) == {f"{rows[1].id}:total"}
    moved = await store.claim("stripe", "me", LEASE)
    assert moved is not None
    assert await store.advance(moved, "me", Settlement(done=rows[1:], failures=[failure]), LEASE, exporter="stripe")
    assert await store.settled_ahead("stripe", [rows[1].id]) == set()  # cleared once the cursor passed the row
    assert [f.identifier for f in await store.failures("stripe")] == [rows[0].id]  # recorded once
    [state] = await store.cursors()
    assert (state.rows_done, state.rows_skipped, state.spend_id) == (2, 1, rows[1].id)
    assert await store.failure_counts() == {("stripe", "unmapped_customer"): 1}

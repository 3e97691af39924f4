"""``open_governance(settings)``: the database migrated, the stores, the counters and the spend writer, started.

Counters live in Redis when ``REDIS_URL`` is set (shared by every instance: limits and budgets hold across them),
else in this process's memory (exact on one instance). Budget counters start from the persisted spend in
``spend_counters`` either way.
"""

from __future__ import annotations

from tollway.governance.counters import Counter, usd_to_nano
from tollway.governance.service import Governance, Stores
from tollway.governance.settings import GovernanceSettings

__all__ = ["MEMORY_ROWS", "POSTGRES_MAX_BATCH", "open_governance", "open_stores"]

POSTGRES_MAX_BATCH = 10_000
"""Spend rows per transaction at most on PostgreSQL (when a backlog has built up; a flush writes what is queued)."""

MEMORY_ROWS = 2_000
"""Spend events the writer holds in memory at most (two batches of the default 1,000)."""


async def open_stores(settings: GovernanceSettings) -> Stores:
    """The database (migrated to the latest schema) and its repositories."""
    from tollway.storage.audit import AuditLog
    from tollway.storage.database import Database
    from tollway.storage.entities import CustomerStore, KeyStore, TeamStore, UserStore
    from tollway.storage.migrate import upgrade
    from tollway.storage.spend_store import SpendStore

    database = Database.from_settings(settings.database_url, settings.database_settings)
    try:
        await upgrade(database)
    except BaseException:
        await database.aclose()
        raise
    return Stores(
        database=database,
        keys=KeyStore(database),
        users=UserStore(database),
        teams=TeamStore(database),
        customers=CustomerStore(database),
        spend=SpendStore(database),
        audit=AuditLog(database),
    )


async def open_governance(settings: GovernanceSettings) -> Governance:
    """Everything governance needs, started (close it with ``aclose``)."""
    from tollway.governance.spend_writer import SpendWriter

    stores = await open_stores(settings)
    spend = stores.spend

    async def loader(scope: str, period: str) -> int:
        return usd_to_nano(await spend.counter(scope, period), round_up=False)

    counter: Counter
    if settings.redis_url:
        from tollway.governance.counters_redis import RedisCounter

        counter = RedisCounter.from_url(settings.redis_url, prefix=f"{settings.redis_prefix}gov:", loader=loader)
    else:
        from tollway.governance.counters_memory import MemoryCounter

        counter = MemoryCounter(loader=loader)
    # PostgreSQL: a backlog is written up to 10,000 rows per transaction (2.4x the rows/s of 1,000-row ones in
    # bench/spend_ingest.py: the rollup and counter upserts are per distinct key, so bigger batches share them),
    # with no more events held in memory than before (the rest is read back from the spool). SQLite keeps
    # 1,000-row transactions: a long one holds its single write lock and the worker's memory longer.
    max_batch = None if stores.database.is_sqlite else POSTGRES_MAX_BATCH
    writer = SpendWriter(
        spend, settings.spool_dir, flush_interval=settings.flush_interval, max_batch=max_batch, memory_rows=MEMORY_ROWS
    )
    governance = Governance(settings, stores, counter, writer)
    try:
        await governance.start()
    except BaseException:
        await governance.aclose()
        raise
    return governance

"""``open_governance(settings)``: the database migrated, the stores, the counters and the spend writer, started.

Counters live in Redis when ``REDIS_URL`` is set (shared by every instance: limits and budgets hold across them),
else in this process's memory (exact on one instance). Budget counters start from the persisted spend in
``spend_counters`` either way.
"""

from __future__ import annotations

from tollway.governance.counters import Counter, usd_to_nano
from tollway.governance.service import Governance, Stores
from tollway.governance.settings import GovernanceSettings

__all__ = ["open_governance", "open_stores"]


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
    writer = SpendWriter(spend, settings.spool_dir, flush_interval=settings.flush_interval)
    governance = Governance(settings, stores, counter, writer)
    try:
        await governance.start()
    except BaseException:
        await governance.aclose()
        raise
    return governance

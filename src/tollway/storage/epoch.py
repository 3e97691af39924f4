"""The entity epoch: one counter that every change to a key, user, team or customer increments, in the same
transaction as the change (``bump``), so that a gateway process learns that its cached records may be stale from
one small query (``read``) instead of reloading each of them.

Without Redis (whose pub/sub pushes each change to every instance) a gateway reloaded every cached key and customer
once per ``user_api_key_cache_ttl`` (1 s), whether anything had changed or not: 1.3-2.5 ms of CPU per key in use,
every second, which grows with the number of keys a platform hands out. Now it reads this counter at that interval
and reloads only when it moved (``Governance``; ``KeyCache.observe``).

The increment is an ``UPDATE ... SET epoch = epoch + 1`` of the one row: on PostgreSQL it holds that row's lock until
the change commits, so concurrent management writes take turns there, and the counter can never be read as moved
before the change it counts is visible. A change made in the database by hand, outside the management API, does not
move it: cached records still expire after at most a minute (``Governance``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select, update

from tollway.storage import schema

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from tollway.storage.database import Database

__all__ = ["bump", "read"]

_ROW = 1
_TABLE = schema.entity_epoch
_BUMP = update(_TABLE).where(_TABLE.c.id == _ROW).values(epoch=_TABLE.c.epoch + 1)
_READ = select(_TABLE.c.epoch).where(_TABLE.c.id == _ROW)


async def bump(connection: AsyncConnection) -> None:
    """Count one change, inside the transaction of ``connection`` (the one making the change)."""
    await connection.execute(_BUMP)


async def read(database: Database) -> int:
    """The current epoch (0 if its row is missing)."""
    async with database.read() as connection:
        value = (await connection.execute(_READ)).scalar_one_or_none()
    return int(value or 0)

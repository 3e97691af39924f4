"""``SpendStore``: spend rows, their daily rollups and the persisted budget counters, written together; and the
queries the management API and the budget counters read.

``write_batch`` is idempotent: a row whose id is already stored is skipped, and only the rows actually inserted
count in the rollups and counters, all in one transaction. Replaying a batch (from the spool, after a crash or an
outage) therefore changes nothing the second time.

The rollup and counter increments of a batch are summed in Python (``spend_rollup``, exact Decimals; one
implementation for both databases) from the rows actually inserted.

PostgreSQL: the rows go in with one binary ``COPY`` straight into ``spend_logs`` inside a savepoint. If an id is
already stored (a replay), the savepoint is rolled back and the rows go through a session-local staging table and
``INSERT ... SELECT ... ON CONFLICT (id) DO NOTHING RETURNING id`` instead (the direct COPY is the common case and
costs about half as much). The increments are copied into staging tables too and applied with one
``INSERT ... SELECT ... ORDER BY <primary key> ON CONFLICT DO UPDATE SET x = x + excluded.x`` per table: the same
lock order in every writer, so concurrent writers (N workers) cannot deadlock each other.
SQLite: see ``spend_sqlite`` (fixed statements through the driver: ``executemany`` of the rows, the rollups and
counters read-modified-written in Python, money being TEXT there, inside the ``BEGIN IMMEDIATE`` transaction that
already holds the write lock).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from tollway.storage import spend_queries
from tollway.storage.spend_queries import GroupBy, ReportRow
from tollway.storage.spend_rollup import LOG_COLUMNS, MEASURES, Batch, Increments, check_event, log_values, unique
from tollway.storage.spend_sqlite import write_sqlite

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from tollway.governance.spend_event import SpendEvent
    from tollway.storage.database import Database

__all__ = ["GroupBy", "ReportRow", "SpendStore"]

# A replay (some ids already stored) goes through this session-local staging table, emptied by every commit.
_STAGE_LOGS_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS tollway_stage_logs (LIKE spend_logs INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_T = TypeVar("_T")
_SLICE = 1000  # rows of Python work between two turns of the event loop
_UNIQUE_VIOLATION = "23505"  # SQLSTATE of asyncpg's UniqueViolationError
_COLUMN_LIST = ", ".join(LOG_COLUMNS)
# Built from the schema's column names only (no outside input reaches these strings).
_PG_INSERT_NEW_LOGS = (
    f"INSERT INTO spend_logs ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM tollway_stage_logs "  # noqa: S608
    "ON CONFLICT (id) DO NOTHING RETURNING id"
)
_DAILY_COLUMNS = ("day", "entity_kind", "entity_id", "model_group", *MEASURES)
_COUNTER_COLUMNS = ("scope", "period", "spent", "updated_at")
# Increments go through session-local staging tables too (binary COPY is far cheaper to encode than array
# parameters), emptied by every commit.
_STAGE_DAILY_DDL = "CREATE TEMP TABLE IF NOT EXISTS tollway_stage_daily (LIKE spend_daily) ON COMMIT DELETE ROWS"
_STAGE_COUNTERS_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS tollway_stage_counters (LIKE spend_counters) ON COMMIT DELETE ROWS"
)
_ADD_MEASURES = ", ".join(f"{name} = d.{name} + excluded.{name}" for name in MEASURES)
# ORDER BY: every writer locks rollup rows in one order, so concurrent writers (N workers) cannot deadlock.
# Byte order ("C") because it is the cheapest to sort by; any fixed order would do.
_PG_UPSERT_DAILY = (
    f"INSERT INTO spend_daily AS d ({', '.join(_DAILY_COLUMNS)}) "  # noqa: S608
    f"SELECT {', '.join(_DAILY_COLUMNS)} FROM tollway_stage_daily "
    'ORDER BY day, entity_kind COLLATE "C", entity_id COLLATE "C", model_group COLLATE "C" '
    f"ON CONFLICT (day, entity_kind, entity_id, model_group) DO UPDATE SET {_ADD_MEASURES}"
)
_PG_UPSERT_COUNTERS = (
    "INSERT INTO spend_counters AS c (scope, period, spent, updated_at) "
    "SELECT scope, period, spent, updated_at FROM tollway_stage_counters "
    'ORDER BY scope COLLATE "C", period COLLATE "C" '
    "ON CONFLICT (scope, period) DO UPDATE SET spent = c.spent + excluded.spent, updated_at = excluded.updated_at"
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SpendStore:
    """Spend rows, rollups and persisted counters in one ``Database`` (SQLite or PostgreSQL)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def check_event(self, event: SpendEvent) -> str | None:
        """Why ``event`` cannot be stored (None: it can): the writer sets such an event aside instead of retrying
        its batch forever."""
        return check_event(event)

    async def write_batch(self, events: Sequence[SpendEvent]) -> int:
        """Store ``events`` in one transaction; return how many rows were inserted (ids already stored are skipped,
        and only inserted rows count in the rollups and counters). Raises ``ValueError`` (before touching the
        database) if an event cannot be stored (see ``spend_rollup.check_event``); database errors propagate.

        The work is done in slices of 1,000 rows with a turn for the event loop between them: a big batch never
        holds up the requests the same process is serving for long."""
        values: list[list[Any]] = []
        scopes: list[Sequence[tuple[str, str]]] = []
        problems: list[str] = []
        async for part in _yielding(_chunks(unique(events), _SLICE)):
            for event in part:
                problem = check_event(event)
                if problem is None:
                    values.append(log_values(event))
                    scopes.append(event.counter_scopes)
                else:
                    problems.append(f"{event.id!r}: {problem}")
        if problems:
            raise ValueError("spend events that cannot be stored: " + "; ".join(problems[:5]))
        if not values:
            return 0
        batch = Batch(values, scopes)
        async with self.database.write() as connection:
            if self.database.is_sqlite:
                return await write_sqlite(connection, batch)
            return await _write_postgres(connection, batch)

    async def logs(
        self,
        *,
        key_hash: str | None = None,
        user_id: str | None = None,
        team_id: str | None = None,
        customer_id: str | None = None,
        model_group: str | None = None,
        status: int | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        page: int = 1,
        page_size: int = 100,
    ) -> tuple[list[SpendEvent], int]:
        """Spend rows matching every given filter, newest first: one page of them and the total count.

        ``start`` is inclusive, ``end`` exclusive; ``page`` counts from 1; ``page_size`` is 1..1000. The events
        come back without ``counter_scopes`` (not a column).
        """
        filters = spend_queries.LogFilter(
            key_hash=key_hash,
            user_id=user_id,
            team_id=team_id,
            customer_id=customer_id,
            model_group=model_group,
            status=status,
            start=start,
            end=end,
        )
        async with self.database.read() as connection:
            return await spend_queries.logs(connection, filters, page=page, page_size=page_size)

    async def report(
        self,
        start_day: date,
        end_day: date,
        group_by: GroupBy = "all",
        *,
        entity_id: str | None = None,
    ) -> list[ReportRow]:
        """Totals per (day, group) from the daily rollups, ``start_day``..``end_day`` inclusive, ordered by day
        then group. ``group_by`` "model" groups by model group; "all" gives one row per day (group ""). With
        ``entity_id`` only that group is reported (one key's days, one customer's...)."""
        async with self.database.read() as connection:
            return await spend_queries.report(
                connection,
                start_day,
                end_day,
                group_by,
                entity_id=entity_id,
                sum_in_sql=not self.database.is_sqlite,
            )

    async def counter(self, scope: str, period: str) -> Decimal:
        """The persisted spend of one budget counter (0 when nothing was counted yet): the counters' loader."""
        async with self.database.read() as connection:
            return await spend_queries.counter(connection, scope, period)

    async def prune(self, before: datetime, batch: int = 10_000) -> int:
        """Delete spend rows older than ``before``, ``batch`` rows per transaction (short locks, bounded WAL);
        return how many were deleted. Rollups and counters are kept: reports and budgets do not change."""
        if batch < 1:
            raise ValueError("prune batch must be at least 1")
        deleted = 0
        while True:
            async with self.database.write() as connection:
                count = await spend_queries.prune_batch(connection, before.astimezone(UTC), batch)
            deleted += count
            if count < batch:
                return deleted


async def _write_postgres(connection: AsyncConnection, batch: Batch) -> int:
    # Through SQLAlchemy first, so that its transaction is open on the driver connection; COPY and the rest then
    # use asyncpg directly, inside it.
    await connection.exec_driver_sql(_STAGE_DAILY_DDL)
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    try:
        # The usual case, no id stored yet: COPY straight into the table, the fastest way in. The savepoint keeps
        # the transaction usable if some id is there already (a replay), which the staging path below sorts out.
        async with driver.transaction():
            await driver.copy_records_to_table("spend_logs", records=_copy_records(batch), columns=LOG_COLUMNS)
    except Exception as error:
        if getattr(error, "sqlstate", None) != _UNIQUE_VIOLATION:
            raise
        await driver.execute(_STAGE_LOGS_DDL)
        await driver.copy_records_to_table("tollway_stage_logs", records=_copy_records(batch), columns=LOG_COLUMNS)
        batch = batch.only(row["id"] for row in await driver.fetch(_PG_INSERT_NEW_LOGS))
        if not batch.values:
            return 0
    increments = await _increments(batch)
    daily = [(*key, *measures) for key, measures in increments.daily().items()]
    await driver.copy_records_to_table("tollway_stage_daily", records=daily, columns=_DAILY_COLUMNS)
    await driver.execute(_PG_UPSERT_DAILY)
    now = _utcnow()
    counters = [(scope, period, spent, now) for (scope, period), spent in increments.counters().items()]
    if counters:
        await driver.execute(_STAGE_COUNTERS_DDL)
        await driver.copy_records_to_table("tollway_stage_counters", records=counters, columns=_COUNTER_COLUMNS)
        await driver.execute(_PG_UPSERT_COUNTERS)
    return len(batch.values)


async def _copy_records(batch: Batch) -> AsyncIterator[tuple[Any, ...]]:
    """The COPY rows of ``batch``, encoded slice by slice (asyncpg takes an async iterable)."""
    async for part in _yielding(batch.slices(_SLICE)):
        for record in part.copy_records():
            yield record


async def _increments(batch: Batch) -> Increments:
    increments = Increments()
    async for part in _yielding(batch.slices(_SLICE)):
        increments.add(part)
    return increments


async def _yielding(parts: Iterable[_T]) -> AsyncIterator[_T]:
    """``parts``, with a turn for the event loop before each one after the first."""
    for index, part in enumerate(parts):
        if index:
            await asyncio.sleep(0)
        yield part


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

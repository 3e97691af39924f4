"""``SpendStore``: spend rows, their daily rollups and the persisted budget counters, written together; and the
queries the management API and the budget counters read.

``write_batch`` is idempotent: a row whose id is already stored is skipped, and only the rows actually inserted
count in the rollups and counters, all in one transaction. Replaying a batch (from the spool, after a crash or an
outage) therefore changes nothing the second time.

PostgreSQL: see ``spend_postgres`` (one binary ``COPY`` of the rows, a staging table for replays; the daily rollups
summed in SQL from the rows the transaction inserted; the counters' increments summed in Python). SQLite: see
``spend_sqlite`` (fixed statements through the driver: ``executemany`` of the rows, the rollups and counters summed
by ``spend_rollup.Increments`` and read-modified-written in Python, money being TEXT there, inside the
``BEGIN IMMEDIATE`` transaction that already holds the write lock).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from tollway.storage import spend_queries
from tollway.storage.spend_postgres import write_postgres
from tollway.storage.spend_queries import GroupBy, ReportRow
from tollway.storage.spend_rollup import Batch, check_event, log_values, unique
from tollway.storage.spend_sqlite import write_sqlite

if TYPE_CHECKING:
    from tollway.governance.spend_event import SpendEvent
    from tollway.storage.database import Database

__all__ = ["GroupBy", "ReportRow", "SpendStore"]

_T = TypeVar("_T")
_SLICE = 1000  # rows of Python work between two turns of the event loop


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
            return await write_postgres(connection, batch)

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
        request_id: str | None = None,
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
            request_id=request_id,
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


async def _yielding(parts: Iterable[_T]) -> AsyncIterator[_T]:
    """``parts``, with a turn for the event loop before each one after the first."""
    for index, part in enumerate(parts):
        if index:
            await asyncio.sleep(0)
        yield part


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

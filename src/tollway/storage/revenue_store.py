"""``RevenueStore``: revenue records in the ``revenue`` table, recorded idempotently, listed, and totalled per
customer and currency over a period (prorated by days: ``tollway.economics.revenue.portion``).

Idempotency: ``(source, external_id)`` is unique in the table. ``add_many`` looks the batch's keys up and inserts
only the new records, in one transaction: a repeated record (same key, same content) is returned as it was
stored, never counted twice; a key stored with other content is a ``RevenueConflictError`` and the whole batch is
refused, so a CSV import or a Stripe sync is all or nothing. Two writers racing on PostgreSQL: the loser's insert
hits the unique constraint, its transaction rolls back and the batch is tried again (up to three times), now
finding the winner's rows. Records without an external id are always new.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from tollway.economics.revenue import RevenueRecord, totals_by_customer
from tollway.storage import schema
from tollway.storage.database import Database, RecordNotFoundError, StoreError
from tollway.storage.entities_base import MAX_PAGE_SIZE, read_utc, write_utc

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["Added", "RevenueConflictError", "RevenueStore"]

_CHUNK = 500  # keys per IN (...) lookup and rows per multi-row insert: well under every driver's parameter limit
_ATTEMPTS = 3  # each retry follows a concurrent writer's commit, so it finds that writer's rows
Added = tuple[RevenueRecord, bool]  # (the stored record, whether this call created it)


class RevenueConflictError(StoreError):
    """Records name a (source, external_id) that is stored with other content; ``conflicts`` pairs each new record
    with the stored one."""

    def __init__(self, conflicts: list[tuple[RevenueRecord, RevenueRecord]]) -> None:
        names = ", ".join(f"{new.source}:{new.external_id}" for new, _ in conflicts[:5])
        more = f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
        super().__init__(f"already recorded with other values: {names}{more}")
        self.conflicts = conflicts


def _now() -> datetime:
    return datetime.now(UTC)


def _values(record: RevenueRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "customer_id": record.customer_id,
        "kind": record.kind,
        "amount": record.amount,
        "currency": record.currency,
        "period_start": record.period_start,
        "period_end": record.period_end,
        "source": record.source,
        "external_id": record.external_id,
        "metadata": dict(record.metadata),
        "created_at": write_utc(record.created_at),
        "created_by": record.created_by,
    }


def _record(row: Mapping[Any, Any]) -> RevenueRecord:
    created = read_utc(row["created_at"])
    assert created is not None
    return RevenueRecord(
        id=row["id"],
        customer_id=row["customer_id"],
        kind=row["kind"],
        amount=row["amount"],
        currency=row["currency"],
        period_start=row["period_start"],
        period_end=row["period_end"],
        source=row["source"],
        external_id=row["external_id"],
        metadata=dict(row["metadata"] or {}),
        created_at=created,
        created_by=row["created_by"],
    )


class RevenueStore:
    """Revenue records on one ``Database`` (see the module docstring)."""

    table = schema.revenue

    def __init__(self, database: Database, *, clock: Callable[[], datetime] = _now) -> None:
        self.database = database
        self._clock = clock

    async def add(self, record: RevenueRecord) -> Added:
        """Record one payment: ``(stored record, True)`` when new, ``(the stored one, False)`` when its
        (source, external_id) was recorded before with the same content; RevenueConflictError otherwise."""
        return (await self.add_many([record]))[0]

    async def add_many(self, records: Sequence[RevenueRecord]) -> list[Added]:
        """Record a batch, all or nothing; one ``(stored record, created)`` per given record, in order.

        Records are stamped with the store's clock as they are inserted. The same key twice in one batch is one
        record (the second's result is ``created=False``).
        """
        for _ in range(_ATTEMPTS - 1):
            try:
                return await self._add_many(records)
            except IntegrityError:
                # A concurrent writer inserted one of our keys after we looked: our transaction is gone; look again.
                continue
        return await self._add_many(records)

    async def _add_many(self, records: Sequence[RevenueRecord]) -> list[Added]:
        now = self._clock()
        results: list[Added] = []
        conflicts: list[tuple[RevenueRecord, RevenueRecord]] = []
        async with self.database.write() as connection:
            stored = await self._existing(connection, records)
            fresh: list[RevenueRecord] = []
            for record in records:
                key = (record.source, record.external_id)
                found = stored.get(key) if record.external_id is not None else None
                if found is None:
                    new = record.stamped(now, record.created_by)
                    fresh.append(new)
                    results.append((new, True))
                    if record.external_id is not None:
                        stored[key] = new
                elif found.same_entry(record):
                    results.append((found, False))
                else:
                    conflicts.append((record, found))
            if conflicts:
                raise RevenueConflictError(conflicts)
            for offset in range(0, len(fresh), _CHUNK):
                await connection.execute(insert(self.table), [_values(r) for r in fresh[offset : offset + _CHUNK]])
        return results

    async def _existing(
        self, connection: AsyncConnection, records: Iterable[RevenueRecord]
    ) -> dict[tuple[str, str | None], RevenueRecord]:
        wanted: dict[str, set[str]] = defaultdict(set)
        for record in records:
            if record.external_id is not None:
                wanted[record.source].add(record.external_id)
        found: dict[tuple[str, str | None], RevenueRecord] = {}
        table = self.table
        for source, ids in wanted.items():
            ordered = sorted(ids)
            for offset in range(0, len(ordered), _CHUNK):
                chunk = ordered[offset : offset + _CHUNK]
                query = select(table).where(table.c.source == source, table.c.external_id.in_(chunk))
                if not self.database.is_sqlite:
                    query = query.with_for_update()
                for row in (await connection.execute(query)).mappings():
                    record = _record(row)
                    found[(record.source, record.external_id)] = record
        return found

    async def get(self, ident: str) -> RevenueRecord | None:
        """The record with this id, or None."""
        async with self.database.read() as connection:
            row = (await connection.execute(select(self.table).where(self.table.c.id == ident))).mappings().first()
        return None if row is None else _record(row)

    async def delete(self, ident: str) -> RevenueRecord:
        """Delete a record and return what it was; RecordNotFoundError when there is none."""
        table = self.table
        async with self.database.write() as connection:
            row = (await connection.execute(select(table).where(table.c.id == ident))).mappings().first()
            if row is None:
                raise RecordNotFoundError("revenue record", ident)
            await connection.execute(delete(table).where(table.c.id == ident))
        return _record(row)

    def _conditions(
        self,
        *,
        customer_id: str | None = None,
        start: date | None = None,
        end: date | None = None,
        source: str | None = None,
        currency: str | None = None,
        kind: str | None = None,
    ) -> list[ColumnElement[bool]]:
        table = self.table
        conditions: list[ColumnElement[bool]] = [
            column == value
            for column, value in (
                (table.c.customer_id, customer_id),
                (table.c.source, source),
                (table.c.currency, currency),
                (table.c.kind, kind),
            )
            if value is not None
        ]
        # A record belongs to [start, end] when its period overlaps it (dates compare as ISO strings on SQLite).
        if start is not None:
            conditions.append(table.c.period_end >= start)
        if end is not None:
            conditions.append(table.c.period_start <= end)
        return conditions

    async def query(
        self,
        *,
        customer_id: str | None = None,
        start: date | None = None,
        end: date | None = None,
        source: str | None = None,
        currency: str | None = None,
        kind: str | None = None,
        page: int = 1,
        page_size: int = 100,
    ) -> tuple[list[RevenueRecord], int]:
        """One page (1-based) of the records matching every filter, newest first, and the total. ``start``/``end``
        (inclusive dates) select the records whose period overlaps them."""
        if page < 1:
            raise ValueError("page starts at 1")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        table = self.table
        conditions = self._conditions(
            customer_id=customer_id, start=start, end=end, source=source, currency=currency, kind=kind
        )
        query = select(table).where(*conditions).order_by(table.c.created_at.desc(), table.c.id)
        query = query.limit(page_size).offset((page - 1) * page_size)
        counting = select(func.count()).select_from(table).where(*conditions)
        async with self.database.read() as connection:
            rows = (await connection.execute(query)).mappings().all()
            total = (await connection.execute(counting)).scalar_one()
        return [_record(row) for row in rows], int(total)

    async def overlapping(self, start: date, end: date, *, customer_id: str | None = None) -> list[RevenueRecord]:
        """Every record whose period overlaps ``[start, end]`` (both inclusive)."""
        conditions = self._conditions(customer_id=customer_id, start=start, end=end)
        async with self.database.read() as connection:
            rows = (await connection.execute(select(self.table).where(*conditions))).mappings().all()
        return [_record(row) for row in rows]

    async def revenue_by_customer(
        self, start: date, end: date, *, customer_id: str | None = None
    ) -> dict[tuple[str, str], Decimal]:
        """``{(customer_id, currency): revenue}`` for ``[start, end]`` (inclusive dates): refunds subtracted, a
        record that only partly overlaps the period prorated by days, currencies never added together."""
        if end < start:
            raise ValueError("end is before start")
        return totals_by_customer(await self.overlapping(start, end, customer_id=customer_id), start, end)

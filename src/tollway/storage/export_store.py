"""``ExportStore``: the billing exporters' cursors and leases, the spend rows after a cursor, and what was not
exported (``export_cursors``, ``export_failures``, ``export_sent``).

**Order.** Rows are exported in the order they were *inserted*, not by request time: a row replayed from the spool
an hour late still comes after the cursor. And the cursor never passes a row that is not committed yet:

- PostgreSQL: the order is (``write_txid``, ``id``), ``write_txid`` being the inserting transaction's id (a column
  default). Several gateway workers write at once and commit in any order, so a plain sequence could hand out 7 to a
  transaction that commits after the one holding 8, and a cursor at 8 would never see 7. Instead only rows whose
  transaction is older than the oldest one still running (``pg_snapshot_xmin(pg_current_snapshot())`` of the same
  query) are read: all of those are committed (or rolled back) for good, and every transaction still to commit has
  a larger id than the cursor.
- SQLite: the ``rowid``. One writer at a time holds the write lock for its whole transaction, so rowids are
  handed out in commit order. ``VACUUM`` may renumber rowids, so the cursor also keeps the last row's id and the
  query starts after that row's current rowid while it exists. (A row deleted by retention pruning while it is the
  newest row could have its rowid handed out again; pruning removes rows older than the retention period, which a
  newest row practically never is.)

**Lease.** Every gateway worker runs the exporters, and only one may export at a time: ``claim`` takes or renews
a lease on the exporter's cursor row (``lease_seconds``); another instance takes over once it lapses. ``advance``
moves the cursor only if this owner still holds the lease and the cursor is where it read it (compare and set), so
a batch exported by an instance that lost its lease is dropped, never counted twice (the receivers drop the copies
it sent, by identifier).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Text, cast, delete, func, insert, literal_column, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnClause

from tollway.economics.export_mapping import Failure, Settlement, UsageRow
from tollway.storage import schema
from tollway.storage.entities_base import read_utc, write_utc

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.ext.asyncio import AsyncConnection

    from tollway.storage.database import Database

__all__ = ["ExportCursor", "ExportStore"]

_CHUNK = 500  # ids per IN (...) and rows per multi-row insert
_ROW_COLUMNS = (
    "id",
    "request_id",
    "ts",
    "customer_id",
    "feature",
    "model",
    "model_group",
    "provider",
    "call_type",
    "status",
    "input_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost",
)
_COUNTS = ("rows_done", "events_sent", "events_rejected", "rows_skipped", "rows_unattributed")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ExportCursor:
    """One exporter's progress: after (``position``, ``spend_id``), counts so far, its lease and its last error."""

    exporter: str
    position: int
    spend_id: str
    rows_done: int = 0
    events_sent: int = 0
    events_rejected: int = 0
    rows_skipped: int = 0
    rows_unattributed: int = 0
    lease_owner: str | None = None
    lease_until: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    updated_at: datetime | None = None


def _cursor(row: Any) -> ExportCursor:
    return ExportCursor(
        exporter=row["exporter"],
        position=int(row["cursor_position"]),
        spend_id=row["cursor_spend_id"],
        **{name: int(row[name]) for name in _COUNTS},
        lease_owner=row["lease_owner"],
        lease_until=read_utc(row["lease_until"]),
        last_error=row["last_error"],
        last_error_at=read_utc(row["last_error_at"]),
        updated_at=read_utc(row["updated_at"]),
    )


class ExportStore:
    """The exporters' state on one ``Database`` (see the module docstring)."""

    def __init__(self, database: Database, *, clock: Callable[[], datetime] = _now) -> None:
        self.database = database
        self._clock = clock

    # -- lease and cursor -----------------------------------------------------------------------------------------

    async def claim(
        self, exporter: str, owner: str, lease_seconds: float, *, backfill: bool = False
    ) -> ExportCursor | None:
        """Take or renew ``exporter``'s lease for ``owner``: its cursor, or None while another owner holds it.

        The first claim creates the cursor: at the current end of ``spend_logs`` (rows written from now on are
        exported), or before the first row with ``backfill``."""
        table = schema.export_cursors
        now = self._clock()
        until = write_utc(now + timedelta(seconds=lease_seconds))
        try:
            async with self.database.write() as connection:
                query = select(table).where(table.c.exporter == exporter)
                if not self.database.is_sqlite:
                    query = query.with_for_update()
                row = (await connection.execute(query)).mappings().first()
                if row is None:
                    position = 0 if backfill else await self._head(connection)
                    values = {"exporter": exporter, "cursor_position": position, "cursor_spend_id": ""}
                    values |= dict.fromkeys(_COUNTS, 0) | {"created_at": write_utc(now), "updated_at": write_utc(now)}
                    await connection.execute(insert(table).values(**values, lease_owner=owner, lease_until=until))
                    return ExportCursor(exporter, position, "", lease_owner=owner, lease_until=until)
                holder, lapse = row["lease_owner"], read_utc(row["lease_until"])
                if holder not in (None, owner) and lapse is not None and lapse > now:
                    return None
                await connection.execute(
                    update(table).where(table.c.exporter == exporter).values(lease_owner=owner, lease_until=until)
                )
                return _cursor({**row, "lease_owner": owner, "lease_until": until})
        except IntegrityError:
            return None  # another instance created the cursor at the same moment: it holds the lease

    async def _head(self, connection: AsyncConnection) -> int:
        """The position before every row not written yet."""
        if self.database.is_sqlite:
            found = (await connection.execute(select(func.max(_rowid())).select_from(schema.spend_logs))).scalar()
            return int(found or 0)
        # Rows of transactions older than the oldest one running are committed: start after them, that is at
        # (oldest running, ""), before every row of that transaction and of the later ones.
        return int((await connection.execute(select(_horizon()))).scalar_one())

    async def release(self, exporter: str, owner: str) -> None:
        """Give the lease up (at shutdown), so another instance need not wait for it to lapse."""
        table = schema.export_cursors
        async with self.database.write() as connection:
            await connection.execute(
                update(table)
                .where(table.c.exporter == exporter, table.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    async def advance(
        self, cursor: ExportCursor, owner: str, settlement: Settlement, lease_seconds: float, *, exporter: str
    ) -> bool:
        """Record ``settlement`` and move the cursor past its done rows, if ``owner`` still holds the lease and the
        cursor has not moved; False (nothing written) otherwise."""
        table = schema.export_cursors
        now = self._clock()
        last = settlement.last
        counts = {
            "rows_done": len(settlement.done),
            "events_sent": settlement.delivered,
            "events_rejected": settlement.rejected,
            "rows_skipped": settlement.skipped,
            "rows_unattributed": settlement.unattributed,
        }
        values: dict[str, Any] = {name: table.c[name] + amount for name, amount in counts.items()}
        values |= {"updated_at": write_utc(now), "lease_until": write_utc(now + timedelta(seconds=lease_seconds))}
        if last is not None:
            values |= {"cursor_position": last.position, "cursor_spend_id": last.id, "last_error": None}
        async with self.database.write() as connection:
            result = await connection.execute(
                update(table)
                .where(
                    table.c.exporter == cursor.exporter,
                    table.c.lease_owner == owner,
                    table.c.cursor_position == cursor.position,
                    table.c.cursor_spend_id == cursor.spend_id,
                )
                .values(**values)
            )
            if result.rowcount != 1:
                return False
            await self._record_failures(connection, exporter, settlement.failures, now)
            sent = schema.export_sent
            done = [row.id for row in settlement.done]
            for offset in range(0, len(done), _CHUNK):
                chunk = done[offset : offset + _CHUNK]
                await connection.execute(delete(sent).where(sent.c.exporter == exporter, sent.c.spend_id.in_(chunk)))
            ahead = [
                {"exporter": exporter, "identifier": i, "spend_id": s, "created_at": write_utc(now)}
                for i, s in settlement.ahead
            ]
            await self._insert_new(connection, sent, ahead)
        return True

    async def note_error(self, exporter: str, owner: str, message: str) -> None:
        """Keep why the last pass stopped (shown by ``status``) while ``owner`` holds the lease."""
        table = schema.export_cursors
        async with self.database.write() as connection:
            await connection.execute(
                update(table)
                .where(table.c.exporter == exporter, table.c.lease_owner == owner)
                .values(last_error=message[:2000], last_error_at=write_utc(self._clock()))
            )

    # -- rows -----------------------------------------------------------------------------------------------------

    async def rows_after(self, cursor: ExportCursor, limit: int) -> list[UsageRow]:
        """Up to ``limit`` committed spend rows after ``cursor``, in insertion order."""
        logs = schema.spend_logs
        columns = [logs.c[name] for name in _ROW_COLUMNS]
        if self.database.is_sqlite:
            # Start after the cursor row's current rowid (VACUUM may have renumbered it), else after the position.
            rowid = _rowid()
            moved = select(rowid).where(logs.c.id == cursor.spend_id).scalar_subquery()
            query = (
                select(rowid.label("position"), *columns)
                .where(rowid > func.coalesce(moved, cursor.position))
                .order_by(rowid)
            )
        else:
            txid = logs.c.write_txid
            query = (
                select(txid.label("position"), *columns)
                .where(
                    txid.is_not(None),
                    tuple_(txid, logs.c.id) > tuple_(cursor.position, cursor.spend_id),
                    txid < _horizon(),
                )
                .order_by(txid, logs.c.id)
            )
        async with self.database.read() as connection:
            rows = (await connection.execute(query.limit(limit))).mappings().all()
        return [_usage_row(row) for row in rows]

    async def rows_by_id(self, ids: Iterable[str]) -> list[UsageRow]:
        """The spend rows with these ids (position 0: not for moving a cursor), for retrying recorded failures."""
        logs = schema.spend_logs
        wanted = sorted(set(ids))
        found: list[UsageRow] = []
        async with self.database.read() as connection:
            for offset in range(0, len(wanted), _CHUNK):
                query = select(*[logs.c[name] for name in _ROW_COLUMNS]).where(
                    logs.c.id.in_(wanted[offset : offset + _CHUNK])
                )
                found += [_usage_row({**row, "position": 0}) for row in (await connection.execute(query)).mappings()]
        return sorted(found, key=lambda row: (row.ts, row.id))

    async def stripe_customers(self, customer_ids: Iterable[str]) -> dict[str, str]:
        """``{customer_id: stripe_customer_id}`` of those customers that have one."""
        table = schema.customers
        wanted = sorted(set(customer_ids))
        found: dict[str, str] = {}
        async with self.database.read() as connection:
            for offset in range(0, len(wanted), _CHUNK):
                query = select(table.c.customer_id, table.c.stripe_customer_id).where(
                    table.c.customer_id.in_(wanted[offset : offset + _CHUNK]), table.c.stripe_customer_id.is_not(None)
                )
                found |= {row[0]: row[1] for row in await connection.execute(query)}
        return found

    async def settled_ahead(self, exporter: str, spend_ids: Iterable[str]) -> set[str]:
        """Identifiers of events of these rows settled in an earlier pass (not to be sent again)."""
        sent = schema.export_sent
        wanted = sorted(set(spend_ids))
        found: set[str] = set()
        async with self.database.read() as connection:
            for offset in range(0, len(wanted), _CHUNK):
                query = select(sent.c.identifier).where(
                    sent.c.exporter == exporter, sent.c.spend_id.in_(wanted[offset : offset + _CHUNK])
                )
                found |= set((await connection.execute(query)).scalars())
        return found

    # -- failures and status --------------------------------------------------------------------------------------

    async def _record_failures(
        self, connection: AsyncConnection, exporter: str, failures: Sequence[Failure], now: datetime
    ) -> None:
        values = [
            {
                "exporter": exporter,
                "identifier": failure.identifier,
                "spend_id": failure.spend_id,
                "request_id": failure.request_id,
                "customer_id": failure.customer_id,
                "ts": write_utc(failure.ts),
                "reason": failure.reason,
                "status": failure.status,
                "detail": failure.detail,
                "created_at": write_utc(now),
            }
            for failure in failures
        ]
        await self._insert_new(connection, schema.export_failures, values)

    async def _insert_new(self, connection: AsyncConnection, table: Any, values: list[dict[str, Any]]) -> None:
        """Insert the rows whose primary key is not stored yet (both dialects have ON CONFLICT DO NOTHING)."""
        if not values:
            return
        statement = (
            sqlite.insert(table).on_conflict_do_nothing()
            if self.database.is_sqlite
            else postgresql.insert(table).on_conflict_do_nothing()
        )
        for offset in range(0, len(values), _CHUNK):
            await connection.execute(statement, values[offset : offset + _CHUNK])

    async def cursors(self) -> list[ExportCursor]:
        """Every exporter's cursor, by name."""
        table = schema.export_cursors
        async with self.database.read() as connection:
            rows = (await connection.execute(select(table).order_by(table.c.exporter))).mappings().all()
        return [_cursor(row) for row in rows]

    async def failure_counts(self) -> dict[tuple[str, str], int]:
        """``{(exporter, reason): count}`` of the failures recorded."""
        table = schema.export_failures
        query = select(table.c.exporter, table.c.reason, func.count()).group_by(table.c.exporter, table.c.reason)
        async with self.database.read() as connection:
            return {(row[0], row[1]): int(row[2]) for row in await connection.execute(query)}

    async def failures(self, exporter: str, *, reasons: Iterable[str] | None = None, limit: int = 100) -> list[Failure]:
        """Recorded failures of ``exporter`` (of ``reasons`` only, when given), oldest spend first."""
        table = schema.export_failures
        query = select(table).where(table.c.exporter == exporter)
        if reasons is not None:
            query = query.where(table.c.reason.in_(sorted(set(reasons))))
        query = query.order_by(table.c.ts, table.c.identifier).limit(limit)
        async with self.database.read() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [
            Failure(
                identifier=row["identifier"],
                spend_id=row["spend_id"],
                reason=row["reason"],
                detail=row["detail"] or "",
                ts=_required_utc(row["ts"]),
                request_id=row["request_id"],
                customer_id=row["customer_id"],
                status=row["status"],
            )
            for row in rows
        ]

    async def replace_failures(
        self, exporter: str, old: Iterable[str], new: Sequence[Failure], *, delivered: int = 0
    ) -> None:
        """In one transaction: delete the failure records ``old``, record ``new``, and count ``delivered`` events
        (a retry's result)."""
        table = schema.export_failures
        wanted = sorted(set(old))
        now = self._clock()
        async with self.database.write() as connection:
            for offset in range(0, len(wanted), _CHUNK):
                chunk = wanted[offset : offset + _CHUNK]
                await connection.execute(
                    delete(table).where(table.c.exporter == exporter, table.c.identifier.in_(chunk))
                )
            await self._record_failures(connection, exporter, new, now)
            if delivered:
                cursors = schema.export_cursors
                await connection.execute(
                    update(cursors)
                    .where(cursors.c.exporter == exporter)
                    .values(events_sent=cursors.c.events_sent + delivered, updated_at=write_utc(now))
                )


def _rowid() -> ColumnClause[int]:
    """SQLite's implicit rowid of ``spend_logs`` (the table has a text primary key, so it has one)."""
    return literal_column("spend_logs.rowid", BigInteger)


def _horizon() -> Any:
    """The oldest transaction id still running, in the query's own snapshot (xid8 as text, then bigint)."""
    return cast(cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger)


def _required_utc(moment: datetime) -> datetime:
    value = read_utc(moment)
    assert value is not None
    return value


def _usage_row(row: Any) -> UsageRow:
    cost = row["cost"]
    return UsageRow(
        position=int(row["position"]),
        id=row["id"],
        request_id=row["request_id"],
        ts=_required_utc(row["ts"]),
        customer_id=row["customer_id"],
        feature=row["feature"],
        model=row["model"],
        model_group=row["model_group"],
        provider=row["provider"],
        call_type=row["call_type"],
        status=int(row["status"]),
        input_tokens=int(row["input_tokens"]),
        cached_tokens=int(row["cached_tokens"]),
        cache_write_tokens=int(row["cache_write_tokens"]),
        output_tokens=int(row["output_tokens"]),
        reasoning_tokens=int(row["reasoning_tokens"]),
        cost=cost,
    )

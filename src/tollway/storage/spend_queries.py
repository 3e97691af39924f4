"""The spend store's reads: spend rows with filters and pages, reports from the daily rollups, one persisted
budget counter, and retention (deleting old rows in batches). Each function runs on a connection in a transaction
that ``SpendStore`` opens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, get_args

from tollway.storage.schema import spend_counters, spend_daily, spend_logs
from tollway.storage.spend_rollup import LOG_COLUMNS, MEASURES, add_measures

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement
    from sqlalchemy.ext.asyncio import AsyncConnection

    from tollway.governance.spend_event import SpendEvent

__all__ = ["MAX_PAGE_SIZE", "GroupBy", "LogFilter", "ReportRow", "counter", "logs", "prune_batch", "report"]

MAX_PAGE_SIZE = 1000
GroupBy = Literal["key", "user", "team", "customer", "model", "tag", "feature", "all"]
_GROUPS: frozenset[str] = frozenset(get_args(GroupBy))


@dataclass(frozen=True, slots=True)
class LogFilter:
    """``/spend/logs`` filters; None = not filtered. ``start`` inclusive, ``end`` exclusive."""

    key_hash: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    customer_id: str | None = None
    model_group: str | None = None
    status: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    request_id: str | None = None  # the gateway's (or the client's x-request-id): answers carry it

    def clauses(self) -> list[ColumnElement[bool]]:
        """The WHERE clauses of the filters that are set."""
        clauses: list[ColumnElement[bool]] = []
        for name in ("key_hash", "user_id", "team_id", "customer_id", "model_group", "status", "request_id"):
            value = getattr(self, name)
            if value is not None:
                clauses.append(spend_logs.c[name] == value)
        if self.start is not None:
            clauses.append(spend_logs.c.ts >= self.start.astimezone(UTC))
        if self.end is not None:
            clauses.append(spend_logs.c.ts < self.end.astimezone(UTC))
        return clauses


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One (day, group) line of a spend report. ``group`` is the entity id (a key hash, a team id, a model group,
    a tag...; "" for group_by "all")."""

    day: date
    group: str
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal = field(default_factory=Decimal)
    unpriced: int = 0


async def logs(
    connection: AsyncConnection, filters: LogFilter, *, page: int, page_size: int
) -> tuple[list[SpendEvent], int]:
    """One page of matching rows (newest first, ties by id) and the number of matching rows."""
    from sqlalchemy import func, select

    if page < 1:
        raise ValueError("page counts from 1")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")
    clauses = filters.clauses()
    total = (await connection.execute(select(func.count()).select_from(spend_logs).where(*clauses))).scalar_one()
    query = (
        select(spend_logs)
        .where(*clauses)
        .order_by(spend_logs.c.ts.desc(), spend_logs.c.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    rows = (await connection.execute(query)).mappings().all()
    return [_event(row) for row in rows], int(total)


def _event(row: Any) -> SpendEvent:
    from tollway.governance.spend_event import SpendEvent

    values = {name: row[name] for name in LOG_COLUMNS}
    ts: datetime = values["ts"]
    # SQLite hands back naive datetimes: every stored time is UTC.
    values["ts"] = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    return SpendEvent(**values)


async def report(
    connection: AsyncConnection,
    start_day: date,
    end_day: date,
    group_by: GroupBy,
    *,
    entity_id: str | None,
    sum_in_sql: bool,
) -> list[ReportRow]:
    """Rollup totals per (day, entity) of one entity kind. PostgreSQL sums NUMERIC in SQL; SQLite's money is TEXT,
    so there the rows are summed in Python."""
    from sqlalchemy import func, select

    if group_by not in _GROUPS:
        raise ValueError(f"group_by must be one of {sorted(_GROUPS)}")
    clauses = [spend_daily.c.entity_kind == group_by, spend_daily.c.day >= start_day, spend_daily.c.day <= end_day]
    if entity_id is not None:
        clauses.append(spend_daily.c.entity_id == entity_id)
    group = (spend_daily.c.day, spend_daily.c.entity_id)
    if sum_in_sql:
        query = (
            select(*group, *[func.sum(spend_daily.c[name]).label(name) for name in MEASURES])
            .where(*clauses)
            .group_by(*group)
            .order_by(*group)
        )
        return [_report_row(row[0], row[1], row[2:]) for row in await connection.execute(query)]
    query = select(*group, *[spend_daily.c[name] for name in MEASURES]).where(*clauses)
    sums: dict[tuple[date, str], list[Any]] = {}
    for row in await connection.execute(query):
        total = sums.get((row[0], row[1]))
        sums[row[0], row[1]] = list(row[2:]) if total is None else add_measures(total, row[2:])
    return [_report_row(day, entity, total) for (day, entity), total in sorted(sums.items())]


def _report_row(day: date, group: str, measures: Sequence[Any] | Any) -> ReportRow:
    values = dict(zip(MEASURES, measures, strict=True))
    # SUM over BIGINT is NUMERIC in PostgreSQL: counts come back as Decimal.
    counts = {name: int(value) for name, value in values.items() if name != "cost"}
    return ReportRow(day=day, group=group, cost=Decimal(values["cost"]), **counts)


async def counter(connection: AsyncConnection, scope: str, period: str) -> Decimal:
    """``spent`` of one (scope, period) row; 0 when there is none."""
    from sqlalchemy import select

    query = select(spend_counters.c.spent).where(spend_counters.c.scope == scope, spend_counters.c.period == period)
    spent = (await connection.execute(query)).scalar_one_or_none()
    return Decimal(0) if spent is None else Decimal(spent)


async def prune_batch(connection: AsyncConnection, before: datetime, batch: int) -> int:
    """Delete at most ``batch`` rows older than ``before``; return how many went."""
    from sqlalchemy import delete, select

    doomed = select(spend_logs.c.id).where(spend_logs.c.ts < before).limit(batch)
    result = await connection.execute(delete(spend_logs).where(spend_logs.c.id.in_(doomed)))
    return int(result.rowcount)

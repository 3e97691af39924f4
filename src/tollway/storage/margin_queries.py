"""The cost side of the margin report (``tollway.economics.margin``): usage and cost per customer over a period of
UTC days, as ``CostRow``s.

- Per customer, customer x model group, or customer x day: from the daily rollups (``spend_daily`` rows of
  entity kind "customer"), so reports keep working after old spend rows are pruned. Traffic without a customer
  has no "customer" rollup row; it is the "all" rollup minus the customers' rollups of the same day and model
  group, and is reported as customer None.
- Per customer x feature: from ``spend_logs`` (features are rolled up without their customer), rows of
  ``[start 00:00, end + 1 day 00:00)`` UTC.

PostgreSQL sums NUMERIC in SQL; SQLite keeps money as TEXT (SQL ``SUM`` would make it a float), so there the
rows are summed in Python. Either way the result is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import ColumnElement, case, func, literal, select

from tollway.economics.margin import CostRow, Grouping, MarginReport, margin_report, report_days
from tollway.storage.schema import spend_daily, spend_logs

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from tollway.storage.database import Database

__all__ = ["RollupGrouping", "costs", "feature_costs", "margin_of", "rollup_costs"]

RollupGrouping = Literal["customer", "model", "day"]
_ZERO = Decimal(0)
_MEASURES = ("requests", "input_tokens", "output_tokens", "cost", "unpriced")
Key = tuple[str | None, str | None]


async def costs(
    database: Database, start: date, end: date, group_by: str, *, customer_id: str | None = None
) -> list[CostRow]:
    """Cost rows of ``[start, end]`` grouped as the margin report asks (``customer``, ``model``, ``day`` or
    ``feature``); with ``customer_id`` only that customer's (and no unattributed row)."""
    sum_in_sql = not database.is_sqlite
    async with database.read() as connection:
        if group_by == "feature":
            return await feature_costs(connection, start, end, customer_id=customer_id, sum_in_sql=sum_in_sql)
        if group_by not in ("customer", "model", "day"):
            raise ValueError(f"unknown grouping {group_by!r}")
        grouping: RollupGrouping = group_by  # type: ignore[assignment]
        return await rollup_costs(connection, start, end, grouping, customer_id=customer_id, sum_in_sql=sum_in_sql)


def _add(total: list[Any] | None, more: Sequence[Any]) -> list[Any]:
    if total is None:
        return list(more)
    return [a + b for a, b in zip(total, more, strict=True)]


def _cost_row(customer: str | None, group: str | None, measures: Sequence[Any]) -> CostRow:
    requests, input_tokens, output_tokens, cost, unpriced = measures
    # SUM over BIGINT is NUMERIC on PostgreSQL: counts may come back as Decimal.
    return CostRow(
        customer,
        group,
        int(requests),
        int(input_tokens),
        int(output_tokens),
        _ZERO if cost is None else Decimal(cost),
        int(unpriced),
    )


async def rollup_costs(
    connection: AsyncConnection,
    start: date,
    end: date,
    group_by: RollupGrouping,
    *,
    customer_id: str | None,
    sum_in_sql: bool,
) -> list[CostRow]:
    """Cost per customer [x model group | x day] from the daily rollups (see the module docstring)."""
    table = spend_daily
    group_column = {"customer": None, "model": table.c.model_group, "day": table.c.day}[group_by]
    kinds = ["customer"] if customer_id is not None else ["customer", "all"]
    clauses: list[ColumnElement[bool]] = [table.c.entity_kind.in_(kinds), table.c.day >= start, table.c.day <= end]
    if customer_id is not None:
        clauses.append(table.c.entity_id == customer_id)
    keys = [table.c.entity_kind, table.c.entity_id] + ([group_column] if group_column is not None else [])
    measures = [table.c[name] for name in _MEASURES]
    if sum_in_sql:
        query = select(*keys, *[func.sum(column) for column in measures]).where(*clauses).group_by(*keys)
    else:
        query = select(*keys, *measures).where(*clauses)
    customers: dict[Key, list[Any]] = {}
    everyone: dict[str | None, list[Any]] = {}
    for row in await connection.execute(query):
        kind, entity = row[0], row[1]
        group = _group_text(row[2]) if group_column is not None else None
        measures = list(row[len(keys) :])
        if kind == "all":
            everyone[group] = _add(everyone.get(group), measures)
        else:
            customers[entity, group] = _add(customers.get((entity, group)), measures)
    # Unattributed = everything minus what the customers' rollups counted, per group.
    rest = {group: list(values) for group, values in everyone.items()}
    if customer_id is None:
        for (_, group), values in customers.items():
            rest[group] = _add(rest.get(group), [-value for value in values])
    rows = [_cost_row(customer, group, values) for (customer, group), values in customers.items()]
    rows.extend(_cost_row(None, group, values) for group, values in rest.items() if any(values))
    return rows


def _group_text(value: Any) -> str | None:
    """A group as the report shows it: a day as ISO text, a model group ("" = none) as itself or None."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and len(value) == 10 and value[4] == "-":
        return value  # SQLite may hand a grouped date back as text
    return value or None


async def feature_costs(
    connection: AsyncConnection, start: date, end: date, *, customer_id: str | None, sum_in_sql: bool
) -> list[CostRow]:
    """Cost per customer x feature from the spend rows of ``[start, end]`` (UTC days)."""
    table = spend_logs
    since = datetime.combine(start, time.min, UTC)
    until = datetime.combine(end + timedelta(days=1), time.min, UTC)
    clauses: list[ColumnElement[bool]] = [table.c.ts >= since, table.c.ts < until]
    if customer_id is not None:
        clauses.append(table.c.customer_id == customer_id)
    keys = [table.c.customer_id, table.c.feature]
    unpriced = case((table.c.cost.is_(None), 1), else_=0)
    if sum_in_sql:
        query = (
            select(
                *keys,
                func.count(),
                func.sum(table.c.input_tokens),
                func.sum(table.c.output_tokens),
                func.sum(table.c.cost),
                func.sum(unpriced),
            )
            .where(*clauses)
            .group_by(*keys)
        )
    else:
        query = select(*keys, literal(1), table.c.input_tokens, table.c.output_tokens, table.c.cost, unpriced).where(
            *clauses
        )
    sums: dict[Key, list[Any]] = {}
    for row in await connection.execute(query):
        values = list(row[2:])
        values[3] = _ZERO if values[3] is None else Decimal(values[3])
        sums[row[0], row[1]] = _add(sums.get((row[0], row[1])), values)
    return [_cost_row(customer, feature, values) for (customer, feature), values in sums.items()]


async def margin_of(
    database: Database,
    start: date,
    end: date,
    *,
    group_by: Grouping = "customer",
    currency: str = "USD",
    customer_id: str | None = None,
) -> MarginReport:
    """The margin report of ``[start, end]`` (inclusive UTC days) on ``database``: the route's and the CLI's
    service. ValueError when the period is empty or too long."""
    from tollway.storage.revenue_store import RevenueStore

    report_days(start, end)  # refuse a bad period before reading anything
    rows = await costs(database, start, end, group_by, customer_id=customer_id)
    records = await RevenueStore(database).overlapping(start, end, customer_id=customer_id)
    return margin_report(start, end, rows, records, group_by=group_by, currency=currency, customer_id=customer_id)

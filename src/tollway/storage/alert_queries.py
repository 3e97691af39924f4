"""What alert rules are evaluated on, read from the store: the entities that have a budget, and spend per entity and
UTC day from the daily rollups (``spend_daily``). The margin side reuses ``tollway.storage.margin_queries``.

Keys are named by ``key_id`` everywhere in alerts (the id their budget counters use, stable across regeneration);
their rollup rows are keyed by token hash, so those are joined to ``api_keys`` here. SQLite keeps money as TEXT, so
there the day's rows are summed in Python (exactly); PostgreSQL sums NUMERIC in SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Table, func, select

from tollway.storage import schema

if TYPE_CHECKING:
    from tollway.storage.database import Database

__all__ = ["BudgetHolder", "budget_holders", "daily_spend"]

# entity -> (table, id column, display-name column)
_BUDGET_TABLES: dict[str, tuple[Table, str, str]] = {
    "key": (schema.api_keys, "key_id", "key_name"),
    "user": (schema.users, "user_id", "user_email"),
    "team": (schema.teams, "team_id", "team_alias"),
    "customer": (schema.customers, "customer_id", "alias"),
}


@dataclass(frozen=True, slots=True)
class BudgetHolder:
    """An entity with a ``max_budget``: its id (a key's ``key_id``), display name, budget and duration."""

    kind: str
    id: str
    name: str | None
    max_budget: Decimal
    budget_duration: str | None


async def budget_holders(database: Database, entity: str, ids: Sequence[str] | None) -> list[BudgetHolder]:
    """Every ``entity`` (key, user, team, customer) with a ``max_budget``, of ``ids`` when given."""
    table, id_column, name_column = _BUDGET_TABLES[entity]
    ident, name = table.c[id_column], table.c[name_column]
    # A key's alias names it better than its display name, when it has one.
    alias = table.c.key_alias if entity == "key" else name
    query = select(ident, name, table.c.max_budget, table.c.budget_duration, alias)
    query = query.where(table.c.max_budget.is_not(None))
    if ids is not None:
        query = query.where(ident.in_(list(ids)))
    async with database.read() as connection:
        rows = (await connection.execute(query.order_by(ident))).all()
    return [BudgetHolder(entity, row[0], row[4] or row[1], Decimal(row[2]), row[3]) for row in rows]


async def daily_spend(
    database: Database, entity: str, ids: Sequence[str] | None, first: date, last: date
) -> dict[str | None, dict[date, Decimal]]:
    """``{entity id: {day: cost}}`` over ``[first, last]`` (UTC days, inclusive), summed over model groups, for the
    rollup entity kind ``entity`` (``all``: one entity, id None); days without spend are absent."""
    daily = schema.spend_daily
    keys = schema.api_keys
    clauses: list[ColumnElement[bool]] = [daily.c.entity_kind == entity, daily.c.day >= first, daily.c.day <= last]
    ident: Any = daily.c.entity_id
    source: Any = daily
    if entity == "key":
        source = daily.join(keys, keys.c.token_hash == daily.c.entity_id)
        ident = keys.c.key_id
    if ids is not None:
        clauses.append(ident.in_(list(ids)))
    if database.is_sqlite:
        query = select(ident, daily.c.day, daily.c.cost).select_from(source).where(*clauses)
    else:
        query = select(ident, daily.c.day, func.sum(daily.c.cost)).select_from(source).where(*clauses)
        query = query.group_by(ident, daily.c.day)
    spend: dict[str | None, dict[date, Decimal]] = {}
    async with database.read() as connection:
        for entity_id, day, cost in await connection.execute(query):
            when = day if isinstance(day, date) else date.fromisoformat(str(day))
            days = spend.setdefault(None if entity == "all" else entity_id, {})
            days[when] = days.get(when, Decimal(0)) + Decimal(cost or 0)
    return spend

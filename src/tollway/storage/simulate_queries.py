"""The storage side of the model-swap simulator (``tollway.economics.simulate``): the period's spend rows summed
into ``UsageGroup``s in SQL, and ``simulate_of``, the service behind ``POST /simulate``, ``tollway simulate`` and
Python callers.

One query reads the rows of ``[start 00:00, end + 1 day 00:00)`` UTC (of ``customer_ids`` when given) and returns
one line per group: calls that may be substituted (see ``simulate``'s docstring; decided in SQL by their model
names, status, cache hit, feature and tags) are grouped by customer x model group x provider model x price period x
tier band x whether their cost is known; every other call only by customer and whether its cost is known. Token
counts are summed in SQL, so a million rows come back as a few hundred lines. The simulation needs the rows
themselves (the daily rollups have no provider model and no token split), so it covers what
``maximum_spend_logs_retention_period`` has kept.

Money stays exact on both databases: PostgreSQL sums its ``NUMERIC`` costs. SQLite keeps a cost as its decimal text
(``tollway.storage.money``: at most 12 places, ``store_money``), and its ``SUM`` of text is a float; so the text is
cut in SQL into a signed whole part and two 6-digit parts of the fraction, each summed as a 64-bit integer
(9 x 10^12 rows before a fraction sum could overflow, which SQLite reports as an error, never a wrong sum), and
the three sums are put back together in Python.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import reduce
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Integer, String, and_, case, cast, exists, func, literal, not_, or_, select
from sqlalchemy import type_coerce as coerce

from tollway.economics.simulate import (
    Plan,
    SimulationReport,
    UsageGroup,
    make_plan,
    simulation_report,
    unknown_sources,
)
from tollway.economics.simulate_models import ModelDirectory
from tollway.economics.simulate_request import SimulationError, SimulationRequest, parse_request
from tollway.storage.schema import spend_logs

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from tollway.router.deployment import Deployment
    from tollway.storage.database import Database

__all__ = ["simulate_of", "usage_groups"]

_KEYS = ("customer_id", "eligible", "model_group", "provider", "model", "segment", "band", "priced")
_TOKENS = ("input_tokens", "cached_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")
_SQLITE_COST = ("cost_whole", "cost_micro", "cost_pico")  # 1, 10^-6 and 10^-12 units
_ZERO = Decimal(0)
_TWELVE_ZEROS = "000000000000"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def _period(request: SimulationRequest) -> list[ColumnElement[bool]]:
    table = spend_logs
    clauses = [table.c.ts >= _midnight(request.start), table.c.ts < _midnight(request.end + timedelta(days=1))]
    if request.customer_ids is not None:
        clauses.append(table.c.customer_id.in_(request.customer_ids))
    return clauses


def _named(names: Sequence[str]) -> ColumnElement[bool]:
    """Rows whose model group, ``provider/model`` or model is one of ``names``."""
    table = spend_logs
    qualified = table.c.provider.concat("/").concat(table.c.model)
    return or_(table.c.model_group.in_(names), qualified.in_(names), table.c.model.in_(names))


def _tagged(tags: Sequence[str], *, sqlite: bool) -> ColumnElement[bool]:
    """Rows with at least one of ``tags`` in their JSON list of tags."""
    if sqlite:
        each = func.json_each(spend_logs.c.tags).table_valued("value")
        return exists(select(literal(1)).select_from(each).where(each.c.value.in_(tags)))
    from sqlalchemy.dialects.postgresql import JSONB, array

    tagged: ColumnElement[bool] = cast(spend_logs.c.tags, JSONB).has_any(array(list(tags)))
    return tagged


def _eligible(request: SimulationRequest, *, sqlite: bool) -> ColumnElement[bool]:
    """Rows the simulation may substitute (see ``tollway.economics.simulate``)."""
    table = spend_logs
    clauses = [_named(list(request.replace)), table.c.status == 200, not_(table.c.cache_hit)]
    if request.features is not None:
        clauses.append(table.c.feature.in_(request.features))
    if request.tags is not None:
        clauses.append(_tagged(request.tags, sqlite=sqlite))
    return and_(*clauses)


def _segment(starts: Sequence[date]) -> ColumnElement[int]:
    """The price period of a row: how many period starts (after the first) its time has reached."""
    if not starts:
        return literal(0)
    whens = [(spend_logs.c.ts < _midnight(day), index) for index, day in enumerate(starts)]
    return case(*whens, else_=len(starts))


def _band(boundaries: Sequence[int]) -> ColumnElement[int]:
    """The tier band of a row: how many tier boundaries its input tokens exceed."""
    if not boundaries:
        return literal(0)
    return reduce(operator.add, [case((spend_logs.c.input_tokens > bound, 1), else_=0) for bound in boundaries])


def _sqlite_cost() -> list[ColumnElement[Any]]:
    """The whole, micro and pico parts of a SQLite cost text, each signed (see the module docstring); NULL when
    unpriced. ``CAST`` of a decimal text to INTEGER keeps its integer prefix, sign included ("-2.5" -> -2,
    "-0.5" -> 0), so the fraction takes its sign from the text."""
    text = coerce(spend_logs.c.cost, String())
    sign = case((func.substr(text, 1, 1) == "-", -1), else_=1)
    dot = func.instr(text, ".")
    padded = text.concat(_TWELVE_ZEROS)
    parts = (
        cast(text, Integer),
        case((dot > 0, sign * cast(func.substr(padded, dot + 1, 6), Integer)), (text.is_not(None), 0)),
        case((dot > 0, sign * cast(func.substr(padded, dot + 7, 6), Integer)), (text.is_not(None), 0)),
    )
    return [part.label(name) for part, name in zip(parts, _SQLITE_COST, strict=True)]


def _grouped(plan: Plan, *, sqlite: bool) -> Any:
    """The query: rows labelled with their group keys in a subquery, summed per group outside it (PostgreSQL
    groups by expressions only when they are written identically, parameters included). Whether a row may be
    substituted is computed once per row; its price period and tier band are computed for every row (a few
    integer comparisons), which only splits the other rows' sums a little further."""
    table = spend_logs
    costs = _sqlite_cost() if sqlite else [table.c.cost.label("cost")]
    rows = (
        select(
            table.c.customer_id.label("customer_id"),
            case((_eligible(plan.request, sqlite=sqlite), 1), else_=0).label("eligible"),
            table.c.model_group.label("model_group"),
            table.c.provider.label("provider"),
            table.c.model.label("model"),
            _segment(plan.segments[1:]).label("segment"),
            _band(plan.boundaries).label("band"),
            case((table.c.cost.is_(None), 0), else_=1).label("priced"),
            *[table.c[name] for name in _TOKENS],
            *costs,
        )
        .where(*_period(plan.request))
        .subquery()
    )
    keys = [rows.c[name] for name in _KEYS]
    sums = [func.sum(rows.c[name]) for name in (*_TOKENS, *(_SQLITE_COST if sqlite else ("cost",)))]
    return select(*keys, func.count(), *sums).group_by(*keys)


def _cost(values: Sequence[Any], *, sqlite: bool) -> Decimal:
    if not sqlite:
        return _ZERO if values[0] is None else Decimal(values[0])
    whole, micro, pico = (0 if value is None else int(value) for value in values)
    return Decimal(whole) + Decimal(micro).scaleb(-6) + Decimal(pico).scaleb(-12)


def _group(row: Sequence[Any], *, sqlite: bool) -> UsageGroup:
    customer, eligible, model_group, provider, model, segment, band, priced, requests = row[:9]
    # PostgreSQL's SUM of BIGINT is NUMERIC: counts come back as Decimal there.
    tokens = dict(zip(_TOKENS, (int(value or 0) for value in row[9 : 9 + len(_TOKENS)]), strict=True))
    return UsageGroup(
        customer,
        eligible=bool(eligible),
        model_group=model_group,
        provider=provider,
        model=model,
        segment=int(segment),
        band=int(band),
        priced=bool(priced),
        requests=int(requests),
        cost=_cost(row[9 + len(_TOKENS) :], sqlite=sqlite),
        **tokens,
    )


async def usage_groups(connection: AsyncConnection, plan: Plan, *, sqlite: bool) -> list[UsageGroup]:
    """The period's calls summed into groups (see the module docstring)."""
    result = await connection.execute(_grouped(plan, sqlite=sqlite))
    return [_group(row, sqlite=sqlite) for row in result]


async def simulate_of(
    database: Database,
    request: SimulationRequest | Mapping[str, Any],
    *,
    deployments: Iterable[Deployment] = (),
) -> SimulationReport:
    """Simulate ``request`` (a ``SimulationRequest``, or ``POST /simulate``'s JSON object) over ``database``'s spend
    rows and revenue; ``deployments`` are the configuration's (``Router.deployments``), which define the model
    group names. SimulationError (a 400 in the API) names the first problem: a bad field, an unknown model, a
    target without prices."""
    from tollway.storage.revenue_store import RevenueStore

    request = request if isinstance(request, SimulationRequest) else parse_request(request)
    directory = ModelDirectory(deployments)
    plan = make_plan(request, directory)
    async with database.read() as connection:
        groups = await usage_groups(connection, plan, sqlite=database.is_sqlite)
    missing = unknown_sources(plan, directory, groups)
    if missing:
        raise SimulationError(
            f"unknown model {missing[0]!r} in replace: neither a model group of the configuration, nor a priced "
            "model, nor the model of a call of the period that could be re-priced",
            param="replace",
            code="unknown_model",
        )
    records = await RevenueStore(database).overlapping(request.start, request.end)
    return simulation_report(plan, groups, records)

"""Pure helpers of the spend store: a ``SpendEvent`` as a ``spend_logs`` row, and what a batch of rows adds to the
daily rollups (``spend_daily``) and to the persisted budget counters (``spend_counters``).

The rollup is computed from the normalised rows (the values actually stored), so a rollup always equals the sum
of the rows it counted, on every database.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import String

from tollway.storage.money import MONEY_PLACES
from tollway.storage.schema import spend_counters, spend_daily, spend_logs

if TYPE_CHECKING:
    from tollway.governance.spend_event import SpendEvent

__all__ = [
    "ALL_ENTITY",
    "ENTITY_ID_LENGTH",
    "ENTITY_KINDS",
    "LOG_COLUMNS",
    "MEASURES",
    "NO_MODEL",
    "Batch",
    "CounterKey",
    "DailyKey",
    "add_measures",
    "check_event",
    "log_values",
    "rollup",
    "store_money",
    "unique",
]

LOG_COLUMNS: tuple[str, ...] = tuple(column.name for column in spend_logs.columns)
ENTITY_KINDS = ("key", "user", "team", "customer", "tag", "feature", "model", "all")
ALL_ENTITY = ""  # entity_id of the "all" rollup (one row per day and model group)
NO_MODEL = ""  # model_group of rollup rows whose request had no model group (part of the primary key: not NULL)

DailyKey = tuple[date, str, str, str]  # (day, entity_kind, entity_id, model_group)
CounterKey = tuple[str, str]  # (scope, period)

_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)
_MONEY_LIMIT = Decimal(10) ** (28 - MONEY_PLACES)  # NUMERIC(28, 12) holds 16 integer digits
_INT64_MAX = 2**63 - 1
_TOKEN_FIELDS = ("input_tokens", "cached_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")


def _lengths(columns: Iterable[Any]) -> dict[str, int]:
    return {c.name: c.type.length for c in columns if isinstance(c.type, String) and c.type.length}


_LOG_LENGTHS = _lengths(spend_logs.columns)
ENTITY_ID_LENGTH = _lengths(spend_daily.columns)["entity_id"]
_SCOPE_LENGTH = _lengths(spend_counters.columns)["scope"]
_PERIOD_LENGTH = _lengths(spend_counters.columns)["period"]


def store_money(amount: Decimal) -> Decimal:
    """``amount`` as the database keeps it: at most 12 decimal places, rounded half away from zero (NUMERIC's rule),
    so the rows and the sums made from them agree on PostgreSQL and SQLite alike."""
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -MONEY_PLACES:
        return amount
    with localcontext() as context:
        context.prec = 60
        return amount.quantize(_QUANTUM, rounding=ROUND_HALF_UP)


def check_event(event: SpendEvent) -> str | None:
    """Why ``event`` cannot be stored (None: it can). Such an event would fail every retry of its whole batch."""
    return next(_problems(event), None)


def _problems(event: SpendEvent) -> Iterator[str]:
    if not isinstance(event.id, str) or not 0 < len(event.id) <= _LOG_LENGTHS["id"]:
        yield f"id {event.id!r} is not 1..{_LOG_LENGTHS['id']} characters"
    if event.cost is not None and (not event.cost.is_finite() or abs(event.cost) >= _MONEY_LIMIT):
        yield f"cost {event.cost} is not a finite amount below 1e16"
    for name in _TOKEN_FIELDS:
        value = getattr(event, name)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _INT64_MAX:
            yield f"{name} {value!r} is not a non-negative 64-bit integer"
    if isinstance(event.status, bool) or not isinstance(event.status, int) or not 0 <= event.status < 2**31:
        yield f"status {event.status!r} is not an HTTP status"
    if not math.isfinite(event.latency_ms) or (event.ttft_ms is not None and not math.isfinite(event.ttft_ms)):
        yield "latency_ms and ttft_ms must be finite"
    if not all(isinstance(tag, str) for tag in event.tags):
        yield "tags must be strings"
    for scope, period in event.counter_scopes:
        if not 0 < len(scope) <= _SCOPE_LENGTH or not 0 < len(period) <= _PERIOD_LENGTH:
            yield f"counter scope {scope!r}/{period!r} is empty or too long"


_GET_LOG_VALUES = attrgetter(*LOG_COLUMNS)
_TRUNCATE = tuple((LOG_COLUMNS.index(name), length) for name, length in _LOG_LENGTHS.items() if name != "id")
_TS, _COST, _TAGS, _METADATA = (LOG_COLUMNS.index(name) for name in ("ts", "cost", "tags", "metadata"))


def log_values(event: SpendEvent) -> list[Any]:
    """The ``spend_logs`` values of ``event`` in ``LOG_COLUMNS`` order: time in UTC, money at the stored scale,
    over-long strings truncated to their column (an error class or a model name longer than its column is not
    worth losing the row for)."""
    values = list(_GET_LOG_VALUES(event))
    values[_TS] = event.ts.astimezone(UTC)
    if event.cost is not None:
        values[_COST] = store_money(event.cost)
    for index, length in _TRUNCATE:
        value = values[index]
        if value is not None and len(value) > length:
            values[index] = value[:length]
    return values


def unique(events: Iterable[SpendEvent]) -> list[SpendEvent]:
    """``events`` without repeated ids (the first of each wins): an id is written, and counted, once."""
    kept: dict[str, SpendEvent] = {}
    for event in events:
        kept.setdefault(event.id, event)
    return list(kept.values())


MEASURES = (
    "requests",
    "errors",
    "input_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost",
    "unpriced",
)
_ENTITY_COLUMNS = tuple(
    (kind, LOG_COLUMNS.index(column))
    for kind, column in (
        ("key", "key_hash"),
        ("user", "user_id"),
        ("team", "team_id"),
        ("customer", "customer_id"),
        ("feature", "feature"),
        ("model", "model_group"),
    )
)
_ID, _STATUS, _MODEL_GROUP = (LOG_COLUMNS.index(name) for name in ("id", "status", "model_group"))
_TOKENS = tuple(LOG_COLUMNS.index(name) for name in _TOKEN_FIELDS)
_ZERO = Decimal(0)


def add_measures(total: list[Any], more: Sequence[Any]) -> list[Any]:
    """Two measure lists (``MEASURES`` order) added up."""
    return [a + b for a, b in zip(total, more, strict=True)]


def _measures(values: Sequence[Any]) -> tuple[Any, ...]:
    """One row's measures (``MEASURES`` order): an unpriced row counts 0 cost and 1 unpriced."""
    cost = values[_COST]
    return (
        1,
        1 if values[_STATUS] >= 400 else 0,
        *[values[index] for index in _TOKENS],
        _ZERO if cost is None else cost,
        1 if cost is None else 0,
    )


def rollup(rows: Iterable[Sequence[Any]]) -> dict[DailyKey, list[Any]]:
    """The ``spend_daily`` increments of ``rows`` (``log_values`` lists): per UTC day, entity and model group, the
    measures in ``MEASURES`` order. Every row counts in "all", and in each of its key, user, team, customer, feature,
    model group and (distinct) tags."""
    # Collect each key's rows first and add the columns up at the end: sum() over a column is far cheaper than
    # adding two lists per row and key (this runs for every row the gateway serves).
    members: dict[DailyKey, list[tuple[Any, ...]]] = {}
    for values in rows:
        measures = _measures(values)
        day = values[_TS].date()  # log_values made it UTC
        model_group = values[_MODEL_GROUP] or NO_MODEL
        keys = [(day, kind, values[index], model_group) for kind, index in _ENTITY_COLUMNS if values[index] is not None]
        keys.extend((day, "tag", tag, model_group) for tag in {tag[:ENTITY_ID_LENGTH] for tag in values[_TAGS]})
        keys.append((day, "all", ALL_ENTITY, model_group))
        for key in keys:
            group = members.get(key)
            if group is None:
                members[key] = [measures]
            else:
                group.append(measures)
    return {
        key: list(group[0]) if len(group) == 1 else [sum(column) for column in zip(*group, strict=True)]
        for key, group in members.items()
    }


@dataclass(slots=True)
class Batch:
    """Events ready to write: their ``log_values`` (ids unique) and the counter scopes of each."""

    values: list[list[Any]]
    scopes: list[Sequence[tuple[str, str]]]

    @classmethod
    def of(cls, events: Iterable[SpendEvent]) -> Batch:
        """The batch of ``events``; an id seen twice is written (and counted) once. ``check_event`` them first."""
        kept = unique(events)
        return cls([log_values(event) for event in kept], [event.counter_scopes for event in kept])

    @property
    def ids(self) -> list[str]:
        """The rows' ids, in order."""
        return [values[_ID] for values in self.values]

    def only(self, ids: Iterable[str]) -> Batch:
        """Only the rows whose id is in ``ids`` (those the database actually inserted)."""
        keep = set(ids)
        pairs = [
            (values, scopes) for values, scopes in zip(self.values, self.scopes, strict=True) if values[_ID] in keep
        ]
        return Batch([values for values, _ in pairs], [scopes for _, scopes in pairs])

    def rows(self) -> list[dict[str, Any]]:
        """The rows as column -> value dicts. Metadata goes through orjson and back: what ``SpendEvent.to_json``
        accepts (datetimes, UUIDs...) becomes plain JSON, which SQLAlchemy's ``json.dumps`` serialiser takes too."""
        rows = []
        for values in self.values:
            row = dict(zip(LOG_COLUMNS, values, strict=True))
            row["metadata"] = orjson.loads(orjson.dumps(row["metadata"]))
            rows.append(row)
        return rows

    def copy_records(self) -> list[tuple[Any, ...]]:
        """The rows for PostgreSQL's binary COPY: JSON columns as their text (SQLAlchemy's asyncpg dialect registers
        a json codec that takes the serialised text)."""
        records = []
        for values in self.values:
            record = values.copy()
            record[_TAGS] = orjson.dumps(record[_TAGS]).decode()
            record[_METADATA] = orjson.dumps(record[_METADATA]).decode()
            records.append(tuple(record))
        return records

    def daily(self) -> dict[DailyKey, list[Any]]:
        """The rollup increments of these rows."""
        return rollup(self.values)

    def counters(self) -> dict[CounterKey, Decimal]:
        """What each (scope, period) budget counter gains from these rows (an unpriced row adds 0; a scope listed
        twice on one row counts once)."""
        spent: dict[CounterKey, Decimal] = {}
        for values, scopes in zip(self.values, self.scopes, strict=True):
            cost = values[_COST] if values[_COST] is not None else _ZERO
            for key in dict.fromkeys(scopes):
                spent[key] = spent.get(key, _ZERO) + cost
        return spent

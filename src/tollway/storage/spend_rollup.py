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
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import String

from tollway.storage.money import MONEY_PLACES
from tollway.storage.schema import spend_counters, spend_daily, spend_logs

if TYPE_CHECKING:
    from tollway.governance.spend_event import SpendEvent

__all__ = [
    "ALL_ENTITY",
    "ENTITY_COLUMNS",
    "ENTITY_ID_LENGTH",
    "ENTITY_KINDS",
    "LOG_COLUMNS",
    "MEASURES",
    "NO_MODEL",
    "Batch",
    "CounterKey",
    "DailyKey",
    "Increments",
    "add_measures",
    "check_event",
    "counter_totals",
    "log_values",
    "store_money",
    "unique",
]

# Columns the database fills itself (info "generated": spend_logs.write_txid) are never written by the spend writer.
LOG_COLUMNS: tuple[str, ...] = tuple(c.name for c in spend_logs.columns if not c.info.get("generated"))
ENTITY_KINDS = ("key", "user", "team", "customer", "tag", "feature", "model", "all")
ALL_ENTITY = ""  # entity_id of the "all" rollup (one row per day and model group)
NO_MODEL = ""  # model_group of rollup rows whose request had no model group (part of the primary key: not NULL)

DailyKey = tuple[date, str, str, str]  # (day, entity_kind, entity_id, model_group)
CounterKey = tuple[str, str]  # (scope, period)

_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)
_MONEY_LIMIT = Decimal(10) ** (28 - MONEY_PLACES)  # NUMERIC(28, 12) holds 16 integer digits
_INT64_MAX = 2**63 - 1
_STATUS_LIMIT = 2**31
_TOKEN_FIELDS = ("input_tokens", "cached_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")


def _lengths(columns: Iterable[Any]) -> dict[str, int]:
    return {c.name: c.type.length for c in columns if isinstance(c.type, String) and c.type.length}


_LOG_LENGTHS = _lengths(spend_logs.columns)
ENTITY_ID_LENGTH = _lengths(spend_daily.columns)["entity_id"]
_SCOPE_LENGTH = _lengths(spend_counters.columns)["scope"]
_PERIOD_LENGTH = _lengths(spend_counters.columns)["period"]
_ID_LENGTH = _LOG_LENGTHS["id"]


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
    if _plainly_storable(event):
        return None
    return next(_problems(event), None)


def _plainly_storable(event: SpendEvent) -> bool:
    """The common case, checked in one expression (this runs for every row): True only if ``_problems`` would find
    nothing. ``type(x) is int`` also rules out bools. Anything unusual goes to ``_problems`` for the message.

    Written out field by field: the generators, ``all()``, ``min()`` and ``max()`` of a shorter spelling cost twice
    as much (1.9 -> 0.85 µs per row, timeit)."""
    cost = event.cost
    ttft = event.ttft_ms
    status = event.status
    tags = event.tags
    scopes = event.counter_scopes
    a, b, c, d, e = (
        event.input_tokens,
        event.cached_tokens,
        event.cache_write_tokens,
        event.output_tokens,
        event.reasoning_tokens,
    )
    return (
        type(event.id) is str
        and 0 < len(event.id) <= _ID_LENGTH
        and type(a) is int
        and type(b) is int
        and type(c) is int
        and type(d) is int
        and type(e) is int
        and 0 <= a <= _INT64_MAX
        and 0 <= b <= _INT64_MAX
        and 0 <= c <= _INT64_MAX
        and 0 <= d <= _INT64_MAX
        and 0 <= e <= _INT64_MAX
        and type(status) is int
        and 0 <= status < _STATUS_LIMIT
        and (cost is None or (cost.is_finite() and -_MONEY_LIMIT < cost < _MONEY_LIMIT))
        and math.isfinite(event.latency_ms)
        and (ttft is None or math.isfinite(ttft))
        and type(tags) is list
        and (not tags or all(type(tag) is str for tag in tags))
        and (
            not scopes
            or all(0 < len(scope) <= _SCOPE_LENGTH and 0 < len(period) <= _PERIOD_LENGTH for scope, period in scopes)
        )
    )


def _problems(event: SpendEvent) -> Iterator[str]:
    if not isinstance(event.id, str) or not 0 < len(event.id) <= _LOG_LENGTHS["id"]:
        yield f"id {event.id!r} is not 1..{_LOG_LENGTHS['id']} characters"
    if event.cost is not None and (not event.cost.is_finite() or abs(event.cost) >= _MONEY_LIMIT):
        yield f"cost {event.cost} is not a finite amount below 1e16"
    for name in _TOKEN_FIELDS:
        value = getattr(event, name)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _INT64_MAX:
            yield f"{name} {value!r} is not a non-negative 64-bit integer"
    if isinstance(event.status, bool) or not isinstance(event.status, int) or not 0 <= event.status < _STATUS_LIMIT:
        yield f"status {event.status!r} is not an HTTP status"
    if not math.isfinite(event.latency_ms) or (event.ttft_ms is not None and not math.isfinite(event.ttft_ms)):
        yield "latency_ms and ttft_ms must be finite"
    # A list (or tuple) of strings: stored as a JSON array, which the PostgreSQL rollups unnest.
    if not isinstance(event.tags, list | tuple) or not all(isinstance(tag, str) for tag in event.tags):
        yield "tags must be a list of strings"
    for scope, period in event.counter_scopes:
        if not 0 < len(scope) <= _SCOPE_LENGTH or not 0 < len(period) <= _PERIOD_LENGTH:
            yield f"counter scope {scope!r}/{period!r} is empty or too long"


_TRUNCATE = tuple((LOG_COLUMNS.index(name), length) for name, length in _LOG_LENGTHS.items() if name != "id")
_TS, _COST, _TAGS, _METADATA = (LOG_COLUMNS.index(name) for name in ("ts", "cost", "tags", "metadata"))


def log_values(event: SpendEvent) -> list[Any]:
    """The ``spend_logs`` values of ``event`` in ``LOG_COLUMNS`` order: time in UTC, money at the stored scale,
    over-long strings truncated to their column (an error class or a model name longer than its column is not
    worth losing the row for)."""
    e = event
    values: list[Any]
    # Spelled out (a test holds it to LOG_COLUMNS): attribute reads of the specialising interpreter take a third of
    # the time of ``attrgetter(*LOG_COLUMNS)``, which looks every name up generically (1.3 -> 0.4 µs per row).
    values = [
        e.id,
        e.request_id,
        e.ts,
        e.key_hash,
        e.key_name,
        e.user_id,
        e.team_id,
        e.customer_id,
        e.feature,
        e.model_group,
        e.deployment_id,
        e.provider,
        e.model,
        e.call_type,
        e.stream,
        e.input_tokens,
        e.cached_tokens,
        e.cache_write_tokens,
        e.output_tokens,
        e.reasoning_tokens,
        e.cost,
        e.price_source,
        e.latency_ms,
        e.ttft_ms,
        e.status,
        e.error_class,
        e.cache_hit,
        e.tags,
        e.metadata,
    ]
    if e.ts.tzinfo is not UTC:
        values[_TS] = e.ts.astimezone(UTC)
    if e.cost is not None:
        values[_COST] = store_money(e.cost)
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
ENTITY_COLUMNS = (
    ("key", "key_hash"),
    ("user", "user_id"),
    ("team", "team_id"),
    ("customer", "customer_id"),
    ("feature", "feature"),
    ("model", "model_group"),
)
_ENTITY_KINDS = tuple(kind for kind, _ in ENTITY_COLUMNS)
_GET_ENTITIES = itemgetter(*(LOG_COLUMNS.index(column) for _, column in ENTITY_COLUMNS))
_ID, _STATUS, _MODEL_GROUP = (LOG_COLUMNS.index(name) for name in ("id", "status", "model_group"))
_TOKENS = tuple(LOG_COLUMNS.index(name) for name in _TOKEN_FIELDS)
_GET_TOKENS = itemgetter(*_TOKENS)
_ZERO = Decimal(0)
_COST_MEASURE = MEASURES.index("cost")


def add_measures(total: list[Any], more: Sequence[Any]) -> list[Any]:
    """Two measure lists (``MEASURES`` order) added up."""
    return [a + b for a, b in zip(total, more, strict=True)]


def _measures(values: Sequence[Any]) -> tuple[Any, ...]:
    """One row's measures (``MEASURES`` order): an unpriced row counts 0 cost and 1 unpriced."""
    cost = values[_COST]
    # itemgetter, not a list comprehension: one C call instead of a Python function's frame per row.
    return (
        1,
        1 if values[_STATUS] >= 400 else 0,
        *_GET_TOKENS(values),
        _ZERO if cost is None else cost,
        1 if cost is None else 0,
    )


class Increments:
    """What rows add to the daily rollups and to the budget counters, summed slice by slice (so the store can give
    the event loop a turn between slices of a big batch).

    Every row counts in the "all" rollup, and in those of its key, user, team, customer, feature, model group and
    (distinct) tags, per UTC day and model group; it adds its cost (0 if unpriced) to each of its counter scopes
    (a scope listed twice on one row counts once).
    """

    def __init__(self) -> None:
        # Rows are first grouped by everything that decides their rollup keys (day, model group, entities, tags)
        # and by their counter scopes: a gateway's rows share few of those, so the per-row work is one tuple and
        # one dict lookup each, and the keys are made once per group, not once per row.
        self._rows: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
        self._costs: dict[tuple[CounterKey, ...], list[Decimal]] = {}

    def add(self, batch: Batch) -> None:
        """Count ``batch``'s rows."""
        rows = self._rows
        costs = self._costs
        for values, scopes in zip(batch.values, batch.scopes, strict=True):
            measures = _measures(values)
            # log_values made ts UTC; tags are a list (unhashable): their tuple.
            signature = (values[_TS].date(), values[_MODEL_GROUP], _GET_ENTITIES(values), tuple(values[_TAGS]))
            group = rows.get(signature)
            if group is None:
                rows[signature] = [measures]
            else:
                group.append(measures)
            if scopes:
                scope_key = tuple(scopes)
                spent = costs.get(scope_key)
                if spent is None:
                    costs[scope_key] = [measures[_COST_MEASURE]]
                else:
                    spent.append(measures[_COST_MEASURE])

    def daily(self) -> dict[DailyKey, list[Any]]:
        """(day, entity_kind, entity_id, model_group) -> measures in ``MEASURES`` order."""
        # Each group is summed once; a group's total lands on ~9 keys. The totals of a key are collected first
        # (list appends) and its columns summed once at the end by ``sum`` (a C loop): adding up measure lists key
        # by key in Python was a third of the CPU of writing a batch of rows of many keys and customers.
        collected: dict[DailyKey, list[Sequence[Any]]] = {}
        for (day, model_group, entities, tags), group in self._rows.items():
            total = group[0] if len(group) == 1 else [sum(column) for column in zip(*group, strict=True)]
            group_by = model_group or NO_MODEL
            keys = [
                (day, kind, entity, group_by)
                for kind, entity in zip(_ENTITY_KINDS, entities, strict=True)
                if entity is not None
            ]
            if tags:
                keys.extend((day, "tag", tag, group_by) for tag in {tag[:ENTITY_ID_LENGTH] for tag in tags})
            keys.append((day, "all", ALL_ENTITY, group_by))
            for key in keys:
                found = collected.get(key)
                if found is None:
                    collected[key] = [total]
                else:
                    found.append(total)
        return {
            key: list(found[0]) if len(found) == 1 else [sum(column) for column in zip(*found, strict=True)]
            for key, found in collected.items()
        }

    def counters(self) -> dict[CounterKey, Decimal]:
        """(scope, period) -> the spend to add."""
        spent: dict[CounterKey, Decimal] = {}
        for scopes, costs in self._costs.items():
            total = sum(costs, _ZERO)
            for key in dict.fromkeys(scopes):
                spent[key] = spent.get(key, _ZERO) + total
        return spent


def counter_totals(batch: Batch, spent: dict[CounterKey, Decimal] | None = None) -> dict[CounterKey, Decimal]:
    """(scope, period) -> the spend ``batch``'s rows add to that budget counter: each row's cost (0 if unpriced)
    once per distinct scope of the row, added to ``spent`` if given (a batch summed slice by slice). The same sums
    as ``Increments.counters``, without its rollup work (the PostgreSQL store sums the rollups in SQL)."""
    spent = {} if spent is None else spent
    get = spent.get
    for values, scopes in zip(batch.values, batch.scopes, strict=True):
        if not scopes:
            continue
        cost = values[_COST]
        if cost is None:
            cost = _ZERO
        # A scope listed twice on one row counts once (dict.fromkeys keeps the first of each, in order).
        for key in scopes if len(scopes) == 1 else dict.fromkeys(scopes):
            spent[key] = get(key, _ZERO) + cost
    return spent


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

    def slices(self, size: int) -> Iterator[Batch]:
        """Consecutive parts of at most ``size`` rows."""
        for start in range(0, len(self.values), size):
            yield Batch(self.values[start : start + size], self.scopes[start : start + size])

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
        dumps = orjson.dumps
        for values in self.values:
            record = values.copy()
            tags, metadata = record[_TAGS], record[_METADATA]
            # Most rows have neither (as on SQLite, their text is written out rather than encoded per row).
            record[_TAGS] = dumps(tags).decode() if tags else "[]"
            record[_METADATA] = dumps(metadata).decode() if metadata else "{}"
            records.append(tuple(record))
        return records

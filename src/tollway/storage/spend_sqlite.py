"""``write_sqlite``: one spend batch into SQLite, through the aiosqlite driver connection of the caller's
``BEGIN IMMEDIATE`` transaction (it holds the write lock: nothing else writes in between).

The driver runs each statement in its own thread, and Python's sqlite3 lets go of the GIL around every step of a
statement (every row of an ``executemany``, every row fetched). A gateway's event loop keeps the GIL busy, so each
step then waits for it, up to ``sys.getswitchinterval()`` (5 ms): row-by-row statements let the writer fall ever
further behind under load. So every statement here moves many rows in one step, and has one fixed SQL text (the
driver prepares it once per connection; statements that differ with the batch size each took a place in its
statement cache, which made the gateway's memory grow with every new batch size):

- the rows go in with a ``ROWS``-row ``INSERT ... VALUES (...), ... ON CONFLICT (id) DO NOTHING``, through one
  ``executemany`` of as many of those as the batch needs; the last one is filled up with copies of its first row,
  which the conflict clause ignores. The values are encoded once, in Python, the way SQLAlchemy's types store them
  (times as ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC, ``Money`` as its decimal text, JSON columns as orjson text,
  booleans as 0/1). Only ``str``, ``int`` and ``float`` parameters are bound: sqlite3 first tries to adapt any other
  value, ``None`` and ``bool`` included, and its failed lookup raises (and formats) an ``AttributeError`` inside,
  ~2,500 instructions per parameter, measured with callgrind (six ``None`` and two ``bool`` per usual row: 20k of the
  74k a row cost in the driver thread). A NULL goes as a sentinel of a type its column never holds, turned back into
  NULL by the statement (``NULLIF(?, 0)`` for text, ``NULLIF(?, '')`` for a float);
- in the usual case every row is new (``rowcount`` says so). When some ids were stored already (a replay), the rows
  inserted are the last ``rowcount`` rowids (SQLite gives a new row the largest rowid + 1), and only they count in
  the rollups and counters;
- rollups and counters are summed per batch in Python (``Increments``). Money is TEXT on SQLite (it has no exact
  decimal type): the stored amounts of the keys concerned are read in one step (a JSON array of keys joined to the
  tables, the answer aggregated into one JSON value), added in Python, and written with ``ROWS``-row upserts that add
  the counts in SQL and set the amount (filled up with copies of the first key adding 0 and setting the same amount).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from itertools import chain
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Boolean, Float

from tollway.storage.schema import spend_logs
from tollway.storage.spend_rollup import LOG_COLUMNS, MEASURES, Batch, Increments

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["ROWS", "sqlite_records", "sqlite_time", "write_sqlite"]

ROWS = 128  # rows per statement (fewer where SQLite takes only 999 parameters per statement)
_MAX_PARAMETERS = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999
_TS, _COST, _TAGS, _METADATA = (LOG_COLUMNS.index(name) for name in ("ts", "cost", "tags", "metadata"))
_DAILY_KEY = ("day", "entity_kind", "entity_id", "model_group")
_DAILY_COLUMNS = (*_DAILY_KEY, *MEASURES)
_COUNTER_COLUMNS = ("scope", "period", "spent", "updated_at")
_COST_INDEX = MEASURES.index("cost")
_NO_COUNTS = tuple(0 for name in MEASURES if name != "cost")


def _rows_per_statement(columns: int) -> int:
    return min(ROWS, _MAX_PARAMETERS // columns)


def _insert(table: str, columns: Sequence[str], tail: str, placeholders: Sequence[str] | None = None) -> str:
    """``INSERT INTO table (columns) VALUES`` with room for ``_rows_per_statement`` rows, then ``tail``. Built from
    the schema's names only (no outside input reaches these strings). ``placeholders``: one per column (``?``)."""
    row = f"({', '.join(placeholders or '?' * len(columns))})"
    rows = ", ".join([row] * _rows_per_statement(len(columns)))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {rows} {tail}"  # noqa: S608


# The NULL sentinel of each nullable spend_logs column (see the module docstring): an int where the column holds
# text (0 never equals a text value: SQLite orders every integer before every text), '' where it holds floats.
_NULLS = tuple(
    (index, "" if isinstance(column.type, Float) else 0)
    for index, column in enumerate(spend_logs.columns[name] for name in LOG_COLUMNS)
    if column.nullable
)
_BOOLEANS = tuple(index for index, name in enumerate(LOG_COLUMNS) if isinstance(spend_logs.columns[name].type, Boolean))
_NULL_OF = dict(_NULLS)
_INSERT_LOGS = _insert(
    "spend_logs",
    LOG_COLUMNS,
    "ON CONFLICT (id) DO NOTHING",
    [
        "?" if index not in _NULL_OF else "NULLIF(?, '')" if _NULL_OF[index] == "" else "NULLIF(?, 0)"
        for index in range(len(LOG_COLUMNS))
    ],
)
_INSERTED_LAST = "SELECT id FROM spend_logs WHERE rowid > last_insert_rowid() - ?"
_UPSERT_DAILY = _insert(
    "spend_daily",
    _DAILY_COLUMNS,
    f"ON CONFLICT ({', '.join(_DAILY_KEY)}) DO UPDATE SET "
    + ", ".join(f"{name} = spend_daily.{name} + excluded.{name}" for name in MEASURES if name != "cost")
    + ", cost = excluded.cost",
)
_UPSERT_COUNTERS = _insert(
    "spend_counters",
    _COUNTER_COLUMNS,
    "ON CONFLICT (scope, period) DO UPDATE SET spent = excluded.spent, updated_at = excluded.updated_at",
)
# The stored amounts of the keys in two JSON arrays (?1: rollup keys, ?2: counter keys), as one row of two JSON
# arrays of [index of the key, amount]: one step, whatever the number of keys.
_STORED_MONEY = (
    "SELECT (SELECT json_group_array(json_array(j.key, d.cost)) FROM json_each(?1) AS j JOIN spend_daily AS d "
    "ON d.day = json_extract(j.value, '$[0]') AND d.entity_kind = json_extract(j.value, '$[1]') "
    "AND d.entity_id = json_extract(j.value, '$[2]') AND d.model_group = json_extract(j.value, '$[3]')), "
    "(SELECT json_group_array(json_array(j.key, c.spent)) FROM json_each(?2) AS j JOIN spend_counters AS c "
    "ON c.scope = json_extract(j.value, '$[0]') AND c.period = json_extract(j.value, '$[1]'))"
)
_EMPTY_LIST = "[]"
_EMPTY_OBJECT = "{}"


def sqlite_time(moment: datetime) -> str:
    """A UTC datetime as SQLAlchemy's SQLite ``DateTime`` stores it: ``YYYY-MM-DD HH:MM:SS.ffffff`` (no offset)."""
    return moment.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def sqlite_records(batch: Batch) -> list[list[Any]]:
    """The rows of ``batch`` as ``_INSERT_LOGS`` takes them (``LOG_COLUMNS`` order): booleans as 0/1 (as SQLAlchemy
    stores them), NULLs as their column's sentinel."""
    records = []
    dumps = orjson.dumps
    for values, moment in zip(batch.values, _times([values[_TS] for values in batch.values]), strict=True):
        record = values.copy()
        record[_TS] = moment
        for index, null in _NULLS:
            if record[index] is None:
                record[index] = null
        for index in _BOOLEANS:
            record[index] = 1 if record[index] else 0
        cost = values[_COST]
        if cost is not None:
            record[_COST] = format(cost, "f")
        tags = values[_TAGS]
        record[_TAGS] = dumps(tags).decode() if tags else _EMPTY_LIST
        metadata = values[_METADATA]
        record[_METADATA] = dumps(metadata).decode() if metadata else _EMPTY_OBJECT
        records.append(record)
    return records


def _times(moments: list[datetime]) -> list[str]:
    """``sqlite_time`` of each of ``moments`` (UTC datetimes, as ``log_values`` makes them), from one orjson call
    (a fifth of the cost of ``isoformat`` per row): ``["YYYY-MM-DDTHH:MM:SS.ffffffZ",...]`` becomes the strings."""
    if not moments:
        return []
    text = orjson.dumps(moments, option=orjson.OPT_UTC_Z).decode()
    # Only the separator between date and time is a "T" in such text.
    times = text[2:-3].replace("T", " ").split('Z","')
    if len(text) == 30 * len(moments) + 1:
        return times
    # orjson leaves out a zero fraction of a second (SQLAlchemy's format always has one) and writes another offset
    # than UTC's as it is: whatever does not have the usual shape is made the slow way.
    if len(times) != len(moments):
        return [sqlite_time(moment) for moment in moments]
    return [time if len(time) == 26 else sqlite_time(moment) for time, moment in zip(times, moments, strict=True)]


def statements(rows: Sequence[Sequence[Any]], columns: int, pad: Sequence[Any] | None = None) -> list[list[Any]]:
    """The parameters of ``rows`` for an ``_insert`` statement of ``columns`` columns: one flat list per statement,
    the last one filled up with ``pad`` (by default a copy of its first row)."""
    size = _rows_per_statement(columns)
    chunks = []
    for start in range(0, len(rows), size):
        chunk = list(rows[start : start + size])
        chunk.extend([chunk[0] if pad is None else pad] * (size - len(chunk)))
        chunks.append(list(chain.from_iterable(chunk)))
    return chunks


async def write_sqlite(connection: AsyncConnection, batch: Batch) -> int:
    """Insert ``batch``'s rows whose id is not stored yet, and add those rows to the rollups and counters; return how
    many were inserted. ``connection`` is in a ``Database.write()`` transaction."""
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection  # aiosqlite.Connection, inside SQLAlchemy's transaction
    async with driver.executemany(_INSERT_LOGS, statements(sqlite_records(batch), len(LOG_COLUMNS))) as cursor:
        inserted = cursor.rowcount
    if inserted == 0:
        return 0
    if inserted != len(batch.values):
        # Some ids were stored already (a replay). The rows inserted just now took consecutive rowids after the
        # largest one (SQLite's rule while rowids are below 2**63), ending at last_insert_rowid().
        batch = batch.only(row[0] for row in await driver.execute_fetchall(_INSERTED_LAST, (inserted,)))
        if len(batch.values) != inserted:
            raise RuntimeError("cannot tell which spend rows SQLite inserted")
    increments = Increments()
    increments.add(batch)
    daily = [((day.isoformat(), *rest), measures) for (day, *rest), measures in increments.daily().items()]
    spent = list(increments.counters().items())
    keys = (orjson.dumps([key for key, _ in daily]).decode(), orjson.dumps([key for key, _ in spent]).decode())
    [(stored_daily, stored_spent)] = await driver.execute_fetchall(_STORED_MONEY, keys)
    costs = _totals([measures[_COST_INDEX] for _, measures in daily], orjson.loads(stored_daily))
    rows = [
        (*key, *measures[:_COST_INDEX], cost, *measures[_COST_INDEX + 1 :])
        for (key, measures), cost in zip(daily, costs, strict=True)
    ]
    # The filling rows add 0 to the counts of the first key and set the amount it gets anyway: they change nothing.
    pad = (*daily[0][0], *_NO_COUNTS[:_COST_INDEX], costs[0], *_NO_COUNTS[_COST_INDEX:])
    async with driver.executemany(_UPSERT_DAILY, statements(rows, len(_DAILY_COLUMNS), pad)):
        pass
    if spent:
        now = sqlite_time(datetime.now(UTC))
        totals = _totals([amount for _, amount in spent], orjson.loads(stored_spent))
        counters = [(scope, period, total, now) for ((scope, period), _), total in zip(spent, totals, strict=True)]
        async with driver.executemany(_UPSERT_COUNTERS, statements(counters, len(_COUNTER_COLUMNS))):
            pass  # copies of the first row set what it sets: they change nothing
    return len(batch.values)


def _totals(amounts: list[Decimal], stored: list[list[Any]]) -> list[str]:
    """``amounts`` plus what is stored (``[index, amount]`` pairs), as SQLite stores money."""
    totals = list(amounts)
    for index, amount in stored:
        totals[index] += Decimal(amount)
    return [format(total, "f") for total in totals]

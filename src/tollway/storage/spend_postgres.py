"""``write_postgres``: one spend batch into PostgreSQL, rows, daily rollups and budget counters in one transaction.

1. The rows go in with one binary ``COPY`` straight into ``spend_logs``, inside a savepoint; the records are encoded
   slice by slice while the server is already inserting the first ones (the two overlap on two cores). If an id is
   already stored (a replay), the savepoint is rolled back and the rows go through a session-local staging table and
   ``INSERT ... SELECT ... ON CONFLICT (id) DO NOTHING RETURNING id`` instead.
2. The daily rollups are summed by PostgreSQL itself, from the rows this transaction inserted: those whose
   ``write_txid`` (a column default, ``pg_current_xact_id()``) is the current transaction's, found through the
   partial index ``ix_spend_logs_write_txid``. A replayed row was inserted by an earlier transaction, so it is not
   counted twice, whichever of the two paths above stored the batch. Summed in SQL rather than in Python (and sent
   as increments), a row costs the writer's process 12-15 µs of CPU instead of 32-35 and the server 4-9 µs more
   (``bench/spend_ingest.py``, 10,000-row batches; bench/RESULTS.md): less in all, and most of it off the gateway's
   event loop, on the server's core.
3. The budget counters' increments are summed in Python (``spend_rollup.counter_totals``: the scopes are not a column
   of ``spend_logs``) and applied from a staging table.

Every upsert sorts its rows by primary key (byte order, the cheapest to sort by) before ``ON CONFLICT DO UPDATE``:
the same lock order in every writer, so concurrent writers (N gateway workers) wait for each other but never
deadlock. The rollup and counter sums are exact (``NUMERIC`` in SQL, ``Decimal`` in Python) and equal to what
``spend_rollup.Increments`` sums for SQLite (``tests/spend/test_spend_postgres.py`` checks it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tollway.storage.spend_rollup import (
    ENTITY_COLUMNS,
    ENTITY_ID_LENGTH,
    LOG_COLUMNS,
    MEASURES,
    Batch,
    CounterKey,
    counter_totals,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["write_postgres"]

_SLICE = 1000  # rows encoded between two turns of the event loop
_UNIQUE_VIOLATION = "23505"  # SQLSTATE of asyncpg's UniqueViolationError
_COLUMN_LIST = ", ".join(LOG_COLUMNS)

# Session-local staging tables, emptied by every commit. A replay (some ids already stored) goes through the first.
_STAGE_LOGS_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS tollway_stage_logs (LIKE spend_logs INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_STAGE_COUNTERS_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS tollway_stage_counters (LIKE spend_counters) ON COMMIT DELETE ROWS"
)
# For this transaction only. The rollup query's plan is cheap, so JIT compilation (when the server has it) would
# only add its compile time; the aggregation of a 10,000-row batch needs ~10 MB, which the default 4 MB work_mem
# would spill to disk.
_SETTINGS = "SET LOCAL jit = off; SET LOCAL work_mem = '32MB'"

# Built from the schema's column names only (no outside input reaches these strings).
_PG_INSERT_NEW_LOGS = (
    f"INSERT INTO spend_logs ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM tollway_stage_logs "  # noqa: S608
    "ON CONFLICT (id) DO NOTHING RETURNING id"
)

# (entity_kind, column) of the rollups every row counts in, as the SQLite path sums them; "tag" rollups come from
# the tags, "all" from every row.
_ENTITIES = ENTITY_COLUMNS
# One aggregate per MEASURES entry, in that order: an unpriced row (cost NULL) adds 0 cost and 1 unpriced.
_AGGREGATES = ", ".join(
    f"{aggregate} AS {name}"
    for aggregate, name in zip(
        (
            "count(*)",
            "count(*) FILTER (WHERE n.status >= 400)",
            "sum(n.input_tokens)",
            "sum(n.cached_tokens)",
            "sum(n.cache_write_tokens)",
            "sum(n.output_tokens)",
            "sum(n.reasoning_tokens)",
            "coalesce(sum(n.cost), 0)",
            "count(*) FILTER (WHERE n.cost IS NULL)",
        ),
        MEASURES,
        strict=True,
    )
)
_ENTITY_COLUMNS = ", ".join(f"n.{column}" for _, column in _ENTITIES)
# GROUPING(<the entity columns>) of a grouping set: a bit per column, set when the set does not group by it (the
# first column is the highest bit). The set of one column leaves every other bit set; the empty set ("all") all.
_ALL_BITS = (1 << len(_ENTITIES)) - 1
_BITS = [_ALL_BITS ^ (1 << (len(_ENTITIES) - 1 - index)) for index in range(len(_ENTITIES))]
_KIND = " ".join(f"WHEN {bits} THEN '{kind}'" for bits, (kind, _) in zip(_BITS, _ENTITIES, strict=True))
_ENTITY = " ".join(f"WHEN {bits} THEN {column}" for bits, (_, column) in zip(_BITS, _ENTITIES, strict=True))
_ADD_MEASURES = ", ".join(f"{name} = d.{name} + excluded.{name}" for name in MEASURES)
# The rows this transaction inserted, each counted in the rollup of every entity it has (a NULL entity: no rollup)
# and of each of its distinct tags (cut to the entity_id column, as spend_rollup does), per UTC day and model group
# ("" for none). One pass of grouping sets (one hash table per entity kind) costs the server less than a row per
# (row, entity) pair grouped at once.
_PG_UPSERT_DAILY = f"""
WITH n AS MATERIALIZED (
    SELECT id, (ts AT TIME ZONE 'UTC')::date AS day, coalesce(model_group, '') AS group_by, key_hash, user_id,
        team_id, customer_id, feature, model_group, tags, status, input_tokens, cached_tokens, cache_write_tokens,
        output_tokens, reasoning_tokens, cost
    FROM spend_logs WHERE write_txid = (pg_current_xact_id()::text)::bigint
),
sets AS (
    SELECT n.day, n.group_by, GROUPING({_ENTITY_COLUMNS}) AS bits, {_ENTITY_COLUMNS}, {_AGGREGATES}
    FROM n GROUP BY n.day, n.group_by, GROUPING SETS ({", ".join(f"({c})" for c in _ENTITY_COLUMNS.split(", "))}, ())
),
tagged AS (
    SELECT DISTINCT n.id, left(tag, {ENTITY_ID_LENGTH}) AS tag FROM n, json_array_elements_text(n.tags) AS tag
),
rollups AS (
    SELECT day, CASE bits {_KIND} ELSE 'all' END AS kind, CASE bits {_ENTITY} ELSE '' END AS entity, group_by,
        {", ".join(MEASURES)}
    FROM sets
    UNION ALL
    SELECT n.day, 'tag', t.tag, n.group_by, {_AGGREGATES}
    FROM tagged AS t JOIN n USING (id) GROUP BY n.day, t.tag, n.group_by
)
INSERT INTO spend_daily AS d (day, entity_kind, entity_id, model_group, {", ".join(MEASURES)})
SELECT * FROM rollups AS r WHERE r.entity IS NOT NULL
ORDER BY r.day, r.kind COLLATE "C", r.entity COLLATE "C", r.group_by COLLATE "C"
ON CONFLICT (day, entity_kind, entity_id, model_group) DO UPDATE SET {_ADD_MEASURES}
"""  # noqa: S608
_COUNTER_COLUMNS = ("scope", "period", "spent", "updated_at")
_PG_UPSERT_COUNTERS = (
    "INSERT INTO spend_counters AS c (scope, period, spent, updated_at) "
    "SELECT scope, period, spent, updated_at FROM tollway_stage_counters "
    'ORDER BY scope COLLATE "C", period COLLATE "C" '
    "ON CONFLICT (scope, period) DO UPDATE SET spent = c.spent + excluded.spent, updated_at = excluded.updated_at"
)


async def write_postgres(connection: AsyncConnection, batch: Batch) -> int:
    """Write ``batch`` (ids unique, rows checked) in the caller's transaction on ``connection``; return how many rows
    were inserted (ids already stored are skipped and count nowhere)."""
    # Through SQLAlchemy first, so that its transaction is open on the driver connection; COPY and the rest then
    # use asyncpg directly, inside it.
    await connection.exec_driver_sql(_STAGE_COUNTERS_DDL)
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.execute(_SETTINGS)
    spent: dict[CounterKey, Decimal] = {}
    try:
        # The usual case, no id stored yet: COPY straight into the table, the fastest way in. The savepoint keeps
        # the transaction usable if some id is there already (a replay), which the staging path below sorts out.
        # The counters' increments are summed while the server inserts the slices already sent.
        async with driver.transaction():
            records = _copy_records(batch, spent)
            await driver.copy_records_to_table("spend_logs", records=records, columns=LOG_COLUMNS)
    except Exception as error:
        if getattr(error, "sqlstate", None) != _UNIQUE_VIOLATION:
            raise
        await driver.execute(_STAGE_LOGS_DDL)
        records = _copy_records(batch, None)
        await driver.copy_records_to_table("tollway_stage_logs", records=records, columns=LOG_COLUMNS)
        batch = batch.only(row["id"] for row in await driver.fetch(_PG_INSERT_NEW_LOGS))
        if not batch.values:
            return 0
        spent = counter_totals(batch)
    await driver.execute(_PG_UPSERT_DAILY)
    now = datetime.now(UTC)
    counters = [(scope, period, amount, now) for (scope, period), amount in spent.items()]
    if counters:
        await driver.copy_records_to_table("tollway_stage_counters", records=counters, columns=_COUNTER_COLUMNS)
        await driver.execute(_PG_UPSERT_COUNTERS)
    return len(batch.values)


async def _copy_records(batch: Batch, spent: dict[CounterKey, Decimal] | None) -> AsyncIterator[tuple[Any, ...]]:
    """The COPY rows of ``batch``, encoded slice by slice with a turn for the event loop between slices (asyncpg
    takes an async iterable, and sends what it has while the rest is being encoded); each slice's counter increments
    are added to ``spent`` (unless None) once its rows are handed over."""
    for index, part in enumerate(batch.slices(_SLICE)):
        if index:
            await asyncio.sleep(0)
        for record in part.copy_records():
            yield record
        if spent is not None:
            counter_totals(part, spent)

"""Migrations: apply on an empty database, are idempotent, survive concurrent starts, and match storage.schema."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, inspect, text
from sqlalchemy.engine import Connection

from tollway.storage import schema
from tollway.storage.database import Database
from tollway.storage.migrate import alembic_config, current, head, upgrade


def _diff(connection: Connection, metadata: MetaData) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(context, metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_upgrade_creates_every_table_on_an_empty_database(database_url: str) -> None:
    database = Database(database_url)
    try:
        assert await current(database) is None
        await upgrade(database)
        assert await current(database) == head() == "0008_entity_epoch"
        async with database.read() as connection:
            tables = await connection.run_sync(_tables)
    finally:
        await database.aclose()
    assert tables == {*schema.metadata.tables, "alembic_version"}


async def test_the_migrated_database_matches_the_schema_exactly(database: Database) -> None:
    async with database.read() as connection:
        assert await connection.run_sync(_diff, schema.metadata) == []
        # The comparison does see differences: a column the database lacks is one.
        extended = MetaData()
        for table in schema.metadata.tables.values():
            table.to_metadata(extended)
        extended.tables["users"].append_column(Column("extra", Integer, nullable=True))
        differences = await connection.run_sync(_diff, extended)
    assert [(kind, table, column.name) for kind, _, table, column in differences] == [("add_column", "users", "extra")]


async def test_upgrade_is_idempotent(database: Database) -> None:
    await upgrade(database)
    await upgrade(database)
    assert await current(database) == head()


async def test_concurrent_upgrades_of_several_workers_all_succeed(database_url: str) -> None:
    # N gateway workers starting at once, each with its own engine: the lock makes all but one find the schema done.
    databases = [Database(database_url) for _ in range(4)]
    try:
        # Without the lock this does not fail cleanly: the upgrades block each other, hence the timeout.
        await asyncio.wait_for(asyncio.gather(*(upgrade(database) for database in databases)), timeout=60)
        revisions = [await current(database) for database in databases]
        async with databases[0].read() as connection:
            assert await connection.run_sync(_diff, schema.metadata) == []
    finally:
        for database in databases:
            await database.aclose()
    assert revisions == [head()] * 4


async def test_downgrade_to_base_and_upgrade_again(database: Database) -> None:
    def downgrade(connection: Connection) -> None:
        command.downgrade(alembic_config(connection), "base")

    async with database.write() as connection:
        await connection.run_sync(downgrade)
    async with database.read() as connection:
        assert await connection.run_sync(_tables) == {"alembic_version"}
    assert await current(database) is None
    await upgrade(database)
    assert await current(database) == head()


async def test_rollup_tables_leave_room_for_updates_on_postgresql(database: Database) -> None:
    # 0006: half of each page of the rollup tables is kept free, so a batch's updates stay on their page.
    if database.is_sqlite:
        assert await current(database) == head()  # nothing to set on SQLite; the revision still applies
        return
    async with database.read() as connection:
        rows = await connection.execute(
            text("SELECT relname, reloptions FROM pg_class WHERE relname IN ('spend_daily', 'spend_counters')")
        )
        options = {name: list(values or []) for name, values in rows}
    assert options == {"spend_daily": ["fillfactor=50"], "spend_counters": ["fillfactor=50"]}


async def test_entity_indexes_leave_out_rows_without_the_entity_and_serve_the_queries(database: Database) -> None:
    # 0007: user, team and customer indexes are partial (rows without one are not in them), and queries naming the
    # entity (=, IN) still use them.
    names = ("ix_spend_logs_user_ts", "ix_spend_logs_team_ts", "ix_spend_logs_customer_ts")
    queries = {
        "ix_spend_logs_customer_ts": "SELECT id FROM spend_logs WHERE customer_id = 'c' AND ts >= '2025-01-01'",
        "ix_spend_logs_user_ts": "SELECT id FROM spend_logs WHERE user_id IN ('u1', 'u2')",
        "ix_spend_logs_team_ts": "SELECT count(*) FROM spend_logs WHERE team_id = 't'",
    }
    async with database.read() as connection:
        if database.is_sqlite:
            found = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name IN ({})"
            plan = "EXPLAIN QUERY PLAN "
        else:
            found = "SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN ({})"
            plan = "EXPLAIN "
            await connection.execute(text("SET LOCAL enable_seqscan = off"))
        rows = await connection.execute(text(found.format(", ".join(f"'{name}'" for name in names))))
        definitions = {str(name): str(definition) for name, definition in rows.all()}
        assert set(definitions) == set(names)
        for name, column in zip(names, ("user_id", "team_id", "customer_id"), strict=True):
            assert f"WHERE {column} IS NOT NULL" in definitions[name].replace("(", "").replace(")", "")
        for name, query in queries.items():
            steps = " ".join(str(row[-1]) for row in await connection.execute(text(plan + query)))
            assert name in steps, (query, steps)

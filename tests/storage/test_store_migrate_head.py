"""The written-out head revision and the start-up path that uses it: a database already at head is recognised by
one plain query, without importing Alembic; a database behind still goes through Alembic under the locks."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from alembic import command
from sqlalchemy.engine import Connection

from tollway.storage.database import Database
from tollway.storage.migrate import alembic_config, at_head, current, head, upgrade
from tollway.storage.migrations import HEAD

# Run in a fresh interpreter: this test process has imported Alembic long since.
_UPGRADE_AND_REPORT = """
import asyncio, sys
from tollway.storage.database import Database
from tollway.storage.migrate import upgrade

async def main():
    database = Database(sys.argv[1])
    try:
        print(await upgrade(database))
    finally:
        await database.aclose()

asyncio.run(main())
print("alembic imported:", any(name == "alembic" or name.startswith("alembic.") for name in sys.modules))
"""


def _upgrade_in_fresh_interpreter(url: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _UPGRADE_AND_REPORT, url], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_head_constant_is_alembics_computed_head() -> None:
    # A new revision must update migrations.HEAD, or workers would run Alembic at every start (or skip a migration).
    assert head() == HEAD


async def test_at_head_reads_the_version_table(database_url: str) -> None:
    database = Database(database_url)
    try:
        assert await at_head(database) is False  # empty: no alembic_version table at all
        await upgrade(database)
        assert await at_head(database) is True

        def one_back(connection: Connection) -> None:
            command.downgrade(alembic_config(connection), "-1")

        async with database.write() as connection:
            await connection.run_sync(one_back)
        assert await current(database) != HEAD
        assert await at_head(database) is False  # behind by one revision
        assert await upgrade(database) != (HEAD, HEAD)  # so the upgrade really ran
        assert await current(database) == HEAD
    finally:
        await database.aclose()


async def test_upgrade_at_head_does_not_import_alembic(database_url: str) -> None:
    database = Database(database_url)
    try:
        await upgrade(database)
    finally:
        await database.aclose()
    out = await asyncio.to_thread(_upgrade_in_fresh_interpreter, database_url)
    assert f"('{HEAD}', '{HEAD}')" in out
    assert "alembic imported: False" in out


async def test_upgrade_behind_imports_alembic_and_migrates(database_url: str) -> None:
    out = await asyncio.to_thread(_upgrade_in_fresh_interpreter, database_url)
    assert f"(None, '{HEAD}')" in out
    assert "alembic imported: True" in out


async def test_exactly_one_of_concurrent_upgrades_migrates(database_url: str) -> None:
    # The waiters find the schema done under the lock (the second check) and report nothing changed.
    databases = [Database(database_url) for _ in range(4)]
    try:
        results = await asyncio.wait_for(asyncio.gather(*(upgrade(database) for database in databases)), timeout=60)
    finally:
        for database in databases:
            await database.aclose()
    assert sorted(results, key=str) == sorted([(None, HEAD), *[(HEAD, HEAD)] * 3], key=str)

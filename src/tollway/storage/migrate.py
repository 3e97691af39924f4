"""Schema migrations (Alembic, bundled in ``tollway.storage.migrations``): ``upgrade`` at gateway start and by
``tollway db upgrade``; ``current`` and ``head`` for ``tollway db current``.

N gateway workers start at once and each upgrades: they must not race to create the same tables. On PostgreSQL the
upgrade runs in one transaction holding ``pg_advisory_xact_lock`` (released by the commit, even if the process dies);
on SQLite an exclusive ``flock`` on ``<database file>.migrate.lock`` serialises processes and ``BEGIN IMMEDIATE``
the rest. Whoever waits finds the schema already at head and does nothing. The same locks keep two upgrades in one
process apart, which matters too: Alembic's ``op`` and ``context`` are process-wide proxies, so interleaved upgrades
on one event loop would issue each other's statements.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection

    from tollway.storage.database import Database

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current", "head", "upgrade"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# pg_advisory_xact_lock key: any constant unlikely to collide with an application's own advisory locks.
_PG_LOCK_KEY = 0x70_11_3A_7E
_LOCK_POLL_S = 0.02


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the bundled migrations (no ``alembic.ini``), bound to ``connection``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(database: Database, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the database's schema to ``revision`` (the latest by default); safe to call from N workers at once.

    Returns the revisions before and after, read under the lock (None: an empty database), so of N concurrent
    callers exactly one sees them differ.
    """
    from sqlalchemy import func, select

    async with _file_lock(database.sqlite_path), database.write() as connection:
        if not database.is_sqlite:
            await connection.execute(select(func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
        return await connection.run_sync(_upgrade, revision)


def _upgrade(connection: Connection, revision: str) -> tuple[str | None, str | None]:
    from alembic import command

    before = _current(connection)
    command.upgrade(alembic_config(connection), revision)
    return before, _current(connection)


async def current(database: Database) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    async with database.read() as connection:
        return await connection.run_sync(_current)


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def head() -> str:
    """The latest revision the bundled migrations define."""
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:  # pragma: no cover - the package always ships 0001
        raise RuntimeError("no migrations found in tollway.storage.migrations")
    return revision


@contextlib.asynccontextmanager
async def _file_lock(database_file: Path | None) -> AsyncIterator[None]:
    """An exclusive flock beside a SQLite file (nothing for PostgreSQL or in-memory SQLite, or without fcntl)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: BEGIN IMMEDIATE alone serialises the upgrade
        yield
        return
    if database_file is None:
        yield
        return
    lock_path = database_file.with_name(database_file.name + ".migrate.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # Poll rather than block: a blocking flock would stall the event loop, and a thread blocked in flock
        # cannot be cancelled. Migrations take well under a second, so the waiter polls briefly.
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(_LOCK_POLL_S)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock

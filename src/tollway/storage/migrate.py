"""Schema migrations (Alembic, bundled in ``tollway.storage.migrations``): ``upgrade`` at gateway start and by
``tollway db upgrade``; ``current`` and ``head`` for ``tollway db current``.

Alembic (with Mako and Pygments: 9-11 MB of a worker's memory, measured) is imported only when there is something
to do: a database already at ``migrations.HEAD`` is recognised by one plain query of ``alembic_version``. ``tollway
serve`` goes further (``prepare``): a database behind is migrated by a child process before the gateway starts, so
the serving processes never import Alembic at all.

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

from tollway.storage.migrations import HEAD

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncConnection

    from tollway.storage.database import Database

__all__ = [
    "HEAD",
    "MIGRATIONS_DIR",
    "MigrationError",
    "alembic_config",
    "at_head",
    "current",
    "head",
    "prepare",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# pg_advisory_xact_lock key: any constant unlikely to collide with an application's own advisory locks.
_PG_LOCK_KEY = 0x70_11_3A_7E
_LOCK_POLL_S = 0.02
# Whether Alembic's version table exists, per dialect (a missing table would fail the SELECT, and on PostgreSQL
# abort the transaction). to_regclass resolves the name through search_path, as Alembic's own queries do.
_VERSION_TABLE = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'",
    "postgresql": "SELECT to_regclass('alembic_version')",
}


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
    callers exactly one sees them differ. A database already at the latest revision returns ``(HEAD, HEAD)``
    without taking the lock or importing Alembic.
    """
    from sqlalchemy import func, select

    to_head = revision in ("head", HEAD)
    if to_head and await at_head(database):
        return HEAD, HEAD
    async with _file_lock(database.sqlite_path), database.write() as connection:
        if not database.is_sqlite:
            await connection.execute(select(func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
        # Checked again under the lock: a worker that waited for another's upgrade has nothing left to do, and
        # then need not import Alembic either.
        if to_head and await _recorded(connection) == [HEAD]:
            return HEAD, HEAD
        return await connection.run_sync(_upgrade, revision)


async def at_head(database: Database) -> bool:
    """Whether the database is at the latest revision, read with plain SQL (Alembic is not imported)."""
    async with database.read() as connection:
        return await _recorded(connection) == [HEAD]


async def _recorded(connection: AsyncConnection) -> list[str]:
    """The revisions in ``alembic_version`` (none for a database never migrated)."""
    from sqlalchemy import text

    exists = _VERSION_TABLE.get(connection.dialect.name)
    if exists is None:  # pragma: no cover - Database accepts SQLite and PostgreSQL only
        return []
    if (await connection.execute(text(exists))).scalar() is None:
        return []
    rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
    return [str(row[0]) for row in rows]


def prepare(url: str) -> str | None:
    """Before ``tollway serve`` starts: migrate the database at ``url`` when it is behind, in a child process
    (``tollway db upgrade``), so the gateway's own processes never load Alembic. Returns what the child reported,
    or None when there was nothing to do. Raises ``MigrationError`` when the upgrade fails; SQLAlchemy's or
    ``OSError`` when PostgreSQL cannot be reached.

    Called before any event loop runs. A SQLite file is read with the standard ``sqlite3`` module: aiosqlite's
    thread could outlive a short-lived event loop when the file cannot be opened. In-memory SQLite has nothing to
    prepare (each connection has its own database; the gateway migrates it in-process).
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        name = parsed.database
        if not name or name == ":memory:" or name.startswith("file:"):
            return None
        current = _sqlite_at_head(Path(name))
    else:
        import asyncio

        current = asyncio.run(_at_head_of(url))
    return None if current else _upgrade_in_child(url)


def _sqlite_at_head(path: Path) -> bool:
    """Whether the SQLite file at ``path`` is at ``HEAD``; False when it is missing or unreadable (the child's
    upgrade then creates it, or reports why it cannot)."""
    import sqlite3

    if not path.is_file():
        return False
    try:
        connection = sqlite3.connect(path)
        try:
            if connection.execute(_VERSION_TABLE["sqlite"]).fetchone() is None:
                return False
            rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        finally:
            connection.close()
    except sqlite3.Error:
        return False
    return [str(row[0]) for row in rows] == [HEAD]


async def _at_head_of(url: str) -> bool:
    from tollway.storage.database import Database

    database = Database(url, pool_size=1)
    try:
        return await at_head(database)
    finally:
        await database.aclose()


def _upgrade_in_child(url: str) -> str:
    import subprocess
    import sys

    # The URL goes through the environment, not argv: argv (and its password) is visible to every local user.
    env = {**os.environ, "DATABASE_URL": url}
    command = [sys.executable, "-m", "tollway.cli", "db", "upgrade"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        # The command's own one-line reason (never a password), else the last line of whatever it printed.
        reasons = [line for line in lines if line.startswith("tollway db upgrade:")] or lines[-1:]
        reason = reasons[-1] if reasons else f"exit status {done.returncode}"
        raise MigrationError(f"database migration failed: {reason}")
    return done.stdout.strip()


class MigrationError(Exception):
    """Migrating the database before the gateway starts failed (the message never contains a password)."""


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

"""The engine: which URL, SQLite's settings, safe error messages, and that ``import tollway`` loads no SQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from tollway.storage.database import (
    Database,
    DatabaseConfigError,
    DatabaseUnavailableError,
    chosen_url,
    database_url,
    normalize_url,
)


def test_default_url_is_a_sqlite_file_in_the_working_directory(tmp_path: Path) -> None:
    assert database_url({}, tmp_path) == f"sqlite+aiosqlite:///{tmp_path.resolve()}/tollway.db"
    assert database_url({"DATABASE_URL": "  "}, tmp_path).endswith("/tollway.db")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/app", "postgresql+asyncpg://u:p@db:5432/app"),
        ("postgresql://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("postgresql+asyncpg://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("postgresql://u@db/app?sslmode=require", "postgresql+asyncpg://u@db/app?ssl=require"),
        ("sqlite:////var/lib/tollway.db", "sqlite+aiosqlite:////var/lib/tollway.db"),
        ("sqlite:///relative.db", "sqlite+aiosqlite:///relative.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_database_url_is_normalised_to_an_async_driver(given: str, expected: str) -> None:
    assert normalize_url(given) == expected
    assert database_url({"DATABASE_URL": given}, "/ignored") == expected


def test_password_with_special_characters_survives_normalisation() -> None:
    assert normalize_url("postgresql://u:p%40ss%2Fw@db/app") == "postgresql+asyncpg://u:p%40ss%2Fw@db/app"


@pytest.mark.parametrize("url", ["mysql://root:hunter2@db/app", "postgresql+psycopg2://u:hunter2@db/app"])
def test_unsupported_drivers_are_refused_without_the_password(url: str) -> None:
    with pytest.raises(DatabaseConfigError, match="unsupported database URL scheme") as caught:
        normalize_url(url)
    assert "hunter2" not in str(caught.value)


def test_an_unparseable_url_is_refused_without_repeating_it() -> None:
    with pytest.raises(DatabaseConfigError) as caught:
        Database("not a url hunter2")
    assert "hunter2" not in str(caught.value)


async def test_unreachable_postgres_error_hides_the_password() -> None:
    import socket

    with socket.socket() as probe:  # a free port: nothing listens on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    database = Database(f"postgresql://tollway:hunter2@127.0.0.1:{port}/app", pool_timeout=2)
    assert "hunter2" not in repr(database)
    try:
        with pytest.raises(DatabaseUnavailableError) as caught:
            await database.ping()
    finally:
        await database.aclose()
    assert "hunter2" not in str(caught.value)
    assert f"postgresql+asyncpg://tollway:***@127.0.0.1:{port}/app" in str(caught.value)


def test_pool_size_comes_from_the_general_settings() -> None:
    database = Database.from_settings("postgresql://u@127.0.0.1/app", {"database_connection_pool_limit": 3})
    assert database.engine.pool.size() == 3  # type: ignore[attr-defined]
    assert Database.from_settings("postgresql://u@127.0.0.1/app", {}).engine.pool.size() == 10  # type: ignore[attr-defined]
    with pytest.raises(DatabaseConfigError, match="at least 1"):
        Database("postgresql://u@127.0.0.1/app", pool_size=0)


async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout_foreign_keys_and_a_small_page_cache(
    tmp_path: Path,
) -> None:
    database = Database(f"sqlite:///{tmp_path / 'x.db'}")
    assert database.is_sqlite
    assert database.dialect == "sqlite"
    assert database.sqlite_path == tmp_path / "x.db"
    try:
        async with database.read() as connection:
            pragmas = [
                (await connection.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys", "cache_size", "synchronous")
            ]
    finally:
        await database.aclose()
    assert pragmas == ["wal", 5000, 1, -512, 1]  # synchronous 1: NORMAL


async def test_postgres_database_pings(database: Database) -> None:
    await database.ping()
    assert database.dialect in ("sqlite", "postgresql")
    assert database.is_sqlite == (database.dialect == "sqlite")


async def test_concurrent_sqlite_read_then_write_transactions_all_commit(tmp_path: Path) -> None:
    # A deferred SQLite transaction that reads and then writes fails at once with SQLITE_BUSY when another
    # connection committed in between; write() begins IMMEDIATE, so these wait their turn instead.
    databases = [Database(f"sqlite:///{tmp_path / 'x.db'}") for _ in range(4)]
    try:
        async with databases[0].write() as connection:
            await connection.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
            await connection.execute(text("INSERT INTO counter VALUES (0)"))

        async def increment(database: Database) -> None:
            for _ in range(10):
                async with database.write() as connection:
                    n = (await connection.execute(text("SELECT n FROM counter"))).scalar_one()
                    await asyncio.sleep(0)
                    await connection.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

        await asyncio.gather(*(increment(database) for database in databases))
        async with databases[0].read() as connection:
            assert (await connection.execute(text("SELECT n FROM counter"))).scalar_one() == 40
    finally:
        for database in databases:
            await database.aclose()


def test_import_tollway_loads_no_storage_module() -> None:
    code = (
        "import sys, tollway, tollway.cli; "
        "loaded = [m for m in sys.modules if m.startswith(('tollway.storage.', 'sqlalchemy', 'alembic', 'asyncpg'))]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_command_uses_the_url_it_was_given_else_the_environment(tmp_path: Path) -> None:
    assert chosen_url("postgres://u@db/t", {"DATABASE_URL": "sqlite:///other.db"}, tmp_path) == (
        "postgresql+asyncpg://u@db/t"
    )
    assert chosen_url(None, {"DATABASE_URL": "sqlite:///other.db"}, tmp_path) == "sqlite+aiosqlite:///other.db"
    assert chosen_url("", {}, tmp_path) == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'tollway.db'}"

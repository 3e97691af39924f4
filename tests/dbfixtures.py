"""Database fixtures for every store test: the same test runs on SQLite and on the real PostgreSQL.

``database_url`` is parametrized over ``sqlite`` (a file in ``tmp_path``) and ``postgresql`` (a fresh database
``tollway_test_<uuid>`` on the server at ``TOLLWAY_TEST_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/test``, dropped after the test). ``database`` is a migrated ``Database`` on it.

PostgreSQL unreachable: the PostgreSQL half skips with a message naming what to start, except under CI (``CI`` set),
where it fails, so CI can never skip it silently. Loaded by ``pytest_plugins`` in ``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tollway.storage.database import Database

POSTGRES_URL = os.environ.get("TOLLWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

__all__ = ["POSTGRES_URL", "database", "database_url", "postgres_admin_url"]


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _asyncpg_dsn(url: str) -> str:
    """asyncpg takes libpq URLs: drop a SQLAlchemy driver suffix such as ``+asyncpg``."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def _with_database(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(_asyncpg_dsn(url), timeout=3)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The test PostgreSQL server's URL (its ``test`` database); skips (fails under CI) when it is unreachable."""
    try:
        # In a thread of its own: this may be set up from inside a running event loop (an async fixture).
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, _admin(POSTGRES_URL, "SELECT 1")).result()
    except (OSError, TimeoutError) as exc:
        message = (
            f"PostgreSQL is unreachable at {POSTGRES_URL} ({exc}); start it on 127.0.0.1:5432 with trust auth "
            "(e.g. `docker run -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=test postgres:16`), "
            "or point TOLLWAY_TEST_POSTGRES_URL at one"
        )
        if _under_ci():
            pytest.fail(f"CI is set, so the PostgreSQL tests must run: {message}", pytrace=False)
        pytest.skip(message)
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL of an empty database of its own: a SQLite file, or a PostgreSQL database dropped after the test."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'tollway.db'}"
        return
    admin_url = request.getfixturevalue("postgres_admin_url")
    name = f"tollway_test_{uuid.uuid4().hex}"
    await _admin(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(admin_url, name)
    finally:
        await _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated ``Database`` on ``database_url`` (closed after the test)."""
    from tollway.storage.database import Database
    from tollway.storage.migrate import upgrade

    db = Database(database_url)
    try:
        await upgrade(db)
        yield db
    finally:
        await db.aclose()

"""The database engine: which URL, one ``AsyncEngine`` per process, and the store's error classes.

``DATABASE_URL`` picks the database (``postgres://`` and ``postgresql://`` URLs use asyncpg; ``sqlite:///file``
uses aiosqlite); without it the gateway keeps a SQLite file ``tollway.db`` in its working directory.

SQLite runs in WAL mode (readers never wait for the writer) with a 5 s busy timeout, foreign keys on and a page cache
of 512 KiB per connection (``SQLITE_CACHE_KIB``; SQLite's default is 2 MiB). Its
transactions are begun explicitly: ``read()`` with a plain ``BEGIN`` and ``write()`` with ``BEGIN IMMEDIATE``, which
takes the write lock at once. A deferred transaction that reads and then writes fails with ``SQLITE_BUSY`` without
waiting when another connection committed in between (WAL snapshots cannot be upgraded), so every store
transaction that writes uses ``write()``.

A URL's password never appears in an error or a log line: they show ``URL.render_as_string(hide_password=True)``.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import URL
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = [
    "DEFAULT_POOL_SIZE",
    "ConflictError",
    "Database",
    "DatabaseConfigError",
    "DatabaseUnavailableError",
    "RecordNotFoundError",
    "StoreError",
    "chosen_url",
    "database_errors",
    "database_url",
    "error_reason",
    "normalize_url",
]

DEFAULT_POOL_SIZE = 10  # LiteLLM's default general_settings.database_connection_pool_limit
SQLITE_BUSY_TIMEOUT_MS = 5000
# Page cache per connection. Each aiosqlite connection's cache lives in its own thread's malloc arena, which keeps
# the pages it once held: SQLite's default (2 MiB each) was ~3 MB of a gateway worker's RSS after 8 s of load
# (bench/gateway.py --store sqlite), 512 KiB costs none of its throughput there. A reader connection's cache is
# emptied anyway whenever another connection commits (WAL), i.e. after every spend batch; evicted pages come back
# from the OS page cache.
SQLITE_CACHE_KIB = 512
_WRITE_OPTION = "tollway_write"  # execution option: begin this SQLite transaction with BEGIN IMMEDIATE
_DRIVERS = {"postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}
_SUPPORTED = frozenset({"postgresql+asyncpg", "sqlite+aiosqlite"})


class StoreError(Exception):
    """Base class of the store's errors."""


class DatabaseConfigError(StoreError):
    """The database URL or a database setting is unusable (the message never contains a password)."""


class DatabaseUnavailableError(StoreError):
    """The database cannot be reached (the message names it without its password)."""


class ConflictError(StoreError):
    """A row with the same unique value already exists; ``field`` names the value (``key_alias``, ``customer_id``)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class RecordNotFoundError(StoreError, LookupError):
    """The row an update, block or delete names does not exist."""

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident!r} not found")
        self.kind = kind
        self.ident = ident


def database_url(environ: Mapping[str, str], cwd: str | os.PathLike[str]) -> str:
    """``DATABASE_URL`` (normalised to an async driver), else a SQLite file ``tollway.db`` in ``cwd``."""
    configured = environ.get("DATABASE_URL", "").strip()
    if configured:
        return normalize_url(configured)
    return f"sqlite+aiosqlite:///{Path(cwd).resolve() / 'tollway.db'}"


def chosen_url(given: str | None, environ: Mapping[str, str], cwd: str | os.PathLike[str]) -> str:
    """The store a command works on: the URL it was given (``--database-url``, or a configuration's), normalised,
    else ``database_url(environ, cwd)``."""
    return normalize_url(given) if given else database_url(environ, cwd)


def normalize_url(url: str) -> str:
    """Give a libpq-style or plain SQLite URL the async driver tollway uses.

    ``postgres://`` / ``postgresql://`` become ``postgresql+asyncpg://`` (libpq's ``sslmode`` query parameter
    becomes asyncpg's ``ssl``); ``sqlite:///x`` becomes ``sqlite+aiosqlite:///x``. Other drivers are refused.
    """
    parsed = _parse(url)
    scheme = parsed.drivername
    scheme = _DRIVERS.get(scheme, scheme)
    if scheme not in _SUPPORTED:
        raise DatabaseConfigError(
            f"unsupported database URL scheme {parsed.drivername!r}: use postgresql://... or sqlite:///path"
        )
    parsed = parsed.set(drivername=scheme)
    if scheme == "postgresql+asyncpg" and "sslmode" in parsed.query:
        query = dict(parsed.query)
        query["ssl"] = query.pop("sslmode")
        parsed = parsed.set(query=query)
    return parsed.render_as_string(hide_password=False)


def _parse(url: str) -> URL:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        # SQLAlchemy's message repeats the whole string, password included.
        raise DatabaseConfigError(
            "the database URL is not a valid URL (expected postgresql://... or sqlite:///path)"
        ) from None


class Database:
    """The process's engine for one database: a pool of connections and the dialect-specific setup.

    ``pool_size`` is PostgreSQL's connection limit per process (``general_settings.database_connection_pool_limit``);
    ``pool_timeout`` the seconds to wait for a free connection (``database_connection_timeout``).
    """

    def __init__(self, url: str, *, pool_size: int = DEFAULT_POOL_SIZE, pool_timeout: float = 60.0) -> None:
        from sqlalchemy import event
        from sqlalchemy.ext.asyncio import create_async_engine

        parsed = _parse(normalize_url(url))
        if pool_size < 1:
            raise DatabaseConfigError("database_connection_pool_limit must be at least 1")
        self._url = parsed
        self.safe_url = parsed.render_as_string(hide_password=True)
        self.dialect = parsed.get_backend_name()
        self.is_sqlite = self.dialect == "sqlite"
        if self.is_sqlite:
            self._engine = create_async_engine(parsed)
            event.listen(self._engine.sync_engine, "connect", _sqlite_connect)
            event.listen(self._engine.sync_engine, "begin", _sqlite_begin)
        else:
            self._engine = create_async_engine(
                parsed, pool_size=pool_size, max_overflow=0, pool_timeout=pool_timeout, pool_pre_ping=True
            )

    @classmethod
    def from_settings(cls, url: str, settings: Mapping[str, Any]) -> Database:
        """A Database sized by a gateway config's settings (``database_connection_pool_limit``, ``..._timeout``)."""
        pool_size = settings.get("database_connection_pool_limit")
        timeout = settings.get("database_connection_timeout")
        return cls(
            url,
            pool_size=DEFAULT_POOL_SIZE if pool_size is None else int(pool_size),
            pool_timeout=60.0 if timeout is None else float(timeout),
        )

    def __repr__(self) -> str:
        return f"Database({self.safe_url!r})"

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy ``AsyncEngine`` (prefer ``read()`` and ``write()``, which begin SQLite correctly)."""
        return self._engine

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite database file, or None (PostgreSQL, or an in-memory SQLite database)."""
        name = self._url.database
        if not self.is_sqlite or not name or name == ":memory:" or name.startswith("file:"):
            return None
        return Path(name)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction for reads (committed at the end; rolled back on an error)."""
        async with self._engine.connect() as connection, connection.begin():
            yield connection

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction that writes: it holds SQLite's write lock from its start."""
        async with self._engine.connect() as connection:
            await connection.execution_options(**{_WRITE_OPTION: True})
            async with connection.begin():
                yield connection

    async def ping(self) -> None:
        """Run ``SELECT 1``; DatabaseUnavailableError (naming the database, never its password) when it fails."""
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError, InterfaceError

        try:
            async with self._engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (DBAPIError, InterfaceError, OSError) as error:
            raise DatabaseUnavailableError(
                f"cannot reach the database {self.safe_url}: {error_reason(error)}"
            ) from None

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._engine.dispose()


def database_errors() -> tuple[type[BaseException], ...]:
    """What a store call raises when the database is unreachable.

    A function, for ``except database_errors():`` clauses (evaluated only once something was raised): importing
    SQLAlchemy when the routes are built would cost a gateway without a database ~16 MB.
    """
    from sqlalchemy.exc import InterfaceError, OperationalError

    return (OperationalError, InterfaceError, DatabaseUnavailableError, OSError)


def error_reason(error: BaseException) -> str:
    """A one-line reason without SQLAlchemy's statement/parameter dump (and so without anything from the URL)."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return f"{type(original).__name__}: {text[0]}" if text else type(original).__name__


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # isolation_level None stops the driver from issuing its own deferred BEGIN; _sqlite_begin issues ours.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _journal_in_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL + synchronous=NORMAL is durable against a process crash (kill -9); only power loss may lose the tail.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")  # negative: KiB, not pages
    finally:
        cursor.close()


def _journal_in_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, retried while the file is locked, up to the busy timeout.

    Switching a new file to WAL needs its exclusive lock, and SQLite answers "database is locked" at once instead
    of calling the busy handler; connections opening a new store together (``--workers N`` checking its schema at
    start) hit that (tests/storage/test_store_migrate_head.py, about one run in ten). The mode is kept in the file,
    so this happens only while a new file is first opened.
    """
    import sqlite3

    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def _sqlite_begin(connection: Any) -> None:
    immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

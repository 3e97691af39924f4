"""``tollway db upgrade`` and ``tollway db current``: migrate the gateway's database, or show its revision.

The database is ``--database-url``, else the ``--config`` file's (``general_settings.database_url``), else
``DATABASE_URL``, else ``./tollway.db``: the one ``tollway serve`` would use. Wiring into ``tollway.cli`` follows
``config_cli``: ``add_db_commands(commands)``, and ``main`` returns ``args.handler(args)`` for ``db``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["add_db_commands", "run_current", "run_upgrade"]


def add_db_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``db upgrade`` and ``db current`` to ``subparsers`` (what ``add_subparsers()`` returned)."""
    db = subparsers.add_parser("db", help="the gateway's database: apply migrations, show the schema revision")
    actions = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = actions.add_parser("upgrade", help="apply every pending migration (what `tollway serve` does at start)")
    current = actions.add_parser("current", help="print the database's schema revision and the latest one")
    for action, handler in ((upgrade, run_upgrade), (current, run_current)):
        action.add_argument("--database-url", help="default: the config's database_url, DATABASE_URL, ./tollway.db")
        action.add_argument("--config", help="a tollway or LiteLLM config.yaml to read database_url from")
        action.set_defaults(handler=handler)
    parser: argparse.ArgumentParser = db
    return parser


def run_upgrade(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """Migrate to the latest revision; 0 on success, 1 (and why, without secrets) when it fails."""
    return _run(args, environ, _upgrade)


def run_current(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """Print ``<revision> (head)``, ``<revision> (head is <head>)`` or ``none (head is <head>)``."""
    return _run(args, environ, _current)


def _run(args: argparse.Namespace, environ: Mapping[str, str] | None, action: Any) -> int:
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from tollway.errors import ConfigurationError
    from tollway.storage.database import Database, StoreError, error_reason

    environ = os.environ if environ is None else environ
    command = f"tollway db {args.db_command}"
    try:
        database = Database(_url(args, environ))
    except (StoreError, ConfigurationError) as error:
        print(f"{command}: {error}", file=sys.stderr)
        return 1
    try:
        message: str = asyncio.run(action(database))
    except (StoreError, SQLAlchemyError, CommandError, OSError) as error:
        print(f"{command}: {database.safe_url}: {error_reason(error)}", file=sys.stderr)
        return 1
    print(message)
    return 0


def _url(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    from tollway.storage.database import database_url, normalize_url

    if args.database_url:
        return normalize_url(args.database_url)
    if args.config:
        from tollway.proxy.config import load_config

        configured = load_config(args.config, environ).database_url
        if configured:
            return normalize_url(configured)
    return database_url(environ, os.getcwd())


async def _upgrade(database: Any) -> str:
    from tollway.storage.migrate import upgrade

    try:
        before, after = await upgrade(database)
    finally:
        await database.aclose()
    if before == after:
        return f"{database.safe_url}: already at revision {after}"
    return f"{database.safe_url}: upgraded from {before or 'an empty database'} to revision {after}"


async def _current(database: Any) -> str:
    from tollway.storage.migrate import current, head

    try:
        revision = await current(database)
    finally:
        await database.aclose()
    latest = head()
    state = "(head)" if revision == latest else f"(head is {latest})"
    return f"{database.safe_url}: {revision or 'none'} {state}"

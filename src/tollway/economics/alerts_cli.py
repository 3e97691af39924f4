"""``tollway alerts check [--config FILE] [--database-url URL] [--format table|json]``: evaluate every enabled alert
rule once, send what fires (deduplicated against what the gateway already sent: the same store, the same dedupe
keys), and print the events sent.

The database is ``--database-url``, else the config's ``database_url``, else ``DATABASE_URL``, else ``./tollway.db``
(migrated first). Delivery settings and the SMTP server come from the config's ``general_settings`` (see
``tollway.economics.alerts_engine``). Budget spend is read from the persisted counters, which the gateway's spend
writer keeps up to date within its flush interval (half a second by default). Exit status 0, or 1 with the reason.
Wiring into ``tollway.cli``: ``add_alerts_commands``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tollway.economics.alerts_engine import AlertSettings
    from tollway.storage.database import Database

__all__ = ["add_alerts_commands", "run_check"]


def add_alerts_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``alerts check`` to ``subparsers`` (what ``add_subparsers()`` returned)."""
    alerts = subparsers.add_parser("alerts", help="alert rules: evaluate them once")
    actions = alerts.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="evaluate every enabled rule once and send what fires")
    check.add_argument("--config", help="a gateway config.yaml (general_settings: SMTP server, delivery settings)")
    check.add_argument("--database-url", help="default: the config's, else DATABASE_URL, else ./tollway.db")
    check.add_argument("--format", choices=("table", "json"), default="table", help="default table")
    check.set_defaults(handler=run_check)
    parser: argparse.ArgumentParser = alerts
    return parser


def _fail(message: str) -> int:
    print(f"tollway alerts check: {message}", file=sys.stderr)
    return 1


def _setup(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[str, AlertSettings]:
    """The database URL and the alert settings; ValueError (or the config loader's error) saying what is wrong."""
    from tollway.economics.alerts_engine import AlertSettings
    from tollway.storage.database import chosen_url

    settings: Mapping[str, Any] = {}
    url = args.database_url
    if args.config:
        from tollway.proxy.config import load_config

        config = load_config(args.config, environ)
        settings = config.settings
        url = url or config.database_url
    return chosen_url(url, environ, os.getcwd()), AlertSettings.from_config(settings)


def run_check(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """Evaluate once and print the events sent; 0 on success, 1 with the reason otherwise."""
    import orjson
    from sqlalchemy.exc import SQLAlchemyError

    from tollway.errors import ConfigurationError
    from tollway.storage.database import Database, StoreError, error_reason

    try:
        url, settings = _setup(args, os.environ if environ is None else environ)
        events = asyncio.run(_check(Database(url), settings))
    except (StoreError, ConfigurationError, ValueError) as error:
        return _fail(str(error))
    except (SQLAlchemyError, OSError) as error:
        return _fail(error_reason(error))
    if args.format == "json":
        sys.stdout.write(orjson.dumps({"events": events}, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    for event in events:
        subject = event["subject"]
        who = f"{subject['kind']} {subject['id']}" if subject.get("id") is not None else subject["kind"]
        sys.stdout.write(f"{event['status']:<10} {event['rule_name']}: {who}: {event['title']}\n")
    sys.stdout.write(f"{len(events)} alert{'s' if len(events) != 1 else ''} sent\n")
    return 0


async def _check(database: Database, settings: AlertSettings) -> list[dict[str, Any]]:
    from tollway.economics.alerts_engine import AlertEngine
    from tollway.storage.migrate import upgrade
    from tollway.storage.spend_store import SpendStore

    try:
        await upgrade(database)
        engine = AlertEngine(database, spent=SpendStore(database).counter, settings=settings)
        events = []
        for event_id in await engine.run_once():
            event = await engine.store.event(event_id)
            if event is not None:
                events.append(event)
        return events
    finally:
        await database.aclose()

"""``tollway revenue import FILE.csv`` and ``tollway revenue sync-stripe --start DATE --end DATE``.

The database is ``--database-url``, else ``DATABASE_URL``, else ``./tollway.db`` (the one ``tollway serve`` uses);
it is migrated to the latest schema first, as ``tollway serve`` does at start. Both commands are idempotent and all
or nothing: an import validates every row before writing any (exit 1 listing each bad line), and re-running either
records nothing new. Each run that records something writes one audit row (``revenue.import`` /
``revenue.sync_stripe``, actor ``cli``). Wiring into ``tollway.cli`` follows ``db_cli``: ``add_revenue_commands``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tollway.economics.revenue import RevenueRecord
    from tollway.storage.database import Database

__all__ = ["add_revenue_commands", "run_import", "run_sync_stripe"]

ACTOR = "cli"


def add_revenue_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``revenue import`` and ``revenue sync-stripe`` to ``subparsers`` (what ``add_subparsers()`` returned)."""
    revenue = subparsers.add_parser("revenue", help="customer revenue: import a CSV file, sync paid Stripe invoices")
    actions = revenue.add_subparsers(dest="revenue_command", metavar="ACTION", required=True)
    importing = actions.add_parser(
        "import",
        help="record the rows of a CSV file (header: customer_id, amount, currency, date or period_start and "
        "period_end, external_id[, source][, kind])",
    )
    importing.add_argument("file", help="the CSV file (UTF-8)")
    importing.add_argument("--source", default="csv", help="the source of rows without a source column (default csv)")
    importing.set_defaults(handler=run_import)
    sync = actions.add_parser("sync-stripe", help="record paid Stripe invoices and refunds (STRIPE_API_KEY)")
    sync.add_argument("--start", required=True, help="first day, YYYY-MM-DD (UTC)")
    sync.add_argument("--end", required=True, help="last day, YYYY-MM-DD (UTC, included)")
    sync.add_argument("--api-base", help="Stripe's API address (default https://api.stripe.com)")
    sync.set_defaults(handler=run_sync_stripe)
    for action in (importing, sync):
        action.add_argument("--database-url", help="default: DATABASE_URL, else ./tollway.db")
    parser: argparse.ArgumentParser = revenue
    return parser


def _fail(command: str, lines: Sequence[str]) -> int:
    for line in lines:
        print(f"tollway revenue {command}: {line}", file=sys.stderr)
    return 1


Gather = Callable[["Database"], Awaitable[tuple[list["RevenueRecord"], list[str]]]]


def run_import(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """Import ``args.file``: 0 when every row is recorded (or was already), 1 with every problem otherwise."""
    from tollway.economics.revenue import InvalidRevenueCsvError, parse_csv

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return _fail("import", [f"cannot read {path}: {error}"])
    try:
        records = parse_csv(text, source=args.source, created_by=ACTOR)
    except InvalidRevenueCsvError as error:
        count = len(error.problems)
        header = f"{path}: {count} problem{'s' if count != 1 else ''}, nothing recorded"
        return _fail("import", [header, *(str(problem) for problem in error.problems)])

    async def gather(database: Database) -> tuple[list[RevenueRecord], list[str]]:
        return records, []

    return _record("import", args, environ, gather, note=f"file {path.name}", what=f"{path}: {len(records)} rows")


def run_sync_stripe(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """Sync paid invoices and refunds of ``--start``..``--end``; 0 on success (unmapped customers are reported)."""
    import stripe

    from tollway.economics.stripe_sync import describe_left_out, fetch_stripe, mapped_records

    environ = os.environ if environ is None else environ
    api_key = environ.get("STRIPE_API_KEY", "").strip()
    if not api_key:
        return _fail("sync-stripe", ["set STRIPE_API_KEY (a restricted key that can read invoices and refunds)"])
    try:
        start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    except ValueError:
        return _fail("sync-stripe", ["--start and --end must be dates, YYYY-MM-DD"])
    if end < start:
        return _fail("sync-stripe", ["--end is before --start"])
    try:
        objects = fetch_stripe(api_key, start, end, api_base=args.api_base)
    except stripe.StripeError as error:
        return _fail("sync-stripe", [f"Stripe: {error.user_message or error}"])

    async def gather(database: Database) -> tuple[list[RevenueRecord], list[str]]:
        records, report = await mapped_records(database, objects, created_by=ACTOR)
        return records, list(describe_left_out(report))

    note = f"stripe {start.isoformat()}..{end.isoformat()}"
    counted = f"stripe: {len(objects.invoices)} paid invoices, {len(objects.refunds)} refunds"
    return _record("sync-stripe", args, environ, gather, note=note, what=counted)


def _record(
    command: str, args: argparse.Namespace, environ: Mapping[str, str] | None, gather: Gather, *, note: str, what: str
) -> int:
    """Open and migrate the database, record what ``gather`` gives, audit the run, print a summary."""
    from sqlalchemy.exc import SQLAlchemyError

    from tollway.errors import ConfigurationError
    from tollway.storage.database import Database, StoreError, error_reason
    from tollway.storage.revenue_store import RevenueConflictError

    environ = os.environ if environ is None else environ
    try:
        database = Database(_url(args, environ))
    except (StoreError, ConfigurationError) as error:
        return _fail(command, [str(error)])
    action = f"revenue.{command.replace('-', '_')}"
    try:
        new, old, lines = asyncio.run(_write(database, gather, action, note))
    except RevenueConflictError as error:
        return _fail(command, ["already recorded with other values; nothing recorded:", *map(_clash, error.conflicts)])
    except (StoreError, SQLAlchemyError, OSError) as error:
        return _fail(command, [f"{database.safe_url}: {error_reason(error)}"])
    print(f"{what}: {new} new, {old} already recorded")
    for line in lines:
        print(line)
    return 0


def _clash(pair: tuple[RevenueRecord, RevenueRecord]) -> str:
    new, old = pair
    return (
        f"{new.source}:{new.external_id} is {_money(old)} for {old.customer_id}, "
        f"now {_money(new)} for {new.customer_id}"
    )


def _money(record: RevenueRecord) -> str:
    from tollway.governance.records import money_str

    return f"{record.kind} {money_str(record.amount)} {record.currency} {record.period_start}..{record.period_end}"


async def _write(database: Database, gather: Gather, action: str, note: str) -> tuple[int, int, list[str]]:
    from tollway.storage.audit import AuditLog
    from tollway.storage.migrate import upgrade
    from tollway.storage.revenue_store import RevenueStore

    try:
        await upgrade(database)
        records, lines = await gather(database)
        added = await RevenueStore(database).add_many(records)
        new = sum(1 for _, created in added if created)
        if new:
            after = {"created": new, "already_recorded": len(added) - new}
            await AuditLog(database).append(ACTOR, action, "revenue", None, after=after, note=note)
        return new, len(added) - new, lines
    finally:
        await database.aclose()


def _url(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    from tollway.storage.database import chosen_url

    return chosen_url(args.database_url, environ, os.getcwd())

"""``tollway report margin --start DATE --end DATE [--group-by customer|feature|model|day] [--customer ID]
[--currency USD] [--format table|csv|json] [--database-url URL]``: the margin report (``tollway.economics.margin``)
printed as an aligned table (default), CSV or JSON.

The database is ``--database-url``, else ``DATABASE_URL``, else ``./tollway.db`` (as ``tollway revenue``); it is
migrated to the latest schema first. Wiring into ``tollway.cli`` follows ``revenue_cli``: ``add_report_commands``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tollway.economics.margin import Grouping, MarginReport
    from tollway.storage.database import Database

__all__ = ["add_report_commands", "run_margin"]


def add_report_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``report margin`` to ``subparsers`` (what ``add_subparsers()`` returned)."""
    from tollway.economics.margin import GROUPINGS

    report = subparsers.add_parser("report", help="economics reports: margin per customer")
    kinds = report.add_subparsers(dest="report_command", metavar="REPORT", required=True)
    margin = kinds.add_parser("margin", help="revenue, cost and margin per customer, least profitable first")
    margin.add_argument("--start", required=True, help="first day, YYYY-MM-DD (UTC)")
    margin.add_argument("--end", required=True, help="last day, YYYY-MM-DD (UTC, included)")
    margin.add_argument("--group-by", choices=GROUPINGS, default="customer", help="default customer")
    margin.add_argument("--customer", help="only this customer")
    margin.add_argument("--currency", default="USD", help="the report's currency (default USD)")
    margin.add_argument("--format", choices=("table", "csv", "json"), default="table", help="default table")
    margin.add_argument("--database-url", help="default: DATABASE_URL, else ./tollway.db")
    margin.set_defaults(handler=run_margin)
    parser: argparse.ArgumentParser = report
    return parser


def _url(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    from tollway.storage.database import chosen_url

    return chosen_url(args.database_url, environ, os.getcwd())


def _fail(message: str) -> int:
    print(f"tollway report margin: {message}", file=sys.stderr)
    return 1


def _period(args: argparse.Namespace) -> tuple[date, date, str] | str:
    """(start, end, currency) from the arguments, or what is wrong with them."""
    from tollway.economics.currencies import is_currency
    from tollway.economics.margin import check_currency

    try:
        start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    except ValueError:
        return "--start and --end must be dates, YYYY-MM-DD"
    if end < start:
        return "--end is before --start"
    currency = args.currency.upper()
    if not is_currency(currency):
        return f"unknown currency {args.currency!r}"
    try:
        check_currency(currency)
    except ValueError as error:
        return str(error)
    return start, end, currency


def run_margin(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """Print the report; 0 on success, 1 with the reason otherwise."""
    from sqlalchemy.exc import SQLAlchemyError

    from tollway.economics.margin_render import to_csv, to_table
    from tollway.economics.report_output import write_report
    from tollway.errors import ConfigurationError
    from tollway.storage.database import Database, StoreError, error_reason

    period = _period(args)
    if isinstance(period, str):
        return _fail(period)
    start, end, currency = period
    environ = os.environ if environ is None else environ
    try:
        database = Database(_url(args, environ))
        report = asyncio.run(
            _report(database, start, end, group_by=args.group_by, currency=currency, customer_id=args.customer)
        )
    except (StoreError, ConfigurationError, ValueError) as error:
        return _fail(str(error))
    except (SQLAlchemyError, OSError) as error:
        return _fail(error_reason(error))
    write_report(report, args.format, to_csv, to_table)
    return 0


async def _report(
    database: Database, start: date, end: date, *, group_by: Grouping, currency: str, customer_id: str | None
) -> MarginReport:
    from tollway.storage.margin_queries import margin_of
    from tollway.storage.migrate import upgrade

    try:
        await upgrade(database)
        return await margin_of(database, start, end, group_by=group_by, currency=currency, customer_id=customer_id)
    finally:
        await database.aclose()

"""``tollway export run|status|retry``: the billing export from the command line (the gateway runs it by itself).

- ``tollway export run --config FILE [--once]``: export with ``general_settings.billing_export`` of FILE; ``--once``
  stops when caught up (exit 1 if an exporter stopped on an error), else it runs until interrupted. Safe beside a
  running gateway: the lease lets one of them export at a time (the other says so and waits).
- ``tollway export status``: each exporter's cursor, counts, lease and last error, and the failures recorded.
- ``tollway export retry --config FILE [--exporter NAME] [--reason R ...] [--limit N]``: send again what was
  recorded as not exported (``tollway.economics.export_retry``).

The database is ``--database-url``, else the config's ``database_url``, else ``DATABASE_URL``, else
``./tollway.db``; it is migrated first, as ``tollway serve`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tollway.economics.export_runner import BillingExport, StepReport
    from tollway.economics.export_settings import ExportSettings
    from tollway.proxy.gateway_config import GatewayConfig
    from tollway.storage.database import Database

__all__ = ["add_export_commands", "describe_step", "run_export", "run_retry", "run_status"]

Loader = Callable[[str, Mapping[str, str]], "GatewayConfig"]


def add_export_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``export run|status|retry`` to ``subparsers`` (what ``add_subparsers()`` returned)."""
    export = subparsers.add_parser("export", help="billing export: Stripe meter events, CloudEvents")
    actions = export.add_subparsers(dest="export_command", metavar="ACTION", required=True)
    run = actions.add_parser("run", help="export usage now (general_settings.billing_export of --config)")
    run.add_argument("--once", action="store_true", help="stop when caught up instead of running on")
    run.set_defaults(handler=run_export)
    status = actions.add_parser("status", help="each exporter's progress, last error and recorded failures")
    status.set_defaults(handler=run_status)
    retry = actions.add_parser("retry", help="send again what was recorded as not exported")
    retry.add_argument("--exporter", default="stripe", help="stripe (default) or cloudevents")
    retry.add_argument("--reason", action="append", help="only failures of this reason (repeatable)")
    retry.add_argument("--limit", type=int, default=1000, help="at most this many failures (default 1000)")
    retry.set_defaults(handler=run_retry)
    for action in (run, retry):
        action.add_argument("--config", required=True, help="the gateway's config file")
    for action in (run, status, retry):
        action.add_argument("--database-url", help="default: the config's, else DATABASE_URL, else ./tollway.db")
    parser: argparse.ArgumentParser = export
    return parser


def _fail(command: str, message: str) -> int:
    print(f"tollway export {command}: {message}", file=sys.stderr)
    return 1


def _settings(
    args: argparse.Namespace, environ: Mapping[str, str], loader: Loader | None
) -> tuple[ExportSettings, str]:
    """The export settings and database URL of ``--config`` (ValueError with a message for people)."""
    from tollway.economics.export_settings import ExportSettings
    from tollway.errors import ConfigurationError
    from tollway.proxy.config import load_config

    try:
        config = (loader or load_config)(args.config, environ)
    except ConfigurationError as error:
        raise ValueError(str(error)) from None
    env = {**environ, **config.environment}
    settings = ExportSettings.from_config(config.settings, env)
    if settings is None:
        raise ValueError(f"{args.config} has no general_settings.billing_export")
    return settings, _url(args, env, config.database_url)


def _url(args: argparse.Namespace, environ: Mapping[str, str], configured: str | None = None) -> str:
    from tollway.storage.database import chosen_url

    return chosen_url(args.database_url or configured, environ, os.getcwd())


def run_export(args: argparse.Namespace, environ: Mapping[str, str] | None = None, loader: Loader | None = None) -> int:
    """``export run``: 0 when every exporter is caught up (or ran until interrupted), 1 on an error."""
    environ = os.environ if environ is None else environ
    try:
        settings, url = _settings(args, environ, loader)
    except ValueError as error:
        return _fail("run", str(error))

    async def work(export: BillingExport) -> int:
        if not args.once:
            export.start()
            await asyncio.Event().wait()  # until Ctrl-C
        reports = await export.run_once()
        for name, report in reports.items():
            print(f"{name}: {describe_step(report)}")
        return 1 if any(r.error is not None or not r.claimed for r in reports.values()) else 0

    return _with_export("run", url, settings, work)


def run_retry(args: argparse.Namespace, environ: Mapping[str, str] | None = None, loader: Loader | None = None) -> int:
    """``export retry``: 0 when nothing is left to retry, 1 when failures remain or sending stopped."""
    environ = os.environ if environ is None else environ
    if not 1 <= args.limit <= 100_000:
        return _fail("retry", "--limit must be 1 to 100000")
    try:
        settings, url = _settings(args, environ, loader)
    except ValueError as error:
        return _fail("retry", str(error))
    if args.exporter not in settings.exporters:
        return _fail("retry", f"no {args.exporter} exporter is configured ({', '.join(settings.exporters)} is)")

    async def work(export: BillingExport) -> int:
        report = await export.retry(args.exporter, reasons=args.reason, limit=args.limit)
        left = ", ".join(f"{count} {reason}" for reason, count in sorted(report.left.items())) or "none"
        print(f"{args.exporter}: {report.sent} events sent again, {report.delivered} delivered; left: {left}")
        if report.error:
            print(f"{args.exporter}: stopped: {report.error}")
        return 1 if report.error or report.left else 0

    return _with_export("retry", url, settings, work)


def _with_export(command: str, url: str, settings: ExportSettings, work: Callable[[BillingExport], Any]) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from tollway.storage.database import Database, StoreError, error_reason

    try:
        database = Database(url)
    except StoreError as error:
        return _fail(command, str(error))
    try:
        status: int = asyncio.run(_open_and(database, settings, work))
    except (StoreError, SQLAlchemyError, OSError) as error:
        return _fail(command, f"{database.safe_url}: {error_reason(error)}")
    except KeyboardInterrupt:
        return 0
    return status


async def _open_and(database: Database, settings: ExportSettings, work: Callable[[BillingExport], Any]) -> int:
    from tollway.economics.export_runner import BillingExport
    from tollway.storage.migrate import upgrade

    try:
        await upgrade(database)
        export = BillingExport(settings, database)
        try:
            status: int = await work(export)
            return status
        finally:
            await export.aclose()
    finally:
        await database.aclose()


def describe_step(report: StepReport) -> str:
    """A run's report as one line for people."""
    if not report.claimed:
        return "another instance holds the lease (a running gateway exports); nothing done"
    line = (
        f"{report.done} rows exported ({report.delivered} events delivered, {report.rejected} refused, "
        f"{report.skipped} rows skipped, {report.unattributed} without a customer, {report.empty} with nothing to bill)"
    )
    return f"{line}; stopped: {report.error}" if report.error else line


def run_status(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """``export status``: print every exporter's cursor and the failures recorded."""
    from sqlalchemy.exc import SQLAlchemyError

    from tollway.storage.database import Database, StoreError, error_reason

    environ = os.environ if environ is None else environ
    try:
        database = Database(_url(args, environ))
        lines = asyncio.run(_status(database))
    except (StoreError, SQLAlchemyError, OSError) as error:
        return _fail("status", error_reason(error) if not isinstance(error, StoreError) else str(error))
    for line in lines:
        print(line)
    return 0


async def _status(database: Database) -> list[str]:
    from tollway.storage.export_store import ExportStore
    from tollway.storage.migrate import upgrade

    try:
        await upgrade(database)
        store = ExportStore(database)
        cursors, failures = await store.cursors(), await store.failure_counts()
    finally:
        await database.aclose()
    if not cursors:
        return ["no exporter has run yet"]
    lines = []
    for cursor in cursors:
        lines.append(
            f"{cursor.exporter}: {cursor.rows_done} rows, {cursor.events_sent} events sent, {cursor.events_rejected} "
            f"refused, {cursor.rows_skipped} rows skipped, {cursor.rows_unattributed} without a customer; "
            f"last row {cursor.spend_id or '(none yet)'}, updated {cursor.updated_at:%Y-%m-%d %H:%M:%S}Z"
        )
        if cursor.lease_owner and cursor.lease_until:
            lines.append(f"  lease: {cursor.lease_owner} until {cursor.lease_until:%Y-%m-%d %H:%M:%S}Z")
        if cursor.last_error:
            lines.append(f"  last error ({cursor.last_error_at:%Y-%m-%d %H:%M:%S}Z): {cursor.last_error}")
        for (name, reason), count in sorted(failures.items()):
            if name == cursor.exporter:
                lines.append(f"  not exported: {count} {reason}")
    return lines

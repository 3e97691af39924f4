"""``tollway simulate --start DATE --end DATE --replace FROM=TO [--replace ...] [--customer ID ...]
[--feature F ...] [--tag T ...] [--format table|json|csv] [--config FILE] [--database-url URL]``: the model-swap
simulator (``tollway.economics.simulate``) over the recorded spend rows, printed as an aligned table (default),
``POST /simulate``'s JSON, or CSV (one line per customer).

Repeated options add up (``--customer a --customer b``). ``--config`` is the gateway's config file: its
``model_list`` names the model groups a substitution may use (without it, only provider models and the names of
recorded calls are known). The database is ``--database-url``, else ``DATABASE_URL``, else ``./tollway.db`` (as
``tollway report margin``); it is migrated to the latest schema first. Exit status 0, or 1 with the reason (the
same checks and messages as the API's 400s), 2 for unusable arguments (argparse).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tollway.economics.simulate import SimulationReport
    from tollway.router.deployment import Deployment
    from tollway.storage.database import Database

__all__ = ["add_simulate_commands", "run_simulate"]


def add_simulate_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``simulate`` to ``subparsers`` (what ``add_subparsers()`` returned)."""
    simulate = subparsers.add_parser(
        "simulate", help="re-price a period's recorded usage at other models' prices: savings and margin per customer"
    )
    simulate.add_argument("--start", required=True, help="first day, YYYY-MM-DD (UTC)")
    simulate.add_argument("--end", required=True, help="last day, YYYY-MM-DD (UTC, included)")
    simulate.add_argument(
        "--replace",
        action="append",
        required=True,
        metavar="FROM=TO",
        help="price calls to FROM (a model group or provider model) as TO; repeat for more",
    )
    simulate.add_argument("--customer", action="append", help="only this customer (repeat for more)")
    simulate.add_argument("--feature", action="append", help="substitute only calls of this feature (repeatable)")
    simulate.add_argument("--tag", action="append", help="substitute only calls with this tag (repeatable)")
    simulate.add_argument("--format", choices=("table", "json", "csv"), default="table", help="default table")
    simulate.add_argument("--config", help="the gateway's config file (its model groups)")
    simulate.add_argument("--database-url", help="default: DATABASE_URL, else ./tollway.db")
    simulate.set_defaults(handler=run_simulate)
    parser: argparse.ArgumentParser = simulate
    return parser


def _fail(message: str) -> int:
    print(f"tollway simulate: {message}", file=sys.stderr)
    return 1


def _payload(args: argparse.Namespace) -> dict[str, Any] | str:
    """``POST /simulate``'s body from the arguments, or what is wrong with ``--replace``."""
    replace: dict[str, str] = {}
    for pair in args.replace:
        source, sep, target = pair.partition("=")
        if not sep or not source or not target or "=" in target:
            return f"--replace {pair!r}: expected FROM=TO"
        if source in replace:
            return f"--replace: {source!r} is given twice"
        replace[source] = target
    payload: dict[str, Any] = {"start": args.start, "end": args.end, "replace": replace}
    for name, values in (("customer_ids", args.customer), ("features", args.feature), ("tags", args.tag)):
        if values:
            payload[name] = list(values)
    return payload


def _deployments(path: str | None, environ: Mapping[str, str]) -> Sequence[Deployment]:
    """The deployments of the config file at ``path`` (none without one)."""
    if path is None:
        return ()
    from tollway.proxy.config import load_config
    from tollway.router.config import parse_model_list

    config = load_config(path, environ)
    if not config.model_list:
        return ()
    return parse_model_list(list(config.model_list), {**environ, **config.environment})


def _url(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    from tollway.storage.database import chosen_url

    return chosen_url(args.database_url, environ, os.getcwd())


def run_simulate(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """Print the simulation; 0 on success, 1 with the reason otherwise."""
    from sqlalchemy.exc import SQLAlchemyError

    from tollway.economics.report_output import write_report
    from tollway.economics.simulate_render import to_csv, to_table
    from tollway.economics.simulate_request import SimulationError, parse_request
    from tollway.errors import ConfigurationError
    from tollway.storage.database import Database, StoreError, error_reason

    payload = _payload(args)
    if isinstance(payload, str):
        return _fail(payload)
    environ = os.environ if environ is None else environ
    try:
        request = parse_request(payload)
        deployments = _deployments(args.config, environ)
        report = asyncio.run(_simulate(Database(_url(args, environ)), request, deployments))
    except SimulationError as error:
        return _fail(error.message)
    except (StoreError, ConfigurationError, ValueError) as error:
        return _fail(str(error))
    except (SQLAlchemyError, OSError) as error:
        return _fail(error_reason(error))
    write_report(report, args.format, to_csv, to_table)
    return 0


async def _simulate(database: Database, request: Any, deployments: Sequence[Deployment]) -> SimulationReport:
    from tollway.storage.migrate import upgrade
    from tollway.storage.simulate_queries import simulate_of

    try:
        await upgrade(database)
        return await simulate_of(database, request, deployments=deployments)
    finally:
        await database.aclose()

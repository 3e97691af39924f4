"""The ``tollway`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tollway._version import __version__

if TYPE_CHECKING:
    from tollway.proxy.gateway_config import GatewayConfig

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tollway", description="Tollway: one interface to every LLM provider.")
    parser.add_argument("--version", action="version", version=f"tollway {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the HTTP gateway")
    serve.add_argument("--config", help="a tollway or LiteLLM config.yaml")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=4000)
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port (default 1)")
    serve.add_argument("--dev", action="store_true", help="development mode: no master key needed, auth off")
    prices = commands.add_parser("prices", help="price data: refresh it, or show a model's prices")
    price_commands = prices.add_subparsers(dest="prices_command", metavar="ACTION", required=True)
    update = price_commands.add_parser("update", help="fetch fresh genai-prices data into the user cache")
    update.add_argument("--url", help="where to fetch from (default: genai-prices' own update URL)")
    update.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    show = price_commands.add_parser("show", help="print a model's resolved prices (USD per million tokens)")
    show.add_argument("model", help='"provider/model", e.g. anthropic/claude-sonnet-4-5')
    show.add_argument("--at", help="ISO date or time to price at (default: now)")
    show.add_argument("--batch", action="store_true", help="batch prices, where the data has them")
    from tollway.proxy.config_cli import add_config_commands

    add_config_commands(commands)
    from tollway.storage.db_cli import add_db_commands

    add_db_commands(commands)
    from tollway.economics.revenue_cli import add_revenue_commands

    add_revenue_commands(commands)
    from tollway.economics.margin_cli import add_report_commands

    add_report_commands(commands)
    from tollway.economics.alerts_cli import add_alerts_commands

    add_alerts_commands(commands)
    from tollway.economics.simulate_cli import add_simulate_commands

    add_simulate_commands(commands)
    from tollway.economics.export_cli import add_export_commands

    add_export_commands(commands)
    return parser


def _serve(config_path: str | None, host: str, port: int, workers: int, *, dev: bool) -> int:
    import os

    from tollway.errors import TollwayError
    from tollway.proxy.gateway_config import GatewayConfig
    from tollway.proxy.serve import serve
    from tollway.proxy.settings import StartupError

    if workers < 1:
        print("tollway serve: --workers must be at least 1", file=sys.stderr)
        return 2
    try:
        if config_path is None:
            config = GatewayConfig(master_key=os.environ.get("TOLLWAY_MASTER_KEY") or None)
        else:
            config = _load_config(config_path)
        if config.master_key is None and not dev:
            config = _with_generated_key(config)
        serve(_with_database(config), host, port, workers, dev=dev)
    except (StartupError, TollwayError, OSError) as exc:
        print(f"tollway serve: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def _with_generated_key(config: GatewayConfig) -> GatewayConfig:
    """No master key configured: use (or create) the one kept in ``./.tollway/master.key``, so a fresh machine's
    ``tollway serve`` starts secured rather than refusing or running open."""
    import dataclasses
    from pathlib import Path

    from tollway.proxy.master_key import KEY_FILE, load_or_create_master_key

    key, created = load_or_create_master_key(Path.cwd())
    if created:
        print(
            f"tollway: no TOLLWAY_MASTER_KEY was set, so a master key was generated and saved to ./{KEY_FILE}\n"
            f"tollway: master key (shown once; callers send it as a Bearer token): {key}",
            file=sys.stderr,
        )
    else:
        print(f"tollway: using the master key saved in ./{KEY_FILE}", file=sys.stderr)
    return dataclasses.replace(config, master_key=key)


def _with_database(config: GatewayConfig) -> GatewayConfig:
    """No database configured: keys, teams, customers and spend go to SQLite in the working directory."""
    import dataclasses
    import os
    from pathlib import Path

    from tollway.storage.database import database_url

    if config.database_url is not None:
        return config
    return dataclasses.replace(config, database_url=database_url(os.environ, Path.cwd()))


def _load_config(path: str) -> GatewayConfig:
    """``tollway.proxy.config.load_config`` (imported lazily: the config loader is a separate module)."""
    import os

    from tollway.proxy.settings import StartupError

    try:
        from tollway.proxy.config import load_config
    except ImportError:
        raise StartupError(
            "--config needs tollway.proxy.config, which this installation does not have yet; "
            "run without --config to serve every provider whose key is in the environment"
        ) from None
    config: GatewayConfig = load_config(path, os.environ)
    return config


def _prices_update(url: str | None, timeout: float) -> int:
    from tollway.pricing.refresh import PriceUpdateError, update_prices

    try:
        path, count = update_prices(url, timeout=timeout)
    except PriceUpdateError as exc:
        print(f"tollway prices update: {exc}; keeping the current price data.", file=sys.stderr)
        return 1
    print(f"updated price data for {count} providers: {path}")
    return 0


def _prices_show(model: str, at: str | None, batch: bool) -> int:
    from datetime import UTC, datetime

    from tollway.pricing import price_for
    from tollway.pricing.names import split_model

    when = None
    if at:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            print(f"tollway prices show: --at {at!r} is not an ISO date or time", file=sys.stderr)
            return 2
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
    provider, upstream = split_model(model)
    price = price_for(provider, upstream, at=when, batch=batch)
    if price is None:
        print(f"{model}: unpriced (no price data for {provider}/{upstream})", file=sys.stderr)
        return 1
    print(f"{model}  ->  {price.provider_id}/{price.model_id}  [{price.source}]")
    for name, value in price.per_million().items():
        unit = "per 1K" if name in ("web_search", "request") else "per 1M tokens"
        print(f"  {name:<15} ${value.normalize():f} {unit}")
    for tier in price.tiers:
        rates = ", ".join(f"{name} ${(rate * 1_000_000).normalize():f}" for name, rate in tier.rates)
        print(f"  above {tier.start:,} input tokens (all tokens): {rates} per 1M tokens")
    if price.ignored:
        print(f"  not billed by tollway: {', '.join(price.ignored)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tollway`` script; returns the process exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args.config, args.host, args.port, args.workers, dev=args.dev)
    if args.command in ("config", "db", "revenue", "report", "simulate", "export", "alerts"):
        status: int = args.handler(args)
        return status
    if args.command == "prices":
        if args.prices_command == "update":
            return _prices_update(args.url, args.timeout)
        return _prices_show(args.model, args.at, args.batch)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``tollway config check FILE`` and ``tollway config show FILE``.

Wiring into ``tollway.cli``: ``add_config_commands(commands)`` on the top-level subparsers. Each command stores
its handler as ``args.handler`` (a function of the parsed arguments returning the exit status), so ``main`` runs it
with ``return args.handler(args)`` when ``args.command == "config"``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["add_config_commands", "run_check", "run_show"]


def add_config_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``config check`` and ``config show`` to ``subparsers`` (what ``add_subparsers()`` returned)."""
    config = subparsers.add_parser("config", help="validate or print a gateway config file (tollway or LiteLLM)")
    actions = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="validate a config file: exit status 0 when valid, 1 when not")
    check.add_argument("file", help="a tollway or LiteLLM config.yaml")
    check.set_defaults(handler=run_check)
    show = actions.add_parser("show", help="print a config file as tollway reads it, with every secret masked")
    show.add_argument("file", help="a tollway or LiteLLM config.yaml")
    show.set_defaults(handler=run_show)
    parser: argparse.ArgumentParser = config
    return parser


def run_check(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """Print the file's problems (stderr) or a one-line summary (stdout); 0 when valid, 1 when not."""
    from tollway.proxy.config import diagnose

    problems, notes = diagnose(args.file, os.environ if environ is None else environ)
    for note in notes:
        print(f"{args.file}: warning: {note}", file=sys.stderr)
    if problems:
        for problem in problems:
            print(f"{args.file}: error: {problem}", file=sys.stderr)
        return 1
    print(f"{args.file}: OK")
    return 0


def run_show(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """Print the loaded configuration as YAML with secrets masked; 1 (and the problem) when it does not load."""
    import warnings

    import yaml

    from tollway.errors import ConfigurationError
    from tollway.proxy.config import load_config, redacted

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            config = load_config(args.file, os.environ if environ is None else environ)
        except ConfigurationError as error:
            print(f"{args.file}: error: {error.message}", file=sys.stderr)
            return 1
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    print(yaml.safe_dump(redacted(config), sort_keys=False, allow_unicode=True), end="")
    return 0

"""The ``tollway`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tollway._version import __version__

__all__ = ["main"]

GATEWAY_ISSUE = 6


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tollway", description="Tollway: one interface to every LLM provider.")
    parser.add_argument("--version", action="version", version=f"tollway {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the HTTP gateway")
    serve.add_argument("--config", help="a tollway or LiteLLM config.yaml")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=4000)
    serve.add_argument("--workers", type=int, default=1)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tollway`` script; returns the process exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        print(
            f"tollway {__version__}: the HTTP gateway arrives with issue {GATEWAY_ISSUE} and is not in this "
            "release yet; nothing is listening.\n"
            'The SDK works today:  python -c "import tollway; '
            "print(tollway.completion(model='mock/demo', messages=[{'role': 'user', 'content': 'hi'}]))\"",
            file=sys.stderr,
        )
        return 2
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())

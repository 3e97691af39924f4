"""Print the provider table generated from tollway's registry; ``--write`` puts it into README.md.

The README section between ``<!-- providers:start -->`` and ``<!-- providers:end -->`` is this script's output and
nothing else (tests/test_provider_table.py fails when the two differ), so the table can only change with the
registry. Usage: ``python scripts/provider_table.py [--write] [--readme PATH]``.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from tollway.registry import ALIASES, PROVIDERS
from tollway.spec import ProviderSpec

START = "<!-- providers:start -->"
END = "<!-- providers:end -->"
HEADING = "## Providers"
README = Path(__file__).resolve().parent.parent / "README.md"


def _cell(text: str) -> str:
    """Table-safe text (a ``|`` would end the cell)."""
    return text.replace("|", "\\|")


def _row(spec: ProviderSpec, aliases: list[str]) -> str:
    wire = spec.adapter.rpartition(":")[2]
    base = f"`{spec.api_base}`" if spec.api_base else "caller gives it"
    key = f"`{spec.api_key_env[0]}`" if spec.api_key_env else "—"
    if spec.api_key_env and not spec.key_required:
        key += " (optional)"
    alias_text = ", ".join(f"`{alias}`" for alias in aliases) or ""
    cells = (f"`{spec.name}`", alias_text, wire, base, key, _cell(spec.source))
    return "| " + " | ".join(cells) + " |"


def render_table() -> str:
    """The markdown table: one row per registry provider, aliases beside the name they stand for."""
    aliases: defaultdict[str, list[str]] = defaultdict(list)
    for alias, target in sorted(ALIASES.items()):
        aliases[target].append(alias)
    lines = [
        "| Provider | Aliases | Wire API | Default base URL | Key variable | Source |",
        "|---|---|---|---|---|---|",
    ]
    lines += [_row(PROVIDERS[name], aliases[name]) for name in sorted(PROVIDERS)]
    return "\n".join(lines)


def render_section() -> str:
    """The README section, markers included."""
    count = len({*PROVIDERS, *ALIASES})
    intro = (
        f"{count} addressable provider prefixes ({len(PROVIDERS)} providers plus aliases), generated from "
        "`tollway.registry` by `python scripts/provider_table.py --write`; do not edit by hand. Every provider also "
        "reads its base URL from `<NAME>_API_BASE`. A source marked *unconfirmed* was not re-read when its row "
        "was written."
    )
    return f"{START}\n{intro}\n\n{render_table()}\n{END}"


def update_readme(text: str) -> str:
    """``text`` with the provider section replaced (or appended under a Providers heading when absent)."""
    section = render_section()
    start, end = text.find(START), text.find(END)
    if start == -1 or end == -1 or end < start:
        return f"{text.rstrip()}\n\n{HEADING}\n\n{section}\n"
    return text[:start] + section + text[end + len(END) :]


def main(argv: list[str] | None = None) -> int:
    """Print the table, or rewrite the README section with ``--write``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the README section in place")
    parser.add_argument("--readme", type=Path, default=README, help="the README to rewrite (default: the repo's)")
    args = parser.parse_args(argv)
    if not args.write:
        sys.stdout.write(render_table() + "\n")
        return 0
    text = args.readme.read_text(encoding="utf-8")
    updated = update_readme(text)
    if updated != text:
        args.readme.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

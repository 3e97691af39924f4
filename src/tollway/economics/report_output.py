"""How the report commands (``tollway report margin``, ``tollway simulate``) print a report: JSON, CSV or a table."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

__all__ = ["write_report"]


class _Report(Protocol):
    def to_api(self) -> dict[str, Any]: ...


_R = TypeVar("_R", bound=_Report)


def write_report(report: _R, fmt: str, to_csv: Callable[[_R], str], to_table: Callable[[_R], str]) -> None:
    """Write ``report`` to standard output as ``fmt`` says: "json" (the API's body, indented), "csv", else a table."""
    if fmt == "json":
        import orjson

        sys.stdout.write(orjson.dumps(report.to_api(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(to_csv(report) if fmt == "csv" else to_table(report))

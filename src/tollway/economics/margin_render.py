"""The margin report (``tollway.economics.margin``) as CSV (``GET /margin?format=csv``) and as an aligned text
table (``tollway report margin``). Pure: text in, text out."""

from __future__ import annotations

import csv
import io
from typing import Any

from tollway.economics.margin import MarginReport

__all__ = ["to_csv", "to_table"]


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def to_csv(report: MarginReport) -> str:
    """One header line and one line per row (no totals line: a CSV of rows sums in any spreadsheet, and a "total"
    row could not be told apart from a customer of that name). Null cells are empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = report.columns()
    writer.writerow(columns)
    for row in report.rows:
        writer.writerow([_cell(row.get(name)) for name in columns])
    return out.getvalue()


def to_table(report: MarginReport) -> str:
    """An aligned table: a header, the rows, a rule and a TOTAL line; unattributed traffic shows as
    ``(none)``, nulls as ``-``. Numbers are right-aligned. Other currencies are listed below, never added."""
    columns = report.columns()
    lines = [list(columns)]
    for row in report.rows:
        cells = ["-" if row.get(name) is None else str(row[name]) for name in columns]
        if row.get("customer_id") is None:
            cells[0] = "(none)"
        lines.append(cells)
    totals = ["TOTAL", *([""] if report.group_by != "customer" else [])]
    totals += ["-" if report.totals.get(name) is None else str(report.totals[name]) for name in columns[len(totals) :]]
    widths = [max(len(line[index]) for line in [*lines, totals]) for index in range(len(columns))]
    texts = len(columns) - 8  # customer_id and the group column are text, the rest numbers

    def render(cells: list[str]) -> str:
        parts = [
            cell.ljust(width) if index < texts else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    head = f"margin {report.start.isoformat()}..{report.end.isoformat()} in {report.currency}, by {report.group_by}"
    out = [head, render(lines[0]), *(render(line) for line in lines[1:])]
    out.append("  ".join("-" * width for width in widths))
    out.append(render(totals))
    for other in report.other_currencies:
        out.append(f"not included: {other['customer_id']} paid {other['revenue']} {other['currency']}")
    return "\n".join(out) + "\n"

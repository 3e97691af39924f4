"""A simulation (``tollway.economics.simulate``) as an aligned text table (``tollway simulate``) and as CSV (one line
per customer). Pure: a report in, text out."""

from __future__ import annotations

import csv
import io
from typing import Any

from tollway.economics.simulate import SimulationReport

__all__ = ["CUSTOMER_COLUMNS", "to_csv", "to_table"]

CUSTOMER_COLUMNS = (
    "customer_id",
    "revenue",
    "baseline_cost",
    "simulated_cost",
    "savings",
    "margin_before",
    "margin_after",
    "margin_pct_before",
    "margin_pct_after",
    "requests",
    "substituted_requests",
    "unpriced_requests",
)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def to_csv(report: SimulationReport) -> str:
    """A header line and one line per customer (``CUSTOMER_COLUMNS``; null cells empty, no totals line)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CUSTOMER_COLUMNS)
    for row in report.customers:
        writer.writerow([_cell(row.get(name)) for name in CUSTOMER_COLUMNS])
    return out.getvalue()


def _substitution_lines(report: SimulationReport) -> list[str]:
    lines = []
    for item in report.substitutions:
        ratios = ", ".join(f"{source['model']} ({source['family']}) x{source['ratio']}" for source in item["tokenizer"])
        lines.append(
            f"replace {item['from']} -> {item['to']} (priced as {item['priced_as']}, {item['target_family']}): "
            f"{item['requests']} requests, cost {item['baseline_cost']} -> {item['simulated_cost']}, "
            f"savings {item['savings']}" + (f"; tokenizer {ratios}" if ratios else "")
        )
    return lines


def _footer(report: SimulationReport) -> list[str]:
    unpriced = report.unpriced
    lines = []
    if unpriced["baseline_requests"] or unpriced["simulated_requests"]:
        lines.append(
            f"unpriced: {unpriced['baseline_requests']} requests without a recorded cost (counted 0; on the target "
            f"they would cost {unpriced['simulated_cost_of_baseline_unpriced']}), {unpriced['simulated_requests']} "
            "the target cannot price (kept at their recorded cost)"
        )
    lines.extend(
        f"not included: {other['customer_id']} paid {other['revenue']} {other['currency']}"
        for other in report.other_currencies
    )
    return lines


def to_table(report: SimulationReport) -> str:
    """The substitutions, then an aligned table of the customers (least profitable after the swap first) and a
    TOTAL line; unattributed traffic shows as ``(none)``, nulls as ``-``, numbers right-aligned."""
    lines = [list(CUSTOMER_COLUMNS)]
    for row in report.customers:
        cells = ["-" if row.get(name) is None else str(row[name]) for name in CUSTOMER_COLUMNS]
        cells[0] = "(none)" if row.get("customer_id") is None else cells[0]
        lines.append(cells)
    totals = ["TOTAL"] + [
        "-" if report.totals.get(name) is None else str(report.totals[name]) for name in CUSTOMER_COLUMNS[1:-1]
    ]
    totals.append(str(sum(row["unpriced_requests"] for row in report.customers)))
    widths = [max(len(line[index]) for line in [*lines, totals]) for index in range(len(CUSTOMER_COLUMNS))]

    def render(cells: list[str]) -> str:
        parts = [
            cell.ljust(width) if index == 0 else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    totals_line = report.totals
    head = (
        f"simulation {report.start.isoformat()}..{report.end.isoformat()} in {report.currency}: cost "
        f"{totals_line['baseline_cost']} -> {totals_line['simulated_cost']}, savings {totals_line['savings']}"
        + (f" ({totals_line['savings_pct']} %)" if totals_line["savings_pct"] is not None else "")
    )
    out = [head, *_substitution_lines(report), render(lines[0]), *(render(line) for line in lines[1:])]
    out.append("  ".join("-" * width for width in widths))
    out.append(render(totals))
    out.extend(_footer(report))
    return "\n".join(out) + "\n"

"""Sending again what an exporter recorded as not exported (``tollway export retry``).

Typical uses: a customer had no ``stripe_customer_id`` when its rows went by (``unmapped_customer``): set one, then
retry; Stripe refused events because the meter did not exist yet (``rejected``): create it, then retry.

A row skipped whole (its record's identifier is the row id) is sent whole; a refused event is sent alone, since
its row's other events were delivered and must not be sent twice. Each retried record is replaced by what is left:
nothing when its events are delivered now, a ``rejected`` record per event refused again, the new reason when the
row is skipped again (now too old for Stripe, say), and the old record, per event, when sending failed for now.
Records of rows deleted since (retention) stay as they are. Stripe's window applies: rows older than 35 days can
no longer be sent there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from tollway.economics.export_mapping import Batch, Failure, Outcome

if TYPE_CHECKING:
    from tollway.economics.export_base import Exporter
    from tollway.storage.export_store import ExportStore

__all__ = ["RetryReport", "retry_failures"]


@dataclass(slots=True)
class RetryReport:
    """What a retry did: events sent, events delivered now, failures left (by reason), and a halt's message."""

    sent: int = 0
    delivered: int = 0
    left: dict[str, int] = field(default_factory=dict)
    error: str | None = None


async def retry_failures(
    exporter: Exporter,
    store: ExportStore,
    now: Callable[[], datetime],
    *,
    reasons: Iterable[str] | None = None,
    limit: int = 1000,
) -> RetryReport:
    """Retry up to ``limit`` recorded failures of ``exporter`` (of ``reasons`` only, when given)."""
    failures = await store.failures(exporter.name, reasons=reasons, limit=limit)
    rows = await store.rows_by_id({failure.spend_id for failure in failures})
    found = {row.id for row in rows}
    retried = [failure for failure in failures if failure.spend_id in found]
    batch = await exporter.prepare(rows, store.stripe_customers, now())
    pending = {i: batch.events[i] for failure in retried for i in _events_of(failure, batch)}
    outcomes, halt = await exporter.send(pending)
    left = _left(retried, batch, outcomes, halt)
    delivered = sum(1 for outcome in outcomes.values() if outcome.kind in ("delivered", "duplicate"))
    await store.replace_failures(exporter.name, [f.identifier for f in retried], left, delivered=delivered)
    report = RetryReport(sent=len(pending), delivered=delivered, error=halt)
    for failure in left:
        report.left[failure.reason] = report.left.get(failure.reason, 0) + 1
    return report


def _events_of(failure: Failure, batch: Batch) -> list[str]:
    if failure.identifier == failure.spend_id:
        return list(batch.by_row.get(failure.spend_id, []))
    return [failure.identifier] if failure.identifier in batch.events else []


def _left(retried: list[Failure], batch: Batch, outcomes: dict[str, Outcome], halt: str | None) -> list[Failure]:
    """The records that replace ``retried`` (see the module docstring)."""
    skips = {skip.spend_id: skip for skip in batch.skipped}
    left: list[Failure] = []
    for failure in retried:
        skip = skips.get(failure.spend_id)
        if skip is not None:
            left.append(replace(skip, identifier=failure.identifier))
            continue
        for identifier in _events_of(failure, batch):
            outcome = outcomes.get(identifier, Outcome("failed", halt or "not sent"))
            if outcome.kind == "rejected":
                left.append(
                    replace(
                        failure, identifier=identifier, reason="rejected", detail=outcome.detail, status=outcome.status
                    )
                )
            elif outcome.kind not in ("delivered", "duplicate"):
                left.append(replace(failure, identifier=identifier))
    return left

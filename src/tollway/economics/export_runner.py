"""The billing export loop: batches of spend rows after each exporter's cursor, mapped, sent, and the cursor moved
past what is settled, off the request path (a background task of the gateway, or ``tollway export run --once``).

One pass (``ExportRunner.step``): take the exporter's lease (``ExportStore.claim``: one instance exports at a time),
read up to ``batch_size`` committed rows after the cursor, make their events (``Exporter.prepare``), send the ones
not settled before (``Exporter.send``: retries with backoff inside), then in one transaction record what was
skipped or refused and move the cursor past the leading rows whose events are all settled (``settle``). A crash at
any point leaves the cursor where it was: the next pass sends the batch again, and the receivers drop the copies by
identifier. A row is never passed before it is settled, so nothing is lost either.

The loop (``run``) passes again at once while batches come back full, waits ``interval`` when caught up, and backs
off (up to five minutes) while passes fail: a receiver down, a database unreachable, or a halt (a wrong API key,
URL or permission: it needs a person, and the cursor waits for them). Why the last pass stopped is kept on the
cursor (``tollway export status``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tollway.economics.export_backoff import RetryPolicy, backoff_delay
from tollway.economics.export_base import Exporter
from tollway.economics.export_mapping import Outcome, Settlement, settle
from tollway.economics.export_retry import RetryReport, retry_failures
from tollway.economics.export_settings import ExportSettings

if TYPE_CHECKING:
    from tollway.storage.database import Database
    from tollway.storage.export_store import ExportStore

__all__ = ["BillingExport", "ExportRunner", "StepReport", "build_exporters", "new_owner"]

logger = logging.getLogger("tollway.export")
MAX_PAUSE_S = 300.0  # the longest wait between two failing passes
_CLOSE_GRACE_S = 5.0  # how long shutdown lets a pass in flight finish before cancelling it


def _now() -> datetime:
    return datetime.now(UTC)


def new_owner() -> str:
    """A lease owner name unique to this process: host, pid and a random part."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(slots=True)
class StepReport:
    """What one pass did. ``claimed`` False: another instance holds the lease. ``more``: the batch was full and
    wholly settled, so more rows may be waiting."""

    claimed: bool = True
    rows: int = 0
    done: int = 0
    delivered: int = 0
    rejected: int = 0
    skipped: int = 0
    unattributed: int = 0
    empty: int = 0
    error: str | None = None
    more: bool = False

    def add(self, other: StepReport) -> None:
        """Add ``other``'s counts to these (a run's total)."""
        for name in ("rows", "done", "delivered", "rejected", "skipped", "unattributed", "empty"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.claimed, self.error, self.more = other.claimed, other.error, other.more


class ExportRunner:
    """One exporter's passes over one store (see the module docstring)."""

    def __init__(
        self,
        exporter: Exporter,
        store: ExportStore,
        settings: ExportSettings,
        *,
        owner: str,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.exporter = exporter
        self.store = store
        self.settings = settings
        self.owner = owner
        self.clock = clock

    @property
    def name(self) -> str:
        """The exporter's name (its cursor's key)."""
        return self.exporter.name

    async def step(self) -> StepReport:
        """One pass over at most ``batch_size`` rows."""
        settings, store = self.settings, self.store
        cursor = await store.claim(self.name, self.owner, settings.lease_seconds, backfill=settings.backfill)
        if cursor is None:
            return StepReport(claimed=False)
        rows = await store.rows_after(cursor, settings.batch_size)
        if not rows:
            return StepReport()
        already = await store.settled_ahead(self.name, [row.id for row in rows])
        batch = await self.exporter.prepare(rows, store.stripe_customers, self.clock())
        outcomes, halt = await self.exporter.send({i: e for i, e in batch.events.items() if i not in already})
        settlement = settle(rows, batch, outcomes, already)
        if not await store.advance(cursor, self.owner, settlement, settings.lease_seconds, exporter=self.name):
            return StepReport(rows=len(rows), error="another instance took the lease over: its pass counts")
        error = halt or _stopped(settlement, outcomes, len(rows))
        if error is not None:
            await store.note_error(self.name, self.owner, error)
        return StepReport(
            rows=len(rows),
            done=len(settlement.done),
            delivered=settlement.delivered,
            rejected=settlement.rejected,
            skipped=settlement.skipped,
            unattributed=settlement.unattributed,
            empty=settlement.empty,
            error=error,
            more=error is None and len(rows) == settings.batch_size,
        )

    async def run_once(self, max_passes: int | None = None) -> StepReport:
        """Passes until caught up, stopped by an error, or out of ``max_passes``; their total."""
        total = StepReport()
        passes = 0
        while max_passes is None or passes < max_passes:
            report = await self.step()
            passes += 1
            total.add(report)
            if not report.more:
                break
        return total

    async def run(self, stop: asyncio.Event, *, pause: Callable[[float], Awaitable[None]] | None = None) -> None:
        """Pass until ``stop`` is set (see the module docstring for the pacing)."""
        failures = 0
        wait = pause or (lambda seconds: _wait(stop, seconds))
        while not stop.is_set():
            try:
                report = await self.step()
            except Exception as error:  # the loop outlives a database or receiver outage (logged, retried)
                logger.warning("billing export %s: pass failed: %s", self.name, _reason(error))
                report = StepReport(error=_reason(error))
            if report.error is not None:
                failures += 1
                logger.warning("billing export %s: %s", self.name, report.error)
                delay = backoff_delay(failures, base=self.settings.interval, cap=MAX_PAUSE_S, rng=lambda: 1.0)
            else:
                failures = 0
                delay = 0.0 if report.more else self.settings.interval
            await wait(delay)


def _stopped(settlement: Settlement, outcomes: dict[str, Outcome], rows: int) -> str | None:
    """Why a pass left rows unsettled (an event still failing after its retries), or None."""
    if len(settlement.done) == rows:
        return None
    failed = next((o for o in outcomes.values() if o.kind == "failed"), None)
    if failed is None:
        return "some events were not sent (a batch cut short)"
    status = f" ({failed.status})" if failed.status else ""
    return f"delivery failed after retries{status}: {failed.detail}"


def _reason(error: BaseException) -> str:
    from tollway.storage.database import error_reason

    return error_reason(error)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    if seconds <= 0:
        await asyncio.sleep(0)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def build_exporters(settings: ExportSettings) -> list[Exporter]:
    """The exporters ``settings`` configures."""
    policy = RetryPolicy(settings.max_attempts, settings.backoff_base, settings.backoff_max)
    exporters: list[Exporter] = []
    if settings.stripe is not None:
        from tollway.economics.export_stripe import StripeExporter

        exporters.append(StripeExporter(settings.stripe, policy))
    if settings.cloudevents is not None:
        from tollway.economics.export_cloudevents import CloudEventsExporter

        exporters.append(CloudEventsExporter(settings.cloudevents, policy))
    return exporters


class BillingExport:
    """Every configured exporter of one process, run as background tasks (the gateway's lifespan starts them)."""

    def __init__(
        self,
        settings: ExportSettings,
        database: Database,
        *,
        exporters: list[Exporter] | None = None,
        owner: str | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        from tollway.storage.export_store import ExportStore

        self.settings = settings
        self.store = ExportStore(database, clock=clock)
        self.owner = owner or new_owner()
        chosen = build_exporters(settings) if exporters is None else exporters
        self.runners = [ExportRunner(e, self.store, settings, owner=self.owner, clock=clock) for e in chosen]
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start one background task per exporter."""
        self._stop.clear()
        self._tasks = [asyncio.create_task(r.run(self._stop), name=f"billing-export-{r.name}") for r in self.runners]

    async def run_once(self) -> dict[str, StepReport]:
        """Every exporter until caught up (``tollway export run --once``)."""
        return {runner.name: await runner.run_once() for runner in self.runners}

    async def retry(self, name: str, *, reasons: Iterable[str] | None = None, limit: int = 1000) -> RetryReport:
        """Send again what exporter ``name`` recorded as not exported (``export_retry``)."""
        runner = next((r for r in self.runners if r.name == name), None)
        if runner is None:
            raise LookupError(f"no {name} exporter is configured (configured: {', '.join(self.settings.exporters)})")
        return await retry_failures(runner.exporter, self.store, runner.clock, reasons=reasons, limit=limit)

    async def aclose(self) -> None:
        """Stop the tasks (a pass in flight gets a few seconds to finish), give the leases up, close connections."""
        self._stop.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=_CLOSE_GRACE_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._tasks = []
        for runner in self.runners:
            try:
                await self.store.release(runner.name, self.owner)
            except Exception as error:  # shutting down: the lease lapses by itself
                logger.warning("billing export %s: could not give the lease up: %s", runner.name, _reason(error))
            await runner.exporter.aclose()

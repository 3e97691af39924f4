"""Stripe Billing meter events, sent with the official ``stripe`` package (``POST /v1/billing/meter_events``).

Stripe takes one event per request, up to 1,000 requests a second, and "one concurrent call per customer per meter"
(https://docs.stripe.com/billing/subscriptions/usage-based/recording-usage-api#rate-limits). So the events of a
batch are grouped by Stripe customer: each group is sent in order, one request at a time, and up to
``concurrency`` groups at once. A group stops at its first event that still fails after its retries (the rest of it
waits for the next pass, in order).

Answers: 2xx delivered; 400 ``duplicate_meter_event`` ("An event already exists with identifier ...") means Stripe
has the event already, from an earlier pass: delivered; 429, 409, 5xx and connection errors are retried with
backoff (the package's own retries are off, so the policy is ours and visible); 401, 403 and 404 (a wrong key or
API base) halt the exporter; any other 4xx refuses that event for good (recorded with Stripe's message).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tollway.economics.export_backoff import Answer, RetryPolicy
from tollway.economics.export_base import Exporter, StripeLookup
from tollway.economics.export_mapping import Batch, MeterEvent, Outcome, UsageRow, meter_events
from tollway.economics.export_settings import StripeExportSettings

if TYPE_CHECKING:
    import stripe

__all__ = ["DUPLICATE_CODE", "StripeExporter"]

DUPLICATE_CODE = "duplicate_meter_event"
_TIMEOUT_S = 30.0


class StripeExporter(Exporter):
    """Meter events to Stripe (see the module docstring)."""

    name = "stripe"

    def __init__(
        self,
        settings: StripeExportSettings,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        import stripe

        super().__init__(policy, sleep=sleep, rng=rng)
        self.settings = settings
        self._http = stripe.AIOHTTPClient(timeout=_TIMEOUT_S)
        self._client = stripe.StripeClient(
            settings.api_key,
            base_addresses={"api": settings.api_base} if settings.api_base else None,
            http_client=self._http,
            max_network_retries=0,
        )

    async def prepare(self, rows: Sequence[UsageRow], lookup: StripeLookup, now: datetime) -> Batch:
        """The meter events of ``rows``, customers mapped through ``lookup``."""
        customers = {row.customer_id for row in rows if row.customer_id is not None}
        return meter_events(rows, self.settings, await lookup(sorted(customers)), now)

    async def send(self, events: Mapping[str, Any]) -> tuple[dict[str, Outcome], str | None]:
        """Send the events, one customer's in order, several customers at once."""
        outcomes: dict[str, Outcome] = {}
        halted: list[str] = []
        gate = asyncio.Semaphore(self.settings.concurrency)

        async def run(group: list[MeterEvent]) -> None:
            async with gate:
                for event in group:
                    if halted:
                        return
                    outcome = await self._send_one(event)
                    if outcome.kind == "halt":
                        halted.append(f"Stripe answered {outcome.status}: {outcome.detail}")
                        return
                    outcomes[event.identifier] = outcome
                    if outcome.kind == "failed":
                        return

        await asyncio.gather(*(run(group) for group in _by_customer(events.values())))
        return outcomes, halted[0] if halted else None

    async def _send_one(self, event: MeterEvent) -> Outcome:
        params = event.params(self.settings)

        async def once() -> Answer:
            import stripe

            try:
                await self._client.v1.billing.meter_events.create_async(params)  # type: ignore[arg-type]
            except stripe.StripeError as error:
                return _answer(error)
            return Answer(200)

        return await self._with_retries(once)

    async def aclose(self) -> None:
        """Close the HTTP session."""
        await self._http.close_async()  # type: ignore[no-untyped-call]  # the stripe package leaves it untyped


def _answer(error: stripe.StripeError) -> Answer:
    status = error.http_status
    detail = error.user_message or str(error) or type(error).__name__
    headers = {str(k): str(v) for k, v in (error.headers or {}).items()}
    return Answer(status, detail.strip(), headers, duplicate=status == 400 and error.code == DUPLICATE_CODE)


def _by_customer(events: Iterable[Any]) -> list[list[MeterEvent]]:
    groups: dict[str, list[MeterEvent]] = {}
    for event in events:
        groups.setdefault(event.stripe_customer_id, []).append(event)
    return list(groups.values())

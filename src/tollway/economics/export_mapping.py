"""Spend rows as billing events (pure): Stripe meter events and CloudEvents, and what is skipped and why.

Choices, each for a reason:

- **Identifiers are the spend row's id** (plus ``":" + type``: ``"<id>:input"``, ``"<id>:total"``, ``"<id>:cost"``),
  not the request id. The row id is made once by the gateway and kept through spool replays, so a replay or a
  resent batch carries the same identifier and Stripe (unique within at least 24 hours) or a CloudEvents receiver
  (unique by ``source`` + ``id``) drops the copy. A request id may come from the client's ``x-request-id``: a client
  reusing one could make its later requests look like copies and go unbilled, and it may be longer than Stripe's
  100 characters. The request id travels in CloudEvents ``data`` instead.
- **Tokens**: ``total`` = input + output (input includes cached reads and cache writes, output includes reasoning).
- **Cost**: ``cost x markup / cost_unit`` rounded half up to a whole number, because Stripe's meter values are
  whole numbers (https://docs.stripe.com/billing/subscriptions/usage-based/recording-usage-api#usage-values). With
  the default unit (a micro-dollar, USD 0.000001) each event is off by at most half a micro-dollar. Costs are USD.
- **Skipped, and recorded with the reason** (never silently lost): a row whose customer has no
  ``stripe_customer_id`` (``unmapped_customer``), an unpriced row in cost mode (``unpriced``), a row older than
  Stripe accepts or too far in its future (``too_old``/``in_future``: Stripe takes the past 35 days and up to 5
  minutes ahead). Rows without a customer are counted (``unattributed``) but not recorded one by one: they bill
  nobody. Rows with nothing to bill (no tokens, a zero cost) are counted as ``empty``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tollway.economics.export_settings import CloudEventsSettings, StripeExportSettings

__all__ = [
    "MAX_AGE",
    "MAX_AHEAD",
    "SETTLED",
    "Batch",
    "Failure",
    "MeterEvent",
    "Outcome",
    "Settlement",
    "UsageRow",
    "cloud_events",
    "cost_value",
    "meter_events",
    "settle",
    "token_count",
    "window_problem",
]

# Stripe accepts timestamps "within the past 35 calendar days" and "up to 5 minutes in the future"; the margins
# leave room for the time a batch takes to send and for clock drift between this host and Stripe.
MAX_AGE = timedelta(days=35) - timedelta(minutes=10)
MAX_AHEAD = timedelta(minutes=5) - timedelta(seconds=30)
# Outcomes after which an event is never sent again: Stripe has it (delivered, duplicate) or refused it for good.
SETTLED = frozenset({"delivered", "duplicate", "rejected"})


@dataclass(frozen=True, slots=True)
class UsageRow:
    """The columns of one spend row an export needs. ``position`` orders rows by insertion (see ``export_store``)."""

    position: int
    id: str
    request_id: str
    ts: datetime
    customer_id: str | None = None
    feature: str | None = None
    model: str | None = None
    model_group: str | None = None
    provider: str | None = None
    call_type: str = "chat"
    status: int = 200
    input_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal | None = None


@dataclass(frozen=True, slots=True)
class MeterEvent:
    """One Stripe meter event: ``value`` whole, ``timestamp`` in Unix seconds."""

    identifier: str
    event_name: str
    stripe_customer_id: str
    value: int
    timestamp: int
    spend_id: str
    token_type: str | None = None

    def params(self, settings: StripeExportSettings) -> dict[str, Any]:
        """The ``meter_events.create`` parameters (payload values are strings, as Stripe's API takes them)."""
        payload = {settings.customer_key: self.stripe_customer_id, settings.value_key: str(self.value)}
        if self.token_type is not None and len(set(settings.token_types.values())) < len(settings.token_types):
            # Several types share one meter: the payload says which type each event counts.
            payload["token_type"] = self.token_type
        return {
            "event_name": self.event_name,
            "identifier": self.identifier,
            "timestamp": self.timestamp,
            "payload": payload,
        }


@dataclass(frozen=True, slots=True)
class Failure:
    """A row or event not exported, recorded with why: ``reason`` is a code, ``detail`` a sentence for people."""

    identifier: str
    spend_id: str
    reason: str
    detail: str
    ts: datetime
    request_id: str | None = None
    customer_id: str | None = None
    status: int | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one event: ``delivered``, ``duplicate`` (the receiver had it), ``rejected`` (refused for
    good: ``detail`` says why) or ``failed`` (not delivered now; sent again next time)."""

    kind: str
    detail: str = ""
    status: int | None = None


@dataclass(slots=True)
class Batch:
    """What one exporter made of a batch of rows: its events (keyed by identifier), the rows' skips, and counts."""

    events: dict[str, Any] = field(default_factory=dict)
    by_row: dict[str, list[str]] = field(default_factory=dict)
    row_of: dict[str, str] = field(default_factory=dict)  # identifier -> spend id
    skipped: list[Failure] = field(default_factory=list)
    unattributed: set[str] = field(default_factory=set)
    empty: set[str] = field(default_factory=set)

    def add(self, row: UsageRow, identifier: str, event: Any) -> None:
        """Add one event of ``row``."""
        self.events[identifier] = event
        self.by_row.setdefault(row.id, []).append(identifier)
        self.row_of[identifier] = row.id

    def skip(self, row: UsageRow, reason: str, detail: str) -> None:
        """Record ``row`` as not exported."""
        self.skipped.append(
            Failure(row.id, row.id, reason, detail, row.ts, request_id=row.request_id, customer_id=row.customer_id)
        )


def token_count(row: UsageRow, kind: str) -> int:
    """The tokens of ``kind`` (one of ``export_settings.TOKEN_TYPES``) in ``row``."""
    counts = {
        "total": row.input_tokens + row.output_tokens,
        "input": row.input_tokens,
        "uncached_input": max(row.input_tokens - row.cached_tokens - row.cache_write_tokens, 0),
        "cached": row.cached_tokens,
        "cache_write": row.cache_write_tokens,
        "output": row.output_tokens,
        "reasoning": row.reasoning_tokens,
    }
    return counts[kind]


def cost_value(cost: Decimal, markup: Decimal, unit: Decimal) -> int:
    """``cost x markup`` in whole ``unit``s, rounded half up (0.5 unit -> 1)."""
    return int((cost * markup / unit).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def window_problem(ts: datetime, now: datetime) -> tuple[str, str] | None:
    """Why Stripe would refuse an event at ``ts`` (reason, detail), or None when it is within Stripe's window."""
    if ts < now - MAX_AGE:
        return "too_old", f"{ts.isoformat()} is more than 35 days ago: Stripe refuses older meter events"
    if ts > now + MAX_AHEAD:
        return "in_future", f"{ts.isoformat()} is more than 5 minutes ahead: Stripe refuses such meter events"
    return None


def meter_events(
    rows: Iterable[UsageRow], settings: StripeExportSettings, stripe_ids: Mapping[str, str], now: datetime
) -> Batch:
    """The meter events of ``rows``; ``stripe_ids`` maps tollway customer ids to Stripe customer ids."""
    batch = Batch()
    for row in rows:
        if row.customer_id is None:
            batch.unattributed.add(row.id)
            continue
        values = _values(row, settings)
        if values is None:
            batch.skip(row, "unpriced", f"no price for {row.model or row.model_group or 'the model'}: cost unknown")
            continue
        values = [(kind, value) for kind, value in values if value != 0]
        if not values:
            batch.empty.add(row.id)
            continue
        if any(value < 0 for _, value in values):
            batch.skip(row, "invalid", "a negative amount: Stripe meters are not corrected this way")
            continue
        stripe_id = stripe_ids.get(row.customer_id)
        if stripe_id is None:
            detail = f"customer {row.customer_id!r} has no stripe_customer_id (set one, then retry these rows)"
            batch.skip(row, "unmapped_customer", detail)
            continue
        problem = window_problem(row.ts, now)
        if problem is not None:
            batch.skip(row, *problem)
            continue
        stamp = int(row.ts.timestamp())
        for kind, value in values:
            name = settings.token_types.get(kind, settings.event_name)
            typed = kind if settings.token_types else None
            event = MeterEvent(f"{row.id}:{kind}", name, stripe_id, value, stamp, row.id, typed)
            batch.add(row, event.identifier, event)
    return batch


def _values(row: UsageRow, settings: StripeExportSettings) -> list[tuple[str, int]] | None:
    """(type, value) per event of ``row``; None when the cost is needed and unknown."""
    if settings.value == "cost":
        if row.cost is None:
            return None if token_count(row, "total") else [("cost", 0)]
        return [("cost", cost_value(row.cost, settings.markup, settings.cost_unit))]
    kinds = list(settings.token_types) or ["total"]
    return [(kind, token_count(row, kind)) for kind in kinds]


def cloud_events(rows: Iterable[UsageRow], settings: CloudEventsSettings) -> Batch:
    """One CloudEvents 1.0 event per row with a customer (the ``subject``); rows without one are unattributed."""
    batch = Batch()
    for row in rows:
        if row.customer_id is None:
            batch.unattributed.add(row.id)
            continue
        event = {
            "specversion": "1.0",
            "id": row.id,
            "source": settings.source,
            "type": settings.type,
            "subject": row.customer_id,
            "time": row.ts.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "data": {
                "tokens": token_count(row, "total"),
                "input_tokens": row.input_tokens,
                "output_tokens": row.output_tokens,
                "cached_tokens": row.cached_tokens,
                "cache_write_tokens": row.cache_write_tokens,
                "reasoning_tokens": row.reasoning_tokens,
                "cost": None if row.cost is None else format(row.cost.normalize(), "f"),  # an exact decimal string
                "currency": "USD",
                "model": row.model,
                "model_group": row.model_group,
                "provider": row.provider,
                "feature": row.feature,
                "call_type": row.call_type,
                "status": row.status,
                "request_id": row.request_id,
            },
        }
        batch.add(row, row.id, event)
    return batch


@dataclass(slots=True)
class Settlement:
    """What a batch changes once its results are known.

    ``done`` rows are the leading rows whose every event is settled (delivered, a duplicate, or rejected): the
    cursor moves past the last of them. Events settled in later rows go to ``ahead`` so they are not sent again
    when those rows come round (after 24 hours Stripe would no longer see a resend as a copy).
    """

    done: list[UsageRow] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    ahead: list[tuple[str, str]] = field(default_factory=list)  # (identifier, spend id)
    delivered: int = 0
    rejected: int = 0
    skipped: int = 0
    unattributed: int = 0
    empty: int = 0

    @property
    def last(self) -> UsageRow | None:
        """The last row done (the new cursor), or None when none is."""
        return self.done[-1] if self.done else None


def settle(
    rows: Sequence[UsageRow], batch: Batch, outcomes: Mapping[str, Outcome], already: Iterable[str] = ()
) -> Settlement:
    """Combine a batch's events with their ``outcomes``; ``already`` names events settled in an earlier pass (they
    were not sent again and count as settled)."""
    earlier = set(already)
    result = Settlement()
    rows_by_id = {row.id: row for row in rows}
    for identifier, outcome in outcomes.items():
        if outcome.kind in ("delivered", "duplicate"):
            result.delivered += 1
        elif outcome.kind == "rejected":
            result.rejected += 1
            row = rows_by_id[batch.row_of[identifier]]
            reason = f"rejected ({outcome.status})" if outcome.status else "rejected"
            result.failures.append(
                Failure(
                    identifier,
                    row.id,
                    "rejected",
                    outcome.detail or reason,
                    row.ts,
                    row.request_id,
                    row.customer_id,
                    outcome.status,
                )
            )
    skipped = {failure.spend_id for failure in batch.skipped}
    prefix = True
    for row in rows:
        identifiers = batch.by_row.get(row.id, [])
        settled = all(i in earlier or outcomes.get(i, Outcome("failed")).kind in SETTLED for i in identifiers)
        prefix = prefix and settled
        if prefix:
            result.done.append(row)
            result.skipped += row.id in skipped
            result.unattributed += row.id in batch.unattributed
            result.empty += row.id in batch.empty
        else:
            result.ahead += [(i, row.id) for i in identifiers if outcomes.get(i, Outcome("failed")).kind in SETTLED]
    done = {row.id for row in result.done}
    result.failures += [failure for failure in batch.skipped if failure.spend_id in done]
    return result

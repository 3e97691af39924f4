"""Billing export, the pure parts: spend rows as Stripe meter events (tokens, token types, cost with markup and
rounding, identifiers, Stripe's window, what is skipped and why), as CloudEvents, and ``settle`` (how far a cursor
may move after a partly failed batch)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tollway.economics.export_mapping import (
    MAX_AGE,
    Outcome,
    UsageRow,
    cloud_events,
    cost_value,
    meter_events,
    settle,
    token_count,
    window_problem,
)
from tollway.economics.export_settings import CloudEventsSettings, StripeExportSettings

NOW = datetime(2025, 6, 30, 12, tzinfo=UTC)
STRIPE_IDS = {"acme": "cus_acme", "yamada": "cus_yamada"}


def row(n: int = 1, **fields: Any) -> UsageRow:
    values: dict[str, Any] = {
        "position": n,
        "id": f"{n:032x}",
        "request_id": f"req-{n}",
        "ts": NOW - timedelta(minutes=n),
        "customer_id": "acme",
        "model": "gpt-4o",
        "input_tokens": 1000,
        "cached_tokens": 200,
        "cache_write_tokens": 100,
        "output_tokens": 50,
        "reasoning_tokens": 20,
        "cost": Decimal("0.0123456"),
    }
    values.update(fields)
    return UsageRow(**values)


def stripe(**fields: Any) -> StripeExportSettings:
    return StripeExportSettings(**{"api_key": "sk_test", "event_name": "llm_tokens", **fields})


def test_tokens_by_type_follow_the_canonical_subsets() -> None:
    # input includes cached reads and cache writes; output includes reasoning.
    one = row()
    assert {kind: token_count(one, kind) for kind in ("total", "input", "uncached_input", "cached")} == {
        "total": 1050,
        "input": 1000,
        "uncached_input": 700,
        "cached": 200,
    }
    assert (token_count(one, "cache_write"), token_count(one, "output"), token_count(one, "reasoning")) == (100, 50, 20)
    assert token_count(row(cached_tokens=900, cache_write_tokens=300), "uncached_input") == 0  # never negative


def test_one_event_per_row_with_input_plus_output_tokens() -> None:
    batch = meter_events([row(1), row(2, input_tokens=7, output_tokens=3)], stripe(), STRIPE_IDS, NOW)
    events = list(batch.events.values())
    assert [(e.identifier, e.value, e.stripe_customer_id, e.event_name) for e in events] == [
        (f"{1:032x}:total", 1050, "cus_acme", "llm_tokens"),
        (f"{2:032x}:total", 10, "cus_acme", "llm_tokens"),
    ]
    assert events[0].timestamp == int((NOW - timedelta(minutes=1)).timestamp())
    assert events[0].params(stripe()) == {
        "event_name": "llm_tokens",
        "identifier": f"{1:032x}:total",
        "timestamp": events[0].timestamp,
        "payload": {"stripe_customer_id": "cus_acme", "value": "1050"},  # Stripe's payload values are strings
    }


def test_token_types_make_one_event_per_type_each_with_its_own_identifier() -> None:
    settings = stripe(token_types={"uncached_input": "tokens_in", "cached": "tokens_cached", "output": "tokens_out"})
    events = list(meter_events([row(5)], settings, STRIPE_IDS, NOW).events.values())
    assert [(e.identifier, e.event_name, e.value) for e in events] == [
        (f"{5:032x}:uncached_input", "tokens_in", 700),
        (f"{5:032x}:cached", "tokens_cached", 200),
        (f"{5:032x}:output", "tokens_out", 50),
    ]
    # Each type has its own meter: the payload needs no type.
    assert events[0].params(settings)["payload"] == {"stripe_customer_id": "cus_acme", "value": "700"}
    shared = stripe(token_types={"input": "llm_tokens", "output": "llm_tokens"})
    first = next(iter(meter_events([row(5)], shared, STRIPE_IDS, NOW).events.values()))
    assert first.params(shared)["payload"] == {"stripe_customer_id": "cus_acme", "value": "1000", "token_type": "input"}


def test_a_type_with_no_tokens_sends_no_event() -> None:
    settings = stripe(token_types={"input": "in", "reasoning": "think"})
    batch = meter_events([row(1, reasoning_tokens=0)], settings, STRIPE_IDS, NOW)
    assert list(batch.events) == [f"{1:032x}:input"]


@pytest.mark.parametrize(
    ("cost", "markup", "unit", "value"),
    [
        (Decimal("0.0123456"), Decimal(1), Decimal("0.000001"), 12346),  # 12345.6 micro-dollars, half up
        (Decimal("0.0123456"), Decimal("1.2"), Decimal("0.000001"), 14815),  # 14814.72
        (Decimal("0.0000005"), Decimal(1), Decimal("0.000001"), 1),  # exactly half a unit rounds up
        (Decimal("0.00000049"), Decimal(1), Decimal("0.000001"), 0),
        (Decimal("2.5"), Decimal("1.1"), Decimal("0.01"), 275),  # cents
        (Decimal("0.000000000001"), Decimal(3), Decimal("0.000000000001"), 3),  # the store's smallest amount
    ],
)
def test_cost_values_are_whole_units_rounded_half_up(cost: Decimal, markup: Decimal, unit: Decimal, value: int) -> None:
    assert cost_value(cost, markup, unit) == value


def test_cost_mode_sends_the_marked_up_cost_in_units() -> None:
    settings = stripe(value="cost", markup=Decimal("1.5"), event_name="llm_cost")
    events = list(meter_events([row(3, cost=Decimal("0.002"))], settings, STRIPE_IDS, NOW).events.values())
    assert [(e.identifier, e.event_name, e.value) for e in events] == [(f"{3:032x}:cost", "llm_cost", 3000)]


def test_rows_not_exported_are_recorded_with_their_reason() -> None:
    rows = [
        row(1, customer_id=None),  # nobody to bill: counted, not recorded
        row(2, customer_id="nobody"),  # no stripe_customer_id
        row(3, ts=NOW - timedelta(days=36)),
        row(4, ts=NOW + timedelta(minutes=6)),
        row(5, input_tokens=0, output_tokens=0, cached_tokens=0, cache_write_tokens=0),  # nothing to bill
        row(6),
    ]
    batch = meter_events(rows, stripe(), STRIPE_IDS, NOW)
    assert list(batch.events) == [f"{6:032x}:total"]
    assert [(f.spend_id, f.identifier, f.reason) for f in batch.skipped] == [
        (rows[1].id, rows[1].id, "unmapped_customer"),
        (rows[2].id, rows[2].id, "too_old"),
        (rows[3].id, rows[3].id, "in_future"),
    ]
    assert "nobody" in batch.skipped[0].detail
    assert batch.unattributed == {rows[0].id}
    assert batch.empty == {rows[4].id}


def test_cost_mode_records_unpriced_rows_and_counts_empty_ones() -> None:
    settings = stripe(value="cost")
    rows = [row(1, cost=None), row(2, cost=None, input_tokens=0, output_tokens=0), row(3, cost=Decimal(0))]
    batch = meter_events(rows, settings, STRIPE_IDS, NOW)
    assert [(f.spend_id, f.reason) for f in batch.skipped] == [(rows[0].id, "unpriced")]
    assert batch.empty == {rows[1].id, rows[2].id}
    assert not batch.events
    negative = meter_events([row(4, cost=Decimal("-0.5"))], settings, STRIPE_IDS, NOW)
    assert [f.reason for f in negative.skipped] == ["invalid"]


def test_stripes_window_edges() -> None:
    assert window_problem(NOW - MAX_AGE, NOW) is None
    assert window_problem(NOW - MAX_AGE - timedelta(seconds=1), NOW) is not None
    assert window_problem(NOW + timedelta(minutes=4), NOW) is None
    reason, detail = window_problem(NOW + timedelta(minutes=5), NOW) or ("", "")
    assert reason == "in_future"
    assert "5 minutes" in detail


def test_cloud_events_are_cloudevents_1_0_with_the_usage_as_data() -> None:
    settings = CloudEventsSettings(url="http://receiver/events", source="gw-eu", type="llm.usage")
    rows = [row(1, feature="chat", model_group="smart", provider="openai"), row(2, customer_id=None, cost=None)]
    batch = cloud_events(rows, settings)
    assert list(batch.events) == [rows[0].id]
    assert batch.unattributed == {rows[1].id}
    event = batch.events[rows[0].id]
    assert {k: event[k] for k in ("specversion", "id", "source", "type", "subject", "time")} == {
        "specversion": "1.0",
        "id": rows[0].id,
        "source": "gw-eu",
        "type": "llm.usage",
        "subject": "acme",
        "time": "2025-06-30T11:59:00Z",
    }
    data = event["data"]
    assert (data["tokens"], data["input_tokens"], data["output_tokens"]) == (1050, 1000, 50)
    assert (data["cost"], data["currency"], data["model"], data["feature"]) == ("0.0123456", "USD", "gpt-4o", "chat")
    assert data["request_id"] == "req-1"
    unpriced = cloud_events([row(3, cost=None)], settings).events[row(3).id]
    assert unpriced["data"]["cost"] is None  # unknown, never 0


def _batch(settings: StripeExportSettings, rows: list[UsageRow]) -> Any:
    return meter_events(rows, settings, STRIPE_IDS, NOW)


def test_settle_moves_the_cursor_past_the_leading_settled_rows_only() -> None:
    settings = stripe(token_types={"input": "in", "output": "out"})
    rows = [row(1), row(2, customer_id="nobody"), row(3), row(4), row(5)]
    batch = _batch(settings, rows)
    ok, rejected, failed = Outcome("delivered"), Outcome("rejected", "no meter", 400), Outcome("failed", "503", 503)
    outcomes = {
        f"{rows[0].id}:input": ok,
        f"{rows[0].id}:output": Outcome("duplicate"),
        f"{rows[2].id}:input": rejected,
        f"{rows[2].id}:output": ok,
        f"{rows[3].id}:input": ok,
        f"{rows[3].id}:output": failed,  # row 4 stops the cursor
        f"{rows[4].id}:input": ok,
        # rows[4] output: not tried
    }
    result = settle(rows, batch, outcomes)
    assert [r.id for r in result.done] == [rows[0].id, rows[1].id, rows[2].id]
    assert result.last == rows[2]
    assert (result.delivered, result.rejected, result.skipped) == (5, 1, 1)
    assert sorted((f.identifier, f.reason) for f in result.failures) == sorted(
        [(rows[1].id, "unmapped_customer"), (f"{rows[2].id}:input", "rejected")]
    )
    # Settled events past the cursor are remembered, so the next pass does not send them again.
    assert sorted(result.ahead) == sorted([(f"{rows[3].id}:input", rows[3].id), (f"{rows[4].id}:input", rows[4].id)])
    again = settle(rows[3:], _batch(settings, rows[3:]), {f"{rows[3].id}:output": ok}, [i for i, _ in result.ahead])
    assert [r.id for r in again.done] == [rows[3].id]  # rows[4]'s output still unsent
    assert again.delivered == 1


def test_settle_with_every_event_delivered_passes_every_row() -> None:
    rows = [row(1), row(2, customer_id=None), row(3, input_tokens=0, output_tokens=0)]
    batch = _batch(stripe(), rows)
    result = settle(rows, batch, dict.fromkeys(batch.events, Outcome("delivered")))
    assert result.done == rows
    assert (result.delivered, result.unattributed, result.empty, result.ahead) == (1, 1, 1, [])

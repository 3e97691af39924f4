"""``SpendEvent``: the spool's JSON line round-trips exactly; bad lines are refused with ValueError."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest
from spend_helpers import event

from tollway.governance.spend_event import SpendEvent


def test_round_trip_is_exact() -> None:
    original = event(
        7,
        ts=datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2))),
        cost=Decimal("1.230000000000"),
        user_id="u",
        team_id="t",
        customer_id="c",
        feature="search",
        deployment_id="d1",
        call_type="embedding",
        stream=True,
        cached_tokens=3,
        cache_write_tokens=4,
        reasoning_tokens=5,
        price_source="genai-prices",
        latency_ms=12.345678901234,
        ttft_ms=0.1,
        status=429,
        error_class="RateLimitError",
        cache_hit=True,
        tags=["a", "é"],
        metadata={"nested": {"list": [1, 2.5, None, True]}, "s": "x"},
        counter_scopes=[("key:k", "2025-01"), ("team:t", "all")],
    )
    line = original.to_json()
    assert b"\n" not in line
    copy = SpendEvent.from_json(line)
    assert copy == original
    assert str(copy.cost) == "1.230000000000"  # the exponent survives, not just the value
    assert copy.ts.utcoffset() == timedelta(hours=2)
    assert orjson.loads(line)["cost"] == "1.230000000000"  # never a float


def test_unpriced_and_tiny_amounts_round_trip() -> None:
    assert SpendEvent.from_json(event(cost=None).to_json()).cost is None
    tiny = event(cost=Decimal("1E-15"))
    assert SpendEvent.from_json(tiny.to_json()).cost == Decimal("1E-15")


def test_ids_are_fresh_uuid_hex() -> None:
    first, second = event(), event()
    assert first.id != second.id
    assert len(first.id) == 32
    int(first.id, 16)


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SpendEvent(ts=datetime(2025, 1, 1))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"id": "x", "ts": "2025-01-01T00:00:00+00:00", "cost": "1.', "unexpected end|EOF"),  # torn
        (b"[1, 2]", "JSON object"),
        (b'{"id": "x"}', "not a spend event"),  # no ts
        (b'{"id": "x", "ts": "not a time"}', "isoformat"),
        (b'{"id": "x", "ts": "2025-01-01T00:00:00+00:00", "cost": "abc"}', "not a spend event"),
        (b'{"id": "x", "ts": "2025-01-01T00:00:00+00:00", "unknown": 1}', "not a spend event"),
    ],
)
def test_bad_lines_raise_value_error(line: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SpendEvent.from_json(line)

"""``SpendEvent``: the spool's JSON line round-trips exactly; bad lines are refused with ValueError."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
from spend_helpers import event

from tollway.governance.spend_event import SpendEvent


def every_field(**overrides: Any) -> SpendEvent:
    """An event with every field set, no two to the same value (stream and cache_hit are both True unless told)."""
    values: dict[str, Any] = {
        "ts": datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2))),
        "cost": Decimal("1.230000000000"),
        "user_id": "u",
        "team_id": "t",
        "customer_id": "c",
        "feature": "search",
        "deployment_id": "d1",
        "call_type": "embedding",
        "stream": True,
        "cached_tokens": 3,
        "cache_write_tokens": 4,
        "reasoning_tokens": 6,
        "price_source": "genai-prices",
        "latency_ms": 12.345678901234,
        "ttft_ms": 0.1,
        "status": 429,
        "error_class": "RateLimitError",
        "cache_hit": True,
        "tags": ["a", "é"],
        "metadata": {"nested": {"list": [1, 2.5, None, True]}, "s": "x"},
        "counter_scopes": [("key:k", "2025-01"), ("team:t", "all")],
    }
    return event(7, **(values | overrides))


def test_round_trip_is_exact() -> None:
    original = every_field()
    line = original.to_json()
    assert b"\n" not in line
    copy = SpendEvent.from_json(line)
    assert copy == original
    assert str(copy.cost) == "1.230000000000"  # the exponent survives, not just the value
    assert copy.ts.utcoffset() == timedelta(hours=2)
    assert "1.230000000000" in orjson.loads(line)  # money as its decimal text, never a float


def test_a_line_is_the_version_then_every_field_in_declaration_order() -> None:
    original = event(3, user_id="u", tags=["t"], counter_scopes=[("key:k", "all")])
    line = orjson.loads(original.to_json())
    assert line[0] == 2
    names = [f.name for f in fields(SpendEvent)]
    assert len(line) == len(names) + 1
    assert dict(zip(names, line[1:], strict=True))["user_id"] == "u"
    assert dict(zip(names, line[1:], strict=True))["id"] == original.id


def test_lines_of_the_object_format_before_version_2_are_still_read() -> None:
    # Spool files a gateway left before an upgrade are replayed by the new version.
    line = (
        b'{"id":"0192f4c2a9e07c3a8d4b1e2f3a4b5c6d","request_id":"r1","ts":"2025-01-02T03:04:05.000001+00:00",'
        b'"key_hash":"h","key_name":"sk-...x","user_id":null,"team_id":"t","customer_id":null,"feature":null,'
        b'"model_group":"gpt","deployment_id":"d","provider":"openai","model":"gpt-4o","call_type":"chat",'
        b'"stream":false,"input_tokens":10,"cached_tokens":2,"cache_write_tokens":0,"output_tokens":5,'
        b'"reasoning_tokens":1,"cost":"0.000123","price_source":"genai-prices","latency_ms":12.5,"ttft_ms":null,'
        b'"status":200,"error_class":null,"cache_hit":false,"tags":["a"],"metadata":{"k":"v"},'
        b'"counter_scopes":[["key:k","all"]]}'
    )
    old = SpendEvent.from_json(line)
    assert (old.id, old.team_id, old.cost, old.counter_scopes) == (
        "0192f4c2a9e07c3a8d4b1e2f3a4b5c6d",
        "t",
        Decimal("0.000123"),
        [("key:k", "all")],
    )
    assert old.ts == datetime(2025, 1, 2, 3, 4, 5, 1, tzinfo=UTC)
    assert SpendEvent.from_json(old.to_json()) == old


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
        (b"[1, 2]", "not a spend event"),  # not [2, <every field>]
        (b'"text"', "JSON array"),
        (b'{"id": "x"}', "not a spend event"),  # no ts
        (b'{"id": "x", "ts": "not a time"}', "isoformat"),
        (b'{"id": "x", "ts": "2025-01-01T00:00:00+00:00", "cost": "abc"}', "not a spend event"),
        (b'{"id": "x", "ts": "2025-01-01T00:00:00+00:00", "unknown": 1}', "not a spend event"),
    ],
)
def test_bad_lines_raise_value_error(line: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SpendEvent.from_json(line)


def test_the_positional_constructor_takes_every_field_in_declaration_order() -> None:
    import inspect

    names = [f.name for f in fields(SpendEvent)]
    parameters = list(inspect.signature(SpendEvent.of).parameters.values())
    assert [p.name for p in parameters] == names
    assert all(p.kind is inspect.Parameter.POSITIONAL_ONLY for p in parameters)
    # A distinct value per field: any two swapped would show.
    keyword = every_field(cache_hit=False)
    positional = SpendEvent.of(*(getattr(keyword, name) for name in names))
    assert positional == keyword
    assert len({repr(getattr(keyword, name)) for name in names}) == len(names)
    with pytest.raises(ValueError, match="timezone-aware"):
        SpendEvent.of(datetime(2025, 1, 1), *(getattr(keyword, name) for name in names[1:]))

"""The governance hot path's cheaper forms give what the general forms give: event ids, spool lines, estimates."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest

from tollway.governance.spend_event import SpendEvent, new_event_id
from tollway.pricing.cost import Price, PriceTier, compute_cost
from tollway.proxy.estimate import _total


def test_event_ids_are_unique_time_ordered_uuid7_hex() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_event_id() for _ in range(20_000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    for value in ids[:200]:
        parsed = uuid.UUID(hex=value)
        assert parsed.hex == value
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert before <= parsed.int >> 80 <= after
    # Ordered by time (ms), so spend rows are added at the end of their primary key's index.
    stamps = [int(value[:12], 16) for value in ids]
    assert stamps == sorted(stamps)


@pytest.mark.parametrize(
    "ts",
    [
        datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2025, 1, 2, 3, 4, 5, 1, tzinfo=UTC),
        datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(seconds=-3661))),  # orjson would drop the seconds
    ],
)
def test_spool_lines_write_the_time_as_isoformat_and_round_trip(ts: datetime) -> None:
    event = SpendEvent(ts=ts, cost=Decimal("0.000000000000001"), counter_scopes=[("key:k", "all")])
    line = event.to_json()
    assert orjson.loads(line)[1] == ts.isoformat()  # the time, first of the fields
    assert SpendEvent.from_json(line) == event


PLAIN = Price(input=Decimal("0.00000015"), output=Decimal("0.0000006"), source="test")
TIERED = Price(
    input=Decimal("0.000001"),
    output=Decimal("0.000002"),
    tiers=(PriceTier(200, (("input", Decimal("0.000003")), ("output", Decimal("0.000004")))),),
    source="test",
)
PER_REQUEST = Price(input=Decimal("0.000001"), output=Decimal("0.000002"), request=Decimal("0.01"), source="test")
NO_OUTPUT = Price(input=Decimal("0.000001"), source="test")


@pytest.mark.parametrize("price", [PLAIN, TIERED, PER_REQUEST, NO_OUTPUT])
@pytest.mark.parametrize(("input_tokens", "output_tokens"), [(1, 1024), (200, 5), (201, 0), (10**7, 10**6)])
def test_the_estimate_total_is_compute_costs_total(price: Price, input_tokens: int, output_tokens: int) -> None:
    cost = compute_cost(price, input_tokens=input_tokens, output_tokens=output_tokens)
    total = _total(price, input_tokens, output_tokens)
    if cost is None:
        assert total is None
    else:
        assert total == cost.total
        assert str(total) == str(cost.total)  # the same Decimal, exponent included


def test_the_memory_counters_rpm_log_holds_only_the_window_in_compact_form() -> None:
    from tollway.governance.counters_memory import _Log

    log = _Log()
    now = 1_000.0
    for _ in range(200_000):  # 2,000 requests a second for 100 s, expired as the counter does on each admission
        now += 0.0005
        log.expire(now - 60)
        log.append(now)
    assert len(log) == 120_000  # the last 60 s
    assert log.oldest() == pytest.approx(now - 60 + 0.0005)
    # What is held: the window, plus at most as much again of expired times waiting to be cut off.
    assert len(log._times) <= 2 * 120_000 + 64
    assert log._times.itemsize == 8  # raw doubles, not float objects
    log.expire(now)
    assert (len(log), log.oldest()) == (0, float("inf"))


def test_the_rpm_log_keeps_its_order_when_the_clock_steps_back() -> None:
    from tollway.governance.counters_memory import _Log

    log = _Log()
    for moment in (10.0, 20.0, 15.0, 30.0):  # 15.0: the clock went back; it counts as 20.0 (expires later, not sooner)
        log.append(moment)
    log.expire(19.0)
    assert (len(log), log.oldest()) == (3, 20.0)
    log.expire(20.0)
    assert (len(log), log.oldest()) == (1, 30.0)

"""One suite for every ``Counter`` implementation (memory and Redis): each behaviour runs against both.

Times come from the ``clock`` fixture (starting at ``T0``, the first second of a minute), which the tests move.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tollway.governance.counters import (
    BudgetClaim,
    Claim,
    Counter,
    CounterUnavailable,
    ParallelClaim,
    RateClaim,
    RateState,
    Refused,
    Ticket,
    nano_to_usd,
    usd_to_nano,
)
from tollway.governance.durations import period_of

T0 = 60.0 * 28_333_334
NANO = 10**9


async def admitted(counter: Counter, *claims: Claim, **kwargs: Any) -> Ticket:
    outcome = await counter.admit(claims, **kwargs)
    assert isinstance(outcome, Ticket), outcome
    return outcome


async def refused(counter: Counter, *claims: Claim) -> Refused:
    outcome = await counter.admit(claims)
    assert isinstance(outcome, Refused), outcome
    return outcome


def budget(limit: int, estimate: int, *, scope: str = "key:a", period: str = "all", end: float | None = None) -> Any:
    return BudgetClaim(scope, period, end, limit, estimate)


# -- rpm ---------------------------------------------------------------------------------------------------------


async def test_rpm_is_a_sliding_window(make_counter: Any, clock: Any) -> None:
    counter = make_counter()
    rate = RateClaim("key:a", rpm=3, tpm=None)
    for offset in (0.0, 10.5, 20.25):
        clock.now = T0 + offset
        await admitted(counter, rate)
    clock.now = T0 + 30
    refusal = await refused(counter, rate)
    assert (refusal.claim, refusal.reason, refusal.limit, refusal.current) == (rate, "rpm", 3, 3)
    assert refusal.retry_after == pytest.approx(30.0)  # until the entry of T0 leaves
    clock.now = T0 + 59.75
    assert (await refused(counter, rate)).retry_after == pytest.approx(0.25)
    clock.now = T0 + 60  # the entry of T0 is now 60 s old: out of the window
    await admitted(counter, rate)
    refusal = await refused(counter, rate)
    assert refusal.retry_after == pytest.approx(10.5)  # the entry of T0 + 10.5 is the oldest now
    assert await counter.window("key:a") == RateState(requests=3, tokens=0)


async def test_refused_requests_are_not_counted(make_counter: Any, clock: Any) -> None:
    counter = make_counter()
    rate = RateClaim("key:a", rpm=1, tpm=None)
    await admitted(counter, rate)
    for _ in range(5):
        await refused(counter, rate)
    assert (await counter.window("key:a")).requests == 1
    clock.now = T0 + 60
    await admitted(counter, rate)  # five refusals did not push the window forward


async def test_zero_limits_refuse_without_retry_after(make_counter: Any) -> None:
    counter = make_counter()
    for claim in (RateClaim("a", rpm=0, tpm=None), RateClaim("b", rpm=None, tpm=0), ParallelClaim("c", 0)):
        refusal = await refused(counter, claim)
        assert (refusal.retry_after, refusal.limit, refusal.current) == (None, 0, 0)


async def test_ticket_reports_rate_use_after_admission(make_counter: Any) -> None:
    counter = make_counter()
    key = RateClaim("key:a", rpm=10, tpm=1000)
    user = RateClaim("user:u", rpm=None, tpm=500)
    first = await admitted(counter, key, user)
    await counter.settle(first, cost_nano=0, tokens=120)
    second = await admitted(counter, key, user, ticket_id="req-2")
    assert second.id == "req-2"
    assert second.remaining == {"key:a": RateState(2, 120), "user:u": RateState(0, 120)}
    assert second.admitted_at == T0
    assert len(first.id) == 32
    assert first.id != second.id


# -- tpm ---------------------------------------------------------------------------------------------------------


async def test_tpm_counts_settled_tokens_in_the_last_60_one_second_buckets(make_counter: Any, clock: Any) -> None:
    counter = make_counter()
    rate = RateClaim("key:a", rpm=None, tpm=100)
    ticket = await admitted(counter, rate)
    assert (await counter.window("key:a")).tokens == 0  # tokens are known only at settle
    clock.now = T0 + 1.5
    await counter.settle(ticket, cost_nano=0, tokens=60)
    ticket = await admitted(counter, rate)  # 60 < 100
    clock.now = T0 + 2.5
    await counter.settle(ticket, cost_nano=0, tokens=50)
    clock.now = T0 + 3
    refusal = await refused(counter, rate)
    assert (refusal.reason, refusal.limit, refusal.current) == ("tpm", 100, 110)
    assert refusal.retry_after == pytest.approx(58.0)  # the bucket of second T0 + 1 leaves at T0 + 61
    clock.now = T0 + 60.9
    await refused(counter, rate)
    clock.now = T0 + 61
    await admitted(counter, rate)
    assert await counter.window("key:a") == RateState(0, 50)
    clock.now = T0 + 62
    assert await counter.window("key:a") == RateState(0, 0)  # every bucket expired


async def test_tpm_retry_after_waits_for_enough_buckets(make_counter: Any, clock: Any) -> None:
    counter = make_counter()
    rate = RateClaim("key:a", rpm=None, tpm=100)
    for offset, tokens in ((0, 40), (5, 40), (10, 40)):
        clock.now = T0 + offset
        await counter.settle(await admitted(counter, rate), cost_nano=0, tokens=tokens)
    clock.now = T0 + 20
    # 120 tokens: dropping the first bucket leaves 80 < 100, so the wait ends when it leaves at T0 + 60.
    assert (await refused(counter, rate)).retry_after == pytest.approx(40.0)
    clock.now = T0 + 21
    await counter.settle(await admitted(counter, RateClaim("key:a", rpm=None, tpm=1000)), cost_nano=0, tokens=100)
    # 220 tokens: after the buckets of T0, T0 + 5 and T0 + 10 leave, 100 remain (not below 100), so the wait ends
    # only when the bucket of T0 + 21 leaves too, at T0 + 81.
    assert (await refused(counter, rate)).retry_after == pytest.approx(60.0)


async def test_tokens_count_only_on_scopes_with_a_tpm_limit(make_counter: Any) -> None:
    counter = make_counter()
    ticket = await admitted(counter, RateClaim("key:a", rpm=5, tpm=None), RateClaim("team:t", rpm=None, tpm=10))
    await counter.settle(ticket, cost_nano=0, tokens=7)
    assert await counter.window("key:a") == RateState(1, 0)
    assert await counter.window("team:t") == RateState(0, 7)
    assert await counter.window("nobody") == RateState(0, 0)


# -- parallel ----------------------------------------------------------------------------------------------------


async def test_parallel_slots_are_freed_by_settle_and_release(make_counter: Any) -> None:
    counter = make_counter()
    slot = ParallelClaim("key:a", 3)
    tickets = [await admitted(counter, slot) for _ in range(3)]
    refusal = await refused(counter, slot)
    assert (refusal.reason, refusal.limit, refusal.current, refusal.retry_after) == ("parallel", 3, 3, None)
    await counter.settle(tickets[0], cost_nano=0, tokens=0)
    tickets.append(await admitted(counter, slot))
    await refused(counter, slot)
    await counter.release(tickets[1])
    await counter.release(tickets[1])  # twice: frees nothing more
    await admitted(counter, slot)
    await refused(counter, slot)


async def test_expired_leases_free_their_slots(make_counter: Any, clock: Any) -> None:
    counter = make_counter(lease_seconds=30)
    slot = ParallelClaim("key:a", 2)
    await admitted(counter, slot)
    clock.now = T0 + 10
    await admitted(counter, slot)
    clock.now = T0 + 29.9
    await refused(counter, slot)
    clock.now = T0 + 30  # the first lease ran out: its holder never settled (a crashed instance)
    await admitted(counter, slot)
    await refused(counter, slot)


# -- budget ------------------------------------------------------------------------------------------------------


async def test_budget_admits_exactly_what_the_limit_covers(make_counter: Any) -> None:
    counter = make_counter()
    claim = budget(10 * 3_000_000, 3_000_000, end=T0 + 3600)
    for _ in range(10):
        await admitted(counter, claim)
    refusal = await refused(counter, claim)
    assert (refusal.reason, refusal.limit, refusal.current) == ("budget", 30_000_000, 30_000_000)
    assert refusal.retry_after == pytest.approx(3600.0)  # a new period starts at zero
    assert await counter.spent("key:a", "all") == 0  # reservations are not spend


async def test_settle_below_the_estimate_frees_the_difference(make_counter: Any) -> None:
    counter = make_counter()
    claim = budget(100, 40)
    first = await admitted(counter, claim)
    await admitted(counter, claim)
    assert (await refused(counter, claim)).current == 80  # 80 reserved + 40 > 100
    await counter.settle(first, cost_nano=10, tokens=0)
    assert await counter.spent("key:a", "all") == 10  # at once, not when the spend rows are written
    await admitted(counter, claim)  # 10 spent + 40 reserved + 40 = 90
    assert (await refused(counter, claim)).current == 90


async def test_settle_above_the_estimate_counts_the_actual_cost(make_counter: Any) -> None:
    counter = make_counter()
    ticket = await admitted(counter, budget(100, 10))
    await counter.settle(ticket, cost_nano=95, tokens=0)
    assert await counter.spent("key:a", "all") == 95
    assert (await refused(counter, budget(100, 10))).current == 95
    await admitted(counter, budget(100, 5))


async def test_release_drops_the_reservation_without_spending(make_counter: Any) -> None:
    counter = make_counter()
    claim = budget(100, 60)
    ticket = await admitted(counter, claim)
    await refused(counter, claim)
    await counter.release(ticket)
    await admitted(counter, claim)
    assert await counter.spent("key:a", "all") == 0


async def test_an_exhausted_budget_refuses_even_free_requests(make_counter: Any) -> None:
    counter = make_counter()
    await counter.settle(await admitted(counter, budget(50, 50)), cost_nano=50, tokens=0)
    assert (await refused(counter, budget(50, 0))).current == 50
    assert (await refused(counter, budget(0, 0, scope="key:zero"))).retry_after is None  # never ends


async def test_expired_reservations_free_the_budget(make_counter: Any, clock: Any) -> None:
    counter = make_counter(lease_seconds=30)
    claim = budget(100, 100)
    await admitted(counter, claim)
    clock.now = T0 + 29
    await refused(counter, claim)
    clock.now = T0 + 30
    ticket = await admitted(counter, claim)
    await counter.settle(ticket, cost_nano=70, tokens=0)
    assert await counter.spent("key:a", "all") == 70


async def test_settle_after_the_lease_expired_still_counts_the_cost(make_counter: Any, clock: Any) -> None:
    counter = make_counter(lease_seconds=30)
    slow = await admitted(counter, budget(100, 60), ParallelClaim("key:a", 1))
    clock.now = T0 + 31  # the lease ran out while the request was still running
    fresh = await admitted(counter, budget(100, 30), ParallelClaim("key:a", 1))
    await counter.settle(slow, cost_nano=50, tokens=0)
    assert await counter.spent("key:a", "all") == 50
    # The expired reservation was not subtracted twice: 50 spent + 30 still reserved by `fresh`.
    assert (await refused(counter, budget(100, 21))).current == 80
    await counter.settle(fresh, cost_nano=30, tokens=0)
    assert (await refused(counter, budget(100, 21))).current == 80


async def test_loader_is_called_once_per_scope_and_period(make_counter: Any, recording_loader: Any) -> None:
    loader = recording_loader({("key:a", "1d:x"): 40})
    counter = make_counter(loader=loader)
    for _ in range(3):
        await counter.settle(await admitted(counter, budget(100, 10, period="1d:x")), cost_nano=5, tokens=0)
    assert loader.calls == [("key:a", "1d:x")]
    assert await counter.spent("key:a", "1d:x") == 55  # 40 already spent before this process + 3 x 5
    await admitted(counter, budget(100, 10, scope="user:u", period="1d:x"))
    assert loader.calls == [("key:a", "1d:x"), ("user:u", "1d:x")]


async def test_a_budget_already_spent_in_the_database_refuses_at_once(make_counter: Any, recording_loader: Any) -> None:
    counter = make_counter(loader=recording_loader({("key:a", "all"): 100}))
    refusal = await refused(counter, budget(100, 1))
    assert (refusal.reason, refusal.current, refusal.retry_after) == ("budget", 100, None)


async def test_a_new_period_starts_at_zero(make_counter: Any, clock: Any, recording_loader: Any) -> None:
    loader = recording_loader()
    counter = make_counter(loader=loader)
    clock.now = T0 + 7200

    def claim() -> BudgetClaim:
        period = period_of("1d", clock.now)
        assert period.end_ts is not None
        return BudgetClaim("key:a", period.label, period.end_ts, 100, 60)

    today = claim()
    await counter.settle(await admitted(counter, today), cost_nano=60, tokens=0)
    refusal = await refused(counter, today)
    assert refusal.retry_after == pytest.approx(today.period_end - clock.now)  # type: ignore[operator]
    clock.now = today.period_end  # UTC midnight
    tomorrow = claim()
    assert tomorrow.period != today.period
    await admitted(counter, tomorrow)
    assert await counter.spent("key:a", tomorrow.period) == 0
    assert await counter.spent("key:a", today.period) == 60
    assert loader.calls == [("key:a", today.period), ("key:a", tomorrow.period)]


async def test_spent_of_an_unloaded_budget_asks_the_loader(make_counter: Any, recording_loader: Any) -> None:
    counter = make_counter(loader=recording_loader({("customer:c", "all"): 1234}))
    assert await counter.spent("customer:c", "all") == 1234
    assert await counter.spent("customer:d", "all") == 0


async def test_a_failing_loader_is_counter_unavailable_and_retried(make_counter: Any) -> None:
    calls = []

    async def loader(scope: str, period: str) -> int:
        calls.append(scope)
        if len(calls) == 1:
            raise OSError("database is down")
        return 0

    counter = make_counter(loader=loader)
    with pytest.raises(CounterUnavailable, match="database is down"):
        await counter.admit([budget(100, 10)])
    await admitted(counter, budget(100, 10))
    assert calls == ["key:a", "key:a"]


# -- all claims or none --------------------------------------------------------------------------------------------


async def test_a_refusal_consumes_nothing_on_the_other_claims(make_counter: Any, recording_loader: Any) -> None:
    counter = make_counter(loader=recording_loader({("team:t", "all"): 100}))
    rate = RateClaim("key:a", rpm=1, tpm=None)
    slot = ParallelClaim("key:a", 1)
    refusal = await refused(counter, rate, slot, budget(500, 10), budget(100, 10, scope="team:t"))
    assert refusal.claim == budget(100, 10, scope="team:t")
    assert await counter.window("key:a") == RateState(0, 0)
    assert (await refused(counter, budget(500, 501))).current == 0  # key:a's budget reserved nothing
    await admitted(counter, rate, slot)  # neither the rpm entry nor the slot was taken


async def test_the_first_failing_claim_is_reported(make_counter: Any) -> None:
    counter = make_counter()
    await admitted(counter, RateClaim("user:u", rpm=1, tpm=None), ParallelClaim("key:a", 1))
    refusal = await refused(counter, ParallelClaim("key:a", 1), RateClaim("user:u", rpm=1, tpm=None))
    assert refusal.reason == "parallel"
    refusal = await refused(counter, RateClaim("user:u", rpm=1, tpm=None), ParallelClaim("key:a", 1))
    assert refusal.reason == "rpm"


async def test_one_scope_may_carry_each_kind_of_claim_once(make_counter: Any) -> None:
    counter = make_counter()
    claims = (RateClaim("key:a", rpm=1, tpm=None), ParallelClaim("key:a", 1), budget(10, 1), budget(10, 1, period="p"))
    ticket = await admitted(counter, *claims)
    assert len(ticket.claims) == 4
    with pytest.raises(ValueError, match="merge them"):
        await counter.admit([RateClaim("key:b", rpm=1, tpm=None), RateClaim("key:b", rpm=2, tpm=None)])


async def test_no_claims_admit_and_settle(make_counter: Any) -> None:
    counter = make_counter()
    ticket = await admitted(counter)
    await counter.settle(ticket, cost_nano=5, tokens=5)
    await counter.release(ticket)


def test_claims_reject_negative_limits() -> None:
    with pytest.raises(ValueError, match="rpm"):
        RateClaim("a", rpm=-1, tpm=None)
    with pytest.raises(ValueError, match="tpm"):
        RateClaim("a", rpm=None, tpm=-5)
    with pytest.raises(ValueError, match="limit"):
        ParallelClaim("a", -1)
    with pytest.raises(ValueError, match="estimate_nano"):
        BudgetClaim("a", "all", None, 10, -1)


# -- money ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usd", "up", "half_up"),
    [
        ("0", 0, 0),
        ("1", NANO, NANO),
        ("0.000000001", 1, 1),
        ("0.0000000001", 1, 0),
        ("0.0000000005", 1, 1),
        ("0.00000000049", 1, 0),
        ("0.000123456789012", 123457, 123457),
        ("0.0001234564", 123457, 123456),
        ("123456789.123456789012", 123456789123456790, 123456789123456789),
    ],
)
def test_usd_to_nano_rounds_reservations_up_and_costs_half_up(usd: str, up: int, half_up: int) -> None:
    assert usd_to_nano(Decimal(usd), round_up=True) == up
    assert usd_to_nano(Decimal(usd), round_up=False) == half_up


def test_nano_to_usd_is_exact() -> None:
    assert nano_to_usd(123456789123456789) == Decimal("123456789.123456789")
    assert nano_to_usd(usd_to_nano(Decimal("0.75"), round_up=False)) == Decimal("0.75")
    with pytest.raises(ValueError, match="cannot count"):
        usd_to_nano(Decimal("NaN"), round_up=True)

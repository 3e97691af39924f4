"""The virtual-key hot path's cheaper forms give what the general forms give: planned claims reserving an estimate,
claims checked once, dollars to nano-dollars, the rate-limit headers, and SQLite's time text."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tollway.governance.admission import Subject, claims_for, plan_claims, subjects_of
from tollway.governance.counters import (
    BudgetClaim,
    CheckedClaims,
    ParallelClaim,
    RateClaim,
    RateState,
    Ticket,
    check_claims,
    usd_to_nano,
)
from tollway.governance.counters_memory import MemoryCounter
from tollway.governance.records import KeyRecord, Limits, ModelBudget, Principal, TeamRecord
from tollway.governance.service import _rate_headers, _tightest_headers
from tollway.storage.spend_sqlite import _times, sqlite_time

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC).timestamp()


def _subjects() -> list[Subject]:
    limits = Limits(
        max_budget=Decimal("10"),
        budget_duration="1d",
        rpm_limit=20,
        tpm_limit=1000,
        max_parallel_requests=3,
        model_max_budget={"m": ModelBudget(Decimal("0.5"), "1mo")},
        model_rpm_limit={"m": 5},
    )
    key = KeyRecord(token_hash="h" * 64, key_name="sk-...abcd", key_id="k" * 32, limits=limits)
    principal = Principal(key, team=TeamRecord("t1", limits=Limits(rpm_limit=7, max_budget=Decimal("100"))))
    return subjects_of(principal, "cust", None, Limits(tpm_limit=9))


@pytest.mark.parametrize("nano", [0, 1, 10**6, 2**62])
def test_a_plan_reserving_an_estimate_gives_claims_fors_claims(nano: int) -> None:
    subjects = _subjects()
    plan = plan_claims(subjects, "m", NOW)
    reserved = plan.reserving(nano)
    assert type(reserved) is CheckedClaims
    assert list(reserved) == claims_for(subjects, "m", Decimal(nano).scaleb(-9), NOW)
    assert all(c.estimate_nano == nano for c in reserved if isinstance(c, BudgetClaim))
    assert plan.rates == tuple(c for c in plan.claims if isinstance(c, RateClaim))


def test_a_plan_remembers_its_last_estimate_and_never_mixes_two() -> None:
    subjects = _subjects()
    plan = plan_claims(subjects, "m", NOW)
    first = plan.reserving(7)
    assert plan.reserving(7) is first  # the same estimate again: the same (immutable) claims
    for nano in (8, 7, 8, 0, 7):
        reserved = plan.reserving(nano)
        assert list(reserved) == claims_for(subjects, "m", Decimal(nano).scaleb(-9), NOW)
    assert plan.claims == plan_claims(subjects, "m", NOW).claims  # the planned claims are left as they were


def test_a_reserving_copy_is_an_ordinary_claim_and_refuses_a_negative_estimate() -> None:
    claim = BudgetClaim("key:k", "1d:2026-11-26", NOW + 5, 10**9, 0)
    copy = claim.reserving(42)
    assert copy == BudgetClaim("key:k", "1d:2026-11-26", NOW + 5, 10**9, 42)
    assert hash(copy) == hash(BudgetClaim("key:k", "1d:2026-11-26", NOW + 5, 10**9, 42))
    assert claim.estimate_nano == 0  # the planned claim is left as it was
    with pytest.raises(ValueError, match="estimate_nano"):
        claim.reserving(-1)


async def test_unchecked_claims_are_still_checked_and_checked_ones_pass_as_they_are() -> None:
    duplicate = [RateClaim("key:k", 1, None), RateClaim("key:k", 2, None)]
    with pytest.raises(ValueError, match="merge them"):
        check_claims(duplicate)
    with pytest.raises(ValueError, match="merge them"):
        await MemoryCounter(clock=lambda: NOW).admit(duplicate)
    checked = CheckedClaims([RateClaim("key:k", 1, None), ParallelClaim("key:k", 1)])
    assert check_claims(checked) is checked
    ticket = await MemoryCounter(clock=lambda: NOW).admit(checked)
    assert isinstance(ticket, Ticket)
    assert ticket.claims is checked


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN", "-NaN", "sNaN", "1E+999999"])
@pytest.mark.parametrize("round_up", [True, False])
def test_usd_to_nano_refuses_what_is_not_a_finite_amount(value: str, round_up: bool) -> None:
    with pytest.raises(ValueError, match="cannot count"):
        usd_to_nano(Decimal(value), round_up=round_up)


async def test_the_rate_headers_name_the_tightest_rate_claim() -> None:
    subjects = _subjects()
    plan = plan_claims(subjects, "m", NOW)
    counter = MemoryCounter(clock=lambda: NOW)
    ticket = None
    for _ in range(3):
        ticket = await counter.admit(plan.claims)
    assert isinstance(ticket, Ticket)
    # rpm: the key's 20, the team's 7 and the key's per-model 5: the model's is the tightest (5 - 3 = 2 left).
    # tpm: the key's 1000 and the customer's 9, nothing settled: the customer's (9 left).
    assert _rate_headers(ticket, plan.rates) == [
        (b"x-ratelimit-limit-requests", b"5"),
        (b"x-ratelimit-remaining-requests", b"2"),
        (b"x-ratelimit-limit-tokens", b"9"),
        (b"x-ratelimit-remaining-tokens", b"9"),
    ]
    assert _rate_headers(ticket, ()) == []


@pytest.mark.parametrize("rpm", [None, 0, 2, 10**8])
@pytest.mark.parametrize("tpm", [None, 0, 50, 10**11])
def test_the_one_claim_headers_are_the_general_ones(rpm: int | None, tpm: int | None) -> None:
    claim = RateClaim("key:k", rpm, tpm)
    # Use below, at and over each limit (over: the remaining count is 0, never negative).
    for requests, tokens in itertools.product((0, 1, 3), (0, 50, 60)):
        ticket = Ticket("t", (claim,), NOW, {"key:k": RateState(requests, tokens)})
        assert _rate_headers(ticket, (claim,)) == _tightest_headers(ticket, (claim,)), (requests, tokens)
    assert _rate_headers(Ticket("t", (claim,), NOW, {}), (claim,)) == []  # no use of the scope: no headers


MOMENTS = [
    datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),  # no fraction: orjson leaves it out
    datetime(2025, 1, 2, 3, 4, 5, 1, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2025, 1, 2, 3, 4, 5, 7, tzinfo=timezone(timedelta(hours=2))),  # not UTC: made the slow way
    datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-2))),
]


@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_sqlite_times_of_a_batch_are_sqlite_time_of_each(count: int) -> None:
    for moments in itertools.product(MOMENTS, repeat=count):
        assert _times(list(moments)) == [sqlite_time(moment) for moment in moments]

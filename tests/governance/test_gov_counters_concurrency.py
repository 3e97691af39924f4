"""Counters under concurrency (one process, and two gateway instances sharing Redis) and Redis faults.

Issue #7's acceptance numbers: rpm=20 with 35 concurrent requests → exactly 20; a budget covering 10 requests with
200 concurrent → exactly 10; both across two instances. The Redis fault tests use a private redis-server, so
SCRIPT FLUSH, FLUSHALL and a shutdown never disturb the shared Redis other tests use.
"""

from __future__ import annotations

import asyncio
from collections import Counter as Tally
from typing import Any

import pytest

from tollway.governance.counters import (
    BudgetClaim,
    Claim,
    Counter,
    CounterUnavailable,
    ParallelClaim,
    RateClaim,
    Refused,
    Ticket,
)
from tollway.governance.counters_redis import RedisCounter

T0 = 60.0 * 28_333_334
ESTIMATE = 2_500_000  # $0.0025
BUDGET = BudgetClaim("key:a", "1mo:2023-11-01T00:00:00Z", T0 + 86_400, 10 * ESTIMATE, ESTIMATE)


async def admit_all(counters: list[Counter], claims: list[Claim], n: int) -> list[Ticket | Refused]:
    """``n`` concurrent admits spread round-robin over ``counters``."""
    return list(await asyncio.gather(*(counters[i % len(counters)].admit(claims) for i in range(n))))


def tickets(outcomes: list[Ticket | Refused]) -> list[Ticket]:
    return [outcome for outcome in outcomes if isinstance(outcome, Ticket)]


async def test_rpm_20_with_35_concurrent_admits_exactly_20(make_counter: Any) -> None:
    outcomes = await admit_all([make_counter()], [RateClaim("key:a", rpm=20, tpm=None)], 35)
    assert len(tickets(outcomes)) == 20
    assert Tally(outcome.reason for outcome in outcomes if isinstance(outcome, Refused)) == {"rpm": 15}


async def test_rpm_20_across_two_redis_instances_exactly_20(redis_url: str, redis_prefix: str) -> None:
    instances: list[Counter] = [RedisCounter.from_url(redis_url, prefix=redis_prefix) for _ in range(2)]
    try:
        outcomes = await admit_all(instances, [RateClaim("key:a", rpm=20, tpm=None)], 35)
        assert len(tickets(outcomes)) == 20
        assert (await instances[1].window("key:a")).requests == 20
    finally:
        for counter in instances:
            await counter.aclose()


async def test_parallel_3_with_10_concurrent_admits_exactly_3(make_counter: Any) -> None:
    counter = make_counter()
    slot = [ParallelClaim("key:a", 3)]
    outcomes = await admit_all([counter], slot, 10)
    assert len(tickets(outcomes)) == 3
    await asyncio.gather(*(counter.settle(ticket, cost_nano=0, tokens=0) for ticket in tickets(outcomes)))
    assert len(tickets(await admit_all([counter], slot, 10))) == 3


async def test_budget_for_10_with_200_concurrent_admits_exactly_10(make_counter: Any, recording_loader: Any) -> None:
    loader = recording_loader(delay=0.01)  # slow, so all 200 admits find the budget not loaded yet
    counter = make_counter(loader=loader)
    outcomes = await admit_all([counter], [BUDGET, ParallelClaim("key:a", 1000)], 200)
    admitted = tickets(outcomes)
    assert len(admitted) == 10
    assert loader.calls == [("key:a", BUDGET.period)]
    assert {o.current for o in outcomes if isinstance(o, Refused)} == {10 * ESTIMATE}
    # Settled below the estimate: the difference is free again, so exactly that many more fit.
    await asyncio.gather(*(counter.settle(ticket, cost_nano=ESTIMATE // 2, tokens=0) for ticket in admitted))
    assert await counter.spent("key:a", BUDGET.period) == 5 * ESTIMATE
    assert len(tickets(await admit_all([counter], [BUDGET], 200))) == 5


async def test_budget_for_10_across_two_redis_instances_exactly_10(
    redis_url: str, redis_prefix: str, recording_loader: Any
) -> None:
    loaders = [recording_loader(delay=0.01) for _ in range(2)]
    instances: list[Counter] = [
        RedisCounter.from_url(redis_url, prefix=redis_prefix, loader=loader, clock=lambda: T0) for loader in loaders
    ]
    try:
        outcomes = await admit_all(instances, [BUDGET, RateClaim("key:a", rpm=1000, tpm=None)], 200)
        admitted = tickets(outcomes)
        assert len(admitted) == 10
        # Each instance read the budget at most once; whichever stored it first won (set-if-absent).
        assert all(len(loader.calls) <= 1 for loader in loaders)
        assert (await instances[0].window("key:a")).requests == 10  # refused requests took no rpm entry
        await asyncio.gather(*(instances[0].settle(t, cost_nano=ESTIMATE, tokens=0) for t in admitted))
        assert await instances[1].spent("key:a", BUDGET.period) == 10 * ESTIMATE
    finally:
        for counter in instances:
            await counter.aclose()


async def test_concurrent_settles_and_admits_never_overshoot(make_counter: Any) -> None:
    counter = make_counter()
    limit = 100 * ESTIMATE
    claim = BudgetClaim("key:a", "all", None, limit, ESTIMATE)

    async def request() -> int:
        outcome = await counter.admit([claim])
        if isinstance(outcome, Refused):
            return 0
        await asyncio.sleep(0)
        await counter.settle(outcome, cost_nano=ESTIMATE - 1, tokens=0)
        return 1

    served = sum(await asyncio.gather(*(request() for _ in range(300))))
    spent = await counter.spent("key:a", "all")
    assert spent == served * (ESTIMATE - 1) <= limit
    assert served >= 100


# -- Redis faults --------------------------------------------------------------------------------------------------


async def test_unreachable_redis_raises_counter_unavailable(closed_port: int) -> None:
    url = f"redis://127.0.0.1:{closed_port}/0"
    counter = RedisCounter.from_url(url, socket_timeout=0.5)
    try:
        with pytest.raises(CounterUnavailable, match=f"cannot reach Redis at {url}"):
            await counter.admit([RateClaim("key:a", rpm=1, tpm=None)])
        with pytest.raises(CounterUnavailable):
            await counter.ping()
    finally:
        await counter.aclose()


async def test_password_is_not_shown_in_errors(closed_port: int) -> None:
    counter = RedisCounter.from_url(f"redis://user:hunter2@127.0.0.1:{closed_port}/0", socket_timeout=0.5)
    try:
        with pytest.raises(CounterUnavailable) as caught:
            await counter.spent("key:a", "all")
        assert "hunter2" not in str(caught.value)
        assert "user:***@" in str(caught.value)
    finally:
        await counter.aclose()


async def test_scripts_are_reloaded_after_script_flush(private_redis: Any) -> None:
    counter = RedisCounter.from_url(private_redis.url)
    try:
        await counter.ping()
        private_redis.command("SCRIPT", "FLUSH")
        ticket = await counter.admit([RateClaim("key:a", rpm=5, tpm=10)])
        assert isinstance(ticket, Ticket)
        private_redis.command("SCRIPT", "FLUSH")
        await counter.settle(ticket, cost_nano=0, tokens=3)
        private_redis.command("SCRIPT", "FLUSH")
        assert (await counter.window("key:a")).tokens == 3
    finally:
        await counter.aclose()


async def test_a_flushed_redis_reloads_budgets_from_the_loader(private_redis: Any, recording_loader: Any) -> None:
    loader = recording_loader({("key:a", "all"): 30})
    counter = RedisCounter.from_url(private_redis.url, loader=loader, load_grace=0)
    claim = BudgetClaim("key:a", "all", None, 100, 10)
    try:
        before = await counter.admit([claim, ParallelClaim("key:a", 5)])
        assert isinstance(before, Ticket)
        private_redis.command("FLUSHALL")
        loader.spent[("key:a", "all")] = 60  # the database has caught up with spend rows meanwhile
        after = await counter.admit([claim])
        assert isinstance(after, Ticket)
        assert loader.calls == [("key:a", "all")] * 2
        # The flushed reservation is gone; settling it neither recreates nor corrupts the reloaded counter.
        await counter.settle(before, cost_nano=10, tokens=0)
        assert await counter.spent("key:a", "all") == 70
        refusal = await counter.admit([BudgetClaim("key:a", "all", None, 100, 21)])
        assert isinstance(refusal, Refused)
        assert refusal.current == 80  # 70 spent + 10 reserved by `after`
    finally:
        await counter.aclose()


async def test_redis_going_down_raises_counter_unavailable(private_redis: Any) -> None:
    counter = RedisCounter.from_url(private_redis.url, socket_timeout=0.5)
    try:
        ticket = await counter.admit([ParallelClaim("key:a", 1)])
        assert isinstance(ticket, Ticket)
        private_redis.stop()
        with pytest.raises(CounterUnavailable, match=private_redis.url):
            await counter.admit([ParallelClaim("key:a", 1)])
        with pytest.raises(CounterUnavailable):
            await counter.settle(ticket, cost_nano=1, tokens=1)
        with pytest.raises(CounterUnavailable):
            await counter.window("key:a")
    finally:
        await counter.aclose()


async def test_a_given_client_is_left_open(redis_url: str, redis_prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url, decode_responses=True)
    counter = RedisCounter(client, prefix=redis_prefix)
    assert counter.prefix == redis_prefix
    assert isinstance(await counter.admit([RateClaim("key:a", rpm=1, tpm=None)]), Ticket)
    await counter.aclose()
    assert await client.ping()
    await client.aclose()


async def test_a_ticket_admitted_on_one_instance_settles_on_another(redis_url: str, redis_prefix: str) -> None:
    first, second = (RedisCounter.from_url(redis_url, prefix=redis_prefix, clock=lambda: T0) for _ in range(2))
    try:
        claims = [BUDGET, ParallelClaim("key:a", 1), RateClaim("key:a", rpm=None, tpm=100)]
        ticket = await first.admit(claims)
        assert isinstance(ticket, Ticket)
        assert isinstance(await second.admit(claims), Refused)  # the slot is held across instances
        await second.settle(ticket, cost_nano=7, tokens=42)
        assert await first.spent("key:a", BUDGET.period) == 7
        assert (await first.window("key:a")).tokens == 42
        assert isinstance(await first.admit(claims), Ticket)
    finally:
        await first.aclose()
        await second.aclose()


# -- Redis round trips and keys -------------------------------------------------------------------------------------


async def test_admit_and_settle_are_one_evalsha_each(private_redis: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tollway.governance import redis_wire

    sent: list[tuple[Any, ...]] = []
    encode = redis_wire.encode_command

    def counting(args: tuple[Any, ...]) -> bytes:
        """Counts the commands written to Redis: one per round trip."""
        sent.append(args)
        return encode(args)

    monkeypatch.setattr(redis_wire, "encode_command", counting)
    counter = RedisCounter.from_url(private_redis.url, clock=lambda: T0)
    claims = [
        RateClaim("key:a", rpm=100, tpm=10_000),
        ParallelClaim("key:a", 10),
        BUDGET,
        BudgetClaim("user:u", "all", None, 10**12, 1000),
        BudgetClaim("team:t", "all", None, 10**12, 1000),
        RateClaim("customer:c", rpm=100, tpm=None),
    ]
    try:
        await counter.ping()
        await counter.admit(claims)  # connects and loads the budgets: not the steady state
        private_redis.command("CONFIG", "RESETSTAT")
        sent.clear()
        for _ in range(10):
            ticket = await counter.admit(claims)
            assert isinstance(ticket, Ticket)
            await counter.settle(ticket, cost_nano=500, tokens=30)
        assert [args[0] for args in sent] == ["EVALSHA"] * 20
        stats = private_redis.command("INFO", "commandstats")
        assert stats["cmdstat_evalsha"]["calls"] == 20
        assert "cmdstat_eval" not in stats
        assert "cmdstat_script" not in stats
    finally:
        await counter.aclose()


async def test_keys_carry_their_garbage_collection_ttls(redis_url: str, redis_prefix: str) -> None:
    from redis.asyncio import Redis

    counter = RedisCounter.from_url(redis_url, prefix=redis_prefix, clock=lambda: T0, lease_seconds=30)
    raw = Redis.from_url(redis_url, decode_responses=True)
    try:
        claims = [RateClaim("key:a", rpm=5, tpm=50), ParallelClaim("key:a", 5), BUDGET]
        ticket = await counter.admit(claims)
        assert isinstance(ticket, Ticket)
        assert await raw.ttl(f"{redis_prefix}par:key:a") in (30, 31)  # lease + 1 s (gone once empty)
        reservations = f"{redis_prefix}res:{len(BUDGET.period)}:{BUDGET.period}:key:a"
        # A day after the period ends (T0 + 1 day) by the caller's clock: 2 days from T0.
        assert 2 * 86_400 - 5 <= await raw.ttl(reservations) <= 2 * 86_400
        await counter.settle(ticket, cost_nano=1, tokens=1)
        ttls = {
            key.removeprefix(redis_prefix).split(":")[0]: await raw.ttl(key)
            async for key in raw.scan_iter(f"{redis_prefix}*")
        }
        assert ttls["rpm"] in (60, 61)
        assert ttls["tpm"] in (60, 61)
        assert set(ttls) == {"rpm", "tpm", "bud"}  # the settle emptied the slot and reservation sets
        assert 2 * 86_400 - 5 <= ttls["bud"] <= 2 * 86_400
    finally:
        await raw.aclose()
        await counter.aclose()


async def test_scopes_and_labels_cannot_collide_in_key_names(redis_url: str, redis_prefix: str) -> None:
    counter = RedisCounter.from_url(redis_url, prefix=redis_prefix, clock=lambda: T0)
    try:
        # The same characters split differently between scope and period are two budgets.
        first = await counter.admit([BudgetClaim("a:b", "c", None, 10, 10)])
        assert isinstance(first, Ticket)
        assert isinstance(await counter.admit([BudgetClaim("a", "b:c", None, 10, 10)]), Ticket)
    finally:
        await counter.aclose()


# -- memory stays bounded -------------------------------------------------------------------------------------------


async def test_memory_counter_forgets_idle_scopes_and_ended_periods(clock: Any, recording_loader: Any) -> None:
    from tollway.governance.counters_memory import MemoryCounter

    loader = recording_loader()
    counter = MemoryCounter(loader=loader, clock=clock, lease_seconds=30)
    ended = BudgetClaim("key:a", "1d:old", T0 + 10, 100, 1)
    ticket = await counter.admit([RateClaim("key:a", rpm=5, tpm=5), ParallelClaim("key:a", 1), ended])
    assert isinstance(ticket, Ticket)
    await counter.settle(ticket, cost_nano=1, tokens=1)
    for i in range(1100):  # many scopes, all idle a minute later
        assert isinstance(await counter.admit([RateClaim(f"customer:{i}", rpm=5, tpm=None)]), Ticket)
    clock.now = T0 + 10 + 86_400 + 61  # a day after the period ended; every window and lease long over
    for i in range(1100):  # the entries double: a sweep runs on the way
        assert isinstance(await counter.admit([RateClaim(f"user:{i}", rpm=5, tpm=None)]), Ticket)
    assert "key:a" not in counter._rates
    assert "customer:0" not in counter._rates
    assert counter._slots == {}
    assert counter._budgets == {}
    assert len(counter._rates) <= 1100
    assert isinstance(await counter.admit([ended]), Ticket)
    assert loader.calls == [("key:a", "1d:old")] * 2  # forgotten, so read again

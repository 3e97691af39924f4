"""Governance counter cost: µs per ``admit`` + ``settle`` of one request carrying 6 claims, memory and Redis.

Run: ``python bench/governance_counters.py [N] [REDIS_URL]`` (default 20000 requests, ``redis://127.0.0.1:6379/0``).
The request's claims are what a gateway request with a key, user, team and customer typically carries: rate limits
(rpm + tpm) on the key and the customer, a parallel limit on the key, budgets on key, user and team. Prints the best
of 5 rounds beside a floor measured in the same run: two empty awaits for memory, two ``PING`` round trips on the
same kind of pool for Redis (admit and settle are one EVALSHA round trip each). Keys go under a fresh prefix and are
deleted afterwards. Without ``hiredis`` installed, redis-py parses replies in Python, which weighs on the Redis row.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

from tollway.governance.counters import BudgetClaim, Claim, Counter, ParallelClaim, RateClaim, Ticket
from tollway.governance.counters_memory import MemoryCounter
from tollway.governance.counters_redis import RedisCounter

LIMIT = 10**15  # $1M: never reached in a run
CLAIMS: tuple[Claim, ...] = (
    RateClaim("key:bench", rpm=10**9, tpm=10**12),
    ParallelClaim("key:bench", 10_000),
    BudgetClaim("key:bench", "1d:2025-01-01T00:00:00Z", time.time() + 86_400, LIMIT, 25_000),
    BudgetClaim("user:bench", "1mo:2025-01-01T00:00:00Z", time.time() + 86_400, LIMIT, 25_000),
    BudgetClaim("team:bench", "all", None, LIMIT, 25_000),
    RateClaim("customer:bench", rpm=10**9, tpm=None),
)


async def per_request_us(request: Callable[[], Awaitable[None]], n: int) -> tuple[float, float]:
    """Best of 5 rounds of ``n`` requests: (wall µs, this process's CPU µs) per request. On a busy machine the CPU
    figure is the stable one; for Redis the wall figure includes the round trips, the CPU figure only our side."""
    best_wall = best_cpu = float("inf")
    for _ in range(5):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            await request()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall / n * 1e6, best_cpu / n * 1e6


def row(name: str, measured: tuple[float, float], floor: tuple[float, float], what: str) -> None:
    print(f"{name:<8} {measured[0]:>9.2f} {measured[1]:>9.2f} {floor[0]:>10.2f} {floor[1]:>10.2f}  {what}")


def admit_settle(counter: Counter, *, request_ids: bool = False) -> Callable[[], Awaitable[None]]:
    """One request; ``request_ids``: the caller passes its own id (here a cheap sequence number), so the counter
    makes no uuid4 (about 1-2 µs of the memory figure)."""
    sequence = itertools.count()

    async def request() -> None:
        ticket = await counter.admit(CLAIMS, ticket_id=f"r{next(sequence)}" if request_ids else None)
        if not isinstance(ticket, Ticket):
            raise SystemExit(f"refused: {ticket}")
        await counter.settle(ticket, cost_nano=20_000, tokens=300)

    return request


async def main(n: int, url: str) -> None:
    async def nothing() -> None:
        return None

    async def two_awaits() -> None:
        await nothing()
        await nothing()

    print(f"{len(CLAIMS)} claims per request, admit + settle; best of 5 rounds; µs per request")
    print(f"{'counter':<8} {'wall':>9} {'cpu':>9} {'floor wall':>10} {'floor cpu':>10}  floor")
    floor = await per_request_us(two_awaits, n)
    row("memory", await per_request_us(admit_settle(MemoryCounter()), n), floor, "two empty awaits")
    given = await per_request_us(admit_settle(MemoryCounter(), request_ids=True), n)
    row("memory", given, floor, "two empty awaits; ticket ids given by the caller")

    import redis.asyncio

    prefix = f"tollway-bench:{uuid.uuid4().hex}:"
    counter = RedisCounter.from_url(url, prefix=prefix)
    raw = redis.asyncio.Redis(connection_pool=redis.asyncio.BlockingConnectionPool.from_url(url))
    try:
        await counter.ping()

        async def two_pings() -> None:
            await raw.ping()
            await raw.ping()

        redis_n = max(n // 10, 100)
        floor = await per_request_us(two_pings, redis_n)
        row("redis", await per_request_us(admit_settle(counter), redis_n), floor, "two PING round trips")
    finally:
        keys = [key async for key in raw.scan_iter(match=f"{prefix}*")]
        if keys:
            await raw.delete(*keys)
        await raw.aclose(close_connection_pool=True)
        await counter.aclose()


if __name__ == "__main__":
    asyncio.run(
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else 20_000,
            sys.argv[2] if len(sys.argv) > 2 else "redis://127.0.0.1:6379/0",
        )
    )

"""Router state cost: µs per ``acquire`` + ``release`` pair for ``MemoryState`` and ``RedisState``.

Run: ``python bench/router_state.py [N] [REDIS_URL]`` (default 20000 pairs, ``redis://127.0.0.1:6379/0``). Prints
the best of 5 rounds beside a floor measured in the same run: an empty coroutine pair for memory, two ``PING`` round
trips on the same connection pool for Redis (acquire and release are one round trip each), and for ``stats`` of 20
deployments (one pipeline of 21 replies) a pipeline of 21 PINGs. Keys go under a fresh prefix and are deleted
afterwards. Without ``hiredis`` installed, redis-py parses replies in Python, which dominates the Redis figures.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

from tollway.router.state import RouterState
from tollway.router.state_memory import MemoryState
from tollway.router.state_redis import RedisState


async def per_pair_us(pair: Callable[[int], Awaitable[None]], n: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for i in range(n):
            await pair(i)
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def state_pair(state: RouterState) -> Callable[[int], Awaitable[None]]:
    now = time.time()

    async def pair(i: int) -> None:
        at = now + i * 1e-4
        if not await state.acquire("bench", at, rpm_limit=10**9, max_parallel=1000):
            raise SystemExit("acquire refused")
        await state.release("bench", at, tokens=100, latency=0.5, success=True)

    return pair


async def main(n: int, url: str) -> None:
    async def nothing() -> None:
        return None

    async def empty_pair(_: int) -> None:
        await nothing()
        await nothing()

    memory = MemoryState()
    floor = await per_pair_us(empty_pair, n)
    print(f"{'state':<10} {'acquire+release µs':>19} {'floor µs':>9}  floor")
    print(f"{'memory':<10} {await per_pair_us(state_pair(memory), n):>19.2f} {floor:>9.2f}  two empty awaits")

    import redis.asyncio

    prefix = f"tollway-bench:{uuid.uuid4().hex}:"
    state = RedisState.from_url(url, prefix=prefix)
    raw = redis.asyncio.Redis.from_url(url, decode_responses=True)
    try:
        await state.ping()

        async def two_pings(_: int) -> None:
            await raw.ping()
            await raw.ping()

        redis_n = max(n // 10, 100)
        floor = await per_pair_us(two_pings, redis_n)
        measured = await per_pair_us(state_pair(state), redis_n)
        print(f"{'redis':<10} {measured:>19.2f} {floor:>9.2f}  two PING round trips")
        ids = [f"d{i}" for i in range(20)]

        async def pings(_: int) -> None:
            pipe = raw.pipeline(transaction=False)
            for _ in range(len(ids) + 1):
                pipe.ping()
            await pipe.execute()

        stats_us = await per_pair_us(lambda _: state.stats(ids, time.time()), redis_n)
        floor = await per_pair_us(pings, redis_n)
        print(f"{'redis':<10} {stats_us:>19.2f} {floor:>9.2f}  stats of 20 deployments vs a pipeline of 21 PINGs")
    finally:
        keys = [key async for key in raw.scan_iter(match=f"{prefix}*")]
        if keys:
            await raw.delete(*keys)
        await raw.aclose()
        await state.aclose()


if __name__ == "__main__":
    asyncio.run(
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else 20_000,
            sys.argv[2] if len(sys.argv) > 2 else "redis://127.0.0.1:6379/0",
        )
    )

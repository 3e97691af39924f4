"""The key cache: TTL, single-flight loads, stale entries during a store outage, invalidation across instances."""

from __future__ import annotations

import asyncio

import pytest

from tollway.governance.key_cache import CacheUnavailable, Invalidations, KeyCache


class Store:
    def __init__(self) -> None:
        self.values: dict[str, str] = {"a": "A"}
        self.loads = 0
        self.down = False
        self.gate: asyncio.Event | None = None

    async def load(self, name: str) -> str | None:
        self.loads += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise ConnectionError("database down")
        return self.values.get(name)


async def test_entries_live_for_the_ttl_and_misses_are_cached_too() -> None:
    store, now = Store(), [0.0]
    cache: KeyCache[str] = KeyCache(store.load, ttl=1.0, clock=lambda: now[0])
    assert await cache.get("a") == "A"
    assert await cache.get("nope") is None
    assert await cache.get("a") == "A"
    assert await cache.get("nope") is None
    assert store.loads == 2
    store.values["a"] = "A2"
    now[0] = 1.5
    assert await cache.get("a") == "A2"
    assert store.loads == 3


async def test_concurrent_misses_share_one_load() -> None:
    store = Store()
    store.gate = asyncio.Event()
    cache: KeyCache[str] = KeyCache(store.load)
    waiting = [asyncio.create_task(cache.get("a")) for _ in range(50)]
    await asyncio.sleep(0)
    store.gate.set()
    assert await asyncio.gather(*waiting) == ["A"] * 50
    assert store.loads == 1


async def test_a_stale_entry_is_served_while_the_store_is_down_then_it_fails() -> None:
    store, now = Store(), [0.0]
    cache: KeyCache[str] = KeyCache(store.load, ttl=1.0, max_stale=10.0, clock=lambda: now[0])
    assert await cache.get("a") == "A"
    store.down = True
    now[0] = 5.0
    assert await cache.get("a") == "A"
    with pytest.raises(CacheUnavailable):
        await cache.get("unknown")
    now[0] = 11.0
    with pytest.raises(CacheUnavailable):
        await cache.get("a")


async def test_invalidation_forces_a_reload_and_the_cache_is_bounded() -> None:
    store = Store()
    cache: KeyCache[str] = KeyCache(store.load, ttl=60.0, max_entries=10)
    await cache.get("a")
    store.values["a"] = "changed"
    assert await cache.get("a") == "A"
    cache.invalidate("a")
    assert await cache.get("a") == "changed"
    for index in range(30):
        await cache.get(f"k{index}")
    assert len(cache) <= 10


async def test_entries_are_reloaded_when_the_epoch_moves_and_only_then() -> None:
    store, now = Store(), [0.0]
    cache: KeyCache[str] = KeyCache(store.load, ttl=60.0, clock=lambda: now[0])
    cache.observe(7)
    assert await cache.get("a") == "A"
    assert await cache.get("nope") is None
    store.values["a"], store.values["nope"] = "A2", "created"
    for second in range(1, 59):  # the epoch read every second, unchanged: nothing is reloaded
        now[0] = float(second)
        cache.observe(7)
        assert await cache.get("a") == "A"
        assert await cache.get("nope") is None
    assert store.loads == 2
    cache.observe(8)  # a change anywhere: both entries, the miss too, are loaded again, once
    assert await cache.get("a") == "A2"
    assert await cache.get("nope") == "created"
    assert await cache.get("a") == "A2"
    assert store.loads == 4
    store.values["a"] = "edited by hand"  # no epoch change: picked up once its lifetime (reloaded at 58) is over
    now[0] = 118.0
    assert await cache.get("a") == "edited by hand"
    assert store.loads == 5


async def test_an_entry_loaded_while_the_epoch_moved_is_loaded_again() -> None:
    store = Store()
    store.gate = asyncio.Event()
    cache: KeyCache[str] = KeyCache(store.load, ttl=60.0)
    loading = asyncio.create_task(cache.get("a"))
    await asyncio.sleep(0)
    cache.observe(1)  # counted while the load was reading: what it read may be from before the change
    store.gate.set()
    assert await loading == "A"
    store.values["a"] = "A2"
    assert await cache.get("a") == "A2"
    assert store.loads == 2


async def test_after_the_epoch_moved_a_stale_entry_still_serves_through_an_outage() -> None:
    store, now = Store(), [0.0]
    cache: KeyCache[str] = KeyCache(store.load, ttl=60.0, max_stale=300.0, clock=lambda: now[0])
    assert await cache.get("a") == "A"
    store.down = True
    cache.observe(1)
    now[0] = 5.0
    assert await cache.get("a") == "A"


async def test_invalidations_reach_another_instance_over_redis(redis_url: str, redis_prefix: str) -> None:
    seen_a: list[str] = []
    seen_b: list[str] = []
    channel = f"{redis_prefix}invalidate"
    a = Invalidations(seen_a.append, redis_url=redis_url, channel=channel)
    b = Invalidations(seen_b.append, redis_url=redis_url, channel=channel)
    await a.start()
    await b.start()
    try:
        await a.publish("key:abc")
        for _ in range(100):
            if seen_b:
                break
            await asyncio.sleep(0.01)
        assert seen_b == ["key:abc"]
        assert "key:abc" in seen_a  # applied locally at once, and echoed back by Redis
    finally:
        await a.aclose()
        await b.aclose()


async def test_without_redis_invalidations_are_local() -> None:
    seen: list[str] = []
    local = Invalidations(seen.append, redis_url=None, channel="x")
    await local.start()
    await local.publish("*")
    await local.aclose()
    assert seen == ["*"]

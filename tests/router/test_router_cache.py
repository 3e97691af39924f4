"""One suite over both response-cache stores (memory, and the real Redis of tests/router/conftest.py), plus what is
specific to each: LRU order and total size for memory; expiry in Redis itself, the value format and outages for
Redis."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio
from redis.exceptions import ConnectionError as RedisConnectionError

from tollway.router.cache import CacheStore
from tollway.router.cache_keys import cache_key
from tollway.router.cache_memory import MemoryCache
from tollway.router.cache_redis import RedisCache

T0 = 1_700_000_000.0


class FakeClock:
    """An injected clock: tests move time by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[CacheStore]:
    """Each store with the same limits: 1 KiB items, 60 s default TTL (Redis under the shared per-test prefix)."""
    built: MemoryCache | RedisCache
    if request.param == "memory":
        built = MemoryCache(max_items=100, max_item_bytes=1024, default_ttl=60, clock=clock)
    else:
        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
        built = RedisCache.from_url(url, prefix=prefix, default_ttl=60, max_item_bytes=1024, clock=clock)
    yield built
    await built.aclose()


# --- the shared suite -------------------------------------------------------------------------------------------


async def test_get_returns_the_stored_value_and_its_store_time(store: CacheStore) -> None:
    await store.set("k", b'{"answer": 42}', None, T0 - 5)
    assert await store.get("k") == (b'{"answer": 42}', T0 - 5)


async def test_a_missing_key_is_a_miss(store: CacheStore) -> None:
    await store.set("present", b"x", None, T0)
    assert await store.get("absent") is None


async def test_binary_values_round_trip(store: CacheStore) -> None:
    value = bytes(range(256))
    await store.set("bin", value, None, T0)
    assert await store.get("bin") == (value, T0)


async def test_default_ttl_expires_the_entry(store: CacheStore, clock: FakeClock) -> None:
    await store.set("k", b"v", None, T0)
    clock.now = T0 + 59.9
    assert await store.get("k") == (b"v", T0)
    clock.now = T0 + 60
    assert await store.get("k") is None


async def test_an_explicit_ttl_overrides_the_default(store: CacheStore, clock: FakeClock) -> None:
    await store.set("short", b"s", 10, T0)
    await store.set("long", b"l", 300, T0)
    clock.now = T0 + 100
    assert await store.get("short") is None
    assert await store.get("long") == (b"l", T0)


async def test_overwrite_replaces_value_store_time_and_expiry(store: CacheStore, clock: FakeClock) -> None:
    await store.set("k", b"old", 10, T0)
    await store.set("k", b"new", 100, T0 + 5)
    clock.now = T0 + 50
    assert await store.get("k") == (b"new", T0 + 5)


async def test_an_item_over_the_size_limit_is_not_stored(store: CacheStore) -> None:
    await store.set("big", b"x" * 1025, None, T0)
    await store.set("fits", b"x" * 1024, None, T0)
    assert await store.get("big") is None
    assert await store.get("fits") == (b"x" * 1024, T0)


async def test_a_refused_item_drops_the_older_value_under_its_key(store: CacheStore) -> None:
    await store.set("k", b"old", None, T0)
    await store.set("k", b"x" * 2048, None, T0 + 1)
    assert await store.get("k") is None


async def test_a_zero_ttl_stores_nothing(store: CacheStore) -> None:
    await store.set("k", b"old", None, T0)
    await store.set("k", b"new", 0, T0)
    assert await store.get("k") is None


async def test_namespaces_isolate_entries(store: CacheStore) -> None:
    request = {"messages": [{"role": "user", "content": "hi"}]}
    team_a = cache_key("gpt-4o", request, namespace="team-a")
    team_b = cache_key("gpt-4o", request, namespace="team-b")
    await store.set(team_a, b"for a", None, T0)
    assert await store.get(team_a) == (b"for a", T0)
    assert await store.get(team_b) is None
    assert await store.get(cache_key("gpt-4o", request)) is None


# --- memory only ------------------------------------------------------------------------------------------------


async def test_memory_evicts_the_least_recently_used(clock: FakeClock) -> None:
    cache = MemoryCache(max_items=3, clock=clock)
    for key in ("a", "b", "c"):
        await cache.set(key, key.encode(), None, T0)
    assert await cache.get("a") is not None  # a becomes the most recent: b is now the oldest
    await cache.set("d", b"d", None, T0)
    assert await cache.get("b") is None
    assert [key for key in "acd" if await cache.get(key) is not None] == ["a", "c", "d"]
    await cache.set("c", b"c2", None, T0)  # a write also refreshes: a is the oldest now
    await cache.set("e", b"e", None, T0)
    assert await cache.get("a") is None
    assert len(cache) == 3


async def test_memory_bounds_total_bytes(clock: FakeClock) -> None:
    cache = MemoryCache(max_items=100, max_item_bytes=100, max_total_bytes=250, clock=clock)
    for key in ("a", "b", "c"):
        await cache.set(key, b"x" * 100, None, T0)
    assert await cache.get("a") is None
    assert cache.total_bytes == 200
    await cache.aclose()
    assert len(cache) == 0
    assert cache.total_bytes == 0


async def test_memory_without_default_ttl_keeps_entries(clock: FakeClock) -> None:
    cache = MemoryCache(default_ttl=None, clock=clock)
    await cache.set("k", b"v", None, T0)
    clock.now = T0 + 10**9
    assert await cache.get("k") == (b"v", T0)


async def test_memory_drops_an_expired_entry_when_read(clock: FakeClock) -> None:
    cache = MemoryCache(default_ttl=1, clock=clock)
    await cache.set("k", b"v", None, T0)
    clock.now = T0 + 2
    assert await cache.get("k") is None
    assert len(cache) == 0
    assert cache.total_bytes == 0


@pytest.mark.parametrize("kwargs", [{"max_items": 0}, {"max_item_bytes": 0}, {"default_ttl": 0}])
def test_memory_rejects_nonsense_limits(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="MemoryCache"):
        MemoryCache(**kwargs)


# --- redis only -------------------------------------------------------------------------------------------------


async def test_redis_sets_an_expiry_in_redis_and_uses_the_prefix(
    redis_url: str, redis_prefix: str, clock: FakeClock
) -> None:
    cache = RedisCache.from_url(redis_url, prefix=redis_prefix, default_ttl=60, clock=clock)
    raw = redis.asyncio.from_url(redis_url)
    try:
        await cache.set("k", b"v", 30, T0)
        ttl_ms = await raw.pttl(redis_prefix + "k")
        assert 29_000 < ttl_ms <= 30_000
        await cache.set("forever", b"v", None, T0)
        assert 59_000 < await raw.pttl(redis_prefix + "forever") <= 60_000
    finally:
        await raw.aclose()
        await cache.aclose()


async def test_redis_without_default_ttl_sets_no_expiry(redis_url: str, redis_prefix: str, clock: FakeClock) -> None:
    cache = RedisCache.from_url(redis_url, prefix=redis_prefix, default_ttl=None, clock=clock)
    raw = redis.asyncio.from_url(redis_url)
    try:
        await cache.set("k", b"v", None, T0)
        assert await raw.pttl(redis_prefix + "k") == -1
        clock.now = T0 + 10**9
        assert await cache.get("k") == (b"v", T0)
    finally:
        await raw.aclose()
        await cache.aclose()


async def test_redis_treats_a_foreign_value_as_a_miss(redis_url: str, redis_prefix: str, clock: FakeClock) -> None:
    cache = RedisCache.from_url(redis_url, prefix=redis_prefix, clock=clock)
    raw = redis.asyncio.from_url(redis_url)
    try:
        await raw.set(redis_prefix + "short", b"tw1")
        await raw.set(redis_prefix + "other", b"not ours, but long enough to hold a header")
        assert await cache.get("short") is None
        assert await cache.get("other") is None
    finally:
        await raw.aclose()
        await cache.aclose()


async def test_two_caches_on_one_redis_share_entries(redis_url: str, redis_prefix: str, clock: FakeClock) -> None:
    first = RedisCache.from_url(redis_url, prefix=redis_prefix, clock=clock)
    second = RedisCache.from_url(redis_url, prefix=redis_prefix, clock=clock)
    try:
        await first.set("k", b"shared", None, T0)
        assert await second.get("k") == (b"shared", T0)
    finally:
        await first.aclose()
        await second.aclose()


async def test_unreachable_redis_is_a_miss_and_logged_once(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    # Port 1 on loopback: nothing listens, so the connection is refused at once.
    cache = RedisCache.from_url("redis://127.0.0.1:1/0", retry_interval=0, clock=clock)
    caplog.set_level(logging.WARNING, logger="tollway.router.cache")
    try:
        await cache.set("k", b"v", None, T0)
        assert await cache.get("k") is None
        assert await cache.get("k") is None
    finally:
        await cache.aclose()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "serving without the cache" in warnings[0].getMessage()


class FlakyRedis:
    """A fake client that fails while ``down`` and counts the commands it received."""

    def __init__(self) -> None:
        self.down = True
        self.calls = 0
        self.data: dict[str, bytes] = {}

    def _check(self) -> None:
        self.calls += 1
        if self.down:
            raise RedisConnectionError("Connection refused")

    async def get(self, name: str) -> bytes | None:
        self._check()
        return self.data.get(name)

    async def set(self, name: str, value: bytes, *, px: int | None = None) -> bool:
        self._check()
        self.data[name] = value
        return True

    async def delete(self, *names: str) -> int:
        self._check()
        return sum(self.data.pop(name, None) is not None for name in names)

    async def aclose(self) -> None:
        return None


async def test_an_outage_is_not_retried_within_the_retry_interval_and_recovery_is_logged(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FlakyRedis()
    cache = RedisCache(fake, retry_interval=5, clock=clock)
    caplog.set_level(logging.INFO, logger="tollway.router.cache")
    assert await cache.get("k") is None
    available_during_outage = cache.available
    assert not available_during_outage
    await cache.set("k", b"v", None, T0)
    assert await cache.get("k") is None
    assert fake.calls == 1  # the breaker kept the other two commands off the dead Redis
    fake.down = False
    clock.now = T0 + 5
    assert cache.available
    await cache.set("k", b"v", None, T0 + 5)
    assert await cache.get("k") == (b"v", T0 + 5)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "failed" in messages[0]
    assert "reachable again" in messages[1]


def test_redis_rejects_a_nonsense_default_ttl() -> None:
    with pytest.raises(ValueError, match="default_ttl"):
        RedisCache(FlakyRedis(), default_ttl=-1)

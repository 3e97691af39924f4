"""The in-memory cache in front of the key store: O(1) on the hot path, exact within one second across instances.

Each entry lives ``ttl`` seconds, and only while the store's entity epoch is the one it was loaded under
(``observe``; the governance reads the epoch once per interval, see ``tollway.storage.epoch``). Management actions
invalidate entries at once on this instance and, through Redis pub/sub (``Invalidations``), on every other
instance; without Redis the epoch, read every half second by default, is the bound. Concurrent misses for one key share
one load (no stampede on the database). When a reload fails (the database is down) a stale entry keeps being served
for up to ``max_stale`` seconds, so a database outage does not lock every caller out; unknown keys are cached as
misses as well, so invalid keys cannot hammer the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

__all__ = ["CacheUnavailable", "Invalidations", "KeyCache"]

logger = logging.getLogger("tollway.governance")

V = TypeVar("V")

# Entries are bounded: a flood of random keys must not grow memory without limit.
DEFAULT_MAX_ENTRIES = 100_000


class CacheUnavailable(Exception):  # noqa: N818  # a condition the caller maps to a 503
    """The store could not be read and no usable cached entry exists."""


class _Entry(Generic[V]):
    __slots__ = ("epoch", "expires", "loaded", "value")

    def __init__(self, value: V | None, loaded: float, ttl: float, epoch: int) -> None:
        self.value = value
        self.loaded = loaded
        self.expires = loaded + ttl
        self.epoch = epoch


class KeyCache(Generic[V]):
    """``name -> value | None`` loaded by ``loader`` (``None`` = no such entity), cached for ``ttl`` seconds."""

    def __init__(
        self,
        loader: Callable[[str], Awaitable[V | None]],
        *,
        ttl: float = 1.0,
        max_stale: float = 300.0,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._loader = loader
        self._ttl = ttl
        self._max_stale = max_stale
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, _Entry[V]] = {}
        self._loading: dict[str, asyncio.Future[V | None]] = {}
        self._epoch = 0

    async def get(self, name: str) -> V | None:
        """The cached value, loading it when absent or expired. Raises ``CacheUnavailable`` when the store fails
        and nothing fresh enough is cached."""
        entry = self._entries.get(name)
        now = self._clock()
        if entry is not None and now < entry.expires and entry.epoch == self._epoch:
            return entry.value
        pending = self._loading.get(name)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._loading[name] = future
        try:
            value = await self._load(name, entry, now)
        except BaseException as exc:
            future.set_exception(exc)
            # Retrieve it so a future nobody else awaited does not log "exception was never retrieved".
            future.exception()
            raise
        else:
            future.set_result(value)
            return value
        finally:
            del self._loading[name]

    async def _load(self, name: str, stale: _Entry[V] | None, now: float) -> V | None:
        epoch = self._epoch  # as the load starts: a change counted while it runs makes the entry stale again
        try:
            value = await self._loader(name)
        except Exception as exc:
            if stale is not None and now - stale.loaded <= self._max_stale:
                logger.warning("key store unreachable (%s); serving a cached entry", type(exc).__name__)
                return stale.value
            raise CacheUnavailable(f"the key store is unreachable ({type(exc).__name__})") from exc
        if len(self._entries) >= self._max_entries and name not in self._entries:
            self._evict()
        self._entries[name] = _Entry(value, self._clock(), self._ttl, epoch)
        return value

    def _evict(self) -> None:
        """Drop expired entries; if none expired, drop the oldest tenth (dicts keep insertion order)."""
        now = self._clock()
        expired = [name for name, entry in self._entries.items() if entry.expires <= now]
        for name in expired or list(self._entries)[: max(1, self._max_entries // 10)]:
            del self._entries[name]

    def observe(self, epoch: int) -> None:
        """The store's entity epoch (``tollway.storage.epoch``) as last read: entries loaded under another one are
        reloaded on their next ``get`` (and still served, as stale ones, while the store is unreachable)."""
        self._epoch = epoch

    def invalidate(self, name: str | None = None) -> None:
        """Forget ``name`` (or everything): the next ``get`` reloads it."""
        if name is None:
            self._entries.clear()
        else:
            self._entries.pop(name, None)

    def __len__(self) -> int:
        return len(self._entries)


class Invalidations:
    """Cache invalidation messages shared by every instance over Redis pub/sub (local only without Redis).

    ``publish(message)`` applies the message here at once and broadcasts it; ``start()`` subscribes and applies
    every other instance's messages through ``apply``. A message is a cache name (``"key:<hash>"``) or ``"*"``.
    """

    def __init__(self, apply: Callable[[str], None], *, redis_url: str | None, channel: str) -> None:
        self._apply = apply
        self._redis_url = redis_url
        self._channel = channel
        self._task: asyncio.Task[None] | None = None
        self._client: Redis | None = None

    async def start(self) -> None:
        """Subscribe (no-op without Redis). Returns once the subscription is active."""
        if self._redis_url is None:
            return
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self._redis_url)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self._channel)
        self._client = client
        self._task = asyncio.create_task(self._listen(pubsub), name="tollway-invalidations")

    async def _listen(self, pubsub: PubSub) -> None:
        while True:
            try:
                async for message in pubsub.listen():
                    data = message.get("data")
                    if isinstance(data, bytes):
                        self._apply(data.decode("utf-8", "replace"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Redis went away: everything cached may be stale by now, so drop it all, then resubscribe.
                logger.warning("invalidation channel lost (%s); retrying", type(exc).__name__)
                self._apply("*")
                await asyncio.sleep(1.0)
                with contextlib.suppress(Exception):
                    await pubsub.subscribe(self._channel)

    async def publish(self, message: str) -> None:
        """Apply ``message`` here and broadcast it to the other instances."""
        self._apply(message)
        if self._client is None:
            return
        try:
            await self._client.publish(self._channel, message)
        except Exception as exc:
            # The change is committed; other instances fall back to their TTL.
            logger.warning("could not broadcast a cache invalidation (%s)", type(exc).__name__)

    async def aclose(self) -> None:
        """Unsubscribe and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

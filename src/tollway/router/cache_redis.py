"""The shared response cache in Redis: every router (and gateway instance) using one Redis shares its answers.

Each entry is one string key, ``prefix + key``, written with ``SET ... PX`` so Redis reaps it after its TTL. The
value carries its store time and its expiry (``now + ttl`` from the caller's clock) ahead of the answer's bytes; a
read checks that expiry against the injected clock too, so the TTL means the same thing here as in ``MemoryCache``
and tests can move time.

A cache must never fail a request. When Redis cannot be reached (or answers with an error), ``get`` is a miss and
``set`` stores nothing; the first failure is logged as a warning, the rest of the outage stays quiet, and for
``retry_interval`` seconds after a failure Redis is not even tried, so an outage does not add a connect timeout to
every request. The recovery is logged too. ``redis`` (redis-py) is imported only by ``from_url``.
"""

from __future__ import annotations

import logging
import math
import struct
import time
from collections.abc import Callable
from typing import Any, Protocol, cast

__all__ = ["RedisCache"]

logger = logging.getLogger("tollway.router.cache")

# "tw1" + store time + expiry (inf: none), both big-endian doubles. A value without this header is not ours (or
# from a future format): a miss, never a misread.
_MAGIC = b"tw1"
_HEADER = struct.Struct("!dd")
_HEADER_SIZE = len(_MAGIC) + _HEADER.size


class RedisClient(Protocol):
    """The part of ``redis.asyncio.Redis`` the cache uses (tests may pass a fake)."""

    async def get(self, name: str) -> bytes | None:
        """GET."""
        ...

    async def set(self, name: str, value: bytes, *, px: int | None = None) -> Any:
        """SET with an optional expiry in milliseconds."""
        ...

    async def delete(self, *names: str) -> Any:
        """DEL."""
        ...

    async def aclose(self) -> None:
        """Close the connection pool."""
        ...


def _redis_errors() -> tuple[type[BaseException], ...]:
    # What an unreachable or unwell Redis raises; redis-py wraps socket errors in its own ConnectionError and
    # TimeoutError (both RedisError), OSError and TimeoutError cover a fake or a bare socket.
    try:
        from redis.exceptions import RedisError
    except ImportError:  # pragma: no cover - redis is installed wherever RedisCache is used
        return (OSError, TimeoutError)
    return (RedisError, OSError, TimeoutError)


class RedisCache:
    """A ``CacheStore`` in Redis. Build it with ``from_url``; ``clock`` gives the UNIX time for expiry checks."""

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str = "tollway:cache:",
        default_ttl: float | None = 600.0,
        max_item_bytes: int = 1024 * 1024,
        retry_interval: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if default_ttl is not None and default_ttl <= 0:
            raise ValueError("RedisCache default_ttl must be positive (or None for no expiry)")
        self.prefix = prefix
        self.default_ttl = default_ttl
        self.max_item_bytes = max_item_bytes
        self.retry_interval = retry_interval
        self._client = client
        self._clock = clock
        self._errors = _redis_errors()
        self._down_until: float | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        prefix: str = "tollway:cache:",
        default_ttl: float | None = 600.0,
        *,
        max_item_bytes: int = 1024 * 1024,
        socket_timeout: float = 1.0,
        retry_interval: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> RedisCache:
        """A cache on the Redis at ``url`` (``redis://host:6379/0``, ``rediss://...``, ``unix://...``).

        ``socket_timeout`` bounds connecting and each command, so a slow Redis costs a request at most that long.
        No connection is made until the first command.
        """
        import redis.asyncio

        client = redis.asyncio.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout)
        return cls(
            cast(RedisClient, client),
            prefix=prefix,
            default_ttl=default_ttl,
            max_item_bytes=max_item_bytes,
            retry_interval=retry_interval,
            clock=clock,
        )

    @property
    def available(self) -> bool:
        """False while Redis is considered down (within ``retry_interval`` of a failure)."""
        return self._down_until is None or self._clock() >= self._down_until

    async def get(self, key: str) -> tuple[bytes, float] | None:
        """The stored value and its store time; None when absent, expired, unreadable or Redis is unreachable."""
        if not self.available:
            return None
        try:
            raw = await self._client.get(self.prefix + key)
        except self._errors as exc:
            self._failed("get", exc)
            return None
        self._recovered()
        return _decode(raw, self._clock()) if raw is not None else None

    async def set(self, key: str, value: bytes, ttl: float | None, now: float) -> None:
        """Store ``value`` for ``ttl`` seconds (None: ``default_ttl``); nothing when Redis is unreachable.

        A value over ``max_item_bytes``, or a ``ttl`` of zero or less, is not stored and the older value under the
        key is deleted, as in ``MemoryCache``.
        """
        if not self.available:
            return
        ttl = self.default_ttl if ttl is None else ttl
        name = self.prefix + key
        try:
            if len(value) > self.max_item_bytes or (ttl is not None and ttl <= 0):
                await self._client.delete(name)
            else:
                expires_at = math.inf if ttl is None else now + ttl
                payload = _MAGIC + _HEADER.pack(now, expires_at) + value
                px = None if ttl is None else max(1, math.ceil(ttl * 1000))
                await self._client.set(name, payload, px=px)
        except self._errors as exc:
            self._failed("set", exc)
            return
        self._recovered()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    def _failed(self, operation: str, exc: BaseException) -> None:
        if self._down_until is None:
            logger.warning(
                "response cache: Redis %s failed (%s: %s); serving without the cache, retrying every %.0f s",
                operation,
                type(exc).__name__,
                exc,
                self.retry_interval,
            )
        self._down_until = self._clock() + self.retry_interval

    def _recovered(self) -> None:
        if self._down_until is not None:
            self._down_until = None
            logger.info("response cache: Redis reachable again; cache back in use")


def _decode(raw: bytes, now: float) -> tuple[bytes, float] | None:
    if len(raw) < _HEADER_SIZE or not raw.startswith(_MAGIC):
        return None
    stored_at, expires_at = _HEADER.unpack_from(raw, len(_MAGIC))
    if now >= expires_at:
        return None
    return raw[_HEADER_SIZE:], stored_at

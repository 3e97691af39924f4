"""The response cache port (exact match): key derivation is pure; stores are in-memory LRU or Redis.

The router looks a request up before choosing a deployment and stores successful answers after; a hit is marked
(``meta.cache_hit``) and costed at zero. Per-request controls follow LiteLLM's ``cache={...}``: ``no-cache`` (do
not read), ``no-store`` (do not write), ``ttl`` (seconds), ``s-maxage`` (accept only entries younger than this),
``namespace`` (a key prefix).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["CacheStore"]


class CacheStore(Protocol):
    """Bytes by key, with a time to live."""

    async def get(self, key: str) -> tuple[bytes, float] | None:
        """The stored value and the UNIX time it was stored, or None."""
        ...

    async def set(self, key: str, value: bytes, ttl: float | None, now: float) -> None:
        """Store ``value`` (``ttl`` None: the store's default)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...

"""The in-process response cache: an LRU with a time to live, bounded in items, item size and total bytes.

LiteLLM's ``InMemoryCache`` keeps 200 items for 600 s and refuses items over 1 MB (LITELLM.md §1.8). Tollway keeps
the 600 s TTL and the 1 MiB item limit, holds 1,000 items by default (a router serves many groups from one cache),
and also bounds the total size (64 MiB by default), so a burst of large answers cannot grow the process without
limit (LiteLLM's memory complaints, §4.2). Every operation is O(1) (an ``OrderedDict``); expired entries are
dropped when read, or evicted as the least recently used. Nothing awaits inside a method, so each is atomic on its loop.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

__all__ = ["MemoryCache"]


class _Entry(NamedTuple):
    value: bytes
    stored_at: float
    expires_at: float | None


class MemoryCache:
    """A ``CacheStore`` in this process.

    ``clock`` gives the current UNIX time for expiry checks on ``get`` (the port passes ``now`` only to ``set``);
    tests inject a fake one. ``default_ttl`` None keeps entries until evicted.
    """

    def __init__(
        self,
        max_items: int = 1000,
        max_item_bytes: int = 1024 * 1024,
        default_ttl: float | None = 600.0,
        *,
        max_total_bytes: int = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_items < 1 or max_item_bytes < 1 or max_total_bytes < 1:
            raise ValueError("MemoryCache limits must be positive")
        if default_ttl is not None and default_ttl <= 0:
            raise ValueError("MemoryCache default_ttl must be positive (or None for no expiry)")
        self.max_items = max_items
        self.max_item_bytes = max_item_bytes
        self.max_total_bytes = max_total_bytes
        self.default_ttl = default_ttl
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def total_bytes(self) -> int:
        """Bytes held by stored values."""
        return self._bytes

    async def get(self, key: str) -> tuple[bytes, float] | None:
        """The stored value and its store time, or None (absent or expired); a hit becomes the most recent."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at is not None and self._clock() >= entry.expires_at:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry.value, entry.stored_at

    async def set(self, key: str, value: bytes, ttl: float | None, now: float) -> None:
        """Store ``value`` for ``ttl`` seconds (None: ``default_ttl``); evict the least recently used to fit.

        A value over ``max_item_bytes``, or a ``ttl`` of zero or less, is not stored, and any older value under the
        key is dropped: the caller meant to replace it, and serving the old one would be stale.
        """
        self._drop(key)
        ttl = self.default_ttl if ttl is None else ttl
        if len(value) > self.max_item_bytes or (ttl is not None and ttl <= 0):
            return
        self._entries[key] = _Entry(value, now, None if ttl is None else now + ttl)
        self._bytes += len(value)
        while len(self._entries) > self.max_items or self._bytes > self.max_total_bytes:
            oldest = next(iter(self._entries))
            self._drop(oldest)

    async def aclose(self) -> None:
        """Forget every entry."""
        self._entries.clear()
        self._bytes = 0

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry.value)

"""The router's use of the response cache: look a request up before routing, store whole answers after.

A hit is served without calling any deployment: marked (``meta.cache_hit``, and ``"tollway": {"cache_hit": true}``
in the JSON), costed at exactly zero, and replayed as a stream when the caller asked for one. Streamed answers are
not stored (their chunks are not kept); whole answers are, and serve later streamed requests too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import orjson

from tollway.adapters.base import Endpoint
from tollway.router.cache import CacheStore
from tollway.router.cache_keys import CacheControl, cache_key, should_cache
from tollway.router.config import RouterSettings
from tollway.router.replay import chunks_from_completion, mark_cache_hit
from tollway.streaming import AsyncCompletionStream
from tollway.types import ChatCompletion, ResponseMeta
from tollway.usage import TokenUsage

__all__ = ["ResponseCache"]


class ResponseCache:
    """Exact-match caching of chat answers per model group (disabled: every method is a no-op)."""

    def __init__(
        self, store: CacheStore | None, *, ttl: float | None, namespace: str | None, clock: Callable[[], float]
    ):
        self._store = store
        self._ttl = ttl
        self._namespace = namespace
        self._clock = clock

    @classmethod
    def from_settings(
        cls, settings: RouterSettings, store: CacheStore | None, clock: Callable[[], float] = time.time
    ) -> ResponseCache:
        """The cache the settings ask for (``cache: true`` + ``cache_params``), or ``store`` when one is given."""
        params = settings.cache_params
        if store is None and settings.cache:
            store = _store_from(settings)
        return cls(store, ttl=params.ttl, namespace=params.namespace, clock=clock)

    def _key(self, model: str, request: Mapping[str, Any], control: CacheControl) -> str | None:
        if self._store is None:
            return None
        semantic = {k: v for k, v in request.items() if k != "cache"}
        if not should_cache(semantic):
            return None
        return cache_key(model, semantic, namespace=control.namespace or self._namespace)

    async def lookup(self, model: str, request: Mapping[str, Any]) -> ChatCompletion | AsyncCompletionStream | None:
        """The cached answer for ``request`` (as a stream when it asks for one), or None."""
        if self._store is None:
            if request.get("cache") is not None:
                CacheControl.parse(request["cache"])  # caching is off, but a malformed value is still refused
            return None
        control = CacheControl.parse(request.get("cache"))
        key = self._key(model, request, control) if control.may_read else None
        if key is None or self._store is None:
            return None
        found = await self._store.get(key)
        if found is None or not control.fresh(found[1], self._clock()):
            return None
        data = mark_cache_hit(orjson.loads(found[0]))
        meta = _hit_meta(model, data)
        if request.get("stream"):
            options = request.get("stream_options") or {}
            return _replay(data, meta, include_usage=bool(options.get("include_usage")))
        return ChatCompletion(data, meta)

    async def store(self, model: str, request: Mapping[str, Any], answer: object) -> None:
        """Keep a whole (non-streamed) answer for later identical requests."""
        if self._store is None:
            return  # ``lookup`` has checked the request's ``cache`` value
        if not isinstance(answer, ChatCompletion) or (answer.meta is not None and answer.meta.cache_hit):
            return
        control = CacheControl.parse(request.get("cache"))
        key = self._key(model, request, control) if control.may_store else None
        if key is None or self._store is None:
            return
        ttl = control.ttl if control.ttl is not None else self._ttl
        await self._store.set(key, orjson.dumps(answer._data), ttl, self._clock())

    async def aclose(self) -> None:
        """Close the store."""
        if self._store is not None:
            await self._store.aclose()


def _store_from(settings: RouterSettings) -> CacheStore:
    params = settings.cache_params
    if params.type == "redis":
        from tollway.router.cache_redis import RedisCache

        url = (
            params.redis_url
            or settings.redis_url
            or _redis_url(
                params.redis_host or settings.redis_host,
                params.redis_port or settings.redis_port,
                params.redis_password or settings.redis_password,
            )
        )
        return RedisCache.from_url(url)
    from tollway.router.cache_memory import MemoryCache

    return MemoryCache(max_items=params.max_items)


def _redis_url(host: str | None, port: int | None, password: str | None) -> str:
    auth = f":{password}@" if password else ""
    return f"redis://{auth}{host or '127.0.0.1'}:{port or 6379}/0"


def _hit_meta(model: str, data: Mapping[str, Any]) -> ResponseMeta:
    from tollway.pricing.cost import Cost

    usage = data.get("usage")
    zero = Decimal(0)
    return ResponseMeta(
        provider="cache",
        model=str(data.get("model") or model),
        usage=TokenUsage.from_openai(usage) if isinstance(usage, Mapping) else None,
        # A hit calls no provider: it costs nothing (the original call was priced when it was made).
        cost=Cost(
            total=zero, input=zero, output=zero, units=zero, parts=(), source="cache", provider_id=None, model_id=None
        ),
        model_group=model,
        cache_hit=True,
    )


class _ReplayResponse:
    """An in-memory answer whose body is the replayed stream, read by the OpenAI stream decoder."""

    status = 200
    headers: dict[str, str] = {"content-type": "text/event-stream"}  # noqa: RUF012  # read-only

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def read(self) -> bytes:
        return self._body

    async def iter_bytes(self) -> Any:
        yield self._body

    async def aclose(self) -> None:
        return None


def _replay(data: Mapping[str, Any], meta: ResponseMeta, *, include_usage: bool) -> AsyncCompletionStream:
    from tollway.adapters.openai_stream import OpenAIStreamDecoder

    chunks = chunks_from_completion(data, include_usage=True)
    body = b"".join(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks) + b"data: [DONE]\n\n"
    decoder = OpenAIStreamDecoder(Endpoint(provider="cache", model=meta.model, api_base="cache://"))

    def keep_meta(stream_meta: ResponseMeta, usage: dict[str, Any] | None, text: str, reasoning: str) -> None:
        return None  # usage and the zero cost are already on ``meta``

    return AsyncCompletionStream(
        _ReplayResponse(body), decoder, meta=meta, include_usage=include_usage, on_end=keep_meta
    )

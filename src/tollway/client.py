"""The SDK client: resolve the provider, call the adapter, send, retry, and wrap the answer.

This is the only SDK code besides the transports that does I/O or reads the environment. One ``Client`` holds one
connection pool per event loop it is used in; the sync methods run the same async code on a private loop thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import os
import time
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

from tollway.adapters.base import FanOutEmbeddings
from tollway.calls import Call, ClientSettings, EndpointCache, plan_call
from tollway.credentials import CredentialResolver
from tollway.errors import BadRequestError, Timeout, TollwayError
from tollway.http import HttpRequest, HttpResponse
from tollway.loop_thread import LoopThread
from tollway.messages import validate_chat_request
from tollway.retry import RetryPolicy
from tollway.streaming import AsyncCompletionStream, CompletionStream, StreamEnd
from tollway.transport import Fetch, Timeouts, Transport, TransportResponse, default_transport
from tollway.types import ChatCompletion, EmbeddingResponse, RerankResponse, ResponseMeta
from tollway.usage import TokenUsage

__all__ = ["Client"]

_T = TypeVar("_T")


class Client:
    """Calls any provider with OpenAI-shaped requests; ``Client()`` reads credentials from the environment.

    ``environ`` replaces ``os.environ`` as the source of provider keys and base URLs (for tests and for
    embedding tollway in a process whose environment is not its configuration). ``transport_factory`` replaces
    the pooled default transport (``tollway.transport.default_transport``; one is created per event loop).
    """

    def __init__(
        self,
        *,
        num_retries: int = 2,
        timeout: float | Timeouts | None = 600.0,
        drop_params: bool = False,
        environ: Mapping[str, str] | None = None,
        transport_factory: Callable[[], Transport] | None = None,
    ) -> None:
        self._settings = ClientSettings(
            retry=RetryPolicy(num_retries=num_retries),
            timeouts=Timeouts.of(timeout),
            drop_params=drop_params,
            environ=os.environ if environ is None else environ,
        )
        self._transport_factory = transport_factory or default_transport(self._settings.environ)
        self._transports: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _PoolEntry] = weakref.WeakKeyDictionary()
        self._resolvers: dict[str, CredentialResolver] = {}
        self._endpoints: EndpointCache = {}
        self._mock: Transport | None = None
        self._thread = LoopThread()

    # -- public API ---------------------------------------------------------------------------------------

    async def acompletion(
        self, model: str, messages: list[dict[str, Any]], **params: Any
    ) -> ChatCompletion | AsyncCompletionStream:
        """Chat completion; with ``stream=True`` an ``AsyncCompletionStream`` of chunks."""
        call = await self._plan(model, params, {"messages": messages}, check=validate_chat_request)
        if call.request.get("stream"):
            return await self._with_retries(call, self._stream_once)
        return await self._with_retries(call, self._complete_once)

    def completion(
        self, model: str, messages: list[dict[str, Any]], **params: Any
    ) -> ChatCompletion | CompletionStream:
        """Blocking ``acompletion``; with ``stream=True`` an iterator of chunks."""
        result = self._thread.run(self.acompletion(model, messages, **params))
        if isinstance(result, AsyncCompletionStream):
            return CompletionStream(result, self._thread)
        return result

    async def aembedding(self, model: str, input: Any, **params: Any) -> EmbeddingResponse:
        """Embeddings for ``input`` (a string, or a list of strings or token lists)."""
        call = await self._plan(model, params, {"input": input})
        return await self._with_retries(call, self._embed_once)

    def embedding(self, model: str, input: Any, **params: Any) -> EmbeddingResponse:
        """Blocking ``aembedding``."""
        return self._thread.run(self.aembedding(model, input, **params))

    async def arerank(self, model: str, query: str, documents: list[Any], **params: Any) -> RerankResponse:
        """Order ``documents`` by relevance to ``query`` (Cohere's request and response shape for every provider).

        ``params``: ``top_n``, ``return_documents``, ``max_tokens_per_doc``, ``rank_fields``, plus tollway's.
        """
        if not isinstance(query, str) or not query:
            raise BadRequestError("'query' must be a non-empty string", param="query")
        if not isinstance(documents, list) or not documents:
            raise BadRequestError("'documents' must be a non-empty list of strings or objects", param="documents")
        call = await self._plan(model, params, {"query": query, "documents": documents})
        return await self._with_retries(call, self._rerank_once)

    def rerank(self, model: str, query: str, documents: list[Any], **params: Any) -> RerankResponse:
        """Blocking ``arerank``."""
        return self._thread.run(self.arerank(model, query, documents, **params))

    async def aclose(self) -> None:
        """Close the connection pool of the running loop."""
        entry = self._transports.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry.close()

    def close(self) -> None:
        """Close the sync API's loop thread and its pool."""
        self._thread.stop(self.aclose())

    # -- resolution ---------------------------------------------------------------------------------------

    async def _plan(
        self,
        model: str,
        params: dict[str, Any],
        fields: dict[str, Any],
        check: Callable[[dict[str, Any]], None] | None = None,
    ) -> Call:
        call = plan_call(model, params, fields, self._settings, self._endpoints)
        if check is not None:
            check(call.request)  # before any credential I/O: a malformed request costs nothing
        if call.spec.credentials is None or call.mock:
            return call
        resolver = self._resolvers.get(call.spec.credentials)
        if resolver is None:
            module_name, _, class_name = call.spec.credentials.partition(":")
            resolver = getattr(importlib.import_module(module_name), class_name)()
            self._resolvers[call.spec.credentials] = resolver
        transport = await self._transport(call)
        endpoint = await resolver.resolve(call.endpoint, self._settings.environ, transport)
        return dataclasses.replace(call, endpoint=endpoint)

    async def _transport(self, call: Call) -> Transport:
        if call.mock:
            if self._mock is None:
                from tollway.transport.mock import MockUpstream

                self._mock = MockUpstream()
            return self._mock
        loop = asyncio.get_running_loop()
        entry = self._transports.get(loop)
        if entry is None:
            entry = _PoolEntry(self._transport_factory())
            await entry.watch_loop()
            self._transports[loop] = entry
        return entry.transport

    # -- one attempt, and the retry loop -------------------------------------------------------------------

    async def _with_retries(self, call: Call, once: Callable[[Call, int], Awaitable[_T]]) -> _T:
        attempt = 0
        while True:
            try:
                return await once(call, attempt + 1)
            except TollwayError as exc:
                exc.provider = exc.provider or call.endpoint.provider
                exc.model = exc.model or call.endpoint.model
                delay = call.retry.delay(exc, attempt)
                if delay is None:
                    raise
            await asyncio.sleep(delay)
            attempt += 1

    async def _send(
        self, call: Call, http: HttpRequest, timeouts: Timeouts | None = None, transport: Transport | None = None
    ) -> TransportResponse:
        """Send and return the open response when it is a success; map any other status through the adapter."""
        transport = transport or await self._transport(call)
        response = await transport.send(http, timeouts or call.timeouts)
        if 200 <= response.status < 300:
            return response
        try:
            body = await response.read()
        finally:
            await response.aclose()
        raise call.adapter.map_error(HttpResponse(response.status, response.headers, body), call.endpoint)

    async def _fetch(self, call: Call, http: HttpRequest) -> HttpResponse:
        """A whole successful answer, within the call's total timeout."""
        transport = await self._transport(call)
        fetch: Fetch | None = getattr(transport, "fetch", None)
        if fetch is not None:
            # The transport takes whole answers in one exchange, bounded by the total itself (see Transport).
            answer = await fetch(http, call.timeouts.for_whole_answer())
            if 200 <= answer.status < 300:
                return answer
            raise call.adapter.map_error(answer, call.endpoint)
        try:
            async with asyncio.timeout(call.timeouts.total):
                return await self._whole_answer(call, http, transport)
        except TimeoutError:
            raise _timeout(call) from None

    async def _whole_answer(self, call: Call, http: HttpRequest, transport: Transport) -> HttpResponse:
        response = await self._send(call, http, call.timeouts.for_whole_answer(), transport)
        try:
            body = await response.read()
        finally:
            await response.aclose()
        return HttpResponse(response.status, response.headers, body)

    def _meta(
        self, call: Call, attempts: int, headers: dict[str, str], usage: Mapping[str, Any] | None = None
    ) -> ResponseMeta:
        meta = ResponseMeta(
            provider=call.endpoint.provider,
            model=call.endpoint.model,
            mock=call.mock,
            attempts=attempts,
            headers=headers,
        )
        if usage:  # none reported: usage and cost stay unknown (None), never zero
            self._settle(call, meta, TokenUsage.from_openai(usage))
        return meta

    @staticmethod
    def _settle(call: Call, meta: ResponseMeta, usage: TokenUsage) -> None:
        """Record usage and its exact cost (None when the model cannot be priced) on ``meta``."""
        from tollway.pricing import price_usage

        meta.usage = usage
        meta.cost = price_usage(call.endpoint.provider, call.endpoint.model, usage, at=call.at, overrides=call.prices)

    def _stream_end(self, call: Call) -> StreamEnd:
        def settle(meta: ResponseMeta, usage: dict[str, Any] | None, text: str, reasoning: str) -> None:
            if usage:
                self._settle(call, meta, TokenUsage.from_openai(usage))
                return
            # The provider sent no usage (a vendor without it, or a stream cut short): estimate from what was sent
            # and streamed, marked estimated, so a streamed call is never costed at zero.
            from tollway.pricing import estimate_usage

            messages = call.request.get("messages")
            self._settle(call, meta, estimate_usage(call.endpoint.model, messages, text, reasoning_text=reasoning))

        return settle

    async def _complete_once(self, call: Call, attempts: int) -> ChatCompletion:
        http = call.adapter.build_chat_request(call.request, call.endpoint)
        started = time.perf_counter()
        answer = await self._fetch(call, http)
        upstream = time.perf_counter() - started
        data = call.adapter.parse_chat_response(answer, call.request, call.endpoint)
        meta = self._meta(call, attempts, dict(answer.headers), data.get("usage"))
        meta.upstream_seconds = upstream
        return ChatCompletion(data, meta)

    async def _stream_once(self, call: Call, attempts: int) -> AsyncCompletionStream:
        http = call.adapter.build_chat_request(call.request, call.endpoint)
        decoder = call.adapter.chat_stream_decoder(call.request, call.endpoint)
        options = call.request.get("stream_options") or {}
        started = time.perf_counter()
        try:
            # The total timeout covers the wait for the first chunk; after it only the read timeout applies.
            async with asyncio.timeout(call.timeouts.total):
                response = await self._send(call, http, call.timeouts.for_stream())
                stream = AsyncCompletionStream(
                    response,
                    decoder,
                    meta=self._meta(call, attempts, response.headers),
                    include_usage=bool(options.get("include_usage")),
                    on_end=self._stream_end(call),
                )
                await stream.prime()
        except TimeoutError:
            raise _timeout(call) from None
        stream.meta.upstream_seconds = time.perf_counter() - started  # to the first chunk
        return stream

    async def _rerank_once(self, call: Call, attempts: int) -> RerankResponse:
        answer = await self._fetch(call, call.adapter.build_rerank_request(call.request, call.endpoint))
        data = call.adapter.parse_rerank_response(answer, call.request, call.endpoint)
        return RerankResponse(data, self._meta(call, attempts, dict(answer.headers)))

    async def _embed_once(self, call: Call, attempts: int) -> EmbeddingResponse:
        adapter = call.adapter
        started = time.perf_counter()
        if isinstance(adapter, FanOutEmbeddings):
            requests = adapter.build_embedding_requests(call.request, call.endpoint)
            answers = await asyncio.gather(*(self._fetch(call, http) for http in requests))
            data = adapter.merge_embedding_responses(list(answers), call.request, call.endpoint)
            answer = answers[0]
        else:
            answer = await self._fetch(call, adapter.build_embedding_request(call.request, call.endpoint))
            data = adapter.parse_embedding_response(answer, call.request, call.endpoint)
        meta = self._meta(call, attempts, dict(answer.headers), data.get("usage"))
        meta.upstream_seconds = time.perf_counter() - started
        return EmbeddingResponse(data, meta)


def _timeout(call: Call) -> Timeout:
    return Timeout(
        f"no complete answer from {call.endpoint.provider} within {call.timeouts.total}s",
        provider=call.endpoint.provider,
        model=call.endpoint.model,
    )


class _PoolEntry:
    """A transport bound to one event loop, closed when that loop shuts down.

    ``asyncio.run`` (and every runner built on ``asyncio.Runner``) finalises the async generators a loop has
    started before closing it; a generator parked at its ``yield`` is our hook to close the pool then, so callers
    of the module-level functions never leak connections or see "unclosed session" warnings.
    """

    __slots__ = ("_watcher", "transport")

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._watcher: AsyncGenerator[None, None] | None = None

    async def watch_loop(self) -> None:
        watcher = self._watch()
        await anext(watcher)
        self._watcher = watcher

    async def _watch(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await self.transport.aclose()

    async def close(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            await watcher.aclose()
        else:
            await self.transport.aclose()

"""The SDK client: resolve the provider, call the adapter, send, retry, and wrap the answer.

This is the only SDK code besides the transports that does I/O or reads the environment. One ``Client`` holds one
connection pool per event loop it is used in; the sync methods run the same async code on a private loop thread.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tollway.adapters.base import Adapter, Endpoint
from tollway.errors import (
    BadRequestError,
    MissingCredentialsError,
    Timeout,
    TollwayError,
)
from tollway.http import HttpRequest, HttpResponse
from tollway.loop_thread import LoopThread
from tollway.messages import validate_chat_request
from tollway.registry import ProviderSpec, load_adapter, resolve_model
from tollway.retry import RetryPolicy
from tollway.streaming import AsyncCompletionStream, CompletionStream
from tollway.transport import Timeouts, Transport, TransportResponse
from tollway.types import ChatCompletion, EmbeddingResponse, ResponseMeta
from tollway.usage import TokenUsage

__all__ = ["CallOptions", "Client", "split_params"]

_T = TypeVar("_T")

# Parameters that configure tollway rather than the model call; never forwarded upstream as such.
# LiteLLM's spellings are accepted beside ours so code migrates by changing the import.
_OPTION_ALIASES: Mapping[str, str] = {
    "api_base": "api_base",
    "base_url": "api_base",
    "api_key": "api_key",
    "api_version": "api_version",
    "timeout": "timeout",
    "request_timeout": "timeout",
    "num_retries": "num_retries",
    "max_retries": "num_retries",
    "drop_params": "drop_params",
    "extra_headers": "extra_headers",
    "headers": "extra_headers",
    "extra_body": "extra_body",
    "mock_response": "mock_response",
    "custom_llm_provider": "custom_llm_provider",
    "metadata": "metadata",
}


@dataclass(slots=True)
class CallOptions:
    """Tollway's own parameters of one call (see the SDK contract in ARCHITECTURE.md)."""

    api_base: str | None = None
    api_key: str | None = None
    api_version: str | None = None
    timeout: float | Timeouts | None = None
    num_retries: int | None = None
    drop_params: bool | None = None
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    mock_response: Any = None
    custom_llm_provider: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


def split_params(params: Mapping[str, Any]) -> tuple[dict[str, Any], CallOptions]:
    """Separate OpenAI request parameters from tollway's options."""
    request: dict[str, Any] = {}
    options = CallOptions()
    for key, value in params.items():
        option = _OPTION_ALIASES.get(key)
        if option is None:
            request[key] = value
        elif value is not None:
            setattr(options, option, value)
    if "fallbacks" in request:
        raise BadRequestError(
            "'fallbacks' is handled by tollway.Router, which is not part of this release yet", param="fallbacks"
        )
    return request, options


@dataclass(frozen=True, slots=True)
class _Call:
    spec: ProviderSpec
    adapter: Adapter
    endpoint: Endpoint
    request: dict[str, Any]
    timeouts: Timeouts
    retry: RetryPolicy
    mock: bool


class Client:
    """Calls any provider with OpenAI-shaped requests; ``Client()`` reads credentials from the environment.

    ``environ`` replaces ``os.environ`` as the source of provider keys and base URLs (for tests and for
    embedding tollway in a process whose environment is not its configuration). ``transport_factory`` replaces
    the pooled aiohttp transport (one is created per event loop).
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
        self._retry = RetryPolicy(num_retries=num_retries)
        self._timeouts = Timeouts.of(timeout)
        self._drop_params = drop_params
        self._environ = environ
        self._transport_factory = transport_factory or _default_transport
        self._transports: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _PoolEntry] = weakref.WeakKeyDictionary()
        self._mock: Transport | None = None
        self._thread = LoopThread()

    # -- public API ---------------------------------------------------------------------------------------

    async def acompletion(
        self, model: str, messages: list[dict[str, Any]], **params: Any
    ) -> ChatCompletion | AsyncCompletionStream:
        """Chat completion; with ``stream=True`` an ``AsyncCompletionStream`` of chunks."""
        request, options = split_params(params)
        request["model"] = model
        request["messages"] = messages
        validate_chat_request(request)
        call = self._prepare(model, request, options)
        if request.get("stream"):
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
        request, options = split_params(params)
        request["model"] = model
        request["input"] = input
        call = self._prepare(model, request, options)
        return await self._with_retries(call, self._embed_once)

    def embedding(self, model: str, input: Any, **params: Any) -> EmbeddingResponse:
        """Blocking ``aembedding``."""
        return self._thread.run(self.aembedding(model, input, **params))

    async def aclose(self) -> None:
        """Close the connection pool of the running loop."""
        entry = self._transports.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry.close()

    def close(self) -> None:
        """Close the sync API's loop thread and its pool."""
        self._thread.stop(self.aclose())

    # -- resolution ---------------------------------------------------------------------------------------

    def _prepare(self, model: str, request: dict[str, Any], options: CallOptions) -> _Call:
        mock = options.mock_response is not None
        spec, upstream_model = resolve_model(model, options.custom_llm_provider)
        if mock:
            # Any model can be mocked; the answer keeps the requested model's name.
            spec = resolve_model("mock/" + upstream_model)[0]
            request["mock_response"] = options.mock_response
        endpoint = self._endpoint(spec, upstream_model, options)
        retry = self._retry if options.num_retries is None else RetryPolicy(num_retries=options.num_retries)
        timeouts = self._timeouts if options.timeout is None else Timeouts.of(options.timeout)
        adapter = load_adapter(spec.adapter)
        return _Call(spec, adapter, endpoint, request, timeouts, retry, mock or spec.offline)

    def _env(self, names: tuple[str, ...]) -> str | None:
        environ = os.environ if self._environ is None else self._environ
        for name in names:
            value = environ.get(name)
            if value:
                return value
        return None

    def _endpoint(self, spec: ProviderSpec, model: str, options: CallOptions) -> Endpoint:
        api_key = options.api_key or self._env(spec.api_key_env)
        if api_key is None and spec.key_required:
            names = " or ".join(spec.api_key_env) or "an API key"
            raise MissingCredentialsError(
                f"no API key for {spec.name}: set {names} in the environment or pass api_key=",
                provider=spec.name,
                model=model,
            )
        api_base = options.api_base or self._env(spec.api_base_env) or spec.api_base
        if not api_base:
            raise BadRequestError(f"{spec.name} needs api_base=", provider=spec.name, model=model, param="api_base")
        return Endpoint(
            provider=spec.name,
            model=model,
            api_base=api_base.rstrip("/"),
            api_key=api_key,
            api_version=options.api_version,
            headers=dict(options.extra_headers),
            extra_body=dict(options.extra_body),
            drop_params=self._drop_params if options.drop_params is None else options.drop_params,
            quirks=spec.quirks,
        )

    async def _transport(self, call: _Call) -> Transport:
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

    async def _with_retries(self, call: _Call, once: Callable[[_Call, int], Awaitable[_T]]) -> _T:
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

    async def _send(self, call: _Call, http: HttpRequest) -> TransportResponse:
        """Send and return the open response when it is a success; map any other status through the adapter."""
        transport = await self._transport(call)
        response = await transport.send(http, call.timeouts)
        if 200 <= response.status < 300:
            return response
        try:
            body = await response.read()
        finally:
            await response.aclose()
        raise call.adapter.map_error(HttpResponse(response.status, response.headers, body), call.endpoint)

    async def _fetch(self, call: _Call, http: HttpRequest) -> HttpResponse:
        """A whole successful answer, within the call's total timeout."""
        try:
            async with asyncio.timeout(call.timeouts.total):
                response = await self._send(call, http)
                try:
                    body = await response.read()
                finally:
                    await response.aclose()
        except TimeoutError:
            raise _timeout(call) from None
        return HttpResponse(response.status, response.headers, body)

    def _meta(
        self, call: _Call, attempts: int, headers: dict[str, str], usage: Mapping[str, Any] | None = None
    ) -> ResponseMeta:
        # usage None means the provider reported none (unknown), not zero tokens.
        return ResponseMeta(
            provider=call.endpoint.provider,
            model=call.endpoint.model,
            mock=call.mock,
            attempts=attempts,
            headers=headers,
            usage=TokenUsage.from_openai(usage) if usage else None,
        )

    async def _complete_once(self, call: _Call, attempts: int) -> ChatCompletion:
        answer = await self._fetch(call, call.adapter.build_chat_request(call.request, call.endpoint))
        data = call.adapter.parse_chat_response(answer, call.request, call.endpoint)
        return ChatCompletion(data, self._meta(call, attempts, dict(answer.headers), data.get("usage")))

    async def _stream_once(self, call: _Call, attempts: int) -> AsyncCompletionStream:
        http = call.adapter.build_chat_request(call.request, call.endpoint)
        decoder = call.adapter.chat_stream_decoder(call.request, call.endpoint)
        options = call.request.get("stream_options") or {}
        try:
            # The total timeout covers the wait for the first chunk; after it only the read timeout applies.
            async with asyncio.timeout(call.timeouts.total):
                response = await self._send(call, http)
                stream = AsyncCompletionStream(
                    response,
                    decoder,
                    meta=self._meta(call, attempts, response.headers),
                    include_usage=bool(options.get("include_usage")),
                )
                await stream.prime()
        except TimeoutError:
            raise _timeout(call) from None
        return stream

    async def _embed_once(self, call: _Call, attempts: int) -> EmbeddingResponse:
        answer = await self._fetch(call, call.adapter.build_embedding_request(call.request, call.endpoint))
        data = call.adapter.parse_embedding_response(answer, call.request, call.endpoint)
        return EmbeddingResponse(data, self._meta(call, attempts, dict(answer.headers), data.get("usage")))


def _timeout(call: _Call) -> Timeout:
    return Timeout(
        f"no complete answer from {call.endpoint.provider} within {call.timeouts.total}s",
        provider=call.endpoint.provider,
        model=call.endpoint.model,
    )


def _default_transport() -> Transport:
    from tollway.transport.aiohttp import AiohttpTransport

    return AiohttpTransport()


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

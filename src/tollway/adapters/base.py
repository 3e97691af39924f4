"""The adapter seam: one adapter per wire API, pure translation between OpenAI shapes and a provider's own.

An adapter never does I/O and never reads the environment. It receives an OpenAI-shaped request dict (exactly
what a client would send to ``POST /v1/chat/completions``, without tollway's own parameters) and an ``Endpoint``
(where and how to call: data resolved by the client from the registry and the call's arguments), and returns
``HttpRequest`` values and OpenAI-shaped dicts. The client owns the network, retries and timing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import orjson

from tollway.errors import APIConnectionError, BadGatewayError, BadRequestError, TollwayError, UnsupportedParamsError
from tollway.http import HttpRequest, HttpResponse

__all__ = [
    "Adapter",
    "BaseAdapter",
    "Endpoint",
    "FanOutEmbeddings",
    "HeldError",
    "StreamDecoder",
    "bad_request",
    "filter_params",
    "json_body",
    "load_json",
    "tool_arguments",
    "truncated",
]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how one call goes: provider, upstream model id, base URL, credentials, options.

    ``api_base`` has no trailing slash; it may hold ``{name}`` placeholders the adapter fills from ``params``.
    ``quirks`` carries the provider's documented deviations from its wire API (registry data, e.g. which
    token-limit field an OpenAI-compatible vendor accepts); adapters read it, nothing else branches on the
    provider's name. ``params`` holds provider settings resolved for this call (region, project, cloud
    credentials...), filled from the call's provider options and by the provider's credential resolver.
    """

    provider: str
    model: str
    api_base: str
    api_key: str | None = None
    api_version: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    drop_params: bool = False
    quirks: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)


class StreamDecoder(Protocol):
    """Turns a provider's streamed bytes into OpenAI ``chat.completion.chunk`` dicts.

    ``feed`` returns the chunks completed by the bytes given; an error event inside the stream raises the mapped
    ``TollwayError``. ``close`` is called at end of stream: it returns any last chunks, or raises
    ``APIConnectionError`` when the stream ended before the provider's terminator (truncated). Whenever usage is
    known the decoder emits it as a final chunk with ``"choices": []`` (the client drops that chunk for callers that
    did not ask for ``stream_options.include_usage``); ``usage`` holds the latest OpenAI-shaped usage seen, even for a
    stream that failed part way.
    """

    usage: dict[str, Any] | None

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Decode more bytes."""
        ...

    def close(self) -> list[dict[str, Any]]:
        """End of the byte stream."""
        ...


class Adapter(Protocol):
    """One wire API. Every method is pure."""

    def build_chat_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The upstream request for an OpenAI chat request (``stream`` in ``request`` selects streaming)."""
        ...

    def parse_chat_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """An OpenAI ``chat.completion`` dict from a successful (2xx) upstream answer."""
        ...

    def chat_stream_decoder(self, request: dict[str, Any], endpoint: Endpoint) -> StreamDecoder:
        """A fresh decoder for one streamed answer."""
        ...

    def build_embedding_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The upstream request for an OpenAI embeddings request."""
        ...

    def parse_embedding_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """An OpenAI embeddings ``list`` dict from a successful upstream answer."""
        ...

    def build_rerank_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The upstream request for a rerank request (``model``, ``query``, ``documents``, ``top_n``...)."""
        ...

    def parse_rerank_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """The rerank answer in tollway's one shape (Cohere's: ``{"id", "results": [{"index",
        "relevance_score", "document"?}], "meta"}``)."""
        ...

    def map_error(self, response: HttpResponse, endpoint: Endpoint) -> TollwayError:
        """The typed error for a non-2xx upstream answer."""
        ...


@runtime_checkable
class FanOutEmbeddings(Protocol):
    """An adapter whose provider embeds one input per request (Bedrock Titan): the client sends every request of
    ``build_embedding_requests`` concurrently and merges the answers into one OpenAI embeddings ``list``."""

    def build_embedding_requests(self, request: dict[str, Any], endpoint: Endpoint) -> list[HttpRequest]:
        """All upstream requests for one embeddings request."""
        ...

    def merge_embedding_responses(
        self, responses: list[HttpResponse], request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """One OpenAI embeddings ``list`` from the answers, in request order (usage summed)."""
        ...


class BaseAdapter:
    """Defaults for the operations a wire API does not offer: each raises a ``BadRequestError`` saying so.

    Adapters inherit it and override what their provider has.
    """

    def build_embedding_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """Refuse: this provider has no embeddings API."""
        raise _absent(endpoint, "embeddings")

    def parse_embedding_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """Refuse: this provider has no embeddings API."""
        raise _absent(endpoint, "embeddings")

    def build_rerank_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """Refuse: this provider has no rerank API."""
        raise _absent(endpoint, "rerank")

    def parse_rerank_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """Refuse: this provider has no rerank API."""
        raise _absent(endpoint, "rerank")


def _absent(endpoint: Endpoint, what: str) -> BadRequestError:
    return BadRequestError(
        f"{endpoint.provider} has no {what} API in tollway; use a provider that offers {what}",
        provider=endpoint.provider,
        model=endpoint.model,
        param="model",
    )


def json_body(payload: Mapping[str, Any], extra_body: Mapping[str, Any]) -> bytes:
    """Serialise an upstream body; ``extra_body`` (the caller's escape hatch) is merged over it verbatim."""
    if extra_body:
        payload = {**payload, **extra_body}
    return orjson.dumps(payload)


def load_json(body: bytes, endpoint: Endpoint, what: str = "response") -> dict[str, Any]:
    """Parse an upstream JSON object, or raise ``BadGatewayError`` quoting the start of what arrived."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        preview = body[:200].decode("utf-8", errors="replace")
        raise BadGatewayError(
            f"{endpoint.provider} returned a {what} that is not JSON: {preview!r}",
            provider=endpoint.provider,
            model=endpoint.model,
            body=body,
        ) from None
    if not isinstance(data, dict):
        raise BadGatewayError(
            f"{endpoint.provider} returned a {what} that is not a JSON object",
            provider=endpoint.provider,
            model=endpoint.model,
            body=body,
        )
    return data


def filter_params(
    request: Mapping[str, Any],
    supported: Collection[str],
    endpoint: Endpoint,
    *,
    ignored: Collection[str] = (),
) -> dict[str, Any]:
    """Keep the parameters an upstream accepts; raise (or, with ``drop_params``, drop) the rest.

    ``ignored`` names parameters that are consumed by the adapter itself (so they are neither forwarded nor
    reported). Parameters whose value is ``None`` count as not given, as in the OpenAI SDK.
    """
    kept: dict[str, Any] = {}
    for key, value in request.items():
        if value is None or key in ignored:
            continue
        if key in supported:
            kept[key] = value
        elif not endpoint.drop_params:
            raise UnsupportedParamsError(
                f"{endpoint.provider} does not support the parameter {key!r} "
                "(pass drop_params=True to drop unsupported parameters)",
                provider=endpoint.provider,
                model=endpoint.model,
                param=key,
            )
    return kept


def bad_request(endpoint: Endpoint, message: str, param: str | None) -> BadRequestError:
    """A ``BadRequestError`` attributed to ``endpoint``'s provider and model."""
    return BadRequestError(message, provider=endpoint.provider, model=endpoint.model, param=param)


def truncated(endpoint: Endpoint) -> APIConnectionError:
    """The error for a stream that ended before the provider's terminator (the ``StreamDecoder.close`` contract)."""
    return APIConnectionError(
        f"{endpoint.provider} closed the stream before it finished", provider=endpoint.provider, model=endpoint.model
    )


def tool_arguments(arguments: Any, where: str, endpoint: Endpoint) -> dict[str, Any]:
    """An OpenAI tool call's ``arguments`` (a JSON string, PROVIDERS.md §14.9) as the object providers want.

    Empty means ``{}``; invalid JSON or a non-object is a ``BadRequestError`` naming ``where`` (a request that
    would otherwise reach the provider as a confusing 400).
    """
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    try:
        value = orjson.loads(arguments) if isinstance(arguments, str) else arguments
    except orjson.JSONDecodeError:
        raise bad_request(endpoint, f"{where}.function.arguments is not valid JSON", where) from None
    if not isinstance(value, dict):
        raise bad_request(endpoint, f"{where}.function.arguments must be a JSON object", where)
    return value


def require(condition: bool, message: str, endpoint: Endpoint, param: str | None = None) -> None:
    """Raise ``BadRequestError`` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise BadRequestError(message, provider=endpoint.provider, model=endpoint.model, param=param)


class HeldError:
    """An in-stream error held back until the chunks decoded before it (in the same read) are handed out.

    One network read often carries the last content events and the error event together; raising at once would
    lose that content. A decoder catches the error, returns what it decoded, and raises on its next call.
    """

    __slots__ = ("error",)

    def __init__(self) -> None:
        self.error: TollwayError | None = None

    def hold(self, error: TollwayError, chunks: list[dict[str, Any]]) -> None:
        """Raise ``error`` now if nothing was decoded before it, else keep it for ``raise_if_held``."""
        if not chunks:
            raise error
        self.error = error

    def raise_if_held(self) -> None:
        """Raise the held error, if any (once)."""
        error, self.error = self.error, None
        if error is not None:
            raise error

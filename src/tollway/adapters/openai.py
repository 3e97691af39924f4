"""The OpenAI wire API (Chat Completions and Embeddings), also spoken by every OpenAI-compatible vendor.

The adapter is a near pass-through: requests are rebuilt from a whitelist of the documented parameters (so a
typo fails here with ``UnsupportedParamsError`` instead of being silently ignored or rejected upstream with a
confusing message, ../shared/PROVIDERS.md §14.14), responses come back exactly as the upstream sent them apart
from a few normalisations (recomputed ``total_tokens``, ``reasoning_content``), and errors are read from
OpenAI's envelope ``{"error": {"message", "type", "param", "code"}}`` (§1.9).

Quirks read from ``Endpoint.quirks`` (registry data, never a branch on the provider's name):

``chat_path`` / ``embeddings_path``
    Path appended to ``api_base`` (default ``/chat/completions`` and ``/embeddings``).
``auth_header``
    ``"api-key"`` (Azure, §4) or ``"x-api-key"``: send the raw key under that header instead of
    ``authorization: Bearer``.
``permissive``
    True: forward parameters outside the whitelist instead of rejecting them (the built-in mock provider).
``unsupported_params`` / ``extra_params``
    Collections of names: documented parameters this vendor rejects (treated as unknown, e.g. Groq's
    ``logprobs``, §11), and vendor parameters added to the whitelist (e.g. Together's ``top_k``).
``max_tokens_field``
    ``"max_tokens"`` or ``"max_completion_tokens"``: the one token-limit name this vendor knows; the limit is
    sent under it whichever name the caller used (§14.4). Without it, OpenAI's reasoning-model rule applies.
``reasoning_model``
    True/False overrides the model-id rule of ``reasoning_model_rejects`` (Azure deployments have free names).
``include_usage``
    False: do not force ``stream_options.include_usage`` on streamed calls (for upstreams that reject it).
``reasoning_field``
    Name of the message/delta field holding reasoning text (``"reasoning"`` on Groq and OpenRouter, §11);
    it is copied to the de-facto ``reasoning_content`` field (§14.5).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Any

import orjson

from tollway.adapters.base import BaseAdapter, Endpoint, StreamDecoder, filter_params, json_body, load_json, require
from tollway.errors import (
    BadGatewayError,
    BadRequestError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    RateLimitError,
    TollwayError,
    UnsupportedParamsError,
    error_for_status,
)
from tollway.http import HttpRequest, HttpResponse, parse_retry_after

__all__ = [
    "CHAT_PARAMS",
    "EMBEDDING_PARAMS",
    "OpenAIAdapter",
    "error_from_payload",
    "normalise_usage",
    "reasoning_model_rejects",
]

# Every documented chat-completion body parameter (PROVIDERS.md §1.2; openai-openapi.yaml
# CreateChatCompletionRequest with its ModelResponseProperties; openai-python completion_create_params.py).
# ``model`` is absent on purpose: it is always the endpoint's upstream id.
CHAT_PARAMS: frozenset[str] = frozenset(
    {
        "messages",
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "moderation",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)

# PROVIDERS.md §2.
EMBEDDING_PARAMS: frozenset[str] = frozenset({"input", "encoding_format", "dimensions", "user"})

# OpenAI reasoning models: "o1", "o3", "o4" and "gpt-5" ids, except the non-reasoning "gpt-5-chat" snapshots.
# They reject ``max_tokens`` (use ``max_completion_tokens``) and sampling controls (OpenAI reasoning guide;
# PROVIDERS.md §14.4-5).
_REASONING_PREFIXES: tuple[str, ...] = ("o1", "o3", "o4", "gpt-5")
_NOT_REASONING_PREFIXES: tuple[str, ...] = ("gpt-5-chat",)
_REASONING_REJECTED: frozenset[str] = frozenset(
    {
        "temperature",
        "top_p",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
        "logit_bias",
    }
)
# GPT-5.1 and later accept these again when reasoning is switched off (``reasoning_effort: "none"``); older
# GPT-5 models and other efforts still reject them (OpenAI "Using GPT-5.2" guide, parameter compatibility).
_REASONING_OFF_PREFIXES: tuple[str, ...] = ("gpt-5.",)
_REASONING_OFF_ALLOWED: frozenset[str] = frozenset({"temperature", "top_p", "logprobs", "top_logprobs"})

# Error codes that pick a more specific class than the HTTP status does (§1.9, §4 for Azure's content_filter).
_CONTEXT_CODES: frozenset[str] = frozenset({"context_length_exceeded"})
_CONTEXT_PHRASES: tuple[str, ...] = ("maximum context length", "context length", "context window")
_POLICY_CODES: frozenset[str] = frozenset({"content_policy_violation", "content_filter"})
_UNSUPPORTED_CODES: frozenset[str] = frozenset({"unsupported_parameter", "unsupported_value"})

# Statuses implied by an error ``type`` when there is no HTTP status to go by (errors inside a 200 stream).
_STATUS_BY_TYPE: Mapping[str, int] = MappingProxyType(
    {
        "invalid_request_error": 400,
        "authentication_error": 401,
        "permission_error": 403,
        "not_found_error": 404,
        "timeout": 408,
        "rate_limit_error": 429,
        "insufficient_quota": 429,
        "tokens": 429,
        "requests": 429,
        "server_error": 500,
        "api_error": 500,
        "overloaded_error": 503,
    }
)

_MAX_STOP = 4


def reasoning_model_rejects(model: str, request: Mapping[str, Any], quirks: Mapping[str, Any]) -> frozenset[str]:
    """The parameters OpenAI's reasoning model ``model`` rejects for this request (empty for other models).

    ``quirks["reasoning_model"]`` (True/False) overrides the id-prefix rule. ``temperature`` exactly 1 is the
    default and is accepted; GPT-5.1+ with ``reasoning_effort: "none"`` accepts sampling controls again.
    """
    forced = quirks.get("reasoning_model")
    if forced is None:
        is_reasoning = model.startswith(_REASONING_PREFIXES) and not model.startswith(_NOT_REASONING_PREFIXES)
    else:
        is_reasoning = bool(forced)
    if not is_reasoning:
        return frozenset()
    rejected = _REASONING_REJECTED
    if request.get("reasoning_effort") == "none" and model.startswith(_REASONING_OFF_PREFIXES):
        rejected = rejected - _REASONING_OFF_ALLOWED
    temperature = request.get("temperature")
    if type(temperature) in (int, float) and temperature == 1:
        rejected = rejected - {"temperature"}
    return rejected


def normalise_usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of OpenAI usage JSON with ``total_tokens`` recomputed as prompt + completion (§13.2)."""
    fixed = dict(usage)
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens", 0)
    if isinstance(prompt, int) and isinstance(completion, int):
        fixed["total_tokens"] = prompt + completion
    return fixed


def copy_reasoning_field(message: dict[str, Any], field: str | None) -> None:
    """Copy a vendor's reasoning text field (``reasoning`` on Groq/OpenRouter) to ``reasoning_content``."""
    if field and field in message and "reasoning_content" not in message:
        message["reasoning_content"] = message[field]


def error_from_payload(
    error: object,
    endpoint: Endpoint,
    *,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    fallback_message: str | None = None,
) -> TollwayError:
    """The typed error for the value of an OpenAI ``"error"`` key (an object, or a string on some vendors).

    ``status`` is the HTTP status of a failed answer; ``None`` for an error event inside a 200 stream, where
    the class is inferred from a numeric ``code`` (OpenRouter sends the status there, Azure a digit string)
    or from ``type``, and ``upstream_status`` stays None.
    """
    message, err_type, param, code = _fields(error)
    message = message or fallback_message or f"{endpoint.provider} returned an error"
    status_hint: int | None = None
    if isinstance(code, int) and not isinstance(code, bool):
        status_hint, code = code, None
    elif isinstance(code, str) and code.isdigit():
        status_hint, code = int(code), None
    elif code is not None and not isinstance(code, str):
        code = str(code)
    if status_hint is not None and not 400 <= status_hint < 600:
        status_hint = None  # not an HTTP error status after all
    effective = status or status_hint or _STATUS_BY_TYPE.get(err_type or "", 500)
    kwargs: dict[str, Any] = {
        "provider": endpoint.provider,
        "model": endpoint.model,
        "retry_after": parse_retry_after(headers) if headers else None,
        "body": body,
        "headers": headers,
        "param": param,
        "code": code,
    }
    base = error_for_status(effective, message, **kwargs)
    refined = _refine(base, code, message)
    if refined is not None:
        base = refined(message, upstream_status=effective, **kwargs)
    if isinstance(base, RateLimitError) and "insufficient_quota" in (code, err_type):
        # The account is out of credit: waiting does not help, so the router must fall back instead.
        base.retryable = False
    base.upstream_status = status
    return base


def _fields(error: object) -> tuple[str | None, str | None, str | None, object]:
    """``(message, type, param, code)`` of an error value, tolerating vendor variants (§11)."""
    if isinstance(error, str):
        return error, None, None, None
    if not isinstance(error, Mapping):
        return None, None, None, None
    message = error.get("message")
    err_type = error.get("type")
    param = error.get("param")
    return (
        message if isinstance(message, str) else None,
        err_type if isinstance(err_type, str) else None,
        param if isinstance(param, str) else None,
        error.get("code"),
    )


def _refine(base: TollwayError, code: object, message: str) -> type[TollwayError] | None:
    """A more specific class than the status gives, from the error code (or the message, as a last resort)."""
    if code in _CONTEXT_CODES:
        return ContextWindowExceededError
    if code in _POLICY_CODES:
        return ContentPolicyViolationError
    if code in _UNSUPPORTED_CODES:
        return UnsupportedParamsError
    if isinstance(base, BadRequestError):
        lowered = message.lower()
        # Many OpenAI-compatible servers (vLLM, older Azure) send no code for an overlong prompt.
        if any(phrase in lowered for phrase in _CONTEXT_PHRASES):
            return ContextWindowExceededError
    return None


def _quirk_names(quirks: Mapping[str, Any], name: str) -> frozenset[str]:
    value: Collection[str] | str | None = quirks.get(name)
    if isinstance(value, str):
        return frozenset({value})
    return frozenset(value) if value else frozenset()


def _whitelist(
    request: Mapping[str, Any], params: frozenset[str], endpoint: Endpoint, rejected: frozenset[str]
) -> dict[str, Any]:
    """``request`` filtered to what this endpoint accepts (``model`` is consumed, never forwarded)."""
    quirks = endpoint.quirks
    rejected = rejected | _quirk_names(quirks, "unsupported_params")
    if quirks.get("permissive"):
        supported: Collection[str] = frozenset(request) - rejected
    else:
        supported = (params | _quirk_names(quirks, "extra_params")) - rejected
    return filter_params(request, supported, endpoint, ignored=("model",))


def _headers(endpoint: Endpoint) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if endpoint.api_key:
        auth_header = str(endpoint.quirks.get("auth_header", "authorization")).lower()
        if auth_header == "authorization":
            headers["authorization"] = f"Bearer {endpoint.api_key}"
        else:
            headers[auth_header] = endpoint.api_key
    headers.update(endpoint.headers)
    return headers


def _token_limit(request: dict[str, Any], field: str | None) -> None:
    """Send the caller's token limit under ``field``; given both names, max_completion_tokens wins."""
    if field not in ("max_tokens", "max_completion_tokens"):
        return
    completion = request.pop("max_completion_tokens", None)
    legacy = request.pop("max_tokens", None)
    value = completion if completion is not None else legacy
    if value is not None:
        request[field] = value


def _validate_chat(request: Mapping[str, Any], endpoint: Endpoint) -> None:
    """Reject values that upstreams answer with confusing errors (or none at all)."""
    n = request.get("n")
    if n is not None:
        require(type(n) is int and n >= 1, "n must be an integer of at least 1", endpoint, "n")
    stop = request.get("stop")
    if stop is not None and not isinstance(stop, str):
        require(
            isinstance(stop, list) and len(stop) <= _MAX_STOP and all(isinstance(s, str) for s in stop),
            f"stop must be a string or a list of at most {_MAX_STOP} strings",
            endpoint,
            "stop",
        )


def _validate_input(value: object, endpoint: Endpoint) -> None:
    """``input``: a non-empty string, or a non-empty list of strings, of token ids or of token-id lists."""

    def is_tokens(item: object) -> bool:
        return isinstance(item, list) and bool(item) and all(type(t) is int for t in item)

    ok = (isinstance(value, str) and bool(value)) or (
        isinstance(value, list)
        and bool(value)
        and (
            all(isinstance(item, str) and item for item in value)
            or is_tokens(value)
            or all(is_tokens(item) for item in value)
        )
    )
    require(
        ok,
        "input must be a non-empty string, or a non-empty list of non-empty strings, of token ids or of token-id lists",
        endpoint,
        "input",
    )


# Fields tollway adds to assistant messages from other providers (reasoning text, Anthropic's signed thinking
# blocks). They are for the caller and for adapters that understand them; OpenAI-compatible APIs reject them
# (DeepSeek documents a 400 when reasoning_content is sent back), so they never leave through this adapter.
_TOLLWAY_MESSAGE_FIELDS = ("reasoning_content", "thinking_blocks")


def outbound_messages(messages: list[Any]) -> list[Any]:
    """``messages`` without tollway's own assistant fields (the same list when there are none: no copy)."""
    if not any(
        isinstance(m, dict) and m.get("role") == "assistant" and any(f in m for f in _TOLLWAY_MESSAGE_FIELDS)
        for m in messages
    ):
        return messages
    return [
        {k: v for k, v in m.items() if k not in _TOLLWAY_MESSAGE_FIELDS}
        if isinstance(m, dict) and m.get("role") == "assistant"
        else m
        for m in messages
    ]


class OpenAIAdapter(BaseAdapter):
    """The OpenAI Chat Completions and Embeddings wire API (stateless; the module docstring lists quirks)."""

    def build_chat_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The upstream ``POST {api_base}/chat/completions`` for an OpenAI chat request."""
        quirks = endpoint.quirks
        _validate_chat(request, endpoint)
        request = dict(request)
        rejected = reasoning_model_rejects(endpoint.model, request, quirks)
        field = quirks.get("max_tokens_field")
        if field is None and rejected:
            # Only reasoning models have rejected parameters (never an empty set), and they reject max_tokens.
            field = "max_completion_tokens"
        _token_limit(request, field)
        payload: dict[str, Any] = {"model": endpoint.model}
        payload.update(_whitelist(request, CHAT_PARAMS, endpoint, rejected))
        payload["messages"] = outbound_messages(payload["messages"])
        if payload.get("stream") is True and quirks.get("include_usage", True) is not False:
            # Always ask for usage: it is what spend accounting prices. The client drops the usage chunk for
            # callers that did not ask for it (base.StreamDecoder).
            options = payload.get("stream_options")
            payload["stream_options"] = {
                **(options if isinstance(options, Mapping) else {}),
                "include_usage": True,
            }
        path = quirks.get("chat_path", "/chat/completions")
        return HttpRequest(
            "POST", endpoint.api_base + path, _headers(endpoint), json_body(payload, endpoint.extra_body)
        )

    def parse_chat_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """The upstream ``chat.completion`` JSON as sent, with ``total_tokens`` and reasoning normalised."""
        data = load_json(response.body, endpoint)
        choices = data.get("choices")
        if not isinstance(choices, list):
            if data.get("error"):
                # Some vendors answer 200 with an error envelope (OpenRouter when an upstream fails late).
                raise error_from_payload(data["error"], endpoint, headers=response.headers, body=response.body)
            raise BadGatewayError(
                f"{endpoint.provider} returned a chat response without a 'choices' list",
                provider=endpoint.provider,
                model=endpoint.model,
                body=response.body,
            )
        usage = data.get("usage")
        # type() first: isinstance against an ABC costs ~2.8k instructions (callgrind); parsed JSON is a dict.
        if type(usage) is dict or isinstance(usage, Mapping):
            data["usage"] = normalise_usage(usage)
        reasoning_field = endpoint.quirks.get("reasoning_field")
        if reasoning_field:
            for choice in choices:
                message = choice.get("message") if isinstance(choice, dict) else None
                if isinstance(message, dict):
                    copy_reasoning_field(message, reasoning_field)
        return data

    def chat_stream_decoder(self, request: dict[str, Any], endpoint: Endpoint) -> StreamDecoder:
        """A fresh ``OpenAIStreamDecoder`` for one streamed answer."""
        # Imported here: openai_stream imports this module's helpers, a top-level import would be a cycle.
        from tollway.adapters.openai_stream import OpenAIStreamDecoder

        return OpenAIStreamDecoder(endpoint)

    def build_embedding_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The upstream ``POST {api_base}/embeddings``."""
        _validate_input(request.get("input"), endpoint)
        payload: dict[str, Any] = {"model": endpoint.model}
        payload.update(_whitelist(request, EMBEDDING_PARAMS, endpoint, frozenset()))
        path = endpoint.quirks.get("embeddings_path", "/embeddings")
        return HttpRequest(
            "POST", endpoint.api_base + path, _headers(endpoint), json_body(payload, endpoint.extra_body)
        )

    def parse_embedding_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """The upstream embeddings ``list`` as sent (base64 vectors stay base64); ``total_tokens`` fixed."""
        data = load_json(response.body, endpoint)
        if not isinstance(data.get("data"), list):
            raise BadGatewayError(
                f"{endpoint.provider} returned an embeddings response without a 'data' list",
                provider=endpoint.provider,
                model=endpoint.model,
                body=response.body,
            )
        usage = data.get("usage")
        # type() first: isinstance against an ABC costs ~2.8k instructions (callgrind); parsed JSON is a dict.
        if type(usage) is dict or isinstance(usage, Mapping):
            data["usage"] = normalise_usage(usage)
        return data

    def map_error(self, response: HttpResponse, endpoint: Endpoint) -> TollwayError:
        """The typed error for a non-2xx answer, read from OpenAI's error envelope when there is one."""
        preview = response.body[:200].decode("utf-8", errors="replace")
        fallback = f"{endpoint.provider} returned HTTP {response.status}: {preview}"
        error: object = None
        try:
            data = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            error = data.get("error")
        return error_from_payload(
            error,
            endpoint,
            status=response.status,
            headers=response.headers,
            body=response.body,
            fallback_message=fallback,
        )

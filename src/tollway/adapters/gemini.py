"""The Gemini API wire format (Generative Language API): OpenAI chat and embeddings in, OpenAI shapes out (pure).

Wire format: ../shared/PROVIDERS.md §6 (endpoint §6.1, request §6.2, response §6.3, stream §6.4, usage §6.5,
JSON §6.6, errors §6.7, embeddings §6.8); mapping tables §13; gotchas §14.

Reuse contract (Vertex AI serves Gemini models with the same bodies under another URL and auth, §7.1):
everything below except ``GeminiAdapter`` is module-level and knows nothing about URLs or credentials.

* ``generate_content_body(request, endpoint) -> dict``: the ``generateContent`` body for an OpenAI chat request
  (``extra_body`` not merged yet; serialise with ``base.json_body(body, endpoint.extra_body)``).
* ``chat_completion(data, request, endpoint) -> dict``: an OpenAI ``chat.completion`` for a parsed
  ``GenerateContentResponse``.
* ``GeminiStreamDecoder(endpoint, request)`` (``tollway.adapters.gemini_stream``): the ``StreamDecoder`` for
  ``:streamGenerateContent?alt=sse``.
* ``google_error(status, body, endpoint, headers) -> TollwayError``: the typed error for a google.rpc.Status
  envelope (also used for in-stream errors with ``status=None``).
* ``embed_body(request, endpoint, model_name) -> dict`` / ``embedding_list(data, request, endpoint) -> dict``:
  ``:batchEmbedContents`` request and response (``model_name`` is the ``models/...`` resource name).
* ``GeminiAdapter`` builds URLs in ``model_url(endpoint, method)`` (``method`` such as ``"generateContent"`` or
  ``"streamGenerateContent?alt=sse"``) and headers in ``request_headers(endpoint)``; a subclass overriding those
  two gets chat (streamed or not) and error mapping unchanged.

Endpoint: ``api_base`` (default ``https://generativelanguage.googleapis.com``), ``api_version`` ``"v1"`` or
``"v1beta"`` (default ``v1beta``, which has the newest features), key sent as ``x-goog-api-key``.
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Mapping
from typing import Any

import orjson

from tollway.adapters.base import BaseAdapter, Endpoint, filter_params, json_body, load_json, require
from tollway.adapters.gemini_messages import convert_messages, convert_tool_choice, convert_tools
from tollway.adapters.gemini_response import (
    finish_reason,
    google_error,
    openai_logprobs,
    openai_usage,
    provider_fields,
    read_parts,
)
from tollway.adapters.gemini_schema import json_schema, openapi_schema
from tollway.adapters.gemini_stream import GeminiStreamDecoder
from tollway.errors import BadGatewayError, TollwayError, UnsupportedParamsError
from tollway.http import HttpRequest, HttpResponse

__all__ = [
    "CHAT_PARAMS",
    "DEFAULT_API_VERSION",
    "EMBEDDING_PARAMS",
    "GeminiAdapter",
    "chat_completion",
    "embed_body",
    "embedding_list",
    "generate_content_body",
    "model_resource",
]

DEFAULT_API_VERSION = "v1beta"

# OpenAI parameters with a Gemini equivalent (§13.3), plus Gemini's own documented request fields under
# LiteLLM's snake_case names (``safety_settings``, ``cached_content``, ``top_k``) and Anthropic's ``thinking``.
# Anything else is unsupported: Gemini rejects unknown fields ("Unknown name", §14.14).
CHAT_PARAMS = frozenset(
    {
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "seed",
        "n",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "functions",
        "function_call",
        "reasoning_effort",
        "thinking",
        "web_search_options",
        "safety_settings",
        "cached_content",
    }
)
EMBEDDING_PARAMS = frozenset({"input", "encoding_format", "dimensions", "task_type"})
# Consumed elsewhere: model and messages here, stream by the URL, stream_options by the client.
_CONSUMED = ("model", "messages", "stream", "stream_options")

# reasoning_effort -> thinkingBudget for Gemini 2.5 (ranges: Flash 0-24576, Flash-Lite 512-24576, Pro 128-32768;
# ai.google.dev/gemini-api/docs/thinking). "none" -> 0 switches thinking off where the model allows it.
THINKING_BUDGETS: Mapping[str, int] = {
    "none": 0,
    "minimal": 512,
    "low": 1024,
    "medium": 2048,
    "high": 4096,
    "xhigh": 8192,
    "max": 24576,
}
# reasoning_effort -> thinkingLevel for Gemini 3, which cannot switch thinking off (minimal is the least).
THINKING_LEVELS: Mapping[str, str] = {
    "none": "MINIMAL",
    "minimal": "MINIMAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "high": "HIGH",
    "xhigh": "HIGH",
    "max": "HIGH",
}


def _unsupported(endpoint: Endpoint, param: str, why: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(
        f"{endpoint.provider} does not support {param} {why} (pass drop_params=True to drop it)",
        provider=endpoint.provider,
        model=endpoint.model,
        param=param,
    )


def model_resource(model: str) -> str:
    """The resource name in the URL: ``models/<id>``, or the name as given (``tunedModels/...``)."""
    return model if "/" in model else f"models/{model}"


def generate_content_body(request: Mapping[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    """The ``generateContent`` body for an OpenAI chat request (``extra_body`` not merged)."""
    params = filter_params(request, CHAT_PARAMS, endpoint, ignored=_CONSUMED)
    converted = convert_messages(request.get("messages") or [], endpoint)
    body: dict[str, Any] = {"contents": converted.contents}
    if converted.system is not None:
        body["systemInstruction"] = converted.system
    _tools(body, params, endpoint)
    if params.get("safety_settings"):
        body["safetySettings"] = list(params["safety_settings"])
    if params.get("cached_content"):
        body["cachedContent"] = params["cached_content"]
    config = _generation_config(params, endpoint)
    if config:
        body["generationConfig"] = config
    return body


def _generation_config(params: Mapping[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    config: dict[str, Any] = {}
    limit = params.get("max_completion_tokens", params.get("max_tokens"))
    if limit is not None:
        config["maxOutputTokens"] = limit
    names = {
        "temperature": "temperature",
        "top_p": "topP",
        "top_k": "topK",
        "seed": "seed",
        "n": "candidateCount",
        "presence_penalty": "presencePenalty",
        "frequency_penalty": "frequencyPenalty",
    }
    config.update({theirs: params[ours] for ours, theirs in names.items() if ours in params})
    stop = params.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if params.get("logprobs") or "top_logprobs" in params:
        config["responseLogprobs"] = True
        if "top_logprobs" in params:
            config["logprobs"] = params["top_logprobs"]
    _response_format(config, params.get("response_format"), endpoint)
    thinking = _thinking_config(params, endpoint)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    return config


def _response_format(config: dict[str, Any], response_format: Any, endpoint: Endpoint) -> None:
    kind = response_format.get("type") if isinstance(response_format, Mapping) else response_format
    if kind is None or kind == "text":
        return
    if kind not in ("json_object", "json_schema"):
        if not endpoint.drop_params:
            raise _unsupported(endpoint, "response_format", f"of type {kind!r}")
        return
    config["responseMimeType"] = "application/json"  # §6.6
    spec = response_format.get("json_schema") if kind == "json_schema" else None
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    if isinstance(schema, Mapping):
        if endpoint.quirks.get("schema_dialect") == "openapi":
            config["responseSchema"] = openapi_schema(schema)
        else:
            config["responseJsonSchema"] = json_schema(schema)


def _thinking_config(params: Mapping[str, Any], endpoint: Endpoint) -> dict[str, Any] | None:
    thinking = params.get("thinking")
    if isinstance(thinking, Mapping):
        # Anthropic's shape (§5.6), as LiteLLM accepts it for Gemini: enabled with a budget, adaptive, disabled.
        kind = thinking.get("type")
        if kind == "disabled":
            return {"thinkingBudget": 0}
        budget = thinking.get("budget_tokens")
        return {"thinkingBudget": int(budget) if kind == "enabled" and budget else -1, "includeThoughts": True}
    effort = params.get("reasoning_effort")
    if effort is None:
        return None
    # Gemini 3 replaced budgets with levels (§6.2); budgets still work there but Google advises levels.
    levelled = "gemini-3" in endpoint.model
    table: Mapping[str, Any] = THINKING_LEVELS if levelled else THINKING_BUDGETS
    if effort not in table:
        if endpoint.drop_params:
            return None
        raise _unsupported(endpoint, "reasoning_effort", f"{effort!r} (one of {', '.join(table)})")
    config: dict[str, Any] = {"thinkingLevel" if levelled else "thinkingBudget": table[effort]}
    if effort != "none":
        config["includeThoughts"] = True  # so the reasoning reaches the caller as reasoning_content
    return config


def _tools(body: dict[str, Any], params: Mapping[str, Any], endpoint: Endpoint) -> None:
    openapi = endpoint.quirks.get("schema_dialect") == "openapi"
    tools = convert_tools(params.get("tools"), params.get("functions"), endpoint, openapi=openapi)
    if "web_search_options" in params:
        tools.append({"googleSearch": {}})  # OpenAI's web search is Gemini's grounding with Google Search
    choice = convert_tool_choice(params.get("tool_choice", params.get("function_call")), endpoint)
    if params.get("parallel_tool_calls") is False and not endpoint.drop_params:
        # Gemini has no switch for parallel calls (§13.3); the model may still return several.
        raise _unsupported(endpoint, "parallel_tool_calls", "set to false (Gemini cannot limit calls to one)")
    if tools:
        body["tools"] = tools
    if choice is not None and any("functionDeclarations" in tool for tool in tools):
        body["toolConfig"] = choice


def _legacy_functions(request: Mapping[str, Any]) -> bool:
    # §14.20: answer with function_call only to clients that used the legacy form.
    return bool(request.get("functions")) and not request.get("tools")


def chat_completion(data: Mapping[str, Any], request: Mapping[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` for a ``GenerateContentResponse``."""
    candidates = data.get("candidates")
    legacy = _legacy_functions(request)
    choices = [_choice(c, i, legacy) for i, c in enumerate(candidates or ()) if isinstance(c, Mapping)]
    if not choices:
        feedback = data.get("promptFeedback")
        if not isinstance(feedback, Mapping) or not feedback.get("blockReason"):
            raise BadGatewayError(
                f"{endpoint.provider} returned no candidates and no promptFeedback.blockReason",
                provider=endpoint.provider,
                model=endpoint.model,
                body=orjson.dumps(data),
            )
        # §6.3: a blocked prompt has no candidates; to OpenAI callers it is a filtered, empty answer.
        message = {"role": "assistant", "content": None, "provider_specific_fields": {"prompt_feedback": feedback}}
        choices = [{"index": 0, "message": message, "finish_reason": "content_filter", "logprobs": None}]
    completion: dict[str, Any] = {
        "id": data.get("responseId") or "",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": data.get("modelVersion") or endpoint.model,
        "choices": choices,
    }
    if isinstance(data.get("usageMetadata"), Mapping):
        completion["usage"] = openai_usage(data["usageMetadata"])
    return completion


def _choice(candidate: Mapping[str, Any], position: int, legacy: bool) -> dict[str, Any]:
    content = candidate.get("content")
    parts = read_parts(content.get("parts") if isinstance(content, Mapping) else None)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(parts.text) if parts.text else None}
    if parts.calls and legacy:
        message["function_call"] = parts.calls[0]["function"]
    elif parts.calls:
        message["tool_calls"] = parts.calls
    if parts.thoughts:
        message["reasoning_content"] = "".join(parts.thoughts)
    extra = {**provider_fields(candidate), **parts.extra}
    if extra:
        message["provider_specific_fields"] = extra
    finish = finish_reason(candidate.get("finishReason"), has_calls=bool(parts.calls))
    if legacy and finish == "tool_calls":
        finish = "function_call"
    index = candidate.get("index")
    return {
        "index": index if isinstance(index, int) else position,
        "message": message,
        "finish_reason": finish,
        "logprobs": openai_logprobs(candidate),
    }


def embed_body(request: Mapping[str, Any], endpoint: Endpoint, model_name: str) -> dict[str, Any]:
    """The ``batchEmbedContents`` body for an OpenAI embeddings request (§6.8); ``model_name``: ``models/...``."""
    params = filter_params(request, EMBEDDING_PARAMS, endpoint, ignored=("model",))
    inputs = params.get("input")
    if isinstance(inputs, str):
        inputs = [inputs]
    require(
        isinstance(inputs, list) and bool(inputs) and all(isinstance(i, str) and i for i in inputs),
        f"{endpoint.provider} embeds text only: input must be a non-empty string or list of non-empty strings",
        endpoint,
        "input",
    )
    require(
        params.get("encoding_format", "float") in ("float", "base64"),
        "encoding_format must be 'float' or 'base64'",
        endpoint,
        "encoding_format",
    )
    item: dict[str, Any] = {"model": model_name}
    if "dimensions" in params:
        item["outputDimensionality"] = params["dimensions"]
    if "task_type" in params:
        item["taskType"] = params["task_type"]
    return {"requests": [{**item, "content": {"parts": [{"text": text}]}} for text in inputs or ()]}


def embedding_list(data: Mapping[str, Any], request: Mapping[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    """An OpenAI embeddings ``list`` for a ``batchEmbedContents`` answer (usage only when Gemini gives it)."""
    embeddings = data.get("embeddings")
    if not isinstance(embeddings, list):
        raise BadGatewayError(
            f"{endpoint.provider} returned an embeddings response without an 'embeddings' list",
            provider=endpoint.provider,
            model=endpoint.model,
        )
    as_base64 = request.get("encoding_format") == "base64"
    items = []
    for index, embedding in enumerate(embeddings):
        values = [float(v) for v in (embedding.get("values") or [] if isinstance(embedding, Mapping) else [])]
        vector: Any = _base64_floats(values) if as_base64 else values
        items.append({"object": "embedding", "index": index, "embedding": vector})
    result: dict[str, Any] = {"object": "list", "data": items, "model": endpoint.model}
    usage = data.get("usageMetadata")
    if isinstance(usage, Mapping) and isinstance(usage.get("promptTokenCount"), int):
        tokens = usage["promptTokenCount"]
        result["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
    return result


def _base64_floats(values: list[float]) -> str:
    # openai-python decodes base64 embeddings as little-endian float32 (numpy dtype "float32").
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


class GeminiAdapter(BaseAdapter):
    """The Gemini API (``generateContent``, ``streamGenerateContent``, ``batchEmbedContents``); stateless.

    Subclasses reaching Gemini models elsewhere (Vertex AI) override ``model_url`` and ``request_headers``.
    """

    def model_url(self, endpoint: Endpoint, method: str) -> str:
        """The URL of ``method`` on the endpoint's model (``method`` may carry a query, e.g. ``?alt=sse``)."""
        version = endpoint.api_version or DEFAULT_API_VERSION
        return f"{endpoint.api_base}/{version}/{model_resource(endpoint.model)}:{method}"

    def request_headers(self, endpoint: Endpoint) -> dict[str, str]:
        """Content type and the ``x-goog-api-key`` header (§6.1); the caller's headers win."""
        headers = {"content-type": "application/json"}
        if endpoint.api_key:
            headers["x-goog-api-key"] = endpoint.api_key
        for name, value in endpoint.headers.items():
            headers.pop(name.lower(), None)
            headers[name] = value
        return headers

    def build_chat_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """``generateContent``, or ``streamGenerateContent?alt=sse`` when ``stream`` is set (§6.4)."""
        body = generate_content_body(request, endpoint)
        method = "streamGenerateContent?alt=sse" if request.get("stream") else "generateContent"
        return HttpRequest(
            "POST",
            self.model_url(endpoint, method),
            self.request_headers(endpoint),
            json_body(body, endpoint.extra_body),
        )

    def parse_chat_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """An OpenAI ``chat.completion`` dict for a ``GenerateContentResponse``."""
        data = load_json(response.body, endpoint)
        if isinstance(data.get("error"), Mapping):
            raise google_error(None, data, endpoint, body=response.body, headers=response.headers)
        return chat_completion(data, request, endpoint)

    def chat_stream_decoder(self, request: dict[str, Any], endpoint: Endpoint) -> GeminiStreamDecoder:
        """A decoder for one ``streamGenerateContent?alt=sse`` answer."""
        return GeminiStreamDecoder(endpoint, request)

    def build_embedding_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """``batchEmbedContents`` with one request per input (§6.8)."""
        body = embed_body(request, endpoint, model_resource(endpoint.model))
        return HttpRequest(
            "POST",
            self.model_url(endpoint, "batchEmbedContents"),
            self.request_headers(endpoint),
            json_body(body, endpoint.extra_body),
        )

    def parse_embedding_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """An OpenAI embeddings ``list`` (base64 vectors when ``encoding_format`` asked for them)."""
        return embedding_list(load_json(response.body, endpoint), request, endpoint)

    def map_error(self, response: HttpResponse, endpoint: Endpoint) -> TollwayError:
        """The typed error for a non-2xx answer (google.rpc.Status envelope, §6.7; non-JSON bodies tolerated)."""
        try:
            payload: Any = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            payload = None
        if isinstance(payload, list) and payload:
            payload = payload[0]  # errors of the non-SSE stream endpoint come wrapped in a JSON array
        return google_error(response.status, payload, endpoint, body=response.body, headers=response.headers)

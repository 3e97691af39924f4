"""Mistral La Plateforme: OpenAI's wire format with Mistral's differences (../shared/PROVIDERS.md §10, §13, §14).

``MistralAdapter`` is the OpenAI adapter with a Mistral whitelist and a few translations around it:

* parameters: ``seed`` -> ``random_seed``; ``max_completion_tokens`` -> ``max_tokens`` (Mistral knows only that
  name, §14.4); ``tool_choice: "required"`` -> ``"any"`` (Mistral's documented name; ``"required"`` is its newer
  alias); ``service_tier`` ``default`` -> ``standard_only``. Parameters Mistral's API does not define (mistralai
  3.7 ``ChatCompletionRequest``) raise ``UnsupportedParamsError``: ``logit_bias``, ``user``, ``store``,
  ``modalities``/``audio``, ``verbosity``, ``web_search_options``, ``safety_identifier``, legacy ``functions``...
  Mistral answers unknown fields with 422 (§14.14), so nothing outside the whitelist is forwarded;
  ``stream_options`` is never sent (the final content chunk carries usage anyway, §14.13).
* Mistral's own request features are accepted as parameters: ``random_seed``, ``safe_prompt``, ``prompt_mode``
  (``"reasoning"`` on Magistral), ``guardrails``, ``min_tokens``, ``repetition_penalty``, ``top_k``,
  ``prompt_logprobs``, ``top_prompt_logprobs``; ``reasoning_effort`` passes through (same values as OpenAI's).
* messages are rebuilt from a per-role whitelist (Mistral 422s on ``refusal``, ``annotations``, a user ``name``):
  ``developer`` becomes ``system``; tool messages get the function ``name`` from the history.
* tool-call ids: Mistral validates them as 9 alphanumerics. Ids Mistral generated pass unchanged; any other id
  (``call_…`` from OpenAI, ``toolu_…`` from Anthropic) becomes ``mistral_tool_call_id(id)``, a 9-character hash,
  applied to both the assistant's call and the tool result so the pair still matches (§14.8).
* responses: reasoning models answer ``message.content`` as a list of chunks (``thinking`` + ``text``); the text
  becomes ``content`` and the thinking ``reasoning_content`` (streamed deltas likewise). ``finish_reason``
  ``model_length`` -> ``length``, ``error`` -> ``stop`` (§13.1). Usage extras (``prompt_audio_seconds``) stay.
* errors: Mistral's envelope is top-level ``{"object": "error", "message", "type", "param", "code"}``, or
  ``{"detail": [{"loc", "msg", "type"}]}`` for 422 validation failures; both are read, as is OpenAI's.
* embeddings: ``POST {api_base}/embeddings`` (``mistral-embed``, ``codestral-embed``); ``dimensions`` ->
  ``output_dimension``; ``output_dtype`` accepted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import orjson

from tollway.adapters.base import Endpoint, HeldError, StreamDecoder, require
from tollway.adapters.openai import CHAT_PARAMS, OpenAIAdapter, error_from_payload
from tollway.adapters.openai_stream import OpenAIStreamDecoder
from tollway.errors import BadRequestError, TollwayError, UnsupportedParamsError
from tollway.http import HttpRequest, HttpResponse

__all__ = ["MISTRAL_PARAMS", "MistralAdapter", "MistralStreamDecoder", "mistral_tool_call_id"]

# What Mistral's chat endpoint accepts, in OpenAI's names where both exist (mistralai 3.7.0
# models/chatcompletionrequest.py). ``seed`` and ``max_completion_tokens`` are renamed before sending.
MISTRAL_PARAMS: frozenset[str] = frozenset(
    {
        "messages",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stream",
        "stop",
        "seed",
        "response_format",
        "tools",
        "tool_choice",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
        "n",
        "prediction",
        "parallel_tool_calls",
        "reasoning_effort",
        "prompt_cache_key",
        "service_tier",
        # Mistral's own
        "random_seed",
        "safe_prompt",
        "prompt_mode",
        "guardrails",
        "min_tokens",
        "repetition_penalty",
        "top_k",
        "prompt_logprobs",
        "top_prompt_logprobs",
    }
)

# Quirks the OpenAI adapter reads (openai.py docstring); registry quirks for the row may override them.
_QUIRKS: Mapping[str, Any] = MappingProxyType(
    {
        "max_tokens_field": "max_tokens",
        "include_usage": False,  # Mistral sends usage on the last content chunk unasked (§10)
        "reasoning_model": False,  # OpenAI's o-series parameter rules do not apply to Mistral models
        "unsupported_params": CHAT_PARAMS - MISTRAL_PARAMS,
        "extra_params": MISTRAL_PARAMS - CHAT_PARAMS,
    }
)
# mistralai 3.7.0 models/embeddingrequest.py: input, output_dimension, output_dtype, encoding_format.
_EMBEDDING_QUIRKS: Mapping[str, Any] = MappingProxyType(
    {"unsupported_params": ("user", "dimensions"), "extra_params": ("output_dimension", "output_dtype")}
)
_SERVICE_TIERS: Mapping[str, str] = MappingProxyType(
    {"auto": "auto", "default": "standard_only", "standard_only": "standard_only"}
)
_FINISH_REASONS: Mapping[str, str] = MappingProxyType({"model_length": "length", "error": "stop"})
_MESSAGE_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "system": ("role", "content"),
        "user": ("role", "content"),
        "assistant": ("role", "content", "tool_calls", "prefix"),
        "tool": ("role", "content", "tool_call_id", "name"),
    }
)
_MISTRAL_ID = re.compile(r"[A-Za-z0-9]{9}")
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def mistral_tool_call_id(call_id: str) -> str:
    """The id Mistral accepts for ``call_id``: itself when already 9 alphanumerics, else a 9-character hash.

    Deterministic, so an assistant's tool call and the tool result answering it map to the same id in every
    request of a conversation; 62**9 values make a collision between two ids of one history negligible.
    """
    if _MISTRAL_ID.fullmatch(call_id):
        return call_id
    number = int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:8], "big")
    chars = []
    for _ in range(9):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def _mapped_id(value: Any) -> Any:
    return mistral_tool_call_id(value) if isinstance(value, str) else value


def _tool_names(messages: list[Any]) -> dict[str, str]:
    """tool_call_id -> function name, from the assistant messages of the history."""
    names: dict[str, str] = {}
    for message in messages:
        if isinstance(message, Mapping) and message.get("role") == "assistant":
            for call in message.get("tool_calls") or ():
                function = call.get("function") if isinstance(call, Mapping) else None
                if isinstance(function, Mapping) and isinstance(call.get("id"), str):
                    names[call["id"]] = str(function.get("name"))
    return names


def _tool_call(call: Any) -> Any:
    if not isinstance(call, Mapping):
        return call
    out = {key: call[key] for key in ("id", "type", "function") if key in call}
    if "id" in out:
        out["id"] = _mapped_id(out["id"])
    return out


def convert_messages(messages: list[Any], endpoint: Endpoint) -> list[dict[str, Any]]:
    """OpenAI messages as Mistral takes them: per-role field whitelist, ``developer`` as ``system``, ids mapped."""
    names = _tool_names(messages)
    converted: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "developer":
            role = "system"  # §14.6: only OpenAI knows the developer role
        fields = _MESSAGE_FIELDS.get(role)
        if fields is None:
            raise BadRequestError(
                f"{endpoint.provider} does not support messages[{index}] with role {role!r}; use tools and tool "
                "messages instead of the legacy function role",
                provider=endpoint.provider,
                model=endpoint.model,
                param=f"messages[{index}].role",
            )
        out = {key: message[key] for key in fields if key in message}
        out["role"] = role
        if out.get("tool_calls"):
            out["tool_calls"] = [_tool_call(call) for call in out["tool_calls"]]
        if role == "tool":
            call_id = message.get("tool_call_id")
            if "name" not in out and call_id in names:
                out["name"] = names[call_id]
            out["tool_call_id"] = _mapped_id(call_id)
        converted.append(out)
    return converted


def _mistral_request(request: dict[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    """The request in Mistral's names; what stays is then whitelisted by the OpenAI adapter."""
    request = dict(request)
    request.pop("stream_options", None)  # read by the client; Mistral rejects it (§14.13)
    if request.get("seed") is not None:
        request["random_seed"] = request.pop("seed")
    if request.get("tool_choice") == "required":
        request["tool_choice"] = "any"  # Mistral's name for "call at least one tool" (§13.3)
    tier = request.get("service_tier")
    if tier is not None:
        if tier in _SERVICE_TIERS:
            request["service_tier"] = _SERVICE_TIERS[tier]
        elif endpoint.drop_params:
            del request["service_tier"]
        else:
            raise UnsupportedParamsError(
                f"{endpoint.provider} does not support service_tier {tier!r} (auto or default; pass "
                "drop_params=True to drop it)",
                provider=endpoint.provider,
                model=endpoint.model,
                param="service_tier",
            )
    messages = request.get("messages")
    if isinstance(messages, list):
        request["messages"] = convert_messages(messages, endpoint)
    return request


def flatten_content(message: dict[str, Any]) -> None:
    """Turn a content-chunk list (reasoning models, §10) into ``content`` text plus ``reasoning_content``."""
    content = message.get("content")
    if not isinstance(content, list):
        return
    texts: list[str] = []
    thoughts: list[str] = []
    for chunk in content:
        if not isinstance(chunk, Mapping):
            continue
        if chunk.get("type") == "text":
            texts.append(str(chunk.get("text") or ""))
        elif chunk.get("type") == "thinking":
            parts = chunk.get("thinking")
            if isinstance(parts, list):
                thoughts.extend(str(p.get("text") or "") for p in parts if isinstance(p, Mapping))
    message["content"] = "".join(texts) if texts or not thoughts else None
    if thoughts:
        message["reasoning_content"] = message.get("reasoning_content", "") + "".join(thoughts)


def _normalise_choice(choice: Any, key: str) -> None:
    if not isinstance(choice, dict):
        return
    reason = choice.get("finish_reason")
    if isinstance(reason, str) and reason in _FINISH_REASONS:
        choice["finish_reason"] = _FINISH_REASONS[reason]
    message = choice.get(key)
    if isinstance(message, dict):
        flatten_content(message)


def _error_value(data: object) -> object:
    """The OpenAI-style error value inside any of Mistral's error bodies (None when there is none)."""
    if not isinstance(data, dict):
        return None
    if data.get("error"):
        return data["error"]
    detail = data.get("detail")
    if isinstance(detail, list):
        problems = [
            f"{'.'.join(str(p) for p in item.get('loc') or ())}: {item.get('msg')}"
            for item in detail
            if isinstance(item, Mapping)
        ]
        return {"message": "; ".join(problems) or "invalid request", "type": "invalid_request_error"}
    message = data.get("message")
    if message is None:
        return None
    if not isinstance(message, str):
        message = orjson.dumps(message).decode()  # Mistral nests validation details here at times
    return {**data, "message": message}


class MistralStreamDecoder:
    """The OpenAI stream decoder plus Mistral's content chunks, finish reasons and top-level error events."""

    __slots__ = ("_endpoint", "_held", "_inner", "usage")

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._inner = OpenAIStreamDecoder(endpoint)
        self._held = HeldError()
        self.usage: dict[str, Any] | None = None

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Decode more bytes (see ``base.StreamDecoder``)."""
        self._held.raise_if_held()
        try:
            return self._normalise(self._inner.feed(data))
        finally:
            self.usage = self._inner.usage

    def close(self) -> list[dict[str, Any]]:
        """End of the byte stream (see ``base.StreamDecoder``)."""
        self._held.raise_if_held()
        try:
            return self._normalise(self._inner.close())
        finally:
            self.usage = self._inner.usage

    def _normalise(self, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for chunk in chunks:
            if chunk.get("object") == "error":
                # Mistral's envelope arrives top-level (no "error" key), so the OpenAI decoder let it through.
                error = error_from_payload(_error_value(chunk), self._endpoint, body=orjson.dumps(chunk))
                self._held.hold(error, out)
                break
            for choice in chunk.get("choices") or ():
                _normalise_choice(choice, "delta")
            out.append(chunk)
        return out


class MistralAdapter(OpenAIAdapter):
    """Mistral's chat and embeddings API (stateless; the module docstring lists the translations)."""

    def build_chat_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The upstream ``POST {api_base}/chat/completions`` in Mistral's dialect."""
        return super().build_chat_request(_mistral_request(request, endpoint), _with_quirks(endpoint))

    def parse_chat_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """The ``chat.completion`` with content chunks flattened and Mistral's finish reasons mapped."""
        data = super().parse_chat_response(response, request, endpoint)
        for choice in data["choices"]:
            _normalise_choice(choice, "message")
        return data

    def chat_stream_decoder(self, request: dict[str, Any], endpoint: Endpoint) -> StreamDecoder:
        """A fresh ``MistralStreamDecoder``."""
        return MistralStreamDecoder(endpoint)

    def build_embedding_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The upstream ``POST {api_base}/embeddings`` (``dimensions`` sent as ``output_dimension``)."""
        request = dict(request)
        if request.get("dimensions") is not None:
            request["output_dimension"] = request.pop("dimensions")
        value = request.get("input")
        require(
            (isinstance(value, str) and bool(value))
            or (isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)),
            f"{endpoint.provider} embeds text only: input must be a non-empty string or list of non-empty strings",
            endpoint,
            "input",
        )
        return super().build_embedding_request(request, _with_quirks(endpoint, _EMBEDDING_QUIRKS))

    def map_error(self, response: HttpResponse, endpoint: Endpoint) -> TollwayError:
        """The typed error for Mistral's envelopes (top-level object, 422 ``detail`` list, or OpenAI's)."""
        try:
            data = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            data = None
        preview = response.body[:200].decode("utf-8", errors="replace")
        return error_from_payload(
            _error_value(data),
            endpoint,
            status=response.status,
            headers=response.headers,
            body=response.body,
            fallback_message=f"{endpoint.provider} returned HTTP {response.status}: {preview}",
        )


def _with_quirks(endpoint: Endpoint, quirks: Mapping[str, Any] = _QUIRKS) -> Endpoint:
    return dataclasses.replace(endpoint, quirks={**quirks, **endpoint.quirks})

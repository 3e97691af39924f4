"""Cohere v2 chat SSE stream -> OpenAI ``chat.completion.chunk`` dicts, and the Cohere vocabularies it shares with
the non-streamed parser (finish reasons, usage, logprobs, the message, error bodies).

Event order and payloads: ../shared/PROVIDERS.md §9.4. Every event is ``event: <type>`` + ``data: {"type": ...}``;
cohere-python discriminates on the JSON ``type``, and so does this decoder (the event name is the fallback).
Cohere numbers tool calls in ``tool-call-*`` events by their own ``index``; each gets a stable 0-based OpenAI
tool-call index in order of appearance. ``message-end`` carries the finish reason and usage (§14.13) and, when the
generation failed, an ``error`` string: that is the in-stream error. A final ``data: [DONE]`` is optional; a stream
that ends without ``message-end`` was cut.

Provider fields kept on deltas: ``tool_plan`` (Cohere's text before tool calls) and ``citations``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import orjson

from tollway.adapters.base import Endpoint, HeldError, truncated
from tollway.errors import (
    AuthenticationError,
    BadGatewayError,
    BadRequestError,
    ContextWindowExceededError,
    InternalServerError,
    Timeout,
    TollwayError,
    error_for_status,
)
from tollway.http import HttpResponse, parse_retry_after
from tollway.sse import ServerSentEvent, SSEDecoder

__all__ = [
    "FINISH_REASONS",
    "CohereStreamDecoder",
    "error_from_response",
    "finish_reason",
    "openai_logprobs",
    "openai_message",
    "openai_usage",
    "path_of",
]

Chunk = dict[str, Any]

# PROVIDERS.md §13.1. ERROR and TIMEOUT end a non-streamed answer normally ("stop", flagged by the caller's logs);
# inside a stream they come with an ``error`` string and raise instead.
FINISH_REASONS: Mapping[str, str] = MappingProxyType(
    {
        "COMPLETE": "stop",
        "STOP_SEQUENCE": "stop",
        "MAX_TOKENS": "length",
        "TOOL_CALL": "tool_calls",
        "ERROR": "stop",
        "TIMEOUT": "stop",
    }
)


def finish_reason(value: object) -> str:
    """The OpenAI finish_reason for a Cohere ``finish_reason`` (unknown values read as ``stop``)."""
    return FINISH_REASONS.get(value, "stop") if isinstance(value, str) else "stop"


def _count(*sources: Mapping[str, Any], key: str) -> int:
    # The SDK types every count as a float (cohere-python types/usage_tokens.py); the wire sends integers.
    for source in sources:
        value = source.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    return 0


def openai_usage(usage: object) -> dict[str, Any] | None:
    """OpenAI usage JSON for Cohere ``usage`` (§13.2), or None when Cohere reported none.

    ``tokens`` are what the model processed (the prompt template included), ``billed_units`` what Cohere charges;
    the OpenAI counts follow ``tokens`` (falling back to ``billed_units``), and ``billed_units`` is kept beside them.
    """
    if not isinstance(usage, Mapping):
        return None
    tokens = path_of(usage, "tokens")
    billed = path_of(usage, "billed_units")
    if not tokens and not billed:
        return None
    prompt = _count(tokens, billed, key="input_tokens")
    completion = _count(tokens, billed, key="output_tokens")
    result: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": _count(usage, key="cached_tokens")},
    }
    if billed:
        result["billed_units"] = {k: int(v) for k, v in billed.items() if isinstance(v, int | float)}
    return result


def openai_logprobs(items: object) -> dict[str, Any] | None:
    """OpenAI ``choice.logprobs`` for Cohere ``logprobs`` items (one entry per text chunk: its summed logprob)."""
    if not isinstance(items, list) or not items:
        return None
    content = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        text = str(item.get("text") or "")
        values = [v for v in item.get("logprobs") or () if isinstance(v, int | float)]
        content.append({"token": text, "logprob": float(sum(values)), "bytes": list(text.encode()), "top_logprobs": []})
    return {"content": content, "refusal": None}


def openai_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAI assistant message for a Cohere v2 response ``message`` (§9.3; provider fields kept)."""
    texts: list[str] = []
    thinking: list[str] = []
    for item in message.get("content") or ():
        if isinstance(item, Mapping) and item.get("type") == "text":
            texts.append(str(item.get("text") or ""))
        elif isinstance(item, Mapping) and item.get("type") == "thinking":
            thinking.append(str(item.get("thinking") or ""))
    result: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    calls = [
        {
            "id": call.get("id"),
            "type": "function",
            "function": {
                "name": (call.get("function") or {}).get("name"),
                "arguments": (call.get("function") or {}).get("arguments") or "{}",
            },
        }
        for call in message.get("tool_calls") or ()
        if isinstance(call, Mapping)
    ]
    if calls:
        result["tool_calls"] = calls
    if thinking:
        result["reasoning_content"] = "".join(thinking)
    for field in ("tool_plan", "citations"):  # Cohere's own fields, kept for the caller
        if message.get(field):
            result[field] = message[field]
    return result


class CohereStreamDecoder:
    """Implements ``StreamDecoder`` for one streamed ``POST /v2/chat`` answer."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.usage: dict[str, Any] | None = None
        self._endpoint = endpoint
        self._sse = SSEDecoder()
        self._held = HeldError()
        self._id = ""
        self._created = int(time.time())
        self._tools: dict[object, int] = {}  # Cohere tool-call index -> OpenAI tool-call index
        self._finished = False  # message-end seen
        self._done = False  # [DONE] seen

    def feed(self, data: bytes) -> list[Chunk]:
        """Decode more bytes; raises the mapped error when ``message-end`` reports one."""
        self._held.raise_if_held()
        if self._done:
            return []
        try:
            events = self._sse.feed(data)
        except ValueError as exc:
            raise self._bad_gateway(str(exc)) from None
        return self._events(events)

    def close(self) -> list[Chunk]:
        """End of the byte stream; ``APIConnectionError`` if ``message-end`` never came."""
        self._held.raise_if_held()
        chunks = [] if self._done else self._events(self._sse.flush())
        self._held.raise_if_held()
        if not self._finished:
            raise truncated(self._endpoint)
        return chunks

    def _events(self, events: list[ServerSentEvent]) -> list[Chunk]:
        chunks: list[Chunk] = []
        for event in events:
            text = event.data.strip()
            if self._done or not text:
                continue
            if text == "[DONE]":
                self._done = True  # cohere-python stops reading here (v2/raw_client.py)
                break
            if self._finished:
                continue  # nothing after message-end changes the answer
            try:
                chunks.extend(self._event(text, event.event))
            except TollwayError as exc:
                self._held.hold(exc, chunks)
                break
        return chunks

    def _event(self, text: str, name: str) -> list[Chunk]:
        try:
            payload = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise self._bad_gateway(f"sent a stream event that is not JSON: {text[:200]!r}") from None
        if not isinstance(payload, dict):
            raise self._bad_gateway("sent a stream event that is not a JSON object")
        kind = payload.get("type") or name
        if not kind and isinstance(payload.get("message"), str):
            # An error envelope ({"message": ...}, §9.5) written into the stream instead of an event.
            raise self._stream_error(payload["message"], None)
        handler = _HANDLERS.get(str(kind))
        # content-end, tool-call-end, citation-end, debug and newer event types carry nothing OpenAI can show.
        return handler(self, payload) if handler is not None else []

    def _chunk(self, delta: dict[str, Any], finish: str | None = None, logprobs: Any = None) -> Chunk:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": logprobs}
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._endpoint.model,
            "choices": [choice],
        }

    def _on_message_start(self, payload: dict[str, Any]) -> list[Chunk]:
        self._id = str(payload.get("id") or self._id)
        return [self._chunk({"role": "assistant", "content": ""})]

    def _on_content(self, payload: dict[str, Any]) -> list[Chunk]:
        content = path_of(payload, "delta", "message", "content")
        logprobs = openai_logprobs(payload.get("logprobs"))
        if content.get("thinking"):
            return [self._chunk({"reasoning_content": str(content["thinking"])}, logprobs=logprobs)]
        if content.get("text"):
            return [self._chunk({"content": str(content["text"])}, logprobs=logprobs)]
        return []

    def _on_tool_plan(self, payload: dict[str, Any]) -> list[Chunk]:
        plan = path_of(payload, "delta", "message").get("tool_plan")
        return [self._chunk({"tool_plan": plan})] if isinstance(plan, str) and plan else []

    def _on_tool_start(self, payload: dict[str, Any]) -> list[Chunk]:
        call = path_of(payload, "delta", "message", "tool_calls")
        function = path_of(call, "function")
        ordinal = self._tools.setdefault(payload.get("index", len(self._tools)), len(self._tools))
        opened = {
            "index": ordinal,
            "id": call.get("id"),
            "type": "function",
            "function": {"name": function.get("name"), "arguments": str(function.get("arguments") or "")},
        }
        return [self._chunk({"tool_calls": [opened]})]

    def _on_tool_delta(self, payload: dict[str, Any]) -> list[Chunk]:
        ordinal = self._tools.get(payload.get("index", len(self._tools) - 1))
        fragment = path_of(payload, "delta", "message", "tool_calls", "function").get("arguments")
        if ordinal is None or not isinstance(fragment, str) or not fragment:
            return []
        return [self._chunk({"tool_calls": [{"index": ordinal, "function": {"arguments": fragment}}]})]

    def _on_citation(self, payload: dict[str, Any]) -> list[Chunk]:
        citation = path_of(payload, "delta", "message").get("citations")
        return [self._chunk({"citations": [citation]})] if isinstance(citation, Mapping) else []

    def _on_message_end(self, payload: dict[str, Any]) -> list[Chunk]:
        delta = path_of(payload, "delta")
        self.usage = openai_usage(delta.get("usage")) or self.usage
        error = delta.get("error")
        if error:
            raise self._stream_error(str(error), delta.get("finish_reason"))
        self._finished = True
        chunks = [self._chunk({}, finish_reason(delta.get("finish_reason")))]
        if self.usage is not None:
            chunks.append({**self._chunk({}), "choices": [], "usage": self.usage})
        return chunks

    def _stream_error(self, message: str, reason: object) -> TollwayError:
        provider = self._endpoint.provider
        cls = Timeout if reason == "TIMEOUT" else InternalServerError
        return cls(
            f"{provider} reported an error in the stream: {message}", provider=provider, model=self._endpoint.model
        )

    def _bad_gateway(self, problem: str) -> BadGatewayError:
        provider = self._endpoint.provider
        return BadGatewayError(f"{provider} {problem}", provider=provider, model=self._endpoint.model)


def path_of(payload: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    """``payload[k1][k2]...`` when every step is an object, else ``{}`` (Cohere payloads tolerate missing parts)."""
    node: Any = payload
    for key in keys:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


_HANDLERS: dict[str, Callable[[CohereStreamDecoder, dict[str, Any]], list[Chunk]]] = {
    "message-start": CohereStreamDecoder._on_message_start,
    "content-start": CohereStreamDecoder._on_content,
    "content-delta": CohereStreamDecoder._on_content,
    "tool-plan-delta": CohereStreamDecoder._on_tool_plan,
    "tool-call-start": CohereStreamDecoder._on_tool_start,
    "tool-call-delta": CohereStreamDecoder._on_tool_delta,
    "citation-start": CohereStreamDecoder._on_citation,
    "message-end": CohereStreamDecoder._on_message_end,
}


# Cohere says "too many tokens" when the prompt does not fit (§9.5 keeps no code for it).
_CONTEXT_PHRASES = ("too many tokens", "context length", "context window", "maximum context")


# -- errors ------------------------------------------------------------------------------------------------------
def _error_message(body: bytes) -> str | None:
    """The message of a JSON error body: Cohere ``message``, Voyage/Jina (FastAPI) ``detail``, or ``error``."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    for key in ("message", "detail", "error"):
        value = data.get(key)
        if isinstance(value, Mapping):
            value = value.get("message")
        if isinstance(value, list):  # FastAPI validation errors: [{"loc": [...], "msg": ...}]
            value = "; ".join(str(item.get("msg", item)) if isinstance(item, Mapping) else str(item) for item in value)
        if isinstance(value, str) and value:
            return value
    return None


def error_from_response(response: HttpResponse, endpoint: Endpoint) -> TollwayError:
    """The typed error for a non-2xx answer from Cohere, Voyage or Jina (``retry-after`` kept)."""
    preview = response.body[:200].decode("utf-8", errors="replace")
    message = _error_message(response.body) or f"{endpoint.provider} returned HTTP {response.status}: {preview}"
    kwargs: dict[str, Any] = {
        "provider": endpoint.provider,
        "model": endpoint.model,
        "retry_after": parse_retry_after(response.headers),
        "body": response.body,
        "headers": response.headers,
        "upstream_status": response.status,
    }
    if response.status == 498:  # Cohere's "invalid token" status (§9.5)
        return AuthenticationError(message, **kwargs)
    error = error_for_status(response.status, message, **kwargs)
    if isinstance(error, BadRequestError) and any(p in message.lower() for p in _CONTEXT_PHRASES):
        return ContextWindowExceededError(message, **kwargs)
    return error

"""Anthropic's Messages SSE stream -> OpenAI ``chat.completion.chunk`` dicts (pure, incremental).

Event order and payloads: ../shared/PROVIDERS.md §5.5. Anthropic numbers content blocks (text, thinking and
tool_use together); OpenAI numbers tool calls alone, so each tool_use block gets its own 0-based tool ordinal.
Thinking text streams as ``reasoning_content``; the complete signed block is emitted once more as
``thinking_blocks`` when it ends, because the caller must send it back unmodified on the next turn (§5.6).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from tollway.adapters.anthropic_models import JSON_TOOL_NAME, error_from_payload, finish_reason, openai_usage
from tollway.adapters.base import Endpoint, HeldError, truncated
from tollway.errors import BadGatewayError, TollwayError
from tollway.sse import ServerSentEvent, SSEDecoder

__all__ = ["AnthropicStreamDecoder"]

Chunk = dict[str, Any]


@dataclass(slots=True)
class _Block:
    """What the decoder remembers about one open content block."""

    kind: str  # "text" | "thinking" | "tool" | "json" | "other"
    tool_index: int = -1
    thinking: str = ""
    signature: str = ""


class AnthropicStreamDecoder:
    """Implements ``StreamDecoder`` for one streamed ``/v1/messages`` answer.

    ``json_mode``: the request emulated JSON output with the ``json_tool_call`` tool, whose argument fragments
    are emitted as ``content``. ``legacy_functions``: the caller used OpenAI's legacy ``functions``, so tool
    calls are emitted as ``function_call`` deltas (§14.20).
    """

    def __init__(self, endpoint: Endpoint, *, json_mode: bool = False, legacy_functions: bool = False) -> None:
        self.usage: dict[str, Any] | None = None
        self._endpoint = endpoint
        self._json_mode = json_mode
        self._legacy = legacy_functions
        self._sse = SSEDecoder()
        self._held = HeldError()
        self._id = ""
        self._model = endpoint.model
        self._created = int(time.time())
        self._blocks: dict[int, _Block] = {}
        self._tools = 0
        self._raw_usage: dict[str, Any] = {}
        self._finished = False

    def feed(self, data: bytes) -> list[Chunk]:
        """Decode more bytes; raises the mapped error on an ``error`` event."""
        self._held.raise_if_held()
        return self._events(self._sse.feed(data))

    def close(self) -> list[Chunk]:
        """End of the byte stream; ``APIConnectionError`` if ``message_stop`` never came."""
        self._held.raise_if_held()
        chunks = self._events(self._sse.flush())
        self._held.raise_if_held()
        if not self._finished:
            raise truncated(self._endpoint)
        return chunks

    def _events(self, events: list[ServerSentEvent]) -> list[Chunk]:
        chunks: list[Chunk] = []
        for event in events:
            if self._finished or not event.data:
                continue
            try:
                chunks.extend(self._event(event))
            except TollwayError as exc:
                self._held.hold(exc, chunks)
                break
        return chunks

    def _event(self, event: ServerSentEvent) -> list[Chunk]:
        try:
            payload = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise BadGatewayError(
                f"anthropic sent a stream event that is not JSON: {event.data[:200]!r}",
                provider=self._endpoint.provider,
                model=self._endpoint.model,
            ) from None
        if not isinstance(payload, dict):
            return []
        kind = payload.get("type") or event.event
        if kind == "error":
            raise error_from_payload(None, payload, provider=self._endpoint.provider, model=self._endpoint.model)
        if kind == "message_stop":
            self._finished = True
            return [self._usage_chunk()]
        handler = _HANDLERS.get(kind)
        # ping and event types newer than this decoder are skipped (§5.5: the SDK ignores them too).
        return handler(self, payload) if handler is not None else []

    def _on_message_start(self, payload: dict[str, Any]) -> list[Chunk]:
        return self._message_start(payload.get("message") or {})

    def _on_block_start(self, payload: dict[str, Any]) -> list[Chunk]:
        return self._block_start(payload.get("index"), payload.get("content_block") or {})

    def _on_block_delta(self, payload: dict[str, Any]) -> list[Chunk]:
        return self._block_delta(payload.get("index"), payload.get("delta") or {})

    def _on_block_stop(self, payload: dict[str, Any]) -> list[Chunk]:
        return self._block_stop(payload.get("index"))

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> Chunk:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    def _usage_chunk(self) -> Chunk:
        usage = openai_usage(self._raw_usage)
        self.usage = usage
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [],
            "usage": usage,
        }

    def _merge_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            # message_delta repeats counts cumulatively; a later value replaces an earlier one (§5.5).
            self._raw_usage.update({k: v for k, v in usage.items() if v is not None})
            self.usage = openai_usage(self._raw_usage)

    def _message_start(self, message: dict[str, Any]) -> list[Chunk]:
        self._id = str(message.get("id") or self._id)
        self._model = str(message.get("model") or self._model)
        self._merge_usage(message.get("usage"))
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, index: Any, block: dict[str, Any]) -> list[Chunk]:
        kind = block.get("type")
        if kind == "text":
            self._blocks[index] = _Block("text")
            text = block.get("text")
            return [self._chunk({"content": text})] if text else []
        if kind == "thinking":
            self._blocks[index] = _Block("thinking", thinking=str(block.get("thinking") or ""))
            thinking = block.get("thinking")
            return [self._chunk({"reasoning_content": thinking})] if thinking else []
        if kind == "redacted_thinking":
            self._blocks[index] = _Block("other")
            return [self._chunk({"thinking_blocks": [block]})]
        if kind == "tool_use":
            return self._tool_start(index, block)
        self._blocks[index] = _Block("other")  # server tool blocks, citations...: nothing OpenAI can show
        return []

    def _tool_start(self, index: Any, block: dict[str, Any]) -> list[Chunk]:
        if self._json_mode and block.get("name") == JSON_TOOL_NAME:
            self._blocks[index] = _Block("json")
            return []
        self._blocks[index] = _Block("tool", tool_index=self._tools)
        self._tools += 1
        if self._legacy:
            return [self._chunk({"function_call": {"name": block.get("name"), "arguments": ""}})]
        call = {
            "index": self._tools - 1,
            "id": block.get("id"),
            "type": "function",
            "function": {"name": block.get("name"), "arguments": ""},
        }
        return [self._chunk({"tool_calls": [call]})]

    def _block_delta(self, index: Any, delta: dict[str, Any]) -> list[Chunk]:
        block = self._blocks.get(index) or _Block("other")
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if kind == "thinking_delta" and delta.get("thinking"):
            block.thinking += delta["thinking"]
            return [self._chunk({"reasoning_content": delta["thinking"]})]
        if kind == "signature_delta":
            block.signature += str(delta.get("signature") or "")
        elif kind == "input_json_delta" and delta.get("partial_json"):
            return self._arguments(block, delta["partial_json"])
        return []

    def _arguments(self, block: _Block, fragment: str) -> list[Chunk]:
        if block.kind == "json":
            return [self._chunk({"content": fragment})]
        if block.kind != "tool":
            return []
        if self._legacy:
            return [self._chunk({"function_call": {"arguments": fragment}})]
        return [self._chunk({"tool_calls": [{"index": block.tool_index, "function": {"arguments": fragment}}]})]

    def _block_stop(self, index: Any) -> list[Chunk]:
        block = self._blocks.pop(index, None)
        if block is None or block.kind != "thinking":
            return []
        complete = {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
        return [self._chunk({"thinking_blocks": [complete]})]

    def _message_delta(self, payload: dict[str, Any]) -> list[Chunk]:
        self._merge_usage(payload.get("usage"))
        delta = payload.get("delta") or {}
        stop_reason = delta.get("stop_reason")
        if stop_reason is None:
            return []
        finish = finish_reason(stop_reason)
        if finish == "tool_calls" and self._tools == 0:
            finish = "stop"  # only the JSON tool was called
        elif finish == "tool_calls" and self._legacy:
            finish = "function_call"
        return [self._chunk({}, finish)]


_HANDLERS: dict[str, Callable[[AnthropicStreamDecoder, dict[str, Any]], list[Chunk]]] = {
    "message_start": AnthropicStreamDecoder._on_message_start,
    "content_block_start": AnthropicStreamDecoder._on_block_start,
    "content_block_delta": AnthropicStreamDecoder._on_block_delta,
    "content_block_stop": AnthropicStreamDecoder._on_block_stop,
    "message_delta": AnthropicStreamDecoder._message_delta,
}

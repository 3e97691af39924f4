"""Bedrock ConverseStream (binary event stream) -> OpenAI ``chat.completion.chunk`` dicts (pure, incremental).

Events and payloads: ../shared/PROVIDERS.md §8.5; framing §8.6 (``tollway.eventstream``, CRC-checked). Converse
numbers content blocks (text, reasoning and tool use together); OpenAI numbers tool calls alone, so each
``toolUse`` block gets its own 0-based tool ordinal. Reasoning text streams as ``reasoning_content``; the
complete signed block is emitted once more as ``thinking_blocks`` when it ends, so a caller can send it back.

The stream is complete at the ``metadata`` event, which carries the usage and comes *after* ``messageStop``
(§8.5): the finish chunk goes out at ``messageStop`` and the ``"choices": []`` usage chunk at ``metadata``. A
body ending before ``metadata`` is a cut stream (§15). Exception frames (``:message-type`` ``exception`` or
``error``) raise the mapped error.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from tollway.adapters.base import Endpoint, HeldError, truncated
from tollway.adapters.bedrock_models import error_from_exception, exception_name, finish_reason, openai_usage
from tollway.errors import BadGatewayError, TollwayError
from tollway.eventstream import EventStreamDecoder, EventStreamError, EventStreamMessage

__all__ = ["BedrockStreamDecoder"]

Chunk = dict[str, Any]


@dataclass(slots=True)
class _Block:
    """What the decoder remembers about one open content block."""

    kind: str  # "tool" | "reasoning" | "other"
    tool_index: int = -1
    text: str = ""
    signature: str = ""
    redacted: str = ""


class BedrockStreamDecoder:
    """Implements ``StreamDecoder`` for one ``/converse-stream`` answer."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.usage: dict[str, Any] | None = None
        self._endpoint = endpoint
        self._frames = EventStreamDecoder()
        self._held = HeldError()
        self._id = f"chatcmpl-{uuid.uuid4().hex}"
        self._created = int(time.time())
        self._blocks: dict[Any, _Block] = {}
        self._tools = 0
        self._finished = False

    def feed(self, data: bytes) -> list[Chunk]:
        """Decode more bytes; raises the mapped error on an exception frame."""
        self._held.raise_if_held()
        if self._finished:
            return []
        try:
            messages = self._frames.feed(data)
        except EventStreamError as exc:
            raise BadGatewayError(
                f"{self._endpoint.provider} sent a corrupt event stream: {exc}",
                provider=self._endpoint.provider,
                model=self._endpoint.model,
            ) from None
        return self._messages(messages)

    def close(self) -> list[Chunk]:
        """End of the byte stream; ``APIConnectionError`` if the ``metadata`` event never came."""
        self._held.raise_if_held()
        if not self._finished:
            raise truncated(self._endpoint)
        return []

    def _messages(self, messages: list[EventStreamMessage]) -> list[Chunk]:
        chunks: list[Chunk] = []
        for message in messages:
            if self._finished:
                break
            try:
                chunks.extend(self._message(message))
            except TollwayError as exc:
                self._held.hold(exc, chunks)
                break
        return chunks

    def _message(self, message: EventStreamMessage) -> list[Chunk]:
        headers = message.headers
        kind = headers.get(":message-type")
        payload = self._payload(message.payload)
        if kind == "exception":
            raise self._exception(str(headers.get(":exception-type") or ""), payload)
        if kind == "error":
            # An unmodeled error: its code and message ride in headers (§8.6).
            payload = {"message": headers.get(":error-message") or "stream error"}
            raise self._exception(str(headers.get(":error-code") or ""), payload)
        handler = _HANDLERS.get(str(headers.get(":event-type") or ""))
        # Event types newer than this decoder are skipped, as botocore skips unknown members.
        return handler(self, payload) if handler is not None else []

    def _payload(self, raw: bytes) -> dict[str, Any]:
        if not raw:
            return {}
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BadGatewayError(
                f"{self._endpoint.provider} sent a stream event that is not JSON: {raw[:200]!r}",
                provider=self._endpoint.provider,
                model=self._endpoint.model,
            ) from None
        return payload if isinstance(payload, dict) else {}

    def _exception(self, raw_name: str, payload: dict[str, Any]) -> TollwayError:
        message = payload.get("message") or payload.get("Message") or f"{raw_name or 'error'} in the stream"
        return error_from_exception(
            exception_name(raw_name),
            str(message),
            self._endpoint,
            body=orjson.dumps(payload),
            original_status=payload.get("originalStatusCode"),
        )

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> Chunk:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._endpoint.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    def _on_message_start(self, payload: dict[str, Any]) -> list[Chunk]:
        return [self._chunk({"role": "assistant", "content": ""})]

    def _on_block_start(self, payload: dict[str, Any]) -> list[Chunk]:
        start = payload.get("start") or {}
        tool = start.get("toolUse") if isinstance(start, dict) else None
        index = payload.get("contentBlockIndex")
        if not isinstance(tool, dict):
            self._blocks[index] = _Block("other")
            return []
        self._blocks[index] = _Block("tool", tool_index=self._tools)
        self._tools += 1
        call = {
            "index": self._tools - 1,
            "id": tool.get("toolUseId"),
            "type": "function",
            "function": {"name": tool.get("name"), "arguments": ""},
        }
        return [self._chunk({"tool_calls": [call]})]

    def _on_block_delta(self, payload: dict[str, Any]) -> list[Chunk]:
        delta = payload.get("delta") or {}
        index = payload.get("contentBlockIndex")
        if isinstance(delta.get("text"), str):
            return [self._chunk({"content": delta["text"]})] if delta["text"] else []
        tool = delta.get("toolUse")
        block = self._blocks.get(index)
        if isinstance(tool, dict):
            fragment = tool.get("input")
            if block is None or block.kind != "tool" or not fragment:
                return []
            return [self._chunk({"tool_calls": [{"index": block.tool_index, "function": {"arguments": fragment}}]})]
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict):
            return self._reasoning(index, reasoning)
        return []  # citation, image and toolResult deltas have no OpenAI chunk form

    def _reasoning(self, index: Any, reasoning: dict[str, Any]) -> list[Chunk]:
        block = self._blocks.get(index)
        if block is None or block.kind != "reasoning":
            block = self._blocks[index] = _Block("reasoning")
        block.signature += str(reasoning.get("signature") or "")
        block.redacted += str(reasoning.get("redactedContent") or "")
        text = reasoning.get("text")
        if isinstance(text, str) and text:
            block.text += text
            return [self._chunk({"reasoning_content": text})]
        return []

    def _on_block_stop(self, payload: dict[str, Any]) -> list[Chunk]:
        block = self._blocks.pop(payload.get("contentBlockIndex"), None)
        if block is None or block.kind != "reasoning":
            return []
        if block.redacted:
            return [self._chunk({"thinking_blocks": [{"type": "redacted_thinking", "data": block.redacted}]})]
        complete = {"type": "thinking", "thinking": block.text, "signature": block.signature or None}
        return [self._chunk({"thinking_blocks": [complete]})]

    def _on_message_stop(self, payload: dict[str, Any]) -> list[Chunk]:
        finish = finish_reason(payload.get("stopReason"))
        if finish == "tool_calls" and self._tools == 0:
            finish = "stop"
        chunk = self._chunk({}, finish)
        extra = payload.get("additionalModelResponseFields")
        if extra is not None:
            chunk["additionalModelResponseFields"] = extra
        return [chunk]

    def _on_metadata(self, payload: dict[str, Any]) -> list[Chunk]:
        self._finished = True
        self.usage = openai_usage(payload.get("usage"))
        chunk: Chunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._endpoint.model,
            "choices": [],
            "usage": self.usage,
        }
        for name in ("metrics", "trace", "performanceConfig", "serviceTier"):
            if name in payload:
                chunk[name] = payload[name]
        return [chunk]


_HANDLERS: dict[str, Callable[[BedrockStreamDecoder, dict[str, Any]], list[Chunk]]] = {
    "messageStart": BedrockStreamDecoder._on_message_start,
    "contentBlockStart": BedrockStreamDecoder._on_block_start,
    "contentBlockDelta": BedrockStreamDecoder._on_block_delta,
    "contentBlockStop": BedrockStreamDecoder._on_block_stop,
    "messageStop": BedrockStreamDecoder._on_message_stop,
    "metadata": BedrockStreamDecoder._on_metadata,
}

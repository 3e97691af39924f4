"""Decoding Ollama's NDJSON chat stream (../shared/PROVIDERS.md §12.2) into OpenAI chunks.

One JSON object per ``\\n``-terminated line; no SSE framing and no ``[DONE]``. Content and thinking arrive as
fragments in ``message.content``/``message.thinking``, tool calls whole in ``message.tool_calls`` (each becomes one
delta holding id, name and the full arguments, §14.9). The ``done: true`` line ends the answer and carries
``done_reason`` and the counters: it becomes a finish chunk and then the usage chunk (``choices: []``). A line
``{"error": "..."}`` is an in-stream failure (HTTP status stays 200, §12.4); a stream ending before ``done`` was
truncated.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from tollway.adapters.base import Endpoint, HeldError, truncated
from tollway.adapters.ollama import (
    METRIC_FIELDS,
    created_timestamp,
    finish_reason,
    openai_logprobs,
    openai_tool_calls,
    openai_usage,
)
from tollway.adapters.openai import error_from_payload
from tollway.errors import BadGatewayError, TollwayError

__all__ = ["OllamaStreamDecoder"]

# A line longer than this is not a model streaming tokens: refuse it rather than buffer without bound.
MAX_LINE_BYTES = 16 * 1024 * 1024


class OllamaStreamDecoder:
    """Incremental decoder of one ``/api/chat`` NDJSON stream (implements ``base.StreamDecoder``)."""

    __slots__ = ("_buffer", "_calls", "_created", "_done", "_endpoint", "_held", "_id", "_model", "usage")

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._buffer = bytearray()
        self._held = HeldError()
        self._done = False
        self._id: str | None = None  # set from the first line, shared by every chunk
        self._created = 0
        self._model = endpoint.model
        self._calls = 0  # tool calls seen so far: the next call's OpenAI index
        self.usage: dict[str, Any] | None = None

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Decode more bytes; return the chunks of the lines they completed."""
        self._held.raise_if_held()
        if self._done:
            return []
        self._buffer += data
        end = self._buffer.rfind(b"\n")
        if end < 0:
            if len(self._buffer) > MAX_LINE_BYTES:
                raise self._bad_gateway(
                    f"sent a stream line longer than {MAX_LINE_BYTES} bytes", bytes(self._buffer[:200])
                )
            return []
        lines = bytes(self._buffer[:end]).split(b"\n")
        del self._buffer[: end + 1]
        return self._lines(lines)

    def close(self) -> list[dict[str, Any]]:
        """End of the byte stream: a last unterminated line is read; no ``done`` line means truncation."""
        self._held.raise_if_held()
        chunks: list[dict[str, Any]] = []
        if not self._done and self._buffer.strip():
            chunks = self._lines([bytes(self._buffer)])
            self._held.raise_if_held()
        self._buffer.clear()
        if not self._done:
            raise truncated(self._endpoint)
        return chunks

    def _lines(self, lines: list[bytes]) -> list[dict[str, Any]]:
        chunks: list[dict[str, Any]] = []
        for line in lines:
            if self._done:
                break
            if not line.strip():
                continue
            try:
                chunks.extend(self._line(line))
            except TollwayError as exc:
                self._held.hold(exc, chunks)
                break
        return chunks

    def _line(self, line: bytes) -> list[dict[str, Any]]:
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise self._bad_gateway(f"sent a stream line that is not JSON: {line[:200]!r}", line) from None
        if not isinstance(data, dict):
            raise self._bad_gateway("sent a stream line that is not a JSON object", line)
        if data.get("error"):
            raise error_from_payload(data["error"], self._endpoint, body=line)
        first = self._id is None
        if self._id is None:
            self._id = "chatcmpl-" + hashlib.sha256(line).hexdigest()[:24]
            self._created = created_timestamp(data.get("created_at"))
            self._model = str(data.get("model") or self._endpoint.model)
        chunks: list[dict[str, Any]] = []
        delta = self._delta(data.get("message"), first)
        logprobs = openai_logprobs(data.get("logprobs"))
        if delta or logprobs:
            chunks.append(self._chunk(delta, None, logprobs))
        if data.get("done"):
            self._done = True
            chunks.append(self._chunk({}, finish_reason(data.get("done_reason"), self._calls > 0)))
            self.usage = openai_usage(data)
            usage_chunk = self._envelope()
            usage_chunk.update({"choices": [], "usage": self.usage})
            usage_chunk.update({name: data[name] for name in METRIC_FIELDS if name in data})
            chunks.append(usage_chunk)
        return chunks

    def _delta(self, message: Any, first: bool) -> dict[str, Any]:
        delta: dict[str, Any] = {"role": "assistant", "content": ""} if first else {}
        if not isinstance(message, dict):
            return delta
        content = message.get("content")
        if isinstance(content, str) and content:
            delta["content"] = content
        thinking = message.get("thinking")
        if isinstance(thinking, str) and thinking:
            delta["reasoning_content"] = thinking
        assert self._id is not None
        calls = openai_tool_calls(message.get("tool_calls"), self._id, self._calls)
        if calls:
            self._calls += len(calls)
            delta["tool_calls"] = calls
        return delta

    def _envelope(self) -> dict[str, Any]:
        return {"id": self._id, "object": "chat.completion.chunk", "created": self._created, "model": self._model}

    def _chunk(
        self, delta: dict[str, Any], finish: str | None, logprobs: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        chunk = self._envelope()
        chunk["choices"] = [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}]
        return chunk

    def _bad_gateway(self, problem: str, data: bytes) -> BadGatewayError:
        provider = self._endpoint.provider
        return BadGatewayError(f"{provider} {problem}", provider=provider, model=self._endpoint.model, body=data)

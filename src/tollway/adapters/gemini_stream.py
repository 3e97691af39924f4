"""Gemini's ``streamGenerateContent?alt=sse`` stream -> OpenAI ``chat.completion.chunk`` dicts (pure, incremental).

Every SSE event is a complete ``GenerateContentResponse`` holding only the new text (../shared/PROVIDERS.md §6.4);
there is no terminator: the stream is complete once a candidate carries ``finishReason`` (or the prompt was
blocked), and EOF before that is a truncated stream. Function calls arrive whole, so each becomes one delta
with id, name and the full arguments (§14.9). ``usageMetadata`` is cumulative; the latest counts are kept and
sent as the final ``choices: []`` chunk at the end of the stream.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from tollway.adapters.base import Endpoint, HeldError, truncated
from tollway.adapters.gemini_response import (
    finish_reason,
    google_error,
    openai_logprobs,
    openai_usage,
    provider_fields,
    read_parts,
)
from tollway.errors import BadGatewayError, TollwayError
from tollway.sse import ServerSentEvent, SSEDecoder

__all__ = ["GeminiStreamDecoder"]

Chunk = dict[str, Any]


@dataclass(slots=True)
class _Candidate:
    """What the decoder remembers about one candidate (choice) of the stream."""

    started: bool = False
    calls: int = 0


class GeminiStreamDecoder:
    """Implements ``StreamDecoder`` for one streamed ``generateContent`` answer (Gemini API or Vertex AI)."""

    def __init__(self, endpoint: Endpoint, request: Mapping[str, Any] | None = None) -> None:
        self.usage: dict[str, Any] | None = None
        self._endpoint = endpoint
        request = request or {}
        self._legacy = bool(request.get("functions")) and not request.get("tools")
        self._sse = SSEDecoder()
        self._held = HeldError()
        self._id = ""
        self._model = endpoint.model
        self._created = int(time.time())
        self._candidates: dict[int, _Candidate] = {}
        self._raw_usage: dict[str, Any] = {}
        self._finished = False

    def feed(self, data: bytes) -> list[Chunk]:
        """Decode more bytes; raises the mapped error on an in-stream ``{"error": ...}`` event."""
        self._held.raise_if_held()
        return self._events(self._sse.feed(data))

    def close(self) -> list[Chunk]:
        """End of the byte stream: the usage chunk, or ``APIConnectionError`` if no candidate finished."""
        self._held.raise_if_held()
        chunks = self._events(self._sse.flush())
        self._held.raise_if_held()
        if not self._finished:
            raise truncated(self._endpoint)
        if self._raw_usage:
            chunks.append({**self._shell(), "choices": [], "usage": self.usage})
        return chunks

    def _events(self, events: list[ServerSentEvent]) -> list[Chunk]:
        chunks: list[Chunk] = []
        for event in events:
            if not event.data.strip():
                continue
            try:
                chunks.extend(self._event(event.data))
            except TollwayError as exc:
                self._held.hold(exc, chunks)
                break
        return chunks

    def _event(self, data: str) -> list[Chunk]:
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise BadGatewayError(
                f"{self._endpoint.provider} sent a stream event that is not JSON: {data[:200]!r}",
                provider=self._endpoint.provider,
                model=self._endpoint.model,
            ) from None
        if not isinstance(payload, dict):
            return []
        if isinstance(payload.get("error"), Mapping):
            raise google_error(None, payload, self._endpoint)
        self._id = self._id or str(payload.get("responseId") or "")
        self._model = str(payload.get("modelVersion") or self._model)
        usage = payload.get("usageMetadata")
        if isinstance(usage, Mapping):
            # Cumulative counts: the latest non-null value of each field wins (§6.4).
            self._raw_usage.update({k: v for k, v in usage.items() if v is not None})
            self.usage = openai_usage(self._raw_usage)
        chunks: list[Chunk] = []
        for position, candidate in enumerate(payload.get("candidates") or ()):
            if isinstance(candidate, Mapping):
                chunks.extend(self._candidate(candidate, position))
        feedback = payload.get("promptFeedback")
        if not chunks and isinstance(feedback, Mapping) and feedback.get("blockReason"):
            self._finished = True  # §6.3: the prompt was blocked; no candidate will come
            delta = {"role": "assistant", "content": None, "provider_specific_fields": {"prompt_feedback": feedback}}
            chunks.append(self._chunk(0, delta, "content_filter"))
        return chunks

    def _candidate(self, candidate: Mapping[str, Any], position: int) -> list[Chunk]:
        index = candidate.get("index")
        index = index if isinstance(index, int) else position
        state = self._candidates.setdefault(index, _Candidate())
        content = candidate.get("content")
        parts = read_parts(content.get("parts") if isinstance(content, Mapping) else None, state.calls)
        delta: dict[str, Any] = {}
        if not state.started:
            delta["role"] = "assistant"
            state.started = True
        if parts.text:
            delta["content"] = "".join(parts.text)
        if parts.thoughts:
            delta["reasoning_content"] = "".join(parts.thoughts)
        if parts.calls and self._legacy:
            delta["function_call"] = parts.calls[0]["function"]
        elif parts.calls:
            delta["tool_calls"] = [{"index": state.calls + i, **call} for i, call in enumerate(parts.calls)]
        state.calls += len(parts.calls)
        extra = {**provider_fields(candidate), **parts.extra}
        if extra:
            delta["provider_specific_fields"] = extra
        reason = candidate.get("finishReason")
        finish = None
        if reason:
            self._finished = True
            finish = finish_reason(reason, has_calls=state.calls > 0)
            if self._legacy and finish == "tool_calls":
                finish = "function_call"
        if not delta and finish is None:
            return []
        chunk = self._chunk(index, delta, finish)
        logprobs = openai_logprobs(candidate)
        if logprobs is not None:
            chunk["choices"][0]["logprobs"] = logprobs
        return [chunk]

    def _shell(self) -> Chunk:
        return {"id": self._id, "object": "chat.completion.chunk", "created": self._created, "model": self._model}

    def _chunk(self, index: int, delta: dict[str, Any], finish: str | None) -> Chunk:
        choice = {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}
        return {**self._shell(), "choices": [choice]}

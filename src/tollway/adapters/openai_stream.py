"""Decoding an OpenAI ``chat.completion.chunk`` SSE stream (PROVIDERS.md §1.6) from OpenAI or a lookalike.

Chunks pass through as the upstream sent them, with three normalisations every consumer relies on:

* usage only ever arrives as one separate final chunk with ``"choices": []`` — OpenAI sends it that way with
  ``stream_options.include_usage``, but Mistral, Together and Fireworks attach it to the last content chunk
  (§14.13), so it is stripped there and re-emitted at the end;
* a vendor's reasoning field (``quirks["reasoning_field"]``) is copied to ``delta.reasoning_content``;
* an Azure filter-results chunk (``"choices": []``, ``"object": ""``, §4) gets the chunk ``object`` name.

The stream ends at ``data: [DONE]``; vendors that omit it are accepted when every choice has a finish reason.
"""

from __future__ import annotations

from typing import Any

import orjson

from tollway.adapters.base import Endpoint, HeldError, truncated
from tollway.adapters.openai import copy_reasoning_field, error_from_payload, normalise_usage
from tollway.errors import BadGatewayError, TollwayError
from tollway.sse import SSEDecoder

__all__ = ["OpenAIStreamDecoder"]

_CHUNK_OBJECT = "chat.completion.chunk"
# Fields of the chunk a usage chunk is built from when the vendor attached usage to a content chunk.
_ENVELOPE_FIELDS: tuple[str, ...] = ("id", "object", "created", "model", "system_fingerprint", "service_tier")


class OpenAIStreamDecoder:
    """Incremental decoder of one OpenAI-format chat stream (implements ``base.StreamDecoder``)."""

    __slots__ = ("_done", "_endpoint", "_finished", "_held", "_reasoning_field", "_sse", "_usage_chunk", "usage")

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._reasoning_field: str | None = endpoint.quirks.get("reasoning_field")
        self._sse = SSEDecoder()
        self._held = HeldError()
        self._done = False
        # choice index -> whether a finish_reason was seen for it
        self._finished: dict[int, bool] = {}
        # the final usage chunk, held back until the end of the stream
        self._usage_chunk: dict[str, Any] | None = None
        self.usage: dict[str, Any] | None = None

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Decode more bytes; return the chunks they completed (the usage chunk comes at ``[DONE]``)."""
        self._held.raise_if_held()
        if self._done:
            return []  # like openai-python, nothing after [DONE] is read
        try:
            payloads = self._sse.feed_data(data)
        except ValueError as exc:
            raise self._bad_gateway(str(exc), data) from None
        return self._events(payloads)

    def close(self) -> list[dict[str, Any]]:
        """End of the byte stream: the held usage chunk, or ``APIConnectionError`` when the stream was cut."""
        self._held.raise_if_held()
        chunks: list[dict[str, Any]] = []
        if not self._done:
            chunks = self._events(self._sse.flush_data())
            self._held.raise_if_held()
        if not self._done:
            # Some vendors end without [DONE]; a stream where every choice finished is complete all the same.
            if not self._finished or not all(self._finished.values()):
                raise truncated(self._endpoint)
            chunks.extend(self._final())
        return chunks

    def _events(self, payloads: list[bytes]) -> list[dict[str, Any]]:
        chunks: list[dict[str, Any]] = []
        for payload in payloads:
            if self._done:
                break
            data = payload.strip()
            if not data:
                continue
            if data.startswith(b"[DONE]"):
                self._done = True
                chunks.extend(self._final())
                break
            try:
                chunk = self._chunk(data)
            except TollwayError as exc:
                self._held.hold(exc, chunks)
                break
            if chunk is not None:
                chunks.append(chunk)
        return chunks

    def _chunk(self, data: bytes) -> dict[str, Any] | None:
        """One data payload as a chunk to emit, or None when it only carried usage (emitted at the end)."""
        try:
            chunk = orjson.loads(data)  # bytes straight to orjson: no text decoding on the way
        except orjson.JSONDecodeError:
            chunk = _load_text(data)
            if chunk is None:
                text = data.decode("utf-8", errors="replace")
                raise self._bad_gateway(f"sent a stream event that is not JSON: {text[:200]!r}", data) from None
        if not isinstance(chunk, dict):
            raise self._bad_gateway("sent a stream event that is not a JSON object", data)
        if chunk.get("error"):
            # openai-python raises for any data object with a truthy "error" key (_streaming.py); so do we.
            raise error_from_payload(chunk["error"], self._endpoint, body=data)
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            choices = chunk["choices"] = []
        if not chunk.get("object"):
            chunk["object"] = _CHUNK_OBJECT  # Azure's filter-results chunks have "object": "" (§4)
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._hold_usage(chunk, usage)
            if not choices:
                return None
            chunk["usage"] = None
        self._choices(choices)
        return chunk

    def _choices(self, choices: list[Any]) -> None:
        if self._reasoning_field:
            for choice in choices:
                if isinstance(choice, dict):
                    self._choice(choice)
            return
        finished = self._finished
        for choice in choices:  # _choice inlined for the usual case without a reasoning field: once per token
            if isinstance(choice, dict):
                index = choice.get("index")
                if isinstance(index, int):
                    finished[index] = finished.get(index, False) or bool(choice.get("finish_reason"))

    def _choice(self, choice: dict[str, Any]) -> None:
        index = choice.get("index")
        if isinstance(index, int):
            finished = self._finished.get(index, False) or bool(choice.get("finish_reason"))
            self._finished[index] = finished
        delta = choice.get("delta")
        if self._reasoning_field and isinstance(delta, dict):
            copy_reasoning_field(delta, self._reasoning_field)

    def _hold_usage(self, chunk: dict[str, Any], usage: dict[str, Any]) -> None:
        """Remember the latest usage (vendors repeating cumulative usage end with the total)."""
        self.usage = normalise_usage(usage)
        # A usage-only chunk is kept whole (with e.g. Azure's extras); one with choices lends its envelope.
        envelope = {key: chunk[key] for key in _ENVELOPE_FIELDS if key in chunk} if chunk["choices"] else chunk
        self._usage_chunk = {**envelope, "choices": [], "usage": self.usage}

    def _final(self) -> list[dict[str, Any]]:
        held, self._usage_chunk = self._usage_chunk, None
        return [held] if held is not None else []

    def _bad_gateway(self, problem: str, data: bytes) -> BadGatewayError:
        provider = self._endpoint.provider
        return BadGatewayError(f"{provider} {problem}", provider=provider, model=self._endpoint.model, body=data)


def _load_text(data: bytes) -> Any:
    """The payload parsed as text with invalid UTF-8 replaced (U+FFFD), as a text decoder would have read it;
    None when it is not JSON even so. orjson refuses invalid UTF-8 in bytes, and a vendor's stray byte must not
    fail a stream that a text-based client would accept."""
    try:
        return orjson.loads(data.decode("utf-8", errors="replace").strip())
    except orjson.JSONDecodeError:
        return None

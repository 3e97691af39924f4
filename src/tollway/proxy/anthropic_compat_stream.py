"""OpenAI ``chat.completion.chunk`` dicts -> Anthropic Messages SSE events (pure, incremental), and the pieces
of the Anthropic answer shape that streamed and whole responses share (stop reason, usage, id, errors).

Event order and framing: ../shared/PROVIDERS.md §5.5 — ``message_start``, then per content block
``content_block_start`` / ``content_block_delta``* / ``content_block_stop``, then ``message_delta`` (stop reason
and usage) and ``message_stop``; an ``error`` event may end the stream at any point (HTTP status stays 200).
OpenAI streams interleave nothing: reasoning, then text, then tool calls one after another, so one open block
at a time is enough. This is the reverse of ``tollway.adapters.anthropic_stream``, whose chunk shapes (signed
``thinking_blocks`` at a thinking block's end, usage in a final ``choices: []`` chunk) it reads back.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from tollway.adapters.anthropic_models import STOP_REASONS
from tollway.errors import TollwayError

__all__ = [
    "AnthropicStreamEncoder",
    "anthropic_error_body",
    "anthropic_usage",
    "error_type",
    "mapping",
    "message_id",
    "stop_reason",
]

# OpenAI finish_reason -> Anthropic stop_reason: the first Anthropic reason the adapter maps to each OpenAI one
# (end_turn for stop, max_tokens for length, ...), so both directions read one table (§13.1).
_STOP_REASONS: dict[str, str] = {}
for _anthropic, _openai in STOP_REASONS.items():
    _STOP_REASONS.setdefault(_openai, _anthropic)
_STOP_REASONS["function_call"] = "tool_use"

# HTTP status -> Anthropic error type (§5.9). 503 joins 529 as "overloaded": tollway reports an overloaded
# upstream as 503 (errors.ServiceUnavailableError) and Anthropic clients back off on overloaded_error.
_ERROR_TYPES: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def stop_reason(finish_reason: Any, *, tool_calls: bool = False) -> str:
    """Anthropic ``stop_reason`` for an OpenAI ``finish_reason`` (unknown or missing read as ``end_turn``).

    Some upstreams finish a forced tool call with ``stop`` (OpenAI does); to an Anthropic client a turn that
    ends in tool calls is ``tool_use`` either way, or its agent loop would not run the tools.
    """
    reason = _STOP_REASONS.get(finish_reason, "end_turn") if isinstance(finish_reason, str) else "end_turn"
    return "tool_use" if tool_calls and reason == "end_turn" else reason


def message_id(openai_id: Any) -> str:
    """An Anthropic-style id: ``msg_`` + the upstream id (a fresh one when there is none)."""
    if isinstance(openai_id, str) and openai_id:
        return openai_id if openai_id.startswith("msg_") else f"msg_{openai_id}"
    return f"msg_{uuid.uuid4().hex}"


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else an empty one (upstream dicts are read defensively)."""
    return value if isinstance(value, Mapping) else {}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def anthropic_usage(usage: Any) -> dict[str, int]:
    """Anthropic usage for OpenAI ``usage``: ``input_tokens`` excludes cache reads and writes (§5.7, §13.2)."""
    usage = mapping(usage)
    details = mapping(usage.get("prompt_tokens_details"))
    read = _count(details.get("cached_tokens"))
    write = _count(details.get("cache_write_tokens")) or _count(usage.get("cache_creation_input_tokens"))
    return {
        "input_tokens": max(_count(usage.get("prompt_tokens")) - read - write, 0),
        "output_tokens": _count(usage.get("completion_tokens")),
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
    }


def error_type(status: int) -> str:
    """The Anthropic error ``type`` for an HTTP status (other 4xx: invalid_request_error, other 5xx: api_error)."""
    return _ERROR_TYPES.get(status) or ("invalid_request_error" if status < 500 else "api_error")


def anthropic_error_body(error: TollwayError) -> dict[str, Any]:
    """``{"type": "error", "error": {"type", "message"}}`` for ``error`` (§5.9).

    The message is the error's own text: tollway errors carry the provider's message and the request field,
    never credentials, prompts or a traceback.
    """
    return {"type": "error", "error": {"type": error_type(error.status_code), "message": str(error)}}


def _event(name: str, data: Mapping[str, Any]) -> bytes:
    # Framed exactly as Anthropic does (§5.5): event line, data line, blank line.
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class AnthropicStreamEncoder:
    """Encodes one streamed OpenAI answer as Anthropic SSE bytes; ``model`` is the name the client asked for.

    Call ``encode`` for every chunk, then ``finish`` at the end of the stream (or ``error`` when the upstream
    failed part way). ``message_delta``/``message_stop`` go out when the final usage chunk (``choices: []``)
    follows the finish reason, or at ``finish`` when no usage came; nothing is sent after them.
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self._started = False
        self._done = False
        self._index = -1  # index of the last block started
        self._open: str | None = None  # kind of the block still open: "text" | "thinking" | "tool_use"
        self._tools: dict[int, int] = {}  # OpenAI tool_calls index -> Anthropic block index
        self._finish: Any = None
        self._usage: Any = None

    def encode(self, chunk: Mapping[str, Any]) -> bytes:
        """The events for one OpenAI chunk dict (``b""`` when it carries nothing an Anthropic client sees)."""
        if self._done:
            return b""
        out = [self._start(chunk)]
        choices = chunk.get("choices") or ()
        choice = choices[0] if choices and isinstance(choices[0], Mapping) else None
        if choice is not None:
            delta = choice.get("delta")
            if isinstance(delta, Mapping):
                out.append(self._delta(delta))
            if choice.get("finish_reason") is not None:
                out.append(self._close())
                self._finish = choice["finish_reason"]
        if isinstance(chunk.get("usage"), Mapping):
            self._usage = chunk["usage"]
            if not choices and self._finish is not None:
                out.append(self._end())
        return b"".join(out)

    def finish(self) -> bytes:
        """Closes what is open and sends ``message_delta``/``message_stop`` unless they went out already."""
        if self._done:
            return b""
        return self._start({}) + self._close() + self._end()

    def error(self, exc: TollwayError) -> bytes:
        """An ``error`` event for an upstream failure after the stream began; ends the stream."""
        if self._done:
            return b""
        self._done = True
        return _event("error", anthropic_error_body(exc))

    def _start(self, chunk: Mapping[str, Any]) -> bytes:
        if self._started:
            return b""
        self._started = True
        message: dict[str, Any] = {
            "id": message_id(chunk.get("id")),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # OpenAI-shaped upstreams report usage only at the end; message_delta carries the real counts.
            "usage": anthropic_usage(None),
        }
        return _event("message_start", {"type": "message_start", "message": message})

    def _delta(self, delta: Mapping[str, Any]) -> bytes:
        out: list[bytes] = []
        reasoning = delta.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            out.append(self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""}))
            out.append(self._block_delta({"type": "thinking_delta", "thinking": reasoning}))
        for block in delta.get("thinking_blocks") or ():
            if isinstance(block, Mapping):
                out.append(self._thinking_block(block))
        content = delta.get("content")
        if isinstance(content, str) and content:
            out.append(self._open_block("text", {"type": "text", "text": ""}))
            out.append(self._block_delta({"type": "text_delta", "text": content}))
        for call in delta.get("tool_calls") or ():
            if isinstance(call, Mapping):
                out.append(self._tool_call(call))
        return b"".join(out)

    def _thinking_block(self, block: Mapping[str, Any]) -> bytes:
        """A complete thinking block: the signature of the one streamed so far, or a whole new block."""
        if block.get("type") == "redacted_thinking":
            # Redacted thinking arrives whole in content_block_start (§5.5).
            opened = self._open_block("redacted", {"type": "redacted_thinking", "data": str(block.get("data") or "")})
            return opened + self._close()
        out = []
        if self._open != "thinking":
            out.append(self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""}))
            if block.get("thinking"):
                out.append(self._block_delta({"type": "thinking_delta", "thinking": str(block["thinking"])}))
        if block.get("signature"):
            out.append(self._block_delta({"type": "signature_delta", "signature": str(block["signature"])}))
        out.append(self._close())
        return b"".join(out)

    def _tool_call(self, call: Mapping[str, Any]) -> bytes:
        index = call.get("index")
        position = index if isinstance(index, int) else 0
        function = mapping(call.get("function"))
        out = []
        if position not in self._tools:
            start = {
                "type": "tool_use",
                "id": str(call.get("id") or f"toolu_{uuid.uuid4().hex[:24]}"),
                "name": str(function.get("name") or ""),
                "input": {},
            }
            out.append(self._open_block("tool_use", start, force=True))
            self._tools[position] = self._index
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            # OpenAI streams one call's arguments before the next call starts, so this is the open block; a
            # late fragment for an earlier call still names that call's index, which the SDK accumulates.
            delta = {"type": "input_json_delta", "partial_json": arguments}
            out.append(
                _event(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": self._tools[position], "delta": delta},
                )
            )
        return b"".join(out)

    def _open_block(self, kind: str, block: Mapping[str, Any], *, force: bool = False) -> bytes:
        if self._open == kind and not force:
            return b""
        closed = self._close()
        self._index += 1
        self._open = kind
        start = {"type": "content_block_start", "index": self._index, "content_block": block}
        return closed + _event("content_block_start", start)

    def _block_delta(self, delta: Mapping[str, Any]) -> bytes:
        return _event("content_block_delta", {"type": "content_block_delta", "index": self._index, "delta": delta})

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return _event("content_block_stop", {"type": "content_block_stop", "index": self._index})

    def _end(self) -> bytes:
        self._done = True
        delta = {"stop_reason": stop_reason(self._finish, tool_calls=bool(self._tools)), "stop_sequence": None}
        usage = anthropic_usage(self._usage)
        message_delta = {"type": "message_delta", "delta": delta, "usage": usage}
        return _event("message_delta", message_delta) + _event("message_stop", {"type": "message_stop"})

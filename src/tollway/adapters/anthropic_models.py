"""Anthropic facts shared by request building, response parsing and stream decoding (pure data + lookups).

Per-model limits and capabilities are data here so that a new Claude model is a table row: the documented
maximum output (used as ``max_tokens`` when the caller gives none, because Anthropic requires the field,
../shared/PROVIDERS.md §5.2 and §14.4) and which families accept native structured outputs (``output_config``,
§5.8). The stop-reason, usage and error vocabularies (§5.4, §5.9, §13.1, §13.2) live here too because the
non-streamed parser and the stream decoder must agree on them exactly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from tollway.errors import (
    ContextWindowExceededError,
    ServiceUnavailableError,
    TollwayError,
    error_for_status,
)

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "FALLBACK_MAX_TOKENS",
    "JSON_TOOL_NAME",
    "REASONING_BUDGETS",
    "STOP_REASONS",
    "STRUCTURED_OUTPUT_MIN_VERSION",
    "default_max_tokens",
    "error_from_payload",
    "finish_reason",
    "openai_usage",
    "supports_structured_outputs",
]

# Documented maximum output tokens per model family (Anthropic "models overview"). Matched by prefix on the
# model id, longest prefix first, so dated ids (claude-sonnet-4-5-20250929) and Vertex ids (…@20250929) fit.
DEFAULT_MAX_TOKENS: tuple[tuple[str, int], ...] = (
    ("claude-opus-4-6", 128000),
    ("claude-sonnet-4-6", 64000),
    ("claude-opus-4-5", 64000),
    ("claude-sonnet-4-5", 64000),
    ("claude-haiku-4-5", 64000),
    ("claude-opus-4-1", 32000),
    ("claude-opus-4", 32000),
    ("claude-sonnet-4", 64000),
    ("claude-3-7-sonnet", 64000),
    ("claude-3-5-sonnet", 8192),
    ("claude-3-5-haiku", 8192),
    ("claude-3-opus", 4096),
    ("claude-3-haiku", 4096),
)

# Every Claude model accepts at least this many output tokens: the safe default for ids we do not know.
FALLBACK_MAX_TOKENS = 4096

# Oldest version of each family that accepts ``output_config.format`` (§5.8; LiteLLM §1.11 lists sonnet-4.5,
# opus-4.1, opus-4.5 and later). Later versions of a family (4.6, 5, ...) are assumed to keep the feature.
STRUCTURED_OUTPUT_MIN_VERSION: Mapping[str, tuple[int, int]] = {
    "opus": (4, 1),
    "sonnet": (4, 5),
    "haiku": (4, 5),
}

# reasoning_effort -> thinking.budget_tokens. Anthropic's minimum budget is 1024 (§5.6), so "minimal" cannot go
# lower than "low"; the others double per step as LiteLLM does for low/medium/high (LITELLM.md §1.11).
REASONING_BUDGETS: Mapping[str, int] = {
    "minimal": 1024,
    "low": 1024,
    "medium": 2048,
    "high": 4096,
    "xhigh": 8192,
    "max": 16384,
}

# The forced tool that emulates JSON mode where Anthropic has no native one (LiteLLM's name, kept so that
# histories and logs look the same to users migrating from it).
JSON_TOOL_NAME = "json_tool_call"

# §13.1. pause_turn means "call again to let a server tool finish"; to an OpenAI client it is a normal stop.
STOP_REASONS: Mapping[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Anthropic error types -> the HTTP status they come with (§5.9); used for errors inside a 200 stream.
_ERROR_STATUS: Mapping[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

_CONTEXT_MESSAGE = re.compile(
    r"prompt is too long|exceeds? (?:the )?(?:model'?s? )?context|context (?:window|length|limit)", re.IGNORECASE
)
_VERSION = re.compile(r"claude-(opus|sonnet|haiku)-(\d+)(?:-(\d{1,2}))?(?!\d)")


def _family_id(model: str) -> str:
    """The model id from ``claude`` on: drops Bedrock/Vertex-style prefixes such as ``us.anthropic.``."""
    start = model.find("claude")
    return model[start:] if start > 0 else model


def default_max_tokens(model: str) -> int:
    """The documented maximum output of ``model``, or ``FALLBACK_MAX_TOKENS`` for an unknown id."""
    model_id = _family_id(model)
    for prefix, limit in DEFAULT_MAX_TOKENS:
        if model_id.startswith(prefix):
            return limit
    return FALLBACK_MAX_TOKENS


def supports_structured_outputs(model: str) -> bool:
    """Whether ``model`` accepts ``output_config.format`` (native JSON-schema output)."""
    match = _VERSION.match(_family_id(model))
    if match is None:
        return False
    family, major, minor = match.group(1), int(match.group(2)), int(match.group(3) or 0)
    return (major, minor) >= STRUCTURED_OUTPUT_MIN_VERSION[family]


def finish_reason(stop_reason: Any) -> str:
    """OpenAI ``finish_reason`` for an Anthropic ``stop_reason`` (unknown values read as ``stop``)."""
    return STOP_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def _count(mapping: Mapping[str, Any] | None, key: str) -> int:
    value = mapping.get(key) if mapping else None
    return value if isinstance(value, int) and value > 0 else 0


def openai_usage(usage: Mapping[str, Any] | None) -> dict[str, Any]:
    """OpenAI usage JSON for Anthropic ``usage`` (§13.2).

    Anthropic's ``input_tokens`` excludes cache reads and writes (§5.7), OpenAI's ``prompt_tokens`` includes
    them, so the prompt total is their sum. The Anthropic cache fields are kept at the top level as well, where
    LiteLLM users read them.
    """
    usage = usage or {}
    cache_write = _count(usage, "cache_creation_input_tokens")
    cache_read = _count(usage, "cache_read_input_tokens")
    prompt = _count(usage, "input_tokens") + cache_write + cache_read
    completion = _count(usage, "output_tokens")
    prompt_details: dict[str, int] = {"cached_tokens": cache_read, "cache_write_tokens": cache_write}
    creation = usage.get("cache_creation")
    if isinstance(creation, Mapping) and "ephemeral_1h_input_tokens" in creation:
        prompt_details["cache_write_1h_tokens"] = _count(creation, "ephemeral_1h_input_tokens")
    details = usage.get("output_tokens_details")
    reasoning = _count(details, "thinking_tokens") if isinstance(details, Mapping) else 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {"reasoning_tokens": reasoning},
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
    }


def error_from_payload(
    status: int | None,
    payload: Any,
    *,
    provider: str,
    model: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    retry_after: float | None = None,
) -> TollwayError:
    """The typed error for an Anthropic error envelope ``{"type": "error", "error": {"type", "message"}}``.

    ``status`` is the HTTP status, or None for an ``error`` event inside a 200 stream (then the error type
    decides the status, §5.9). Used by ``AnthropicAdapter.map_error`` and the stream decoder alike.
    """
    error = payload.get("error") if isinstance(payload, Mapping) else None
    error = error if isinstance(error, Mapping) else {}
    kind = error.get("type") if isinstance(error.get("type"), str) else None
    message = error.get("message") if isinstance(error.get("message"), str) else None
    if status is None:
        status = _ERROR_STATUS.get(kind or "", 500)
    if not message:
        preview = (body or b"")[:200].decode("utf-8", errors="replace").strip()
        message = f"{provider} returned HTTP {status}" + (f": {preview}" if preview else "")
    if body is None:
        body = orjson.dumps(payload) if isinstance(payload, Mapping) else None
    common: dict[str, Any] = {
        "provider": provider,
        "model": model,
        "retry_after": retry_after,
        "body": body,
        "headers": headers,
        "upstream_status": status,
    }
    if status in (400, 413) and _CONTEXT_MESSAGE.search(message):
        # Anthropic has no dedicated type for this: "prompt is too long: 210000 tokens > 200000 maximum",
        # "input length and `max_tokens` exceed context limit" (both invalid_request_error).
        return ContextWindowExceededError(message, **common)
    if kind == "overloaded_error" or status == 529:
        return ServiceUnavailableError(message, code=kind or "overloaded_error", **common)
    del common["upstream_status"]  # error_for_status sets it (and rejects it twice for unlisted statuses)
    return error_for_status(status, message, code=kind, **common)

"""Gemini answers -> OpenAI shapes: messages, finish reasons, usage, logprobs and errors (pure).

Shared by the whole-answer parser (``gemini.chat_completion``) and the stream decoder. Wire format:
../shared/PROVIDERS.md §6.3 (response), §6.5 (usage), §6.7 (errors), §13.1-13.2 (mapping tables).

Gemini-only response fields are kept on the message as ``provider_specific_fields`` (LiteLLM's name) with
snake_case keys: ``grounding_metadata``, ``citation_metadata``, ``url_context_metadata``, ``safety_ratings``,
``finish_message``, ``thought_signature`` (of the text), ``executable_code``, ``code_execution_result`` and
``prompt_feedback``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from tollway.adapters.base import Endpoint
from tollway.adapters.gemini_messages import tool_call_id
from tollway.errors import AuthenticationError, ContextWindowExceededError, TollwayError, error_for_status
from tollway.http import parse_retry_after

__all__ = [
    "FINISH_REASONS",
    "MessageParts",
    "finish_reason",
    "google_error",
    "openai_logprobs",
    "openai_usage",
    "provider_fields",
    "read_parts",
]

# §13.1. STOP becomes tool_calls when the candidate holds a functionCall part (decided by the caller).
FINISH_REASONS: Mapping[str, str] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    **dict.fromkeys(
        (
            "SAFETY",
            "RECITATION",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
            "IMAGE_SAFETY",
            "IMAGE_PROHIBITED_CONTENT",
            "IMAGE_RECITATION",
            "LANGUAGE",
        ),
        "content_filter",
    ),
}
# Candidate fields kept on the message, by their Gemini names.
_CANDIDATE_FIELDS: Mapping[str, str] = {
    "groundingMetadata": "grounding_metadata",
    "citationMetadata": "citation_metadata",
    "urlContextMetadata": "url_context_metadata",
    "safetyRatings": "safety_ratings",
    "finishMessage": "finish_message",
}
# HTTP status for a google.rpc status name, for errors inside a 200 stream that carry no usable code (§6.7).
_STATUS_BY_NAME: Mapping[str, int] = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
_CONTEXT_MESSAGE = re.compile(r"exceeds the maximum number of tokens|input token count", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def finish_reason(reason: Any, *, has_calls: bool) -> str:
    """The OpenAI finish_reason for a Gemini ``finishReason`` (unknown and error-ish reasons are ``stop``)."""
    mapped = FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"
    return "tool_calls" if mapped == "stop" and has_calls else mapped


def _count(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and value > 0 else 0


def openai_usage(usage: Mapping[str, Any] | None) -> dict[str, Any]:
    """OpenAI usage JSON for Gemini ``usageMetadata`` (§6.5).

    ``promptTokenCount`` already includes cached tokens; ``candidatesTokenCount`` excludes thoughts, OpenAI's
    ``completion_tokens`` includes reasoning, so thoughts are added. Tokens of tool-use prompts (e.g. search
    results fed back by grounding) are prompt tokens.
    """
    usage = usage or {}
    prompt = _count(usage, "promptTokenCount") + _count(usage, "toolUsePromptTokenCount")
    reasoning = _count(usage, "thoughtsTokenCount")
    completion = _count(usage, "candidatesTokenCount") + reasoning
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": _count(usage, "cachedContentTokenCount")},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


@dataclass(slots=True)
class MessageParts:
    """What a list of Gemini parts says, split the OpenAI way."""

    text: list[str] = field(default_factory=list)
    thoughts: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def read_parts(parts: Any, first_call_index: int = 0) -> MessageParts:
    """Split Gemini ``parts``; tool calls are numbered from ``first_call_index`` (streams continue counting)."""
    out = MessageParts()
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, Mapping):
            continue
        signature = part.get("thoughtSignature") if isinstance(part.get("thoughtSignature"), str) else None
        call = part.get("functionCall")
        if isinstance(call, Mapping):
            out.calls.append(_tool_call(call, first_call_index + len(out.calls), signature))
        elif isinstance(part.get("text"), str) and part.get("thought") is True:
            out.thoughts.append(part["text"])
        elif isinstance(part.get("text"), str):
            out.text.append(part["text"])
            if signature:
                out.extra["thought_signature"] = signature
        elif "executableCode" in part:
            out.extra.setdefault("executable_code", []).append(part["executableCode"])
        elif "codeExecutionResult" in part:
            out.extra.setdefault("code_execution_result", []).append(part["codeExecutionResult"])
    return out


def _tool_call(call: Mapping[str, Any], index: int, signature: str | None) -> dict[str, Any]:
    name = str(call.get("name") or "")
    args = call.get("args")
    arguments = json.dumps(args if isinstance(args, dict) else {}, separators=(",", ":"), ensure_ascii=False)
    given = call.get("id")
    # A Gemini-given id is kept (§6.3); otherwise one is made up, carrying the signature (gemini_messages).
    call_id = given if isinstance(given, str) and given else tool_call_id(name, arguments, index, signature)
    tool: dict[str, Any] = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    if signature:
        tool["provider_specific_fields"] = {"thought_signature": signature}
    return tool


def provider_fields(candidate: Mapping[str, Any]) -> dict[str, Any]:
    """The Gemini-only fields of a candidate worth keeping on the message."""
    return {ours: candidate[theirs] for theirs, ours in _CANDIDATE_FIELDS.items() if candidate.get(theirs)}


def openai_logprobs(candidate: Mapping[str, Any]) -> dict[str, Any] | None:
    """OpenAI ``choice.logprobs`` for a candidate's ``logprobsResult`` (None when there is none)."""
    result = candidate.get("logprobsResult")
    if not isinstance(result, Mapping):
        return None
    chosen = result.get("chosenCandidates") or []
    tops = result.get("topCandidates") or []
    content = []
    for i, token in enumerate(chosen):
        top = tops[i].get("candidates") or [] if i < len(tops) and isinstance(tops[i], Mapping) else []
        content.append({**_token(token), "top_logprobs": [_token(t) for t in top]})
    return {"content": content, "refusal": None}


def _token(token: Mapping[str, Any]) -> dict[str, Any]:
    text = str(token.get("token") or "")
    return {"token": text, "logprob": float(token.get("logProbability") or 0.0), "bytes": list(text.encode())}


def google_error(
    status: int | None,
    payload: Any,
    endpoint: Endpoint,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> TollwayError:
    """The typed error for a google.rpc.Status envelope ``{"error": {"code", "message", "status", "details"}}``.

    ``status`` is the HTTP status, or None for an error inside a 200 stream (then the envelope's code decides).
    """
    error = payload.get("error") if isinstance(payload, Mapping) else None
    error = error if isinstance(error, Mapping) else {}
    name = error.get("status") if isinstance(error.get("status"), str) else None
    if status is None:
        code = error.get("code")
        status = code if isinstance(code, int) and code >= 400 else _STATUS_BY_NAME.get(name or "", 500)
    message = error.get("message") if isinstance(error.get("message"), str) else None
    if not message:
        preview = (body or b"")[:200].decode("utf-8", errors="replace").strip()
        message = f"{endpoint.provider} returned HTTP {status}" + (f": {preview}" if preview else "")
    details = [d for d in error.get("details") or () if isinstance(d, Mapping)]
    common: dict[str, Any] = {
        "provider": endpoint.provider,
        "model": endpoint.model,
        "retry_after": _retry_after(headers, details),
        "body": body if body is not None else (orjson.dumps(payload) if isinstance(payload, Mapping) else None),
        "headers": headers,
        "code": name,
    }
    reasons = {d.get("reason") for d in details}
    if status == 400 and ("API_KEY_INVALID" in reasons or "API key not valid" in message):
        # §6.7: a bad key is a 400 INVALID_ARGUMENT, not a 401; it is still an authentication problem.
        return AuthenticationError(message, upstream_status=status, **common)
    if status == 400 and _CONTEXT_MESSAGE.search(message):
        return ContextWindowExceededError(message, upstream_status=status, **common)
    return error_for_status(status, message, **common)


def _retry_after(headers: Mapping[str, str] | None, details: list[Mapping[str, Any]]) -> float | None:
    # A Retry-After header is the HTTP-level signal and wins; the body's RetryInfo is Google's usual one (§6.7).
    from_header = parse_retry_after(headers or {})
    return from_header if from_header is not None else _retry_delay(details)


def _retry_delay(details: list[Mapping[str, Any]]) -> float | None:
    for detail in details:
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DURATION.match(str(detail.get("retryDelay") or ""))
            if match:
                return float(match.group(1))
    return None

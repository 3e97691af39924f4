"""A fake Anthropic Messages API: ``POST /v1/messages`` (PROVIDERS.md §5).

Requests are judged strictly: auth (``x-api-key`` or ``Authorization: Bearer``) and ``anthropic-version`` are
required, and the body is validated against the official SDK's request TypedDicts with unknown keys rejected at
every level, plus the cross-field rules of the real API (empty text blocks, thinking budget, forced tools with
thinking).

Default answers are deterministic: a ``thinking`` block (with signature) when thinking is enabled, then the
text ``"Hello from the fake Anthropic upstream."``; a ``tool_use`` block instead of the text when
``tool_choice`` is ``any``/``tool``, or after a short text when ``tool_choice`` is auto and the last user
message mentions a tool's name. Usage estimates input tokens from the request size; a request containing
``cache_control`` writes the cache the first time and reads it when repeated.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming, MessageCreateParamsStreaming

from fakes.anthropic_judge import sdk_errors

from .base import (
    SSE,
    FakeUpstream,
    JSONObject,
    RecordedRequest,
    Reply,
    Route,
    approx_tokens,
    example_from_schema,
    split_pieces,
    strict_validator,
    validation_message,
)

__all__ = ["ANSWER", "THINKING", "AnthropicFake"]

ANSWER = "Hello from the fake Anthropic upstream."
THINKING = "The user greets me; a short friendly answer is right."
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_ERROR_MESSAGES = {
    401: "invalid x-api-key",
    404: "Not found",
    429: "Number of request tokens has exceeded your per-minute rate limit",
    529: "Overloaded",
}


@dataclass(frozen=True, slots=True)
class _Block:
    """One content block of the answer, kept as the pieces it streams in."""

    kind: str  # "thinking" | "text" | "tool_use"
    pieces: list[str]
    name: str = ""
    block_id: str = ""

    @property
    def text(self) -> str:
        return "".join(self.pieces)


class AnthropicFake(FakeUpstream):
    """Fake Anthropic upstream; give ``fake.url`` (no ``/v1``) to the SDK as ``base_url``."""

    name = "anthropic"

    def routes(self) -> list[Route]:
        return [Route("messages", "POST", "/v1/messages", self._validate, self._answer, self._events)]

    # -- dialect ------------------------------------------------------------------------------------------
    def error_body(
        self, status: int, message: str | None, error_type: str | None, *, code: str | None, request_id: str
    ) -> JSONObject:
        kind = error_type or _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        error = {"type": kind, "message": message or _ERROR_MESSAGES.get(status, "Internal server error")}
        return {"type": "error", "error": error, "request_id": request_id}

    def frame(self, payload: JSONObject) -> SSE:
        return SSE(event=str(payload.get("type", "message")), data=orjson.dumps(payload).decode())

    def stream_error(self, message: str | None, error_type: str | None) -> SSE:
        error = {"type": error_type or "overloaded_error", "message": message or "Overloaded"}
        return self.frame({"type": "error", "error": error})

    def response_headers(self, request_id: str) -> dict[str, str]:
        reset = "2025-01-01T00:00:01Z"
        return {
            "request-id": request_id,
            "anthropic-organization-id": "fake-org",
            "anthropic-ratelimit-requests-limit": "4000",
            "anthropic-ratelimit-requests-remaining": "3999",
            "anthropic-ratelimit-requests-reset": reset,
            "anthropic-ratelimit-tokens-limit": "400000",
            "anthropic-ratelimit-tokens-remaining": "399000",
            "anthropic-ratelimit-tokens-reset": reset,
        }

    # -- validation ---------------------------------------------------------------------------------------
    def _validate(self, request: RecordedRequest) -> Reply | None:
        headers = request.headers
        bearer = headers.get("authorization", "").startswith("Bearer ")
        if not headers.get("x-api-key") and not bearer:
            return Reply.error(401, "x-api-key header is required")
        if not headers.get("anthropic-version"):
            return _bad_request("anthropic-version: header is required")
        if not isinstance(request.json, dict):
            return _bad_request("There was an issue with your request body: expected a JSON object")
        body = request.json
        schema = MessageCreateParamsStreaming if body.get("stream") else MessageCreateParamsNonStreaming
        if problem := validation_message(strict_validator(schema), body):
            return _bad_request(problem)
        # A second, independent judge: the rewritten pydantic schema above has been seen to let a nested unknown
        # key through in some processes (depending on which schemas were built before); this walker has no state.
        if problems := sdk_errors(body):
            return _bad_request(problems[0])
        return _check_rules(body)

    # -- default answers ----------------------------------------------------------------------------------
    def _answer(self, request: RecordedRequest) -> Reply:
        body = request.body_object
        if body.get("stream"):
            return Reply.stream(self._events(request))
        blocks, stop_reason = _plan(body, request.body)
        return Reply.json(
            {
                **_message_shell(request),
                "content": [_block_json(block) for block in blocks],
                "stop_reason": stop_reason,
                "stop_sequence": None,
                "usage": {**self._input_usage(body), "output_tokens": _output_tokens(blocks)},
            }
        )

    def _events(self, request: RecordedRequest) -> list[JSONObject]:
        body = request.body_object
        blocks, stop_reason = _plan(body, request.body)
        usage = self._input_usage(body)
        start_message = {**_message_shell(request), "content": [], "stop_reason": None, "stop_sequence": None}
        events: list[JSONObject] = [
            {"type": "message_start", "message": {**start_message, "usage": {**usage, "output_tokens": 1}}}
        ]
        for index, block in enumerate(blocks):
            events.extend(_block_events(index, block))
            if index == 0:
                events.insert(2, {"type": "ping"})  # real streams ping right after the first block opens
        final_usage = {key: usage[key] for key in ("input_tokens", "cache_creation_input_tokens")}
        final_usage |= {
            "cache_read_input_tokens": usage["cache_read_input_tokens"],
            "output_tokens": _output_tokens(blocks),
        }
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": final_usage,
            }
        )
        events.append({"type": "message_stop"})
        return events

    def _input_usage(self, body: JSONObject) -> JSONObject:
        prompt = approx_tokens(orjson.dumps([body.get("system"), body.get("messages"), body.get("tools")]))
        created = read = 0
        serialized = orjson.dumps(body)
        if b'"cache_control"' in serialized:
            cacheable = prompt * 3 // 4
            key = orjson.dumps([body.get("model"), body.get("system"), body.get("tools"), body.get("messages")])
            if self.remember(b"anthropic:" + key):
                read = cacheable
            else:
                created = cacheable
        one_hour = b'"ttl":"1h"' in serialized
        return {
            # input_tokens excludes both cache counts (PROVIDERS.md §5.7).
            "input_tokens": prompt - created - read,
            "cache_creation_input_tokens": created,
            "cache_read_input_tokens": read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": 0 if one_hour else created,
                "ephemeral_1h_input_tokens": created if one_hour else 0,
            },
            "server_tool_use": None,
            "service_tier": "standard",
        }


def _bad_request(message: str) -> Reply:
    return Reply.error(400, message, type="invalid_request_error")


def _check_rules(body: JSONObject) -> Reply | None:
    """Rules of the real API beyond the request schema (PROVIDERS.md §5.2, §5.6)."""
    problem = _content_problem(body) or _thinking_problem(body)
    return None if problem is None else _bad_request(problem)


def _content_problem(body: JSONObject) -> str | None:
    if not body["messages"]:
        return "messages: at least one message is required"
    for index, message in enumerate(body["messages"]):
        content = message["content"]
        if content == "" and index != len(body["messages"]) - 1:
            return f"messages.{index}: all messages must have non-empty content"
        if isinstance(content, list) and _has_empty_text(content):
            return "messages: text content blocks must be non-empty"
    system = body.get("system")
    if isinstance(system, list) and _has_empty_text(system):
        return "system: text content blocks must be non-empty"
    return None


def _thinking_problem(body: JSONObject) -> str | None:
    thinking = body.get("thinking") or {}
    if thinking.get("type") not in ("enabled", "adaptive"):
        return None
    if thinking["type"] == "enabled":
        budget = int(thinking["budget_tokens"])
        if budget < 1024:
            return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        if budget >= int(body["max_tokens"]):
            return "`max_tokens` must be greater than `thinking.budget_tokens`."
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        return "Thinking may not be enabled when tool_choice forces tool use."
    if body.get("temperature", 1) != 1:
        return "`temperature` may only be set to 1 when thinking is enabled."
    return None


def _has_empty_text(blocks: list[Any]) -> bool:
    for block in blocks:
        if block.get("type") == "text" and block.get("text") == "":
            return True
        nested = block.get("content") if block.get("type") == "tool_result" else None
        if isinstance(nested, list) and _has_empty_text(nested):
            return True
    return False


def _chosen_tools(body: JSONObject) -> tuple[list[str], bool]:
    """The tools to call (several make parallel calls), and whether the API forces one (then no text precedes)."""
    tools = [tool for tool in body.get("tools") or [] if "input_schema" in tool]
    names = [str(tool["name"]) for tool in tools]
    choice = body.get("tool_choice") or {"type": "auto"}
    if not names or choice["type"] == "none":
        return [], False
    if choice["type"] == "tool":
        return [str(choice["name"])], True
    if choice["type"] == "any":
        return [names[0]], True
    last = body["messages"][-1]
    if last["role"] != "user":
        return [], False
    content = last["content"]
    if isinstance(content, list) and any(block.get("type") == "tool_result" for block in content):
        return [], False  # after a tool result the model answers in text
    text = orjson.dumps(content).decode()
    mentioned = [name for _, name in sorted((text.find(name), name) for name in names if name in text)]
    if choice.get("disable_parallel_tool_use"):
        mentioned = mentioned[:1]
    return mentioned, False


def _answer_text(body: JSONObject) -> str:
    """The reply text: JSON matching the requested schema under structured outputs (§5.8), else the greeting."""
    output_format = (body.get("output_config") or {}).get("format") or {}
    if output_format.get("type") == "json_schema":
        return orjson.dumps(example_from_schema(output_format.get("schema") or {})).decode()
    return ANSWER


def _plan(body: JSONObject, raw: bytes) -> tuple[list[_Block], str]:
    """The answer's blocks and stop reason, cut at ``max_tokens``."""
    blocks: list[_Block] = []
    if (body.get("thinking") or {}).get("type") in ("enabled", "adaptive"):
        blocks.append(_Block("thinking", split_pieces(THINKING)))
    tools, forced = _chosen_tools(body)
    stop_reason = "end_turn"
    if not tools:
        blocks.append(_Block("text", split_pieces(_answer_text(body))))
    else:
        if not forced:
            blocks.append(_Block("text", split_pieces(f"I'll use {' and '.join(tools)}.")))
        for position, tool in enumerate(tools):
            schema = next(t["input_schema"] for t in body["tools"] if t.get("name") == tool)
            arguments = orjson.dumps(example_from_schema(schema)).decode()
            # Fragment the input JSON so clients must concatenate the input_json_delta pieces.
            step = max(1, len(arguments) // 3 + 1)
            pieces = [arguments[start : start + step] for start in range(0, len(arguments), step)]
            tool_id = f"toolu_fake{position}" + hashlib.sha256(raw).hexdigest()[:16]
            blocks.append(_Block("tool_use", pieces, name=tool, block_id=tool_id))
        stop_reason = "tool_use"
    budget = int(body.get("max_tokens") or 0)
    if _output_tokens(blocks) > budget:
        blocks, stop_reason = _truncate(blocks, budget), "max_tokens"
    return blocks, stop_reason


def _truncate(blocks: list[_Block], budget: int) -> list[_Block]:
    kept: list[_Block] = []
    for block in blocks:
        if budget <= 0 or block.kind == "tool_use":
            break
        kept.append(_Block(block.kind, block.pieces[:budget]))
        budget -= len(block.pieces)
    return kept


def _output_tokens(blocks: list[_Block]) -> int:
    return sum(len(block.pieces) + (8 if block.kind == "tool_use" else 0) for block in blocks)


def _signature(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def _block_json(block: _Block) -> JSONObject:
    if block.kind == "thinking":
        return {"type": "thinking", "thinking": block.text, "signature": _signature(block.text)}
    if block.kind == "tool_use":
        return {"type": "tool_use", "id": block.block_id, "name": block.name, "input": orjson.loads(block.text)}
    return {"type": "text", "text": block.text, "citations": None}


def _block_events(index: int, block: _Block) -> list[JSONObject]:
    opening: JSONObject
    if block.kind == "thinking":
        opening = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": piece} for piece in block.pieces]
        deltas.append({"type": "signature_delta", "signature": _signature(block.text)})
    elif block.kind == "tool_use":
        opening = {"type": "tool_use", "id": block.block_id, "name": block.name, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in ["", *block.pieces]]
    else:
        opening = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in block.pieces]
    return [
        {"type": "content_block_start", "index": index, "content_block": opening},
        *({"type": "content_block_delta", "index": index, "delta": delta} for delta in deltas),
        {"type": "content_block_stop", "index": index},
    ]


def _message_shell(request: RecordedRequest) -> JSONObject:
    return {
        "id": "msg_fake" + hashlib.sha256(request.body).hexdigest()[:20],
        "type": "message",
        "role": "assistant",
        "model": request.body_object["model"],
    }

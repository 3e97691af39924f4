"""AnthropicAdapter: response parsing, error mapping and the embeddings refusal; outputs judged by the openai SDK."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion

from tollway.adapters.anthropic import AnthropicAdapter
from tollway.adapters.anthropic_models import default_max_tokens, supports_structured_outputs
from tollway.adapters.base import Endpoint
from tollway.errors import (
    APIError,
    AuthenticationError,
    BadGatewayError,
    BadRequestError,
    ContextWindowExceededError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
)
from tollway.http import HttpResponse
from tollway.usage import TokenUsage

ENDPOINT = Endpoint(provider="anthropic", model="claude-sonnet-4-5", api_base="https://api.anthropic.com", api_key="k")
REQUEST: dict[str, Any] = {"model": "anthropic/claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hi"}]}


def message(content: list[dict[str, Any]], stop_reason: str = "end_turn", **usage: Any) -> dict[str, Any]:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 48, **usage},
    }


def parse(data: dict[str, Any], request: dict[str, Any] | None = None, endpoint: Endpoint = ENDPOINT) -> dict[str, Any]:
    response = HttpResponse(200, {"content-type": "application/json"}, orjson.dumps(data))
    parsed = AnthropicAdapter().parse_chat_response(response, request or REQUEST, endpoint)
    ChatCompletion.model_validate(parsed)
    json.dumps(parsed)  # plain JSON all the way down
    return parsed


def test_text_response() -> None:
    out = parse(message([{"type": "text", "text": "Hello"}, {"type": "text", "text": " there"}]))
    assert out["id"] == "msg_01"
    assert out["object"] == "chat.completion"
    assert isinstance(out["created"], int)
    assert out["model"] == "claude-sonnet-4-5-20250929"
    assert out["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello there"},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    assert out["usage"]["prompt_tokens"] == 12
    assert out["usage"]["completion_tokens"] == 48
    assert out["usage"]["total_tokens"] == 60


def test_thinking_text_and_tool_use() -> None:
    thinking = {"type": "thinking", "thinking": "User wants weather.", "signature": "EqQBsig=="}
    redacted = {"type": "redacted_thinking", "data": "EmwKAhgB"}
    content: list[dict[str, Any]] = [
        thinking,
        redacted,
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris", "unit": "°C"}},
        {"type": "tool_use", "id": "toolu_02", "name": "get_time", "input": {}},
    ]
    out = parse(message(content, "tool_use"))
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    msg = choice["message"]
    assert msg["content"] == "Let me check."
    assert msg["reasoning_content"] == "User wants weather."
    assert msg["thinking_blocks"] == [thinking, redacted]
    assert msg["tool_calls"] == [
        {
            "id": "toolu_01",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris","unit":"°C"}'},
        },
        {"id": "toolu_02", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
    ]
    assert json.loads(msg["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris", "unit": "°C"}
    validated = ChatCompletion.model_validate(out)
    assert validated.choices[0].message.tool_calls is not None
    assert validated.choices[0].message.tool_calls[0].id == "toolu_01"


def test_tool_only_answer_has_null_content_and_no_reasoning_fields() -> None:
    content = [{"type": "tool_use", "id": "toolu_01", "name": "f", "input": {"a": 1}}]
    msg = parse(message(content, "tool_use"))["choices"][0]["message"]
    assert msg["content"] is None
    assert "reasoning_content" not in msg
    assert "thinking_blocks" not in msg


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("something_new", "stop"),
    ],
)
def test_stop_reasons(stop_reason: str, finish: str) -> None:
    content: list[dict[str, Any]] = [{"type": "text", "text": "x"}]
    if stop_reason == "tool_use":
        content.append({"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}})
    assert parse(message(content, stop_reason))["choices"][0]["finish_reason"] == finish


def test_cache_usage_5m_and_1h_normalised() -> None:
    usage: dict[str, Any] = {
        "cache_creation_input_tokens": 300,
        "cache_read_input_tokens": 2048,
        "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
        "output_tokens_details": {"thinking_tokens": 20},
        "service_tier": "standard",
    }
    out = parse(message([{"type": "text", "text": "x"}], **usage))
    assert out["usage"] == {
        "prompt_tokens": 12 + 300 + 2048,
        "completion_tokens": 48,
        "total_tokens": 12 + 300 + 2048 + 48,
        "prompt_tokens_details": {"cached_tokens": 2048, "cache_write_tokens": 300, "cache_write_1h_tokens": 200},
        "completion_tokens_details": {"reasoning_tokens": 20},
        "cache_creation_input_tokens": 300,
        "cache_read_input_tokens": 2048,
    }
    tokens = TokenUsage.from_openai(out["usage"])
    assert tokens.uncached_input_tokens == 12
    assert tokens.cache_write_1h_tokens == 200
    assert tokens.reasoning_tokens == 20


def test_usage_without_cache_fields() -> None:
    usage = parse(message([{"type": "text", "text": "x"}]))["usage"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0, "cache_write_tokens": 0}
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 0}


def test_emulated_json_becomes_content() -> None:
    request = {**REQUEST, "response_format": {"type": "json_object"}}
    content: list[dict[str, Any]] = [
        {"type": "text", "text": "Here is the JSON."},
        {"type": "tool_use", "id": "toolu_1", "name": "json_tool_call", "input": {"city": "Paris"}},
    ]
    out = parse(message(content, "tool_use"), request)
    msg = out["choices"][0]["message"]
    assert json.loads(msg["content"]) == {"city": "Paris"}
    assert "tool_calls" not in msg
    assert out["choices"][0]["finish_reason"] == "stop"


def test_native_json_schema_is_plain_text() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    request = {**REQUEST, "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}}
    out = parse(message([{"type": "text", "text": '{"a":1}'}]), request)
    assert out["choices"][0]["message"]["content"] == '{"a":1}'


def test_a_tool_named_json_tool_call_is_a_tool_without_json_mode() -> None:
    content = [{"type": "tool_use", "id": "toolu_1", "name": "json_tool_call", "input": {}}]
    out = parse(message(content, "tool_use"))
    assert out["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "json_tool_call"


def test_legacy_functions_answer_with_function_call() -> None:
    request = {**REQUEST, "functions": [{"name": "f", "parameters": {"type": "object"}}]}
    content = [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}]
    out = parse(message(content, "tool_use"), request)
    assert out["choices"][0]["finish_reason"] == "function_call"
    assert out["choices"][0]["message"]["function_call"] == {"name": "f", "arguments": '{"a":1}'}


@pytest.mark.parametrize("body", [b"<html>bad gateway</html>", b"[]", b'{"type":"message","id":"m"}'])
def test_unreadable_bodies_are_bad_gateway(body: bytes) -> None:
    with pytest.raises(BadGatewayError):
        AnthropicAdapter().parse_chat_response(HttpResponse(200, {}, body), REQUEST, ENDPOINT)


def test_error_envelope_with_200_is_raised() -> None:
    body = orjson.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    with pytest.raises(ServiceUnavailableError):
        AnthropicAdapter().parse_chat_response(HttpResponse(200, {}, body), REQUEST, ENDPOINT)


# --- embeddings ------------------------------------------------------------------------------------------------


def test_embeddings_are_refused() -> None:
    adapter = AnthropicAdapter()
    with pytest.raises(BadRequestError, match="no embeddings API"):
        adapter.build_embedding_request({"model": "x", "input": "a"}, ENDPOINT)
    with pytest.raises(BadRequestError, match="no embeddings API"):
        adapter.parse_embedding_response(HttpResponse(200, {}, b"{}"), {"model": "x", "input": "a"}, ENDPOINT)


# --- map_error -------------------------------------------------------------------------------------------------


def envelope(kind: str, text: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": text}, "request_id": "req_011"})


@pytest.mark.parametrize(
    ("status", "kind", "text", "cls"),
    [
        (400, "invalid_request_error", "max_tokens: Field required", BadRequestError),
        (401, "authentication_error", "invalid x-api-key", AuthenticationError),
        (402, "billing_error", "credit balance too low", APIError),
        (403, "permission_error", "no access", PermissionDeniedError),
        (404, "not_found_error", "model: claude-9", NotFoundError),
        (413, "request_too_large", "Request exceeds the maximum allowed number of bytes", BadRequestError),
        (429, "rate_limit_error", "slow down", RateLimitError),
        (500, "api_error", "Internal server error", InternalServerError),
        (504, "timeout_error", "timed out", Timeout),
        (529, "overloaded_error", "Overloaded", ServiceUnavailableError),
    ],
)
def test_map_error_by_status(status: int, kind: str, text: str, cls: type[Exception]) -> None:
    body = envelope(kind, text)
    headers = {"request-id": "req_011"}
    error = AnthropicAdapter().map_error(HttpResponse(status, headers, body), ENDPOINT)
    assert type(error) is cls
    assert error.message == text
    assert error.code == kind
    assert error.upstream_status == status
    assert error.body == body
    assert error.headers == headers
    assert error.provider == "anthropic"
    assert error.model == "claude-sonnet-4-5"
    assert not isinstance(error, ContextWindowExceededError)


def test_map_error_429_retry_after() -> None:
    response = HttpResponse(429, {"retry-after": "17"}, envelope("rate_limit_error", "Number of requests exceeded"))
    error = AnthropicAdapter().map_error(response, ENDPOINT)
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 17.0
    assert error.retryable


def test_map_error_529_is_503_and_retryable() -> None:
    response = HttpResponse(529, {"retry-after": "2"}, envelope("overloaded_error", "Overloaded"))
    error = AnthropicAdapter().map_error(response, ENDPOINT)
    assert isinstance(error, ServiceUnavailableError)
    assert error.status_code == 503
    assert error.upstream_status == 529
    assert error.retry_after == 2.0
    assert error.retryable


def test_overloaded_type_with_another_status_is_still_unavailable() -> None:
    error = AnthropicAdapter().map_error(HttpResponse(500, {}, envelope("overloaded_error", "Overloaded")), ENDPOINT)
    assert isinstance(error, ServiceUnavailableError)


@pytest.mark.parametrize(
    "text",
    [
        "prompt is too long: 210000 tokens > 200000 maximum",
        "input length and `max_tokens` exceed context limit: 190000 + 64000 > 200000, decrease input length",
    ],
)
def test_map_error_context_window(text: str) -> None:
    response = HttpResponse(400, {}, envelope("invalid_request_error", text))
    error = AnthropicAdapter().map_error(response, ENDPOINT)
    assert isinstance(error, ContextWindowExceededError)
    assert error.code == "context_length_exceeded"
    assert error.message == text


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (502, b"<html>Bad Gateway</html>", InternalServerError),
        (503, b"", ServiceUnavailableError),
        (401, b"Unauthorized", AuthenticationError),
        (400, b'{"error": "not an envelope"}', BadRequestError),
    ],
)
def test_map_error_non_json_bodies(status: int, body: bytes, cls: type[Exception]) -> None:
    error = AnthropicAdapter().map_error(HttpResponse(status, {}, body), ENDPOINT)
    assert type(error) is cls
    assert f"HTTP {status}" in error.message
    assert error.body == body
    assert error.code is None or error.code == getattr(cls, "default_code", None)


# --- model data (anthropic_models) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("claude-opus-4-5-20251101", 64000),
        ("claude-sonnet-4-5", 64000),
        ("claude-haiku-4-5-20251001", 64000),
        ("claude-sonnet-4-20250514", 64000),
        ("claude-3-7-sonnet-latest", 64000),
        ("claude-opus-4-1-20250805", 32000),
        ("claude-opus-4-20250514", 32000),
        ("claude-3-5-sonnet-20241022", 8192),
        ("claude-3-5-haiku-20241022", 8192),
        ("claude-3-haiku-20240307", 4096),
        ("claude-3-opus-20240229", 4096),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 64000),
        ("some-future-model", 4096),
    ],
)
def test_default_max_tokens_per_model(model: str, expected: int) -> None:
    assert default_max_tokens(model) == expected


@pytest.mark.parametrize(
    ("model", "native"),
    [
        ("claude-sonnet-4-5-20250929", True),
        ("claude-opus-4-1-20250805", True),
        ("claude-opus-4-5", True),
        ("claude-haiku-4-5", True),
        ("claude-opus-4-6", True),
        ("claude-sonnet-5", True),
        ("claude-sonnet-4-20250514", False),
        ("claude-opus-4-20250514", False),
        ("claude-3-5-haiku-latest", False),
    ],
)
def test_structured_output_support_table(model: str, native: bool) -> None:
    assert supports_structured_outputs(model) is native

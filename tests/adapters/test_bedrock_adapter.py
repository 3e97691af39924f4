"""BedrockAdapter: Converse request building, signing, response parsing, errors and embeddings (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import openai.types.chat as oai
import orjson
import pytest

from tollway.adapters.base import Endpoint
from tollway.adapters.bedrock import BedrockAdapter
from tollway.errors import (
    AuthenticationError,
    BadRequestError,
    ContextWindowExceededError,
    InternalServerError,
    MissingCredentialsError,
    NotFoundError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
    UnsupportedParamsError,
)
from tollway.http import HttpResponse

ADAPTER = BedrockAdapter()
CLAUDE = "us.anthropic.claude-sonnet-4-20250514-v1:0"
KEYS = {"aws_access_key_id": "AKID", "aws_secret_access_key": "SECRET", "aws_region_name": "us-east-1"}
PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def endpoint(model: str = CLAUDE, **overrides: Any) -> Endpoint:
    params = {**KEYS, "signing_time": datetime(2025, 1, 2, tzinfo=UTC), **overrides.pop("params", {})}
    return Endpoint("bedrock", model, "https://bedrock-runtime.{region}.amazonaws.com", params=params, **overrides)


def build(
    messages: list[dict[str, Any]] | None = None, *, ep: Endpoint | None = None, **params: Any
) -> tuple[str, dict[str, str], dict[str, Any]]:
    request = {"model": "bedrock/x", "messages": messages or [{"role": "user", "content": "Hi"}], **params}
    http = ADAPTER.build_chat_request(request, ep or endpoint())
    return http.url, dict(http.headers), orjson.loads(http.body)


def test_url_signing_and_minimal_body() -> None:
    url, headers, body = build()
    assert (
        url
        == "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse"
    )
    assert headers["authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKID/20250102/us-east-1/bedrock/aws4_request, "
    )
    assert headers["x-amz-date"] == "20250102T000000Z"
    assert "x-amz-security-token" not in headers
    assert body == {"messages": [{"role": "user", "content": [{"text": "Hi"}]}]}
    url, _, _ = build(stream=True)
    assert url.endswith("/converse-stream")


def test_arn_model_ids_are_encoded_and_session_token_is_sent() -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"
    url, headers, _ = build(ep=endpoint(arn, params={"aws_session_token": "TOKEN"}))
    assert "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic" in url
    assert headers["x-amz-security-token"] == "TOKEN"
    assert "x-amz-security-token" in headers["authorization"]


def test_bearer_key_and_missing_credentials() -> None:
    _, headers, _ = build(ep=endpoint(api_key="bedrock-key"))
    assert headers["authorization"] == "Bearer bedrock-key"
    assert "x-amz-date" not in headers
    bare = Endpoint("bedrock", CLAUDE, "https://x", params={"aws_region_name": "us-east-1"})
    with pytest.raises(MissingCredentialsError, match="AWS_ACCESS_KEY_ID"):
        build(ep=bare)


def test_parameters_map_to_inference_config_and_friends() -> None:
    _, _, body = build(
        [
            {"role": "system", "content": "Be terse."},
            {"role": "developer", "content": "Really."},
            {"role": "user", "content": "Hi"},
        ],
        max_tokens=100,
        temperature=0.2,
        top_p=0.9,
        stop="END",
        top_k=40,
        user="u-1",
        service_tier="flex",
        guardrailConfig={"guardrailIdentifier": "g1", "guardrailVersion": "1"},
        additionalModelResponseFieldPaths=["/stop_sequence"],
    )
    assert body["system"] == [{"text": "Be terse."}, {"text": "Really."}]
    assert body["inferenceConfig"] == {"maxTokens": 100, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]}
    assert body["additionalModelRequestFields"] == {"top_k": 40}
    assert body["requestMetadata"] == {"user": "u-1"}
    assert body["serviceTier"] == {"type": "flex"}
    assert body["guardrailConfig"] == {"guardrailIdentifier": "g1", "guardrailVersion": "1"}
    assert body["additionalModelResponseFieldPaths"] == ["/stop_sequence"]


@pytest.mark.parametrize(
    ("param", "value"),
    [("seed", 1), ("presence_penalty", 0.5), ("logprobs", True), ("n", 2), ("parallel_tool_calls", False)],
)
def test_unsupported_params_raise_or_drop(param: str, value: Any) -> None:
    with pytest.raises(UnsupportedParamsError) as info:
        build(**{param: value})
    assert info.value.param == param
    assert "bedrock" in str(info.value)
    _, _, body = build(ep=endpoint(drop_params=True), **{param: value})
    assert set(body) == {"messages"}


def test_images_documents_and_cache_points() -> None:
    pdf = "data:application/pdf;base64,JVBERi0xLjQK"
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Policy", "cache_control": {"type": "ephemeral"}}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look"},
                {"type": "image_url", "image_url": {"url": PNG, "detail": "high"}},
                {"type": "file", "file": {"file_data": pdf, "filename": "a.pdf"}},
            ],
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        },
    ]
    tool = {
        "type": "function",
        "function": {"name": "f", "parameters": {"type": "object"}},
        "cache_control": {"type": "ephemeral"},
    }
    _, _, body = build(messages, tools=[tool])
    assert body["system"] == [{"text": "Policy"}, {"cachePoint": {"type": "default"}}]
    content = body["messages"][0]["content"]
    assert content[1] == {"image": {"format": "png", "source": {"bytes": PNG.split(",", 1)[1]}}}
    assert content[2] == {"document": {"format": "pdf", "name": "document-1", "source": {"bytes": "JVBERi0xLjQK"}}}
    assert content[3] == {"cachePoint": {"type": "default", "ttl": "1h"}}
    assert body["toolConfig"]["tools"][1] == {"cachePoint": {"type": "default"}}


def test_web_image_urls_are_refused() -> None:
    with pytest.raises(BadRequestError, match="data:image"):
        build([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/cat.png"}}]}])


def test_tools_tool_results_merged_and_history() -> None:
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "W",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    messages = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "",
            "thinking_blocks": [{"type": "thinking", "thinking": "hmm", "signature": "sig"}],
            "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
                {"id": "t2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "t1", "content": '{"temp_c": 21}'},
        {"role": "tool", "tool_call_id": "t2", "content": "sunny"},
        {"role": "user", "content": "Thanks"},
    ]
    _, _, body = build(messages, tools=[weather], tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assistant = body["messages"][1]["content"]
    assert assistant[0] == {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig"}}}
    assert assistant[1] == {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris"}}}
    results = body["messages"][2]["content"]
    assert results[0] == {"toolResult": {"toolUseId": "t1", "content": [{"json": {"temp_c": 21}}]}}
    assert results[1] == {"toolResult": {"toolUseId": "t2", "content": [{"text": "sunny"}]}}
    assert results[2] == {"text": "Thanks"}
    assert body["toolConfig"]["toolChoice"] == {"tool": {"name": "get_weather"}}
    assert body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"] == {"json": weather["function"]["parameters"]}
    _, _, body = build(tools=[weather], tool_choice="none")
    assert "toolConfig" not in body
    _, _, body = build(tools=[weather], tool_choice="required")
    assert body["toolConfig"]["toolChoice"] == {"any": {}}


def test_reasoning_effort_on_claude_and_gpt_oss() -> None:
    _, _, body = build(reasoning_effort="low", max_tokens=500)
    assert body["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    assert body["inferenceConfig"]["maxTokens"] == 1524
    _, _, body = build(ep=endpoint("openai.gpt-oss-120b-1:0"), reasoning_effort="high")
    assert body["additionalModelRequestFields"] == {"reasoning_effort": "high"}
    with pytest.raises(UnsupportedParamsError, match="reasoning_effort"):
        build(ep=endpoint("amazon.nova-lite-v1:0"), reasoning_effort="low")
    with pytest.raises(UnsupportedParamsError, match="temperature"):
        build(reasoning_effort="low", temperature=0.3)


def test_response_format_becomes_output_config() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    _, _, body = build(response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}})
    definition = body["outputConfig"]["textFormat"]["structure"]["jsonSchema"]
    assert orjson.loads(definition["schema"]) == schema  # a JSON string, §8.3
    assert definition["name"] == "answer"
    _, _, body = build(response_format={"type": "json_object"})
    assert orjson.loads(body["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"]) == {"type": "object"}


def test_extra_body_is_merged_verbatim() -> None:
    _, _, body = build(ep=endpoint(extra_body={"performanceConfig": {"latency": "optimized"}}))
    assert body["performanceConfig"] == {"latency": "optimized"}


def response(data: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    request = {"model": "bedrock/x", "messages": [{"role": "user", "content": "Hi"}]}
    parsed = ADAPTER.parse_chat_response(HttpResponse(200, headers or {}, orjson.dumps(data)), request, endpoint())
    oai.ChatCompletion.model_validate(parsed)
    return parsed


def test_parse_text_tools_reasoning_usage_and_extras() -> None:
    parsed = response(
        {
            "output": {
                "message": {
                    "role": "assistant",
                    "content": [
                        {"reasoningContent": {"reasoningText": {"text": "think", "signature": "s1"}}},
                        {"text": "Let me check."},
                        {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}},
                    ],
                }
            },
            "stopReason": "tool_use",
            "usage": {
                "inputTokens": 30,
                "outputTokens": 12,
                "totalTokens": 42,
                "cacheReadInputTokens": 100,
                "cacheWriteInputTokens": 5,
            },
            "metrics": {"latencyMs": 812},
            "additionalModelResponseFields": {"stop_sequence": None},
        },
        {"x-amzn-requestid": "abc"},
    )
    assert parsed["id"] == "chatcmpl-abc"
    choice = parsed["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me check."
    assert choice["message"]["tool_calls"] == [
        {"id": "tooluse_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    ]
    assert choice["message"]["reasoning_content"] == "think"
    assert choice["message"]["thinking_blocks"] == [{"type": "thinking", "thinking": "think", "signature": "s1"}]
    usage = parsed["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (135, 12, 147)
    assert usage["prompt_tokens_details"] == {"cached_tokens": 100, "cache_write_tokens": 5}
    assert parsed["metrics"] == {"latencyMs": 812}
    assert parsed["additionalModelResponseFields"] == {"stop_sequence": None}


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("malformed_tool_use", "stop"),
        ("tool_use", "stop"),
    ],
)
def test_finish_reasons(stop: str, finish: str) -> None:
    parsed = response(
        {"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}}, "stopReason": stop, "usage": {}}
    )
    assert parsed["choices"][0]["finish_reason"] == finish


def error(status: int, body: Any, headers: dict[str, str] | None = None) -> Exception:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return ADAPTER.map_error(HttpResponse(status, headers or {}, raw), endpoint())


@pytest.mark.parametrize(
    ("status", "name", "message", "cls"),
    [
        (429, "ThrottlingException", "Too many requests", RateLimitError),
        (400, "ValidationException", "Input is too long for requested model.", ContextWindowExceededError),
        (400, "ValidationException", "messages: blank text", BadRequestError),
        (429, "ModelNotReadyException", "warming up", ServiceUnavailableError),
        (503, "ServiceUnavailableException", "down", ServiceUnavailableError),
        (403, "UnrecognizedClientException", "bad token", AuthenticationError),
        (404, "ResourceNotFoundException", "no model", NotFoundError),
        (408, "ModelTimeoutException", "slow", Timeout),
        (424, "ModelErrorException", "model failed", InternalServerError),
    ],
)
def test_errors_from_header(status: int, name: str, message: str, cls: type[Exception]) -> None:
    header = {"x-amzn-errortype": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/", "retry-after": "3"}
    exc = error(status, {"message": message}, header)
    assert type(exc) is cls
    assert exc.upstream_status == status  # type: ignore[attr-defined]
    assert exc.code == name  # type: ignore[attr-defined]
    assert exc.retry_after == 3.0  # type: ignore[attr-defined]
    assert message in str(exc)


def test_errors_from_body_type_and_non_json() -> None:
    assert (
        type(error(429, {"__type": "com.amazon.coral.availability#ThrottlingException", "Message": "slow down"}))
        is RateLimitError
    )
    exc = error(502, b"<html>bad gateway</html>")
    assert isinstance(exc, InternalServerError)
    assert "bad gateway" in str(exc)


def test_embeddings_titan_and_cohere() -> None:
    titan = endpoint("amazon.titan-embed-text-v2:0")
    requests = ADAPTER.build_embedding_requests({"model": "m", "input": ["a", "b"], "dimensions": 256}, titan)
    assert [orjson.loads(r.body) for r in requests] == [
        {"inputText": "a", "dimensions": 256},
        {"inputText": "b", "dimensions": 256},
    ]
    assert requests[0].url.endswith("/model/amazon.titan-embed-text-v2%3A0/invoke")
    with pytest.raises(BadRequestError, match="one text per request"):
        ADAPTER.build_embedding_request({"model": "m", "input": ["a", "b"]}, titan)
    answers = [
        HttpResponse(200, {}, orjson.dumps({"embedding": [0.5, -0.5], "inputTextTokenCount": n})) for n in (2, 3)
    ]
    merged = ADAPTER.merge_embedding_responses(answers, {"input": ["a", "b"]}, titan)
    assert merged["usage"] == {"prompt_tokens": 5, "total_tokens": 5}
    assert [d["index"] for d in merged["data"]] == [0, 1]
    cohere = endpoint("cohere.embed-english-v3")
    [request] = ADAPTER.build_embedding_requests({"model": "m", "input": ["a", "b"]}, cohere)
    assert orjson.loads(request.body) == {"texts": ["a", "b"], "input_type": "search_document"}
    answer = HttpResponse(200, {"x-amzn-bedrock-input-token-count": "4"}, orjson.dumps({"embeddings": [[1.0], [2.0]]}))
    parsed = ADAPTER.parse_embedding_response(answer, {"encoding_format": "base64"}, cohere)
    assert parsed["usage"]["prompt_tokens"] == 4
    assert parsed["data"][0]["embedding"] == "AACAPw=="  # float32 1.0, little-endian
    with pytest.raises(BadRequestError, match="not an embedding model"):
        ADAPTER.build_embedding_requests({"model": "m", "input": "a"}, endpoint())

"""VertexAdapter as pure functions: URLs, bodies, headers, answers, streams and errors for both model families."""

from __future__ import annotations

import base64
import random
import struct
from typing import Any

import openai.types.chat as oai
import orjson
import pytest
from openai.types import CreateEmbeddingResponse

from tollway import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    RateLimitError,
    ServiceUnavailableError,
    UnsupportedParamsError,
)
from tollway.adapters.base import Endpoint
from tollway.adapters.vertex import ANTHROPIC_VERTEX_VERSION, VertexAdapter, vertex_base_url
from tollway.http import HttpResponse

ADAPTER = VertexAdapter()
TEMPLATE = "https://{location}-aiplatform.googleapis.com"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
CLAUDE = "claude-sonnet-4-5@20250929"


def endpoint(model: str = CLAUDE, *, api_base: str = TEMPLATE, location: str = "us-east5", **kwargs: Any) -> Endpoint:
    params = {"vertex_project": "my-project", "vertex_location": location}
    return Endpoint(provider="vertex_ai", model=model, api_base=api_base, api_key="ya29.token", params=params, **kwargs)


def request(**params: Any) -> dict[str, Any]:
    return {"model": "vertex_ai/x", "messages": MESSAGES, **params}


@pytest.mark.parametrize(
    ("location", "api_base", "expected"),
    [
        ("us-east5", TEMPLATE, "https://us-east5-aiplatform.googleapis.com"),
        ("global", TEMPLATE, "https://aiplatform.googleapis.com"),
        ("eu", TEMPLATE, "https://aiplatform.eu.rep.googleapis.com"),
        ("global", "http://127.0.0.1:9999", "http://127.0.0.1:9999"),
        ("europe-west4", "https://proxy.example/{location}/{project}", "https://proxy.example/europe-west4/my-project"),
    ],
)
def test_base_url(location: str, api_base: str, expected: str) -> None:
    assert vertex_base_url(endpoint(location=location, api_base=api_base)) == expected


def test_claude_request_is_rawpredict_without_model_and_with_vertex_version() -> None:
    http = ADAPTER.build_chat_request(request(max_tokens=100, temperature=0.5), endpoint())
    assert http.url == (
        "https://us-east5-aiplatform.googleapis.com/v1/projects/my-project/locations/us-east5"
        "/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"
    )
    body = orjson.loads(http.body)
    assert "model" not in body
    assert body["anthropic_version"] == ANTHROPIC_VERTEX_VERSION
    assert body["system"] == "Be brief."
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Say hello"}]}]
    assert (body["max_tokens"], body["temperature"]) == (100, 0.5)
    assert http.headers["authorization"] == "Bearer ya29.token"
    assert "x-api-key" not in http.headers
    assert "anthropic-version" not in http.headers


def test_claude_stream_uses_streamrawpredict_and_caller_headers_win() -> None:
    ep = endpoint(
        location="global",
        headers={"Authorization": "Bearer other", "x-goog-user-project": "billing"},
        extra_body={"anthropic_version": "vertex-2099-01-01", "top_k": 5},
        api_version="v1beta1",
    )
    http = ADAPTER.build_chat_request(request(stream=True), ep)
    assert http.url.startswith("https://aiplatform.googleapis.com/v1beta1/projects/my-project/locations/global/")
    assert http.url.endswith(":streamRawPredict")
    body = orjson.loads(http.body)
    assert body["stream"] is True
    assert body["anthropic_version"] == "vertex-2099-01-01"
    assert body["top_k"] == 5
    assert http.headers["Authorization"] == "Bearer other"
    assert "authorization" not in http.headers
    assert http.headers["x-goog-user-project"] == "billing"


def test_gemini_request_uses_the_google_publisher_with_bearer_auth() -> None:
    ep = endpoint("gemini-2.5-flash", location="europe-west4")
    http = ADAPTER.build_chat_request(request(max_tokens=20), ep)
    assert http.url == (
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/my-project/locations/europe-west4"
        "/publishers/google/models/gemini-2.5-flash:generateContent"
    )
    assert http.headers["authorization"] == "Bearer ya29.token"
    assert "x-goog-api-key" not in http.headers
    body = orjson.loads(http.body)
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Say hello"}]}]
    assert body["generationConfig"]["maxOutputTokens"] == 20
    streamed = ADAPTER.build_chat_request(request(stream=True), ep)
    assert streamed.url.endswith("/models/gemini-2.5-flash:streamGenerateContent?alt=sse")


def test_missing_project_is_a_bad_request() -> None:
    ep = Endpoint(provider="vertex_ai", model=CLAUDE, api_base=TEMPLATE, api_key="t")
    with pytest.raises(BadRequestError, match="VERTEXAI_PROJECT") as info:
        ADAPTER.build_chat_request(request(), ep)
    assert info.value.param == "vertex_project"


@pytest.mark.parametrize("model", [CLAUDE, "gemini-2.5-flash"])
def test_unsupported_parameter_is_named_or_dropped(model: str) -> None:
    with pytest.raises(UnsupportedParamsError) as info:
        ADAPTER.build_chat_request(request(logit_bias={"1": 2}), endpoint(model))
    assert info.value.param == "logit_bias"
    assert info.value.provider == "vertex_ai"
    assert "vertex_ai" in str(info.value)
    dropped = ADAPTER.build_chat_request(request(logit_bias={"1": 2}), endpoint(model, drop_params=True))
    assert b"logit_bias" not in dropped.body


def test_claude_answer_becomes_a_chat_completion() -> None:
    answer = {
        "id": "msg_vrtx_01",
        "type": "message",
        "role": "assistant",
        "model": CLAUDE,
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 7, "cache_read_input_tokens": 4},
    }
    data = ADAPTER.parse_chat_response(HttpResponse(200, {}, orjson.dumps(answer)), request(), endpoint())
    completion = oai.ChatCompletion.model_validate(data)
    assert completion.id == "msg_vrtx_01"
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.choices[0].message.content == "Checking."
    call = completion.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert (call.id, call.function.name, orjson.loads(call.function.arguments)) == (  # type: ignore[union-attr]
        "toolu_01",
        "get_weather",
        {"city": "Paris"},
    )
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens, completion.usage.total_tokens) == (
        14,
        7,
        21,
    )
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 4


def test_gemini_answer_keeps_usage_mapping() -> None:
    answer = {
        "candidates": [
            {"index": 0, "finishReason": "STOP", "content": {"role": "model", "parts": [{"text": "Hi there."}]}}
        ],
        "usageMetadata": {
            "promptTokenCount": 12,
            "candidatesTokenCount": 3,
            "thoughtsTokenCount": 5,
            "cachedContentTokenCount": 8,
            "totalTokenCount": 20,
            "trafficType": "ON_DEMAND",
        },
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r-1",
        "createTime": "2026-01-01T00:00:00Z",
    }
    ep = endpoint("gemini-2.5-flash")
    completion = oai.ChatCompletion.model_validate(
        ADAPTER.parse_chat_response(HttpResponse(200, {}, orjson.dumps(answer)), request(), ep)
    )
    assert completion.choices[0].message.content == "Hi there."
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens, completion.usage.total_tokens) == (
        12,
        8,
        20,
    )
    assert completion.usage.completion_tokens_details is not None
    assert completion.usage.completion_tokens_details.reasoning_tokens == 5


def _google(status: int, name: str, delay: str | None = None) -> bytes:
    error: dict[str, Any] = {"code": status, "message": f"{name} happened", "status": name}
    if delay:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]
    return orjson.dumps({"error": error})


def test_claude_errors_read_either_envelope() -> None:
    quota = ADAPTER.map_error(HttpResponse(429, {}, _google(429, "RESOURCE_EXHAUSTED", "12s")), endpoint())
    assert isinstance(quota, RateLimitError)
    assert (quota.retry_after, quota.upstream_status, quota.provider) == (12.0, 429, "vertex_ai")
    anthropic = orjson.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    overloaded = ADAPTER.map_error(HttpResponse(529, {"retry-after": "3"}, anthropic), endpoint())
    assert isinstance(overloaded, ServiceUnavailableError)
    assert (overloaded.retry_after, overloaded.message) == (3.0, "Overloaded")
    html = ADAPTER.map_error(HttpResponse(502, {}, b"<html>bad gateway</html>"), endpoint())
    assert html.upstream_status == 502


def test_gemini_unauthenticated_is_an_authentication_error() -> None:
    error = ADAPTER.map_error(HttpResponse(401, {}, _google(401, "UNAUTHENTICATED")), endpoint("gemini-2.5-flash"))
    assert isinstance(error, AuthenticationError)
    assert error.message == "UNAUTHENTICATED happened"


# -- streams ----------------------------------------------------------------------------------------------------
def _sse(events: list[dict[str, Any]], *, named: bool) -> bytes:
    frames = []
    for event in events:
        head = f"event: {event['type']}\n" if named else ""
        frames.append(
            f"{head}data: {orjson.dumps(event).decode()}\r\n\r\n"
            if not named
            else f"{head}data: {orjson.dumps(event).decode()}\n\n"
        )
    return "".join(frames).encode()


CLAUDE_EVENTS = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_s1",
            "type": "message",
            "role": "assistant",
            "model": CLAUDE,
            "content": [],
            "usage": {"input_tokens": 9, "output_tokens": 1},
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Héllo"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " world"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 4}},
    {"type": "message_stop"},
]
GEMINI_EVENTS = [
    {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Héllo"}]}, "index": 0}],
        "usageMetadata": {"promptTokenCount": 9},
        "responseId": "g1",
    },
    {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": " world"}]}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 4, "totalTokenCount": 13},
        "responseId": "g1",
    },
]


def _decode(model: str, data: bytes, cuts: list[int]) -> list[dict[str, Any]]:
    decoder = ADAPTER.chat_stream_decoder(request(stream=True), endpoint(model))
    chunks: list[dict[str, Any]] = []
    start = 0
    for cut in [*cuts, len(data)]:
        chunks.extend(decoder.feed(data[start:cut]))
        start = cut
    chunks.extend(decoder.close())
    for chunk in chunks:
        oai.ChatCompletionChunk.model_validate(chunk)
    return chunks


@pytest.mark.parametrize(
    ("model", "data"),
    [(CLAUDE, _sse(CLAUDE_EVENTS, named=True)), ("gemini-2.5-flash", _sse(GEMINI_EVENTS, named=False))],
    ids=["claude", "gemini"],
)
@pytest.mark.parametrize("split", ["whole", "bytes", "random"])
def test_stream_decodes_wherever_the_bytes_split(model: str, data: bytes, split: str) -> None:
    if split == "whole":
        cuts: list[int] = []
    elif split == "bytes":
        cuts = list(range(1, len(data)))
    else:
        rng = random.Random(7)
        cuts = sorted(rng.sample(range(1, len(data)), 25))
    chunks = _decode(model, data, cuts)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Héllo world"
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finishes == ["stop"]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 9
    assert chunks[-1]["usage"]["completion_tokens"] == 4
    assert chunks[-1]["usage"]["total_tokens"] == 13
    assert sum(1 for c in chunks if not c["choices"]) == 1


@pytest.mark.parametrize(
    ("model", "data"),
    [(CLAUDE, _sse(CLAUDE_EVENTS[:4], named=True)), ("gemini-2.5-flash", _sse(GEMINI_EVENTS[:1], named=False))],
    ids=["claude", "gemini"],
)
def test_truncated_stream_is_a_connection_error(model: str, data: bytes) -> None:
    with pytest.raises(APIConnectionError, match="closed the stream before it finished"):
        _decode(model, data, [])


def test_in_stream_error_after_content_keeps_the_content() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    data = _sse([*CLAUDE_EVENTS[:3], error], named=True)
    decoder = ADAPTER.chat_stream_decoder(request(stream=True), endpoint())
    chunks = decoder.feed(data)
    assert any(c["choices"] and c["choices"][0]["delta"].get("content") == "Héllo" for c in chunks)
    with pytest.raises(ServiceUnavailableError, match="Overloaded"):
        decoder.close()


# -- embeddings -------------------------------------------------------------------------------------------------
def test_embedding_request_and_answer() -> None:
    ep = endpoint("text-embedding-005")
    ask = {
        "model": "vertex_ai/text-embedding-005",
        "input": ["a", "b"],
        "dimensions": 3,
        "task_type": "RETRIEVAL_QUERY",
    }
    http = ADAPTER.build_embedding_request(ask, ep)
    assert http.url.endswith("/publishers/google/models/text-embedding-005:predict")
    assert orjson.loads(http.body) == {
        "instances": [
            {"content": "a", "task_type": "RETRIEVAL_QUERY"},
            {"content": "b", "task_type": "RETRIEVAL_QUERY"},
        ],
        "parameters": {"outputDimensionality": 3},
    }
    answer = {
        "predictions": [
            {"embeddings": {"values": [0.5, -1.0, 0.25], "statistics": {"token_count": 2, "truncated": False}}},
            {"embeddings": {"values": [1.0, 0.0, -0.5], "statistics": {"token_count": 3, "truncated": False}}},
        ],
        "metadata": {"billableCharacterCount": 2},
    }
    data = ADAPTER.parse_embedding_response(HttpResponse(200, {}, orjson.dumps(answer)), ask, ep)
    parsed = CreateEmbeddingResponse.model_validate(data)
    assert [d.embedding for d in parsed.data] == [[0.5, -1.0, 0.25], [1.0, 0.0, -0.5]]
    assert (parsed.usage.prompt_tokens, parsed.usage.total_tokens) == (5, 5)
    assert data["vertex_metadata"] == {"billableCharacterCount": 2}
    as_b64 = ADAPTER.parse_embedding_response(
        HttpResponse(200, {}, orjson.dumps(answer)), {**ask, "encoding_format": "base64"}, ep
    )
    assert struct.unpack("<3f", base64.b64decode(as_b64["data"][0]["embedding"])) == (0.5, -1.0, 0.25)


def test_embedding_refusals() -> None:
    with pytest.raises(BadRequestError, match="no embeddings"):
        ADAPTER.build_embedding_request({"model": "x", "input": "a"}, endpoint())
    with pytest.raises(UnsupportedParamsError, match="user"):
        ADAPTER.build_embedding_request({"model": "x", "input": "a", "user": "u"}, endpoint("text-embedding-005"))
    with pytest.raises(BadRequestError, match="input"):
        ADAPTER.build_embedding_request({"model": "x", "input": [[1, 2]]}, endpoint("text-embedding-005"))

"""GeminiAdapter answers: messages, usage, finish reasons, provider fields, errors, embeddings (§6.3-6.8)."""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion

from tollway.adapters.base import Endpoint
from tollway.adapters.gemini import GeminiAdapter
from tollway.adapters.gemini_messages import split_tool_call_id
from tollway.errors import (
    AuthenticationError,
    BadGatewayError,
    ContextWindowExceededError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
)
from tollway.http import HttpResponse

ADAPTER = GeminiAdapter()
ENDPOINT = Endpoint(provider="gemini", model="gemini-2.5-flash", api_base="https://x", api_key="k")
REQUEST: dict[str, Any] = {"model": "gemini/gemini-2.5-flash", "messages": [{"role": "user", "content": "Hi"}]}
USAGE = {
    "promptTokenCount": 120,
    "candidatesTokenCount": 8,
    "thoughtsTokenCount": 64,
    "cachedContentTokenCount": 96,
    "toolUsePromptTokenCount": 10,
    "totalTokenCount": 202,
}


def parse(data: dict[str, Any], request: dict[str, Any] = REQUEST) -> dict[str, Any]:
    result = ADAPTER.parse_chat_response(HttpResponse(200, {}, orjson.dumps(data)), request, ENDPOINT)
    ChatCompletion.model_validate(result)
    return result


def candidate(parts: list[dict[str, Any]], finish: str = "STOP", **extra: Any) -> dict[str, Any]:
    return {"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0, **extra}


def test_text_thoughts_and_usage() -> None:
    parts = [{"text": "Thinking…", "thought": True}, {"text": "It's 21°C.", "thoughtSignature": "S"}]
    data = {
        "candidates": [candidate(parts)],
        "usageMetadata": USAGE,
        "modelVersion": "gemini-2.5-flash-001",
        "responseId": "r1",
    }
    result = parse(data)
    assert result["id"] == "r1"
    assert result["model"] == "gemini-2.5-flash-001"
    message = result["choices"][0]["message"]
    assert message["content"] == "It's 21°C."
    assert message["reasoning_content"] == "Thinking…"
    assert message["provider_specific_fields"] == {"thought_signature": "S"}
    assert result["choices"][0]["finish_reason"] == "stop"
    assert result["usage"] == {
        "prompt_tokens": 130,
        "completion_tokens": 72,
        "total_tokens": 202,
        "prompt_tokens_details": {"cached_tokens": 96},
        "completion_tokens_details": {"reasoning_tokens": 64},
    }


def test_function_calls_give_tool_calls_with_stable_ids_and_signatures() -> None:
    parts = [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "SIG"},
        {"functionCall": {"name": "get_time", "args": {"tz": "UTC"}}},
    ]
    data = {"candidates": [candidate(parts)]}
    first, again = parse(data), parse(data)
    calls = first["choices"][0]["message"]["tool_calls"]
    assert first["choices"][0]["finish_reason"] == "tool_calls"
    assert calls == again["choices"][0]["message"]["tool_calls"]
    assert [c["function"] for c in calls] == [
        {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"name": "get_time", "arguments": '{"tz":"UTC"}'},
    ]
    assert split_tool_call_id(calls[0]["id"])[1] == "SIG"
    assert calls[0]["provider_specific_fields"] == {"thought_signature": "SIG"}
    assert split_tool_call_id(calls[1]["id"]) == (calls[1]["id"], None)
    assert calls[0]["id"] != calls[1]["id"]
    given = parse({"candidates": [candidate([{"functionCall": {"id": "fc-1", "name": "f", "args": {}}}])]})
    assert given["choices"][0]["message"]["tool_calls"][0]["id"] == "fc-1"


def test_legacy_functions_answer_with_function_call() -> None:
    request = {**REQUEST, "functions": [{"name": "f", "parameters": {"type": "object"}}]}
    result = parse({"candidates": [candidate([{"functionCall": {"name": "f", "args": {"a": 1}}}])]}, request)
    assert result["choices"][0]["message"]["function_call"] == {"name": "f", "arguments": '{"a":1}'}
    assert result["choices"][0]["finish_reason"] == "function_call"


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("SPII", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "stop"),
        ("OTHER", "stop"),
    ],
)
def test_finish_reasons(reason: str, finish: str) -> None:
    data = {
        "candidates": [
            {"finishReason": reason, "index": 0, "safetyRatings": [{"category": "C", "probability": "HIGH"}]}
        ]
    }
    choice = parse(data)["choices"][0]
    assert choice["finish_reason"] == finish
    assert choice["message"]["content"] is None
    assert choice["message"]["provider_specific_fields"]["safety_ratings"][0]["probability"] == "HIGH"


def test_blocked_prompt_is_content_filter() -> None:
    feedback = {"blockReason": "SAFETY", "safetyRatings": []}
    result = parse({"promptFeedback": feedback, "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}})
    choice = result["choices"][0]
    assert choice["finish_reason"] == "content_filter"
    assert choice["message"]["provider_specific_fields"] == {"prompt_feedback": feedback}
    assert result["usage"]["prompt_tokens"] == 5
    with pytest.raises(BadGatewayError):
        parse({"usageMetadata": {}})


def test_grounding_code_execution_candidates_and_logprobs() -> None:
    grounding = {"webSearchQueries": ["q"], "groundingChunks": [{"web": {"uri": "https://a"}}]}
    parts = [
        {"text": "Result:"},
        {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
        {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1"}},
    ]
    logprobs = {
        "chosenCandidates": [{"token": "Result", "logProbability": -0.5}],
        "topCandidates": [{"candidates": [{"token": "Result", "logProbability": -0.5}]}],
    }
    data = {
        "candidates": [
            candidate(parts, groundingMetadata=grounding, logprobsResult=logprobs),
            {**candidate([{"text": "B"}]), "index": 1},
        ]
    }
    result = parse(data)
    first = result["choices"][0]
    fields = first["message"]["provider_specific_fields"]
    assert fields["grounding_metadata"] == grounding
    assert fields["executable_code"] == [{"language": "PYTHON", "code": "print(1)"}]
    assert fields["code_execution_result"] == [{"outcome": "OUTCOME_OK", "output": "1"}]
    assert first["logprobs"]["content"][0]["logprob"] == -0.5
    assert first["logprobs"]["content"][0]["top_logprobs"][0]["token"] == "Result"
    assert [c["index"] for c in result["choices"]] == [0, 1]
    assert result["choices"][1]["message"]["content"] == "B"


def error(status: int, payload: Any, headers: dict[str, str] | None = None) -> Any:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return ADAPTER.map_error(HttpResponse(status, headers or {}, body), ENDPOINT)


def test_rate_limit_with_retry_info() -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "32s"}]
    payload = {
        "error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED", "details": details}
    }
    err = error(429, payload)
    assert isinstance(err, RateLimitError)
    assert (err.retry_after, err.code, err.upstream_status) == (32.0, "RESOURCE_EXHAUSTED", 429)
    assert error(429, payload, {"retry-after": "3"}).retry_after == 3.0


def test_bad_key_is_authentication_error() -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]
    payload = {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": details,
        }
    }
    err = error(400, payload)
    assert isinstance(err, AuthenticationError)
    assert err.upstream_status == 400
    assert "API key not valid" in str(err)


def test_other_statuses() -> None:
    assert isinstance(
        error(503, {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}), ServiceUnavailableError
    )
    assert isinstance(error(504, {"error": {"code": 504, "message": "late", "status": "DEADLINE_EXCEEDED"}}), Timeout)
    context = {
        "error": {
            "code": 400,
            "message": "The input token count (2000000) exceeds the maximum number of tokens allowed (1048576).",
            "status": "INVALID_ARGUMENT",
        }
    }
    assert isinstance(error(400, context), ContextWindowExceededError)
    html = error(502, b"<html>bad gateway</html>")
    assert html.upstream_status == 502
    assert "bad gateway" in str(html)
    wrapped = error(404, [{"error": {"code": 404, "message": "models/x is not found", "status": "NOT_FOUND"}}])
    assert wrapped.status_code == 404
    assert "is not found" in str(wrapped)


def test_error_inside_a_200_answer() -> None:
    payload = {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}
    with pytest.raises(RateLimitError):
        ADAPTER.parse_chat_response(HttpResponse(200, {}, orjson.dumps(payload)), REQUEST, ENDPOINT)


def test_embeddings_request_and_response() -> None:
    request = {
        "model": "gemini/text-embedding-004",
        "input": ["a", "b"],
        "dimensions": 3,
        "task_type": "RETRIEVAL_QUERY",
    }
    ep = Endpoint(provider="gemini", model="text-embedding-004", api_base="https://x", api_key="k")
    built = ADAPTER.build_embedding_request(request, ep)
    assert built.url == "https://x/v1beta/models/text-embedding-004:batchEmbedContents"
    item = {"model": "models/text-embedding-004", "outputDimensionality": 3, "taskType": "RETRIEVAL_QUERY"}
    assert orjson.loads(built.body) == {
        "requests": [{**item, "content": {"parts": [{"text": "a"}]}}, {**item, "content": {"parts": [{"text": "b"}]}}]
    }
    answer = HttpResponse(
        200, {}, orjson.dumps({"embeddings": [{"values": [0.5, -1.0, 0.25]}, {"values": [1.0, 0.0, 0.0]}]})
    )
    floats = ADAPTER.parse_embedding_response(answer, request, ep)
    assert floats["data"][0] == {"object": "embedding", "index": 0, "embedding": [0.5, -1.0, 0.25]}
    assert "usage" not in floats  # Gemini reports no token counts for embeddings: unknown, not zero
    encoded = ADAPTER.parse_embedding_response(answer, {**request, "encoding_format": "base64"}, ep)
    raw = base64.b64decode(encoded["data"][1]["embedding"])
    assert struct.unpack("<3f", raw) == (1.0, 0.0, 0.0)


def test_embeddings_refuse_token_input() -> None:
    with pytest.raises(Exception, match="embeds text only"):
        ADAPTER.build_embedding_request({"model": "m", "input": [[1, 2]]}, ENDPOINT)

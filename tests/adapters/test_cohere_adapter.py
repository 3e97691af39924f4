"""The Cohere adapter, pure: OpenAI requests -> Cohere v2 bodies, Cohere answers -> OpenAI dicts, errors -> types.

Every response is judged by the openai SDK's types; values are asserted too."""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson
import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion

from tollway.adapters.base import Endpoint
from tollway.adapters.cohere import CohereAdapter
from tollway.errors import (
    AuthenticationError,
    BadGatewayError,
    BadRequestError,
    ContextWindowExceededError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    ServiceUnavailableError,
    UnprocessableEntityError,
    UnsupportedParamsError,
)
from tollway.http import HttpResponse

ENDPOINT = Endpoint(provider="cohere", model="command-a-03-2025", api_base="https://api.cohere.com", api_key="co-k")
DROP = Endpoint(provider="cohere", model="command-a-03-2025", api_base="https://api.cohere.com", drop_params=True)
ADAPTER = CohereAdapter()
USER = [{"role": "user", "content": "Hi"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


def body_of(request: dict[str, Any], endpoint: Endpoint = ENDPOINT) -> dict[str, Any]:
    http = ADAPTER.build_chat_request({"model": "cohere/x", **request}, endpoint)
    assert http.method == "POST"
    return orjson.loads(http.body)  # type: ignore[no-any-return]


def test_url_auth_and_sampling_names() -> None:
    http = ADAPTER.build_chat_request(
        {
            "model": "cohere/command-a-03-2025",
            "messages": USER,
            "max_completion_tokens": 50,
            "temperature": 0.3,
            "top_p": 0.9,
            "top_k": 40,
            "stop": "END",
            "seed": 7,
            "frequency_penalty": 0.1,
            "presence_penalty": 0.2,
            "logprobs": True,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        ENDPOINT,
    )
    assert http.url == "https://api.cohere.com/v2/chat"
    assert http.headers["authorization"] == "Bearer co-k"
    assert orjson.loads(http.body) == {
        "model": "command-a-03-2025",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 50,
        "temperature": 0.3,
        "p": 0.9,
        "k": 40,
        "stop_sequences": ["END"],
        "seed": 7,
        "frequency_penalty": 0.1,
        "presence_penalty": 0.2,
        "logprobs": True,
        "stream": True,
    }


def test_messages_roles_images_tool_calls_and_results() -> None:
    png = "data:image/png;base64,iVBORw0KGgo="
    messages = [
        {"role": "developer", "content": [{"type": "text", "text": "Be terse."}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is it?"},
                {"type": "image_url", "image_url": {"url": png, "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"P"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"t":21}'},
        {"role": "assistant", "content": ""},
    ]
    assert body_of({"messages": messages})["messages"] == [
        {"role": "system", "content": "Be terse."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is it?"},
                {"type": "image_url", "image_url": {"url": png, "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"P"}'}}
            ],
            "tool_plan": "Let me look.",
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"t":21}'},
    ]


def test_tools_and_tool_choice() -> None:
    body = body_of({"messages": USER, "tools": [WEATHER, TIME], "tool_choice": "required"})
    assert body["tool_choice"] == "REQUIRED"
    assert body["tools"][0] == {"type": "function", "function": {**WEATHER["function"]}}
    assert body_of({"messages": USER, "tools": [WEATHER], "tool_choice": "none"})["tool_choice"] == "NONE"
    assert "tool_choice" not in body_of({"messages": USER, "tools": [WEATHER], "tool_choice": "auto"})
    named = body_of(
        {
            "messages": USER,
            "tools": [WEATHER, TIME],
            "tool_choice": {"type": "function", "function": {"name": "get_time"}},
        }
    )
    assert [t["function"]["name"] for t in named["tools"]] == ["get_time"]
    assert named["tool_choice"] == "REQUIRED"
    strict = {"type": "function", "function": {**WEATHER["function"], "strict": True}}
    body = body_of({"messages": USER, "tools": [strict]})
    assert body["strict_tools"] is True
    assert "strict" not in body["tools"][0]["function"]
    with pytest.raises(BadRequestError, match="not in tools"):
        body_of({"messages": USER, "tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "x"}}})


def test_response_formats_and_thinking() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    as_schema = {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}
    assert body_of({"messages": USER, "response_format": as_schema})["response_format"] == {
        "type": "json_object",
        "json_schema": schema,
    }
    assert body_of({"messages": USER, "response_format": {"type": "json_object"}})["response_format"] == {
        "type": "json_object"
    }
    assert body_of({"messages": USER, "reasoning_effort": "low"})["thinking"] == {
        "type": "enabled",
        "token_budget": 1024,
    }
    assert body_of({"messages": USER, "reasoning_effort": "none"})["thinking"] == {"type": "disabled"}
    explicit = body_of({"messages": USER, "thinking": {"type": "enabled", "budget_tokens": 3000}})
    assert explicit["thinking"] == {"type": "enabled", "token_budget": 3000}


def test_cohere_params_pass_through_and_extra_body() -> None:
    documents = [{"id": "d1", "data": {"text": "Paris is in France"}}]
    body = body_of(
        {"messages": USER, "documents": documents, "safety_mode": "STRICT", "citation_options": {"mode": "FAST"}}
    )
    assert body["documents"] == documents
    assert body["safety_mode"] == "STRICT"
    assert body["citation_options"] == {"mode": "FAST"}
    endpoint = Endpoint(provider="cohere", model="m", api_base="https://x", extra_body={"priority": 3})
    assert body_of({"messages": USER}, endpoint)["priority"] == 3


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("n", 2),
        ("top_logprobs", 3),
        ("parallel_tool_calls", False),
        ("logit_bias", {"1": 2}),
        ("user", "u1"),
        ("response_format", {"type": "xml"}),
        ("reasoning_effort", "extreme"),
    ],
)
def test_unsupported_params_raise_or_drop(param: str, value: Any) -> None:
    request = {"messages": USER, "tools": [WEATHER], param: value}
    with pytest.raises(UnsupportedParamsError) as info:
        body_of(request)
    assert info.value.param == param
    assert "cohere" in str(info.value)
    assert param not in body_of(request, DROP) or param == "n"


def test_bad_messages() -> None:
    with pytest.raises(BadRequestError, match="input_audio"):
        body_of({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]})
    with pytest.raises(BadRequestError, match="text parts only"):
        body_of({"messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]})
    with pytest.raises(BadRequestError, match="function"):
        body_of({"messages": [{"role": "function", "name": "f", "content": "x"}]})
    with pytest.raises(BadRequestError, match="base64"):
        body_of({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}]})


def parse(body: dict[str, Any]) -> dict[str, Any]:
    data = ADAPTER.parse_chat_response(HttpResponse(200, {}, orjson.dumps(body)), {}, ENDPOINT)
    ChatCompletion.model_validate(data)
    return data


def test_parse_text_thinking_citations_usage_logprobs() -> None:
    citation = {"start": 0, "end": 5, "text": "Paris", "sources": [{"type": "document", "id": "d1"}]}
    data = parse(
        {
            "id": "r1",
            "finish_reason": "COMPLETE",
            "message": {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "Paris."}],
                "citations": [citation],
            },
            "usage": {
                "billed_units": {"input_tokens": 20, "output_tokens": 3},
                "tokens": {"input_tokens": 80.0, "output_tokens": 3},
                "cached_tokens": 64,
            },
            "logprobs": [{"text": "Paris", "token_ids": [1, 2], "logprobs": [-0.5, -0.25]}],
        }
    )
    message = data["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "Paris.", "reasoning_content": "hmm", "citations": [citation]}
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["usage"] == {
        "prompt_tokens": 80,
        "completion_tokens": 3,
        "total_tokens": 83,
        "prompt_tokens_details": {"cached_tokens": 64},
        "billed_units": {"input_tokens": 20, "output_tokens": 3},
    }
    assert data["choices"][0]["logprobs"]["content"][0]["logprob"] == -0.75
    assert data["id"] == "r1"
    assert data["model"] == "command-a-03-2025"


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("COMPLETE", "stop"),
        ("STOP_SEQUENCE", "stop"),
        ("MAX_TOKENS", "length"),
        ("TOOL_CALL", "tool_calls"),
        ("ERROR", "stop"),
        ("TIMEOUT", "stop"),
        ("SOMETHING_NEW", "stop"),
    ],
)
def test_finish_reasons(reason: str, expected: str) -> None:
    data = parse({"id": "r", "finish_reason": reason, "message": {"role": "assistant", "content": []}})
    assert data["choices"][0]["finish_reason"] == expected
    assert data["choices"][0]["message"]["content"] is None
    assert data["usage"] is None


def test_parse_tool_calls_keeps_tool_plan() -> None:
    call = {"id": "get_weather_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"P"}'}}
    data = parse(
        {
            "id": "r",
            "finish_reason": "TOOL_CALL",
            "message": {"role": "assistant", "tool_plan": "I will call it.", "tool_calls": [call]},
            "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 9}},
        }
    )
    message = data["choices"][0]["message"]
    assert message["tool_calls"] == [call]
    assert message["tool_plan"] == "I will call it."
    assert data["choices"][0]["finish_reason"] == "tool_calls"
    assert data["usage"]["prompt_tokens"] == 5  # billed_units when tokens are absent


def test_parse_rejects_non_messages() -> None:
    with pytest.raises(BadGatewayError):
        ADAPTER.parse_chat_response(HttpResponse(200, {}, b'{"id": "x"}'), {}, ENDPOINT)
    with pytest.raises(BadGatewayError):
        ADAPTER.parse_chat_response(HttpResponse(200, {}, b"<html>"), {}, ENDPOINT)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"message": "invalid request: bad"}, BadRequestError),
        (400, {"message": "too many tokens: total number of tokens exceeds 128000"}, ContextWindowExceededError),
        (401, {"message": "invalid api token"}, AuthenticationError),
        (498, {"message": "invalid token"}, AuthenticationError),
        (404, {"message": "model 'x' not found"}, NotFoundError),
        (422, {"message": "unprocessable"}, UnprocessableEntityError),
        (429, {"message": "trial key limit"}, RateLimitError),
        (500, {"message": "internal"}, InternalServerError),
        (503, {"message": "unavailable"}, ServiceUnavailableError),
    ],
)
def test_errors(status: int, body: dict[str, Any], error: type[Exception]) -> None:
    raised = ADAPTER.map_error(HttpResponse(status, {"retry-after": "3"}, orjson.dumps(body)), ENDPOINT)
    assert type(raised) is error
    assert raised.message == body["message"]
    assert raised.upstream_status == status
    assert raised.retry_after == 3.0
    assert raised.provider == "cohere"


def test_error_without_json_body() -> None:
    raised = ADAPTER.map_error(HttpResponse(502, {}, b"<html>bad gateway</html>"), ENDPOINT)
    assert isinstance(raised, InternalServerError)
    assert "HTTP 502" in raised.message


# -- embeddings and rerank --------------------------------------------------------------------------------------
def test_embedding_request_and_float_response() -> None:
    request = {"model": "cohere/embed-v4.0", "input": ["a", "b"], "dimensions": 256, "encoding_format": "float"}
    endpoint = Endpoint(provider="cohere", model="embed-v4.0", api_base="https://api.cohere.com", api_key="k")
    http = ADAPTER.build_embedding_request(request, endpoint)
    assert http.url == "https://api.cohere.com/v2/embed"
    assert orjson.loads(http.body) == {
        "model": "embed-v4.0",
        "texts": ["a", "b"],
        "input_type": "search_document",
        "embedding_types": ["float"],
        "output_dimension": 256,
    }
    answer = {
        "id": "e",
        "embeddings": {"float": [[0.5, -0.25], [1.0, 0.0]]},
        "texts": ["a", "b"],
        "meta": {"billed_units": {"input_tokens": 2}},
        "response_type": "embeddings_by_type",
    }
    data = ADAPTER.parse_embedding_response(HttpResponse(200, {}, orjson.dumps(answer)), request, endpoint)
    CreateEmbeddingResponse.model_validate(data)
    assert [d["embedding"] for d in data["data"]] == [[0.5, -0.25], [1.0, 0.0]]
    assert [d["index"] for d in data["data"]] == [0, 1]
    assert data["usage"] == {"prompt_tokens": 2, "total_tokens": 2}


def test_embedding_base64_and_query_type() -> None:
    request = {"model": "m", "input": "q", "encoding_format": "base64", "input_type": "search_query"}
    assert orjson.loads(ADAPTER.build_embedding_request(request, ENDPOINT).body)["input_type"] == "search_query"
    answer = {"id": "e", "embeddings": {"float": [[0.5, -0.25]]}, "meta": {}}
    data = ADAPTER.parse_embedding_response(HttpResponse(200, {}, orjson.dumps(answer)), request, ENDPOINT)
    assert struct.unpack("<2f", base64.b64decode(data["data"][0]["embedding"])) == (0.5, -0.25)


def test_embedding_bad_inputs() -> None:
    with pytest.raises(BadRequestError, match="token ids"):
        ADAPTER.build_embedding_request({"input": [[1, 2]]}, ENDPOINT)
    with pytest.raises(BadRequestError, match="encoding_format"):
        ADAPTER.build_embedding_request({"input": "x", "encoding_format": "int8"}, ENDPOINT)
    with pytest.raises(UnsupportedParamsError, match="user"):
        ADAPTER.build_embedding_request({"input": "x", "user": "u"}, ENDPOINT)
    v3 = Endpoint(provider="cohere", model="embed-english-v3.0", api_base="https://x")
    with pytest.raises(UnsupportedParamsError, match="dimensions"):
        ADAPTER.build_embedding_request({"input": "x", "dimensions": 256}, v3)
    with pytest.raises(BadGatewayError):
        ADAPTER.parse_embedding_response(HttpResponse(200, {}, b'{"embeddings": {}}'), {}, ENDPOINT)


DOCS = ["Paris is in France.", {"text": "Bananas are yellow."}, "France's capital is Paris."]


def test_rerank_request_normalises_documents() -> None:
    request = {
        "model": "cohere/rerank-v3.5",
        "query": "capital",
        "documents": DOCS,
        "top_n": 2,
        "return_documents": True,
    }
    http = ADAPTER.build_rerank_request(request, ENDPOINT)
    assert http.url == "https://api.cohere.com/v2/rerank"
    assert orjson.loads(http.body) == {
        "model": "command-a-03-2025",
        "query": "capital",
        "documents": ["Paris is in France.", "Bananas are yellow.", "France's capital is Paris."],
        "top_n": 2,
    }


@pytest.mark.parametrize("documents", [[1], [{"title": "x"}], [], "text"])
def test_rerank_rejects_bad_documents(documents: Any) -> None:
    with pytest.raises(BadRequestError) as info:
        ADAPTER.build_rerank_request({"query": "q", "documents": documents}, ENDPOINT)
    assert info.value.param is not None
    assert info.value.param.startswith("documents")


def test_rerank_rejects_bad_top_n_and_unknown_params() -> None:
    with pytest.raises(BadRequestError, match="top_n"):
        ADAPTER.build_rerank_request({"query": "q", "documents": ["a"], "top_n": 0}, ENDPOINT)
    with pytest.raises(UnsupportedParamsError, match="rank_fields"):
        ADAPTER.build_rerank_request({"query": "q", "documents": ["a"], "rank_fields": ["x"]}, ENDPOINT)


def test_rerank_response_in_the_one_shape() -> None:
    answer = {
        "id": "rr",
        "results": [{"index": 0, "relevance_score": 0.4}, {"index": 2, "relevance_score": 0.9}],
        "meta": {"billed_units": {"search_units": 1}},
    }
    request = {"query": "capital", "documents": DOCS, "return_documents": True}
    data = ADAPTER.parse_rerank_response(HttpResponse(200, {}, orjson.dumps(answer)), request, ENDPOINT)
    assert data == {
        "id": "rr",
        "results": [
            {"index": 2, "relevance_score": 0.9, "document": {"text": "France's capital is Paris."}},
            {"index": 0, "relevance_score": 0.4, "document": {"text": "Paris is in France."}},
        ],
        "meta": {"billed_units": {"search_units": 1}},
    }
    plain = ADAPTER.parse_rerank_response(HttpResponse(200, {}, orjson.dumps(answer)), {"documents": DOCS}, ENDPOINT)
    assert all("document" not in r for r in plain["results"])
    bad = {"results": [{"index": 7, "relevance_score": 0.1}]}
    with pytest.raises(BadGatewayError):
        ADAPTER.parse_rerank_response(HttpResponse(200, {}, orjson.dumps(bad)), {"documents": DOCS}, ENDPOINT)

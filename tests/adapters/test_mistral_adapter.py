"""The Mistral adapter as pure functions: Mistral's names, tool-call ids, content chunks, streams and errors."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tollway.adapters.base import Endpoint
from tollway.adapters.mistral import MistralAdapter, mistral_tool_call_id
from tollway.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    RateLimitError,
    UnprocessableEntityError,
    UnsupportedParamsError,
)
from tollway.http import HttpResponse

ENDPOINT = Endpoint(provider="mistral", model="mistral-large-latest", api_base="https://api.mistral.ai/v1", api_key="k")
ADAPTER = MistralAdapter()
USER = [{"role": "user", "content": "Hi"}]


def body_of(request: dict[str, Any], endpoint: Endpoint = ENDPOINT) -> dict[str, Any]:
    http = ADAPTER.build_chat_request({"model": "mistral/mistral-large-latest", **request}, endpoint)
    assert http.url == "https://api.mistral.ai/v1/chat/completions"
    assert http.headers["authorization"] == "Bearer k"
    result: dict[str, Any] = orjson.loads(http.body)
    return result


def test_tool_call_ids_are_kept_or_hashed_deterministically() -> None:
    assert mistral_tool_call_id("abcDEF123") == "abcDEF123"
    mapped = mistral_tool_call_id("call_abc")
    assert len(mapped) == 9
    assert mapped.isalnum()
    assert mistral_tool_call_id("call_abc") == mapped
    assert mistral_tool_call_id("call_abd") != mapped


def test_request_in_mistral_terms() -> None:
    body = body_of(
        {
            "messages": [
                {"role": "developer", "content": "Be terse."},
                {"role": "user", "content": "Weather?", "name": "ann"},
                {
                    "role": "assistant",
                    "content": None,
                    "refusal": None,
                    "reasoning_content": "hmm",
                    "tool_calls": [
                        {"id": "toolu_01", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "toolu_01", "content": "21C"},
            ],
            "seed": 1,
            "max_completion_tokens": 5,
            "tool_choice": "required",
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "reasoning_effort": "low",
            "prompt_mode": "reasoning",
            "top_k": 5,
        }
    )
    mapped = mistral_tool_call_id("toolu_01")
    assert body["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": mapped, "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "content": "21C", "tool_call_id": mapped, "name": "f"},
    ]
    assert body["random_seed"] == 1
    assert body["max_tokens"] == 5
    assert body["tool_choice"] == "any"
    assert body["reasoning_effort"] == "low"
    assert body["prompt_mode"] == "reasoning"
    assert body["top_k"] == 5
    assert "seed" not in body
    assert "stream_options" not in body
    assert "max_completion_tokens" not in body


@pytest.mark.parametrize(
    "params",
    [{"logit_bias": {"1": 1}}, {"user": "u"}, {"store": True}, {"verbosity": "low"}, {"service_tier": "flex"}],
)
def test_unsupported_params(params: dict[str, Any]) -> None:
    (name,) = params
    with pytest.raises(UnsupportedParamsError) as info:
        body_of({"messages": USER, **params})
    assert info.value.param == name
    assert "mistral" in str(info.value)
    dropping = Endpoint(provider="mistral", model="m", api_base="https://h/v1", api_key="k", drop_params=True)
    assert name not in orjson.loads(ADAPTER.build_chat_request({"messages": USER, **params}, dropping).body)


def test_legacy_function_role_is_refused() -> None:
    with pytest.raises(BadRequestError, match="role 'function'"):
        body_of({"messages": [*USER, {"role": "function", "name": "f", "content": "x"}]})


def parse(body: dict[str, Any]) -> dict[str, Any]:
    data = ADAPTER.parse_chat_response(HttpResponse(200, {}, orjson.dumps(body)), {"messages": USER}, ENDPOINT)
    ChatCompletion.model_validate(data)
    return data


def test_response_content_chunks_and_finish_reasons() -> None:
    content = [
        {"type": "thinking", "thinking": [{"type": "text", "text": "Pondering."}]},
        {"type": "text", "text": "Hello"},
    ]
    data = parse(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "magistral-medium-latest",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "model_length"}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 0, "prompt_audio_seconds": None},
        }
    )
    choice = data["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "Hello", "reasoning_content": "Pondering."}
    assert choice["finish_reason"] == "length"
    assert data["usage"]["total_tokens"] == 7
    assert "prompt_audio_seconds" in data["usage"]


def sse(*payloads: dict[str, Any] | str) -> bytes:
    return b"".join(b"data: " + (p.encode() if isinstance(p, str) else orjson.dumps(p)) + b"\n\n" for p in payloads)


HEAD = {"id": "abc", "object": "chat.completion.chunk", "created": 1, "model": "magistral-medium-latest"}
STREAM = sse(
    {**HEAD, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
    {
        **HEAD,
        "choices": [
            {
                "index": 0,
                "delta": {"content": [{"type": "thinking", "thinking": [{"type": "text", "text": "Ponder"}]}]},
                "finish_reason": None,
            }
        ],
    },
    {**HEAD, "choices": [{"index": 0, "delta": {"content": "Héllo"}, "finish_reason": None}]},
    {
        **HEAD,
        "choices": [{"index": 0, "delta": {"content": " wörld"}, "finish_reason": "model_length"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    },
    "[DONE]",
)


def decode(pieces: list[bytes]) -> list[dict[str, Any]]:
    decoder = ADAPTER.chat_stream_decoder({"stream": True}, ENDPOINT)
    chunks: list[dict[str, Any]] = []
    for piece in pieces:
        chunks.extend(decoder.feed(piece))
    chunks.extend(decoder.close())
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    assert decoder.usage == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    return chunks


def test_stream_whole_bytewise_and_random() -> None:
    whole = decode([STREAM])
    deltas = [c["choices"][0]["delta"] for c in whole if c["choices"]]
    assert deltas[1] == {"content": None, "reasoning_content": "Ponder"}
    assert "".join(d.get("content") or "" for d in deltas) == "Héllo wörld"
    assert whole[-2]["choices"][0]["finish_reason"] == "length"
    assert whole[-2].get("usage") is None
    assert whole[-1]["choices"] == []
    assert whole[-1]["usage"]["total_tokens"] == 8
    assert decode([STREAM[i : i + 1] for i in range(len(STREAM))]) == whole
    rng = random.Random(3)
    for _ in range(30):
        cuts = sorted(rng.sample(range(1, len(STREAM)), k=rng.randint(1, 30)))
        assert decode([STREAM[a:b] for a, b in zip([0, *cuts], [*cuts, len(STREAM)], strict=True)]) == whole


def test_stream_errors_and_truncation() -> None:
    decoder = ADAPTER.chat_stream_decoder({}, ENDPOINT)
    error = {"object": "error", "message": "Service unavailable", "type": "internal_server_error", "code": "3000"}
    chunks = decoder.feed(STREAM[: STREAM.index(b"data: ", 10)] + sse(error))
    assert len(chunks) == 1
    with pytest.raises(InternalServerError, match="Service unavailable"):
        decoder.feed(b"")
    decoder = ADAPTER.chat_stream_decoder({}, ENDPOINT)
    decoder.feed(b"\n\n".join(STREAM.split(b"\n\n")[:3]) + b"\n\n")  # no finish, no [DONE]
    with pytest.raises(APIConnectionError, match="mistral closed the stream before it finished"):
        decoder.close()


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (401, {"message": "Unauthorized", "request_id": "r"}, AuthenticationError, "Unauthorized"),
        (
            422,
            {"detail": [{"loc": ["body", "messages", 0], "msg": "Field required", "type": "missing"}]},
            UnprocessableEntityError,
            "body.messages.0: Field required",
        ),
        (
            400,
            {"object": "error", "message": {"detail": "bad"}, "type": "invalid_request_error", "code": "3051"},
            BadRequestError,
            '{"detail":"bad"}',
        ),
        (
            429,
            {"object": "error", "message": "Requests rate limit exceeded", "type": "rate_limited"},
            RateLimitError,
            "rate limit",
        ),
    ],
)
def test_map_error(status: int, body: dict[str, Any], error: type[Exception], message: str) -> None:
    mapped = ADAPTER.map_error(HttpResponse(status, {"retry-after": "2"}, orjson.dumps(body)), ENDPOINT)
    assert type(mapped) is error
    assert message in str(mapped)
    assert mapped.upstream_status == status
    assert mapped.retry_after == 2.0


def test_embedding_request() -> None:
    http = ADAPTER.build_embedding_request(
        {"model": "m", "input": ["a"], "dimensions": 8, "output_dtype": "int8"}, ENDPOINT
    )
    assert http.url == "https://api.mistral.ai/v1/embeddings"
    assert orjson.loads(http.body) == {
        "model": "mistral-large-latest",
        "input": ["a"],
        "output_dimension": 8,
        "output_dtype": "int8",
    }
    with pytest.raises(BadRequestError, match="text only"):
        ADAPTER.build_embedding_request({"input": [1, 2]}, ENDPOINT)

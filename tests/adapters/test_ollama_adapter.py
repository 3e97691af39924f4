"""The Ollama adapter as pure functions: request bodies, responses, NDJSON streams (whole, byte by byte, random
splits), errors and embeddings."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tollway.adapters.base import Endpoint
from tollway.adapters.ollama import OllamaAdapter, created_timestamp
from tollway.errors import (
    APIConnectionError,
    BadGatewayError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    UnsupportedParamsError,
)
from tollway.http import HttpResponse

pytestmark = pytest.mark.usefixtures("still_clock")  # decodings compared with == (conftest.py)

ENDPOINT = Endpoint(provider="ollama", model="llama3.2", api_base="http://localhost:11434")
ADAPTER = OllamaAdapter()
USER = [{"role": "user", "content": "Hi"}]


def body_of(request: dict[str, Any], endpoint: Endpoint = ENDPOINT) -> dict[str, Any]:
    http = ADAPTER.build_chat_request({"model": "ollama/llama3.2", **request}, endpoint)
    assert http.url == "http://localhost:11434/api/chat"
    result: dict[str, Any] = orjson.loads(http.body)
    return result


def test_request_body_options_format_think_and_headers() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = body_of(
        {
            "messages": [{"role": "developer", "content": "Be terse."}, *USER],
            "max_tokens": 9,
            "temperature": 0.5,
            "presence_penalty": 0.1,
            "stop": ["X", "Y"],
            "num_ctx": 4096,
            "options": {"repeat_penalty": 1.1},
            "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
            "reasoning_effort": "xhigh",
            "keep_alive": "5m",
            "stream_options": {"include_usage": True},
            "stream": True,
        }
    )
    assert body == {
        "model": "llama3.2",
        "messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}],
        "stream": True,
        "options": {
            "temperature": 0.5,
            "presence_penalty": 0.1,
            "num_ctx": 4096,
            "num_predict": 9,
            "stop": ["X", "Y"],
            "repeat_penalty": 1.1,
        },
        "format": schema,
        "think": "high",
        "keep_alive": "5m",
    }
    assert body_of({"messages": USER, "response_format": {"type": "json_object"}})["format"] == "json"
    assert body_of({"messages": USER, "reasoning_effort": "none"})["think"] is False
    assert body_of({"messages": USER, "thinking": {"type": "enabled", "budget_tokens": 1024}})["think"] is True
    assert body_of({"messages": USER, "reasoning_effort": "low", "think": True})["think"] is True
    keyed = Endpoint(provider="ollama", model="llama3.2", api_base="ollama.example:11434", api_key="k")
    http = ADAPTER.build_chat_request({"messages": USER}, keyed)
    assert http.url == "http://ollama.example:11434/api/chat"
    assert http.headers["authorization"] == "Bearer k"
    assert "authorization" not in ADAPTER.build_chat_request({"messages": USER}, ENDPOINT).headers


def test_history_with_tool_calls_images_and_thinking() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "hmm",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
                {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "not json"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "two"}]},
    ]
    sent = body_of({"messages": messages})["messages"]
    assert sent[0] == {"role": "user", "content": "Look", "images": ["iVBORw0K"]}
    assert sent[1] == {
        "role": "assistant",
        "content": "",
        "thinking": "hmm",
        "tool_calls": [
            {"function": {"name": "f", "arguments": {"x": 1}}, "id": "c1"},
            {"function": {"name": "g", "arguments": {}}, "id": "c2"},
        ],
    }
    assert sent[2] == {"role": "tool", "content": "one", "tool_call_id": "c1", "tool_name": "f"}
    assert sent[3]["tool_name"] == "g"
    assert sent[3]["content"] == "two"


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tool_choice": {"type": "function", "function": {"name": "f"}}}, "tool_choice"),
        ({"parallel_tool_calls": False}, "parallel_tool_calls"),
        ({"n": 2}, "n"),
        ({"logit_bias": {"1": 2}}, "logit_bias"),
        ({"user": "u"}, "user"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"response_format": {"type": "grammar"}}, "response_format"),
    ],
)
def test_unsupported_params_raise_or_drop(params: dict[str, Any], name: str) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    with pytest.raises(UnsupportedParamsError) as info:
        body_of({"messages": USER, "tools": tools, **params})
    assert info.value.param == name
    assert "ollama" in str(info.value)
    dropping = Endpoint(provider="ollama", model="llama3.2", api_base="http://h", drop_params=True)
    http = ADAPTER.build_chat_request({"messages": USER, "tools": tools, **params}, dropping)
    body = orjson.loads(http.body)
    assert name not in body
    assert body["tools"] == tools


def test_bad_content_is_refused() -> None:
    remote = [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
    with pytest.raises(BadRequestError, match=r"data:image/<type>;base64") as info:
        body_of({"messages": [{"role": "user", "content": remote}]})
    assert info.value.param == "messages[0].content[0].image_url.url"
    audio = [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]
    with pytest.raises(BadRequestError, match="input_audio"):
        body_of({"messages": [{"role": "user", "content": audio}]})
    with pytest.raises(BadRequestError, match="function tools only"):
        body_of({"messages": USER, "tools": [{"type": "custom", "custom": {"name": "x"}}]})


def parse(body: dict[str, Any]) -> dict[str, Any]:
    data = ADAPTER.parse_chat_response(HttpResponse(200, {}, orjson.dumps(body)), {"messages": USER}, ENDPOINT)
    parsed = ChatCompletion.model_validate(data)
    assert parsed.model_dump(mode="json", exclude_unset=True) == data
    return data


FINAL = {"model": "llama3.2", "created_at": "2025-07-07T20:32:53.844124123Z", "done": True}


def test_parse_text_thinking_usage_and_metrics() -> None:
    data = parse(
        {
            **FINAL,
            "message": {"role": "assistant", "content": "Hi!", "thinking": "greet"},
            "done_reason": "length",
            "eval_count": 3,
            "total_duration": 10,
        }
    )
    assert data["created"] == 1751920373
    assert data["choices"][0] == {
        "index": 0,
        "message": {"role": "assistant", "content": "Hi!", "reasoning_content": "greet"},
        "finish_reason": "length",
        "logprobs": None,
    }
    assert data["usage"] == {"prompt_tokens": 0, "completion_tokens": 3, "total_tokens": 3}  # prompt_eval_count absent
    assert data["total_duration"] == 10


def test_parse_tool_calls_with_and_without_ids() -> None:
    calls = [
        {"function": {"name": "f", "arguments": {"x": 1}}},
        {"id": "call_given", "function": {"index": 1, "name": "g", "arguments": {}}},
    ]
    body = {**FINAL, "message": {"role": "assistant", "content": "", "tool_calls": calls}, "done_reason": "stop"}
    data = parse(body)
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    made = choice["message"]["tool_calls"]
    assert made[0]["id"].startswith("call_")
    assert made[0]["function"] == {"name": "f", "arguments": '{"x":1}'}
    assert made[1]["id"] == "call_given"
    assert parse(body)["choices"][0]["message"]["tool_calls"][0]["id"] == made[0]["id"]  # deterministic


def test_parse_logprobs_and_bad_bodies() -> None:
    logprobs = [{"token": "Hi", "logprob": -0.1, "top_logprobs": [{"token": "Hi", "logprob": -0.1}]}]
    data = parse({**FINAL, "message": {"role": "assistant", "content": "Hi"}, "logprobs": logprobs})
    assert data["choices"][0]["logprobs"]["content"][0]["bytes"] == [72, 105]
    with pytest.raises(BadGatewayError, match="without a message"):
        ADAPTER.parse_chat_response(HttpResponse(200, {}, b'{"done": true}'), {}, ENDPOINT)
    with pytest.raises(InternalServerError, match="boom"):
        ADAPTER.parse_chat_response(HttpResponse(200, {}, b'{"error": "boom"}'), {}, ENDPOINT)


def test_created_timestamp_tolerates_variants() -> None:
    assert created_timestamp("2025-07-07T20:32:53Z") == 1751920373
    assert created_timestamp("2025-07-07T20:32:53.1+00:00") == 1751920373
    assert created_timestamp("garbage") > 1751920373


# -- streams --------------------------------------------------------------------------------------------------
def line(message: dict[str, Any], **extra: Any) -> bytes:
    head = {"model": "llama3.2", "created_at": "2025-10-26T17:15:24.09Z"}
    return orjson.dumps({**head, "message": {"role": "assistant", **message}, "done": False, **extra}) + b"\n"


STREAM = b"".join(
    [
        line({"content": "", "thinking": "Let me"}),
        line({"content": "", "thinking": " think"}),
        line({"content": "Héllo"}),
        line({"content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]}),
        line({"content": " wörld"}),
        line({"content": ""}, done=True, done_reason="stop", prompt_eval_count=26, eval_count=282, eval_duration=5),
    ]
)


def decode(pieces: list[bytes]) -> list[dict[str, Any]]:
    decoder = ADAPTER.chat_stream_decoder({"stream": True}, ENDPOINT)
    chunks: list[dict[str, Any]] = []
    for piece in pieces:
        chunks.extend(decoder.feed(piece))
    chunks.extend(decoder.close())
    for chunk in chunks:
        parsed = ChatCompletionChunk.model_validate(chunk)
        assert parsed.model_dump(mode="json", exclude_unset=True) == chunk
    assert decoder.usage == {"prompt_tokens": 26, "completion_tokens": 282, "total_tokens": 308}
    return chunks


def random_pieces(data: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(data)), k=rng.randint(1, 40)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def test_stream_whole() -> None:
    chunks = decode([STREAM])
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": "", "reasoning_content": "Let me"}
    assert "".join(d.get("content") or "" for d in deltas) == "Héllo wörld"
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "Let me think"
    calls = [d["tool_calls"] for d in deltas if "tool_calls" in d]
    assert calls[0][0]["index"] == 0
    assert calls[0][0]["function"] == {"name": "f", "arguments": '{"x":1}'}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["eval_duration"] == 5
    assert len({c["id"] for c in chunks}) == 1


def test_stream_byte_by_byte_and_random_splits() -> None:
    whole = decode([STREAM])
    assert decode([STREAM[i : i + 1] for i in range(len(STREAM))]) == whole
    rng = random.Random(7)
    for _ in range(30):
        assert decode(random_pieces(STREAM, rng)) == whole


def test_stream_without_trailing_newline_and_blank_lines() -> None:
    assert decode([b"\n\n" + STREAM[:-1]]) == decode([STREAM])


def test_stream_truncated_error_line_and_garbage() -> None:
    decoder = ADAPTER.chat_stream_decoder({}, ENDPOINT)
    assert decoder.feed(line({"content": "Hi"}))
    with pytest.raises(APIConnectionError, match="ollama closed the stream before it finished"):
        decoder.close()
    decoder = ADAPTER.chat_stream_decoder({}, ENDPOINT)
    # The content decoded in the same read comes out first; the error is raised on the next call.
    chunks = decoder.feed(line({"content": "Hi"}) + b'{"error": "model \\"x\\" not found"}\n')
    assert chunks[0]["choices"][0]["delta"]["content"] == "Hi"
    with pytest.raises(InternalServerError, match="not found"):
        decoder.close()
    with pytest.raises(BadGatewayError, match="not JSON"):
        ADAPTER.chat_stream_decoder({}, ENDPOINT).feed(b"<html>\n")


# -- errors and embeddings ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (404, b'{"error": "model \\"x\\" not found, try pulling it first"}', NotFoundError),
        (400, b'{"error": "invalid format"}', BadRequestError),
        (500, b"<html>oops</html>", InternalServerError),
    ],
)
def test_map_error(status: int, body: bytes, error: type[Exception]) -> None:
    mapped = ADAPTER.map_error(HttpResponse(status, {"retry-after": "3"}, body), ENDPOINT)
    assert type(mapped) is error
    assert mapped.upstream_status == status
    assert mapped.retry_after == 3.0


def test_embeddings() -> None:
    http = ADAPTER.build_embedding_request({"model": "m", "input": "a", "dimensions": 2, "truncate": True}, ENDPOINT)
    assert http.url == "http://localhost:11434/api/embed"
    assert orjson.loads(http.body) == {"model": "llama3.2", "input": "a", "dimensions": 2, "truncate": True}
    with pytest.raises(BadRequestError, match="text only"):
        ADAPTER.build_embedding_request({"input": [[1, 2]]}, ENDPOINT)
    with pytest.raises(UnsupportedParamsError):
        ADAPTER.build_embedding_request({"input": "a", "user": "u"}, ENDPOINT)
    answer = HttpResponse(200, {}, b'{"model": "m", "embeddings": [[0.5, -1.0]], "prompt_eval_count": 2}')
    data = ADAPTER.parse_embedding_response(answer, {"input": "a"}, ENDPOINT)
    CreateEmbeddingResponse.model_validate(data)
    assert data["data"] == [{"object": "embedding", "index": 0, "embedding": [0.5, -1.0]}]
    assert data["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    encoded = ADAPTER.parse_embedding_response(answer, {"encoding_format": "base64"}, ENDPOINT)
    assert encoded["data"][0]["embedding"] == "AAAAPwAAgL8="

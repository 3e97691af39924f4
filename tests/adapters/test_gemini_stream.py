"""GeminiStreamDecoder: SSE bytes split anywhere -> OpenAI chunks (§6.4)."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletionChunk

from tollway.adapters.base import Endpoint
from tollway.adapters.gemini_stream import GeminiStreamDecoder
from tollway.errors import APIConnectionError, ServiceUnavailableError

pytestmark = pytest.mark.usefixtures("still_clock")  # decodings compared with == (conftest.py)

ENDPOINT = Endpoint(provider="gemini", model="gemini-2.5-flash", api_base="https://x", api_key="k")


def event(parts: list[dict[str, Any]] | None, finish: str | None = None, usage: dict[str, Any] | None = None) -> bytes:
    payload: dict[str, Any] = {"modelVersion": "gemini-2.5-flash", "responseId": "r1"}
    if parts is not None:
        cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            cand["finishReason"] = finish
        payload["candidates"] = [cand]
    if usage:
        payload["usageMetadata"] = usage
    return b"data: " + orjson.dumps(payload) + b"\r\n\r\n"  # Google frames events with CRLF (§6.4)


TEXT_STREAM = (
    event([{"text": "Hmm", "thought": True}], usage={"promptTokenCount": 12})
    + event([{"text": "It's "}], usage={"promptTokenCount": 12})
    + event([{"text": "21°C."}], "STOP", {"promptTokenCount": 12, "candidatesTokenCount": 5, "thoughtsTokenCount": 3})
)


def decode(data: bytes, sizes: list[int] | None = None, request: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    decoder = GeminiStreamDecoder(ENDPOINT, request)
    chunks: list[dict[str, Any]] = []
    position = 0
    for size in sizes or [len(data)]:
        chunks.extend(decoder.feed(data[position : position + size]))
        position += size
    chunks.extend(decoder.feed(data[position:]))
    chunks.extend(decoder.close())
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    return chunks


def test_text_stream_and_usage_chunk() -> None:
    chunks = decode(TEXT_STREAM)
    deltas = [c["choices"][0]["delta"] for c in chunks[:-1]]
    assert deltas == [{"role": "assistant", "reasoning_content": "Hmm"}, {"content": "It's "}, {"content": "21°C."}]
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None, None, "stop"]
    assert {c["id"] for c in chunks} == {"r1"}
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 8
    assert chunks[-1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 3}
    assert chunks[-1]["usage"]["total_tokens"] == 20


def test_byte_by_byte_and_random_splits_give_the_same_chunks() -> None:
    whole = decode(TEXT_STREAM)
    assert decode(TEXT_STREAM, [1] * len(TEXT_STREAM)) == whole
    rng = random.Random(7)
    for _ in range(20):
        sizes = [rng.randint(1, 40) for _ in range(len(TEXT_STREAM) // 10)]
        assert decode(TEXT_STREAM, sizes) == whole


def test_function_calls_get_stable_indexes_and_finish_tool_calls() -> None:
    data = event([{"functionCall": {"name": "a", "args": {"x": 1}}, "thoughtSignature": "S"}]) + event(
        [{"functionCall": {"name": "b", "args": {}}}], "STOP", {"promptTokenCount": 3, "candidatesTokenCount": 9}
    )
    chunks = decode(data)
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[:2]]
    assert [(c["index"], c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        (0, "a", '{"x":1}'),
        (1, "b", "{}"),
    ]
    assert calls[0]["provider_specific_fields"] == {"thought_signature": "S"}
    assert calls[0]["id"].endswith("__thought__S")
    assert chunks[1]["choices"][0]["finish_reason"] == "tool_calls"


def test_truncated_stream() -> None:
    with pytest.raises(APIConnectionError, match="gemini closed the stream before it finished"):
        decode(event([{"text": "It's "}]))


def test_error_event_after_content_is_raised_after_the_content() -> None:
    error = b'data: {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}\n\n'
    decoder = GeminiStreamDecoder(ENDPOINT)
    chunks = decoder.feed(event([{"text": "Hi"}]) + error)
    assert chunks[0]["choices"][0]["delta"]["content"] == "Hi"
    with pytest.raises(ServiceUnavailableError, match="overloaded"):
        decoder.close()
    with pytest.raises(ServiceUnavailableError):
        GeminiStreamDecoder(ENDPOINT).feed(error)


def test_blocked_prompt_stream() -> None:
    payload = {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {"promptTokenCount": 4}}
    chunks = decode(b"data: " + orjson.dumps(payload) + b"\n\n")
    assert chunks[0]["choices"][0]["finish_reason"] == "content_filter"
    assert chunks[-1]["usage"]["prompt_tokens"] == 4


def test_not_json_is_bad_gateway() -> None:
    from tollway.errors import BadGatewayError

    with pytest.raises(BadGatewayError):
        GeminiStreamDecoder(ENDPOINT).feed(b"data: {oops\n\n")

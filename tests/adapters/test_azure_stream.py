"""The Azure stream decoder: Azure's prompt-filter chunk folded in, fed whole, byte by byte and in random splits."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletionChunk

from tollway.adapters.azure import AzureAdapter
from tollway.adapters.base import Endpoint, StreamDecoder
from tollway.errors import APIConnectionError, BadGatewayError, InternalServerError, RateLimitError

ENDPOINT = Endpoint(
    provider="azure", model="my-gpt-4o", api_base="https://r.openai.azure.com", api_key="k", api_version="2024-10-21"
)
SAFE = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}
PROMPT_FILTER = [
    {"prompt_index": 0, "content_filter_results": {**SAFE, "jailbreak": {"filtered": False, "detected": False}}}
]
FILTER_CHUNK = {
    "choices": [],
    "created": 0,
    "id": "",
    "model": "",
    "object": "",
    "prompt_filter_results": PROMPT_FILTER,
}
ENVELOPE = {"id": "chatcmpl-az", "object": "chat.completion.chunk", "created": 1735689600, "model": "gpt-4o-2024-11-20"}
USAGE = {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}


def chunk(delta: dict[str, Any], finish: str | None = None, results: dict[str, Any] | None = None) -> dict[str, Any]:
    choice = {
        "index": 0,
        "delta": delta,
        "finish_reason": finish,
        "logprobs": None,
        "content_filter_results": results or {},
    }
    return {**ENVELOPE, "choices": [choice]}


def sse(*events: dict[str, Any] | str) -> bytes:
    # Azure frames with CRLF line ends on some front ends (§14.18); the decoder must not care.
    lines = [f"data: {e if isinstance(e, str) else orjson.dumps(e).decode()}\r\n\r\n" for e in events]
    return "".join(lines).encode()


TEXT_STREAM = sse(
    FILTER_CHUNK,
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Hel"}, results=SAFE),
    chunk({"content": "lo"}, results=SAFE),
    chunk({}, "stop"),
    {**ENVELOPE, "choices": [], "usage": USAGE},
    "[DONE]",
)


def decoder() -> StreamDecoder:
    return AzureAdapter().chat_stream_decoder({"messages": [], "stream": True}, ENDPOINT)


def decode(pieces: list[bytes]) -> list[dict[str, Any]]:
    dec = decoder()
    chunks: list[dict[str, Any]] = []
    for piece in pieces:
        chunks.extend(dec.feed(piece))
    chunks.extend(dec.close())
    for item in chunks:
        ChatCompletionChunk.model_validate(item)
    return chunks


def splits(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(data)), 12))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def test_filter_chunk_folds_into_the_first_chunk_with_choices() -> None:
    chunks = decode([TEXT_STREAM])
    assert len(chunks) == 5
    first = ChatCompletionChunk.model_validate(chunks[0])
    assert first.id == "chatcmpl-az"
    assert first.choices[0].delta.role == "assistant"
    assert chunks[0]["prompt_filter_results"] == PROMPT_FILTER
    assert {c["id"] for c in chunks} == {"chatcmpl-az"}
    assert all(c["choices"] for c in chunks[:-1])
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1]) == "Hello"
    assert chunks[2]["choices"][0]["content_filter_results"] == SAFE
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == USAGE
    assert sum("prompt_filter_results" in c for c in chunks) == 1


@pytest.mark.parametrize("seed", range(5))
def test_any_split_gives_the_same_chunks(seed: int) -> None:
    whole = decode([TEXT_STREAM])
    assert decode(splits(TEXT_STREAM, seed)) == whole
    assert decode([TEXT_STREAM[i : i + 1] for i in range(len(TEXT_STREAM))]) == whole


def test_usage_attribute_follows_the_stream() -> None:
    dec = decoder()
    half = TEXT_STREAM.index(b"[DONE]")
    dec.feed(TEXT_STREAM[:half])
    assert dec.usage == USAGE
    dec.feed(TEXT_STREAM[half:])
    dec.close()
    assert dec.usage == USAGE


def test_filter_results_reach_the_usage_chunk_when_no_choice_follows() -> None:
    chunks = decode([sse(FILTER_CHUNK, {**ENVELOPE, "choices": [], "usage": USAGE}, "[DONE]")])
    assert len(chunks) == 1
    assert chunks[0]["usage"] == USAGE
    assert chunks[0]["prompt_filter_results"] == PROMPT_FILTER


def test_lonely_filter_chunk_is_returned_at_close() -> None:
    chunks = decode([sse(FILTER_CHUNK, "[DONE]")])
    assert len(chunks) == 1
    assert chunks[0]["choices"] == []
    assert chunks[0]["object"] == "chat.completion.chunk"  # Azure sends "" here
    assert chunks[0]["prompt_filter_results"] == PROMPT_FILTER


def test_output_filter_finish_passes_through() -> None:
    violent = {**SAFE, "violence": {"filtered": True, "severity": "high"}}
    data = sse(
        FILTER_CHUNK, chunk({"role": "assistant", "content": "I"}), chunk({}, "content_filter", violent), "[DONE]"
    )
    chunks = decode([data])
    assert chunks[-1]["choices"][0]["finish_reason"] == "content_filter"
    assert chunks[-1]["choices"][0]["content_filter_results"] == violent


def test_truncated_stream_is_a_connection_error() -> None:
    data = sse(FILTER_CHUNK, chunk({"role": "assistant", "content": ""}), chunk({"content": "Hel"}))
    dec = decoder()
    assert len(dec.feed(data)) == 2
    with pytest.raises(APIConnectionError) as info:
        dec.close()
    assert info.value.message == "azure closed the stream before it finished"
    assert info.value.provider == "azure"


def test_truncated_after_the_filter_chunk_only() -> None:
    dec = decoder()
    assert dec.feed(sse(FILTER_CHUNK)) == []
    with pytest.raises(APIConnectionError, match="before it finished"):
        dec.close()


def test_in_stream_error_after_content_is_held_then_raised() -> None:
    error = {"error": {"code": "429", "message": "Please retry after 6 seconds."}}
    dec = decoder()
    chunks = dec.feed(sse(FILTER_CHUNK, chunk({"role": "assistant", "content": "Hi"}), error))
    assert [c["choices"][0]["delta"]["content"] for c in chunks] == ["Hi"]
    with pytest.raises(RateLimitError) as info:
        dec.feed(b"")
    assert info.value.upstream_status is None


def test_in_stream_server_error_before_content() -> None:
    error = {"error": {"message": "The server had an error", "type": "server_error", "param": None, "code": None}}
    dec = decoder()
    with pytest.raises(InternalServerError, match="The server had an error"):
        dec.feed(sse(FILTER_CHUNK, error))


def test_garbage_event_is_bad_gateway() -> None:
    with pytest.raises(BadGatewayError, match="azure sent a stream event that is not JSON"):
        decoder().feed(b"data: {nope\n\n")

"""BedrockStreamDecoder: ConverseStream event-stream bytes -> OpenAI chunks, in any byte split."""

from __future__ import annotations

import random
from typing import Any

import openai.types.chat as oai
import pytest

import tollway
from fakes.bedrock import event_frame, exception_frame
from tollway.adapters.base import Endpoint
from tollway.adapters.bedrock_stream import BedrockStreamDecoder
from tollway.errors import APIConnectionError, BadGatewayError, InternalServerError, RateLimitError
from tollway.eventstream import encode_message

pytestmark = pytest.mark.usefixtures("still_clock")  # decodings compared with == (conftest.py)

ENDPOINT = Endpoint("bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0", "https://x")
EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("messageStart", {"role": "assistant"}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Thinking"}}}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}}),
    ("contentBlockStop", {"contentBlockIndex": 0}),
    ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Hel"}, "p": "abcdefgh"}),
    ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "lo"}}),
    ("contentBlockStop", {"contentBlockIndex": 1}),
    ("contentBlockStart", {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tu_1", "name": "get_weather"}}}),
    ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '{"city":'}}}),
    ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '"Paris"}'}}}),
    ("contentBlockStop", {"contentBlockIndex": 2}),
    ("contentBlockStart", {"contentBlockIndex": 3, "start": {"toolUse": {"toolUseId": "tu_2", "name": "get_time"}}}),
    ("contentBlockDelta", {"contentBlockIndex": 3, "delta": {"toolUse": {"input": '{"tz":"UTC"}'}}}),
    ("contentBlockStop", {"contentBlockIndex": 3}),
    ("someFutureEvent", {"x": 1}),
    ("messageStop", {"stopReason": "tool_use"}),
    (
        "metadata",
        {
            "usage": {"inputTokens": 30, "outputTokens": 12, "totalTokens": 42, "cacheReadInputTokens": 8},
            "metrics": {"latencyMs": 9},
        },
    ),
]
STREAM = b"".join(event_frame(kind, payload) for kind, payload in EVENTS)


def decode(pieces: list[bytes]) -> list[dict[str, Any]]:
    decoder = BedrockStreamDecoder(ENDPOINT)
    chunks = [chunk for piece in pieces for chunk in decoder.feed(piece)]
    chunks.extend(decoder.close())
    for chunk in chunks:
        oai.ChatCompletionChunk.model_validate(chunk)
    return chunks


def check(chunks: list[dict[str, Any]]) -> None:
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[-1]["choices"] == []
    usage = chunks[-1]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (38, 12, 50)
    assert usage["prompt_tokens_details"]["cached_tokens"] == 8
    assert chunks[-1]["metrics"] == {"latencyMs": 9}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    rebuilt = tollway.stream_chunk_builder([tollway.ChatCompletionChunk(c) for c in chunks]).to_dict()
    message = rebuilt["choices"][0]["message"]
    assert message["content"] == "Hello"
    assert message["reasoning_content"] == "Thinking"
    calls = message["tool_calls"]
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        ("tu_1", "get_weather", '{"city":"Paris"}'),
        ("tu_2", "get_time", '{"tz":"UTC"}'),
    ]
    thinking = [c for c in chunks if c["choices"] and "thinking_blocks" in c["choices"][0]["delta"]]
    assert thinking[0]["choices"][0]["delta"]["thinking_blocks"] == [
        {"type": "thinking", "thinking": "Thinking", "signature": "sig"}
    ]
    indexes = [tc["index"] for c in chunks if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert indexes == [0, 0, 0, 1, 1]


def test_whole_stream() -> None:
    check(decode([STREAM]))


def test_byte_by_byte() -> None:
    check(decode([bytes([b]) for b in STREAM]))


@pytest.mark.parametrize("seed", range(5))
def test_random_splits(seed: int) -> None:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(STREAM)), 40))
    check(decode([STREAM[a:b] for a, b in zip([0, *cuts], [*cuts, len(STREAM)], strict=True)]))


def test_truncated_before_metadata() -> None:
    decoder = BedrockStreamDecoder(ENDPOINT)
    cut = b"".join(event_frame(kind, payload) for kind, payload in EVENTS[:-1])
    assert decoder.feed(cut)[-1]["choices"][0]["finish_reason"] == "tool_calls"
    with pytest.raises(APIConnectionError, match="bedrock closed the stream before it finished"):
        decoder.close()


def test_truncated_inside_a_frame() -> None:
    decoder = BedrockStreamDecoder(ENDPOINT)
    decoder.feed(STREAM[:-5])
    with pytest.raises(APIConnectionError):
        decoder.close()


def test_exception_frame_after_content_is_held_until_next_call() -> None:
    decoder = BedrockStreamDecoder(ENDPOINT)
    data = event_frame(*EVENTS[0]) + event_frame(*EVENTS[4]) + exception_frame("throttlingException", "Too many tokens")
    chunks = decoder.feed(data)
    assert [c["choices"][0]["delta"].get("content") for c in chunks] == ["", "Hel"]
    with pytest.raises(RateLimitError, match="Too many tokens") as info:
        decoder.feed(b"")
    assert info.value.code == "ThrottlingException"


def test_model_stream_error_uses_original_status_and_unmodeled_errors() -> None:
    payload = b'{"message":"boom","originalStatusCode":429,"originalMessage":"slow"}'
    frame = encode_message({":exception-type": "modelStreamErrorException", ":message-type": "exception"}, payload)
    with pytest.raises(RateLimitError, match="boom"):
        BedrockStreamDecoder(ENDPOINT).feed(frame)
    frame = encode_message({":message-type": "error", ":error-code": "InternalFailure", ":error-message": "oops"}, b"")
    with pytest.raises(InternalServerError, match="oops"):
        BedrockStreamDecoder(ENDPOINT).feed(frame)


def test_corrupt_frame_is_a_bad_gateway() -> None:
    frame = bytearray(event_frame(*EVENTS[0]))
    frame[-1] ^= 1
    with pytest.raises(BadGatewayError, match="corrupt event stream"):
        BedrockStreamDecoder(ENDPOINT).feed(bytes(frame))


def test_usage_is_known_and_nothing_after_metadata() -> None:
    decoder = BedrockStreamDecoder(ENDPOINT)
    decoder.feed(STREAM)
    assert decoder.usage is not None
    assert decoder.usage["completion_tokens"] == 12
    assert decoder.feed(event_frame(*EVENTS[4])) == []

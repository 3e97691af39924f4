"""The Anthropic stream decoder: SSE bytes in, OpenAI chunks out; every chunk judged by the openai SDK."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from openai.types.chat import ChatCompletionChunk

from tollway.adapters.anthropic import AnthropicAdapter
from tollway.adapters.anthropic_stream import AnthropicStreamDecoder
from tollway.adapters.base import Endpoint
from tollway.errors import (
    APIConnectionError,
    BadGatewayError,
    InternalServerError,
    RateLimitError,
    ServiceUnavailableError,
)

pytestmark = pytest.mark.usefixtures("still_clock")  # decodings compared with == (conftest.py)

FIXTURES = Path(__file__).parent / "fixtures" / "anthropic"
SAMPLE = (FIXTURES / "stream_thinking_text_tool.sse").read_bytes()
ENDPOINT = Endpoint(provider="anthropic", model="claude-sonnet-4-5", api_base="https://api.anthropic.com", api_key="k")
REQUEST: dict[str, Any] = {"model": "x", "messages": [{"role": "user", "content": "Hi"}], "stream": True}


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def start(usage: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": "msg_02",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [],
        "stop_reason": None,
        "usage": usage or {"input_tokens": 10, "output_tokens": 1},
    }
    return {"type": "message_start", "message": message}


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": body}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_delta(stop_reason: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": usage}


MESSAGE_STOP = {"type": "message_stop"}


def decoder(request: dict[str, Any] | None = None, endpoint: Endpoint = ENDPOINT) -> AnthropicStreamDecoder:
    return AnthropicAdapter().chat_stream_decoder(request or REQUEST, endpoint)


def run(pieces: list[bytes], request: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    dec = decoder(request)
    chunks: list[dict[str, Any]] = []
    for piece in pieces:
        chunks.extend(dec.feed(piece))
    chunks.extend(dec.close())
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
        json.dumps(chunk)
    return chunks


def deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks if c["choices"]]


def assemble(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """What a client accumulating the deltas would see."""
    content, reasoning = "", ""
    blocks: list[dict[str, Any]] = []
    tools: dict[int, dict[str, Any]] = {}
    for d in deltas(chunks):
        content += d.get("content") or ""
        reasoning += d.get("reasoning_content") or ""
        blocks.extend(d.get("thinking_blocks") or [])
        for call in d.get("tool_calls") or []:
            slot = tools.setdefault(call["index"], {"id": None, "name": None, "arguments": ""})
            slot["id"] = call.get("id") or slot["id"]
            slot["name"] = (call.get("function") or {}).get("name") or slot["name"]
            slot["arguments"] += (call.get("function") or {}).get("arguments") or ""
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    return {"content": content, "reasoning": reasoning, "blocks": blocks, "tools": tools, "finishes": finishes}


def random_splits(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    pieces, i = [], 0
    while i < len(data):
        n = rng.randint(1, 40)
        pieces.append(data[i : i + n])
        i += n
    return pieces


SPLITS = {
    "whole": [SAMPLE],
    "byte_by_byte": [SAMPLE[i : i + 1] for i in range(len(SAMPLE))],
    **{f"random_{seed}": random_splits(SAMPLE, seed) for seed in range(5)},
    "crlf": [SAMPLE.replace(b"\n", b"\r\n")],
}


@pytest.mark.parametrize("name", list(SPLITS))
def test_the_reference_sample_however_it_is_split(name: str) -> None:
    chunks = run(SPLITS[name])
    assert {c["id"] for c in chunks} == {"msg_01"}
    assert {c["model"] for c in chunks} == {"claude-sonnet-4-5"}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["created"] for c in chunks}) == 1
    assert deltas(chunks)[0] == {"role": "assistant", "content": ""}
    result = assemble(chunks)
    assert result["content"] == "Checking."
    assert result["reasoning"] == "User wants weather…"
    assert result["blocks"] == [{"type": "thinking", "thinking": "User wants weather…", "signature": "EqQB…"}]
    assert result["tools"] == {0: {"id": "toolu_01", "name": "get_weather", "arguments": '{"city": "Paris"}'}}
    assert json.loads(result["tools"][0]["arguments"]) == {"city": "Paris"}
    assert result["finishes"] == ["tool_calls"]
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {
        "prompt_tokens": 377,
        "completion_tokens": 65,
        "total_tokens": 442,
        "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    assert all(c["choices"] for c in chunks[:-1])


def test_reference_sample_chunk_sequence() -> None:
    got = [(d, c["choices"][0]["finish_reason"]) for c in run([SAMPLE])[:-1] for d in [c["choices"][0]["delta"]]]
    assert got == [
        ({"role": "assistant", "content": ""}, None),
        ({"reasoning_content": "User wants weather…"}, None),
        ({"thinking_blocks": [{"type": "thinking", "thinking": "User wants weather…", "signature": "EqQB…"}]}, None),
        ({"content": "Checking."}, None),
        (
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "toolu_01",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            },
            None,
        ),  # the empty first input_json_delta is skipped
        ({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Par'}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": 'is"}'}}]}, None),
        ({}, "tool_calls"),
    ]


def test_decoder_usage_is_set_after_a_clean_stream() -> None:
    dec = decoder()
    dec.feed(SAMPLE)
    assert dec.usage is not None
    assert dec.usage["completion_tokens"] == 65
    assert dec.close() == []


def test_parallel_tools_have_their_own_ordinals_and_arguments() -> None:
    data = sse(
        start(),
        block_start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "Both."}),
        stop(0),
        block_start(1, {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}}),
        block_start(2, {"type": "tool_use", "id": "toolu_b", "name": "get_time", "input": {}}),
        delta(2, {"type": "input_json_delta", "partial_json": '{"tz": '}),
        delta(1, {"type": "input_json_delta", "partial_json": '{"city": "Rome"}'}),
        delta(2, {"type": "input_json_delta", "partial_json": '"CET"}'}),
        stop(1),
        stop(2),
        message_delta("tool_use", {"output_tokens": 30}),
        MESSAGE_STOP,
    )
    result = assemble(run([data]))
    assert result["tools"] == {
        0: {"id": "toolu_a", "name": "get_weather", "arguments": '{"city": "Rome"}'},
        1: {"id": "toolu_b", "name": "get_time", "arguments": '{"tz": "CET"}'},
    }
    assert result["content"] == "Both."


def test_redacted_thinking_arrives_whole() -> None:
    block = {"type": "redacted_thinking", "data": "EmwKAhgB"}
    data = sse(start(), block_start(0, block), stop(0), message_delta("end_turn", {"output_tokens": 5}), MESSAGE_STOP)
    assert assemble(run([data]))["blocks"] == [block]


def test_message_delta_cumulative_usage_overrides_message_start() -> None:
    data = sse(
        start(
            {
                "input_tokens": 10,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 1,
            }
        ),
        block_start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "hi"}),
        stop(0),
        message_delta(
            "max_tokens",
            {
                "input_tokens": 12,
                "cache_creation_input_tokens": 100,
                "cache_read_input_tokens": 2000,
                "cache_creation": {"ephemeral_5m_input_tokens": 40, "ephemeral_1h_input_tokens": 60},
                "output_tokens": 7,
                "output_tokens_details": {"thinking_tokens": 3},
            },
        ),
        MESSAGE_STOP,
    )
    chunks = run([data])
    assert assemble(chunks)["finishes"] == ["length"]
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 2112,
        "completion_tokens": 7,
        "total_tokens": 2119,
        "prompt_tokens_details": {"cached_tokens": 2000, "cache_write_tokens": 100, "cache_write_1h_tokens": 60},
        "completion_tokens_details": {"reasoning_tokens": 3},
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 2000,
    }


def test_message_delta_without_input_keeps_message_start_counts() -> None:
    usage = {"input_tokens": 50, "cache_read_input_tokens": 1000, "output_tokens": 1}
    data = sse(start(usage), message_delta("end_turn", {"output_tokens": 9}), MESSAGE_STOP)
    final = run([data])[-1]["usage"]
    assert final["prompt_tokens"] == 1050
    assert final["prompt_tokens_details"]["cached_tokens"] == 1000
    assert final["completion_tokens"] == 9


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("overloaded_error", ServiceUnavailableError),
        ("rate_limit_error", RateLimitError),
        ("api_error", InternalServerError),
    ],
)
def test_in_stream_error_event_raises_and_keeps_usage(kind: str, cls: type[Exception]) -> None:
    dec = decoder()
    first = dec.feed(sse(start(), block_start(0, {"type": "text", "text": ""})))
    assert deltas(first) == [{"role": "assistant", "content": ""}]
    with pytest.raises(cls) as info:
        dec.feed(sse({"type": "error", "error": {"type": kind, "message": "Overloaded"}}))
    assert info.value.message == "Overloaded"  # type: ignore[attr-defined]
    assert info.value.code == kind  # type: ignore[attr-defined]
    assert dec.usage is not None
    assert dec.usage["prompt_tokens"] == 10


def test_truncated_stream_raises_on_close() -> None:
    cut = SAMPLE[: SAMPLE.index(b"event: message_delta")]
    dec = decoder()
    chunks = dec.feed(cut)
    assert assemble(chunks)["content"] == "Checking."
    with pytest.raises(APIConnectionError, match="closed the stream before it finished"):
        dec.close()
    assert dec.usage is not None
    assert dec.usage["prompt_tokens"] == 377


def test_stream_ending_without_blank_line_still_finishes() -> None:
    data = (
        sse(start(), message_delta("end_turn", {"output_tokens": 2}))
        + b'event: message_stop\ndata: {"type":"message_stop"}'
    )
    dec = decoder()
    chunks = dec.feed(data)
    chunks += dec.close()
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 2


def test_ping_comments_and_unknown_events_are_ignored() -> None:
    data = (
        b": keep-alive\n\n"
        + sse(start())
        + b'event: ping\ndata: {"type": "ping"}\n\n'
        + sse({"type": "brand_new_event", "x": 1})
        + sse(block_start(0, {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}))
        + sse(delta(0, {"type": "input_json_delta", "partial_json": '{"q":1}'}), stop(0))
        + sse(message_delta("end_turn", {"output_tokens": 2}), MESSAGE_STOP)
    )
    chunks = run([data])
    assert deltas(chunks) == [{"role": "assistant", "content": ""}, {}]


def test_events_after_message_stop_are_ignored() -> None:
    data = sse(start(), message_delta("end_turn", {"output_tokens": 2}), MESSAGE_STOP, block_start(0, {"type": "text"}))
    assert len(run([data])) == 3


def test_non_json_event_is_bad_gateway() -> None:
    with pytest.raises(BadGatewayError):
        decoder().feed(b"event: message_start\ndata: {oops\n\n")


def test_emulated_json_streams_as_content() -> None:
    request = {**REQUEST, "response_format": {"type": "json_object"}}
    data = sse(
        start(),
        block_start(0, {"type": "tool_use", "id": "toolu_j", "name": "json_tool_call", "input": {}}),
        delta(0, {"type": "input_json_delta", "partial_json": ""}),
        delta(0, {"type": "input_json_delta", "partial_json": '{"city": '}),
        delta(0, {"type": "input_json_delta", "partial_json": '"Oslo"}'}),
        stop(0),
        message_delta("tool_use", {"output_tokens": 12}),
        MESSAGE_STOP,
    )
    result = assemble(run([data], request))
    assert json.loads(result["content"]) == {"city": "Oslo"}
    assert result["tools"] == {}
    assert result["finishes"] == ["stop"]


def test_legacy_functions_stream_function_call_deltas() -> None:
    request = {**REQUEST, "functions": [{"name": "f", "parameters": {"type": "object"}}]}
    data = sse(
        start(),
        block_start(0, {"type": "tool_use", "id": "toolu_f", "name": "f", "input": {}}),
        delta(0, {"type": "input_json_delta", "partial_json": '{"a": 1}'}),
        stop(0),
        message_delta("tool_use", {"output_tokens": 4}),
        MESSAGE_STOP,
    )
    chunks = run([data], request)
    assert deltas(chunks)[1:] == [
        {"function_call": {"name": "f", "arguments": ""}},
        {"function_call": {"arguments": '{"a": 1}'}},
        {},
    ]
    assert assemble(chunks)["finishes"] == ["function_call"]

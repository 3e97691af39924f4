"""The Cohere stream decoder: SSE bytes in, OpenAI chunks out, every chunk judged by the openai SDK's types."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from openai.types.chat import ChatCompletionChunk

import tollway
from tollway.adapters.base import Endpoint
from tollway.adapters.cohere import CohereAdapter
from tollway.errors import APIConnectionError, BadGatewayError, InternalServerError, Timeout

pytestmark = pytest.mark.usefixtures("still_clock")  # decodings compared with == (conftest.py)

ENDPOINT = Endpoint(provider="cohere", model="command-a-03-2025", api_base="https://api.cohere.com", api_key="k")
USAGE = {"billed_units": {"input_tokens": 5, "output_tokens": 2}, "tokens": {"input_tokens": 71, "output_tokens": 2}}


def sse(*events: dict[str, Any], done: bool = True) -> bytes:
    text = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
    return (text + ("data: [DONE]\n\n" if done else "")).encode()


START = {"id": "5e6c", "type": "message-start", "delta": {"message": {"role": "assistant", "content": []}}}


def content(index: int, kind: str, *pieces: str) -> list[dict[str, Any]]:
    opening = {"type": "content-start", "index": index, "delta": {"message": {"content": {"type": kind, kind: ""}}}}
    deltas = [{"type": "content-delta", "index": index, "delta": {"message": {"content": {kind: p}}}} for p in pieces]
    return [opening, *deltas, {"type": "content-end", "index": index}]


def end(reason: str = "COMPLETE", **extra: Any) -> dict[str, Any]:
    return {"type": "message-end", "delta": {"finish_reason": reason, "usage": USAGE, **extra}}


TEXT = sse(START, *content(0, "thinking", "Think", "ing."), *content(1, "text", "Hel", "lo ", "wörld"), end())


def tool(index: int, call_id: str, name: str, *fragments: str) -> list[dict[str, Any]]:
    opening = {"id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
    events: list[dict[str, Any]] = [
        {"type": "tool-call-start", "index": index, "delta": {"message": {"tool_calls": opening}}}
    ]
    for fragment in fragments:
        call = {"function": {"arguments": fragment}}
        events.append({"type": "tool-call-delta", "index": index, "delta": {"message": {"tool_calls": call}}})
    return [*events, {"type": "tool-call-end", "index": index}]


TOOLS = sse(
    START,
    {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will "}}},
    {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "call both."}}},
    *tool(0, "get_weather_1", "get_weather", '{"city"', ':"Paris"}'),
    *tool(1, "get_time_2", "get_time", '{"tz":', '"Europe/Paris"}'),
    end("TOOL_CALL"),
)


def run(pieces: list[bytes]) -> list[dict[str, Any]]:
    decoder = CohereAdapter().chat_stream_decoder({}, ENDPOINT)
    chunks: list[dict[str, Any]] = []
    for piece in pieces:
        chunks.extend(decoder.feed(piece))
    chunks.extend(decoder.close())
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    return chunks


def byte_by_byte(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def random_splits(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(data)), 12))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def test_text_and_thinking() -> None:
    chunks = run([TEXT])
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[0]["id"] == "5e6c"
    assert "".join(c["choices"][0]["delta"].get("reasoning_content", "") for c in chunks if c["choices"]) == "Thinking."
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == "Hello wörld"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 71
    assert chunks[-1]["usage"]["total_tokens"] == 73
    assert {c["id"] for c in chunks} == {"5e6c"}
    rebuilt = tollway.stream_chunk_builder(chunks).to_dict()
    assert rebuilt["choices"][0]["message"]["content"] == "Hello wörld"
    assert rebuilt["usage"]["completion_tokens"] == 2


@pytest.mark.parametrize("seed", range(5))
def test_any_split_gives_the_same_chunks(seed: int) -> None:
    whole = run([TEXT + TOOLS[:0]])
    assert run(byte_by_byte(TEXT)) == whole
    assert run(random_splits(TEXT, seed)) == whole
    assert run(random_splits(TOOLS, seed)) == run([TOOLS])


def test_crlf_framing() -> None:
    assert run([TEXT.replace(b"\n", b"\r\n")]) == run([TEXT])


def test_parallel_tool_calls_with_stable_indexes() -> None:
    chunks = run(byte_by_byte(TOOLS))
    plans = [
        c["choices"][0]["delta"]["tool_plan"]
        for c in chunks
        if c["choices"] and "tool_plan" in c["choices"][0]["delta"]
    ]
    assert "".join(plans) == "I will call both."
    rebuilt = tollway.stream_chunk_builder(chunks).to_dict()["choices"][0]
    assert rebuilt["finish_reason"] == "tool_calls"
    assert [
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in rebuilt["message"]["tool_calls"]
    ] == [
        ("get_weather_1", "get_weather", {"city": "Paris"}),
        ("get_time_2", "get_time", {"tz": "Europe/Paris"}),
    ]


def test_citations_are_kept() -> None:
    citation = {"start": 0, "end": 5, "text": "Hello", "sources": []}
    event = {"type": "citation-start", "index": 0, "delta": {"message": {"citations": citation}}}
    chunks = run([sse(START, *content(0, "text", "Hello"), event, {"type": "citation-end", "index": 0}, end())])
    assert [
        c["choices"][0]["delta"]["citations"]
        for c in chunks
        if c["choices"] and "citations" in c["choices"][0]["delta"]
    ] == [[citation]]


def test_done_is_optional_and_debug_events_are_ignored() -> None:
    debug = {"type": "debug", "prompt": "..."}
    without_done = run([sse(START, debug, *content(0, "text", "Hi"), end(), done=False)])
    assert without_done == run([sse(START, *content(0, "text", "Hi"), end())])


def test_truncated_stream() -> None:
    decoder = CohereAdapter().chat_stream_decoder({}, ENDPOINT)
    chunks = decoder.feed(sse(START, *content(0, "text", "Hel"), done=False))
    assert chunks[-1]["choices"][0]["delta"]["content"] == "Hel"
    with pytest.raises(APIConnectionError, match="cohere closed the stream before it finished"):
        decoder.close()


def test_error_in_message_end_raises_after_the_content_before_it() -> None:
    decoder = CohereAdapter().chat_stream_decoder({}, ENDPOINT)
    data = sse(START, *content(0, "text", "Hel"), end("ERROR", error="model overloaded"), done=False)
    chunks = decoder.feed(data)
    assert chunks[-1]["choices"][0]["delta"]["content"] == "Hel"
    with pytest.raises(InternalServerError, match="model overloaded"):
        decoder.feed(b"")
    assert decoder.usage is not None
    assert decoder.usage["prompt_tokens"] == 71


def test_timeout_error_and_error_envelope_in_stream() -> None:
    with pytest.raises(Timeout):
        run([sse(START, end("TIMEOUT", error="generation timed out"))])
    with pytest.raises(InternalServerError, match="boom"):
        run([b'data: {"message": "boom"}\n\n'])


def test_garbage_is_a_bad_gateway() -> None:
    with pytest.raises(BadGatewayError, match="not JSON"):
        run([b"event: content-delta\ndata: {oops\n\n"])

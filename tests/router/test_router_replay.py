"""Replayed cache hits are valid OpenAI chunks that rebuild the cached message; a hit is marked in valid JSON."""

from __future__ import annotations

import copy
from typing import Any

import openai.types.chat as openai_chat
import pytest

from tollway import stream_chunk_builder
from tollway.router.replay import CACHE_HIT_FIELD, chunks_from_completion, mark_cache_hit

USAGE = {"prompt_tokens": 12, "completion_tokens": 40, "total_tokens": 52}


def completion(message: dict[str, Any], *, finish_reason: str = "stop", **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "chatcmpl-cached",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_abc",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": USAGE,
    }
    data.update(extra)
    return data


TEXT = completion({"role": "assistant", "content": "Paris is sunny today, 24 °C, with a light breeze from the west. 🌤"})

TOOLS = completion(
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_paris",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "celsius", "days": 3}'},
            },
            {
                "id": "call_lyon",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Lyon"}'},
            },
            {"id": "call_now", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
        ],
    },
    finish_reason="tool_calls",
)

REASONING = completion(
    {
        "role": "assistant",
        "content": "42.",
        "reasoning_content": "The user asks for the answer. Six times seven is forty-two, so the answer is 42.",
        "thinking_blocks": [{"type": "thinking", "thinking": "Six times seven.", "signature": "sig=="}],
    }
)

CASES = {"text": TEXT, "tools": TOOLS, "reasoning": REASONING}


def validate(chunks: list[dict[str, Any]]) -> list[openai_chat.ChatCompletionChunk]:
    return [openai_chat.ChatCompletionChunk.model_validate(chunk) for chunk in chunks]


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("include_usage", [True, False])
def test_replay_is_valid_and_rebuilds_the_cached_completion(name: str, include_usage: bool) -> None:
    cached = CASES[name]
    chunks = chunks_from_completion(cached, include_usage=include_usage, piece_chars=8)
    validate(chunks)
    rebuilt = stream_chunk_builder(chunks).to_dict()
    expected = copy.deepcopy(cached)
    if not include_usage:
        del expected["usage"]
    assert rebuilt == expected


def test_content_arrives_in_pieces_after_a_role_chunk() -> None:
    chunks = chunks_from_completion(TEXT, include_usage=False, piece_chars=10)
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    assert deltas[0] == {"role": "assistant", "content": ""}
    pieces = [delta["content"] for delta in deltas[1:-1]]
    assert all(1 <= len(piece) <= 10 for piece in pieces)
    assert len(pieces) > 1
    assert "".join(pieces) == TEXT["choices"][0]["message"]["content"]
    assert deltas[-1] == {}
    assert [chunk["choices"][0]["finish_reason"] for chunk in chunks] == [None] * (len(chunks) - 1) + ["stop"]
    assert {chunk["id"] for chunk in chunks} == {"chatcmpl-cached"}
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)


def test_parallel_tool_calls_stream_by_index_with_id_and_name_first() -> None:
    chunks = validate(chunks_from_completion(TOOLS, include_usage=False, piece_chars=6))
    calls = [call for chunk in chunks for call in chunk.choices[0].delta.tool_calls or ()]
    openings = [call for call in calls if call.id is not None]
    assert [(c.index, c.id, c.function and c.function.name) for c in openings] == [
        (0, "call_paris", "get_weather"),
        (1, "call_lyon", "get_weather"),
        (2, "call_now", "get_time"),
    ]
    arguments: dict[int, str] = {}
    for call in calls:
        assert call.function is not None
        arguments[call.index] = arguments.get(call.index, "") + (call.function.arguments or "")
    assert arguments == {0: '{"city": "Paris", "unit": "celsius", "days": 3}', 1: '{"city": "Lyon"}', 2: "{}"}
    assert chunks[0].choices[0].delta.content is None
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_reasoning_streams_before_content() -> None:
    chunks = chunks_from_completion(REASONING, include_usage=False)
    kinds = [next(iter(chunk["choices"][0]["delta"]), None) for chunk in chunks]
    assert kinds.index("reasoning_content") < kinds.index("thinking_blocks") < kinds.index("content")


def test_usage_chunk_only_when_asked_and_last() -> None:
    with_usage = chunks_from_completion(TEXT, include_usage=True)
    assert with_usage[-1]["choices"] == []
    assert with_usage[-1]["usage"] == USAGE
    assert all(chunk["usage"] is None for chunk in with_usage[:-1])
    without = chunks_from_completion(TEXT, include_usage=False)
    assert all("usage" not in chunk for chunk in without)
    assert len(without) == len(with_usage) - 1


def test_no_usage_chunk_when_the_cached_answer_has_none() -> None:
    cached = {k: v for k, v in TEXT.items() if k != "usage"}
    chunks = chunks_from_completion(cached, include_usage=True)
    assert all(chunk["choices"] for chunk in chunks)


def test_several_choices_and_logprobs_replay() -> None:
    logprobs = {"content": [{"token": "Yes", "logprob": -0.1, "bytes": [89, 101, 115], "top_logprobs": []}]}
    cached = completion({"role": "assistant", "content": "Yes"})
    cached["choices"][0]["logprobs"] = logprobs
    cached["choices"].append(
        {"index": 1, "message": {"role": "assistant", "content": "No"}, "logprobs": None, "finish_reason": "length"}
    )
    chunks = chunks_from_completion(cached, include_usage=True)
    validate(chunks)
    assert stream_chunk_builder(chunks).to_dict() == cached


def test_refusal_replays() -> None:
    cached = completion({"role": "assistant", "content": None, "refusal": "I can't help with that."})
    chunks = chunks_from_completion(cached, include_usage=True, piece_chars=5)
    validate(chunks)
    assert stream_chunk_builder(chunks).to_dict() == cached


def test_replay_rejects_what_is_not_a_chat_completion() -> None:
    with pytest.raises(ValueError, match="choices"):
        chunks_from_completion({"object": "list", "data": []}, include_usage=False)
    with pytest.raises(ValueError, match="piece_chars"):
        chunks_from_completion(TEXT, include_usage=False, piece_chars=0)


def test_mark_cache_hit_is_valid_openai_and_leaves_the_input_alone() -> None:
    original = copy.deepcopy(TOOLS)
    marked = mark_cache_hit(TOOLS)
    assert original == TOOLS
    assert marked[CACHE_HIT_FIELD] == {"cache_hit": True}
    assert {k: v for k, v in marked.items() if k != CACHE_HIT_FIELD} == original
    parsed = openai_chat.ChatCompletion.model_validate(marked)
    assert parsed.choices[0].message.tool_calls is not None
    assert mark_cache_hit({**TEXT, "tollway": {"other": 1}})["tollway"] == {"other": 1, "cache_hit": True}


def test_a_marked_hit_replays_with_the_mark_on_every_chunk() -> None:
    chunks = chunks_from_completion(mark_cache_hit(TEXT), include_usage=True)
    validate(chunks)
    assert all(chunk[CACHE_HIT_FIELD] == {"cache_hit": True} for chunk in chunks)

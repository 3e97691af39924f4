"""stream_chunk_builder: rebuild whole responses, keeping parallel tool calls apart."""

import openai.types.chat as oai

from tollway import stream_chunk_builder
from tollway.types import ChatCompletionChunk, ResponseMeta

HEAD = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 5, "model": "gpt-4o"}


def chunk(choices: list[dict], usage: dict | None = None) -> dict:
    return {**HEAD, "choices": choices, "usage": usage}


def delta(index: int = 0, finish: str | None = None, **fields: object) -> dict:
    return {"index": index, "delta": fields, "finish_reason": finish}


def test_text_and_usage() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    chunks = [
        chunk([delta(role="assistant", content="")]),
        chunk([delta(content="Hel")]),
        chunk([delta(content="lo")]),
        chunk([delta(finish="stop")]),
        chunk([], usage),
    ]
    meta = ResponseMeta(provider="openai", model="gpt-4o")
    response = stream_chunk_builder([ChatCompletionChunk(c, meta) for c in chunks])
    oai.ChatCompletion.model_validate(response.to_dict())
    assert response.choices[0].message.content == "Hello"
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None
    assert response.usage.total_tokens == 5
    assert response.meta is meta
    assert meta.usage is not None
    assert meta.usage.output_tokens == 2


def test_parallel_tool_calls_stay_apart() -> None:
    chunks = [
        chunk(
            [
                delta(
                    role="assistant",
                    tool_calls=[
                        {
                            "index": 0,
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "weather", "arguments": ""},
                        }
                    ],
                )
            ]
        ),
        chunk([delta(tool_calls=[{"index": 0, "function": {"arguments": '{"city":'}}])]),
        chunk(
            [
                delta(
                    tool_calls=[
                        {"index": 1, "id": "call_b", "type": "function", "function": {"name": "time", "arguments": ""}}
                    ]
                )
            ]
        ),
        chunk([delta(tool_calls=[{"index": 1, "function": {"arguments": '{"tz":"UTC"}'}}])]),
        chunk([delta(tool_calls=[{"index": 0, "function": {"arguments": '"Paris"}'}}])]),
        chunk([delta(finish="tool_calls")]),
    ]
    response = stream_chunk_builder(chunks)
    oai.ChatCompletion.model_validate(response.to_dict())
    calls = response.to_dict()["choices"][0]["message"]["tool_calls"]
    assert calls == [
        {"id": "call_a", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}},
        {"id": "call_b", "type": "function", "function": {"name": "time", "arguments": '{"tz":"UTC"}'}},
    ]
    assert response.choices[0].message.content is None


def test_interleaved_choices_and_reasoning() -> None:
    chunks = [
        chunk([delta(0, content="A"), delta(1, content="B")]),
        chunk([delta(1, content="b", reasoning_content="why")]),
        chunk([delta(0, content="a", finish="stop")]),
        chunk([delta(1, finish="length")]),
    ]
    response = stream_chunk_builder(chunks)
    assert [c.message.content for c in response.choices] == ["Aa", "Bb"]
    assert [c.finish_reason for c in response.choices] == ["stop", "length"]
    assert response.choices[1].message.reasoning_content == "why"
    assert response.usage is None

"""Response objects: attribute and dict access over the exact OpenAI JSON."""

import copy

import openai.types.chat as oai
import pytest

from tollway.types import ChatCompletion, ChatCompletionChunk, EmbeddingResponse, OpenAIObject, ResponseMeta

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1735689600,
    "model": "gpt-4o",
    "system_fingerprint": "fp_x",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "logprobs": None,
            "message": {
                "role": "assistant",
                "content": None,
                "reasoning_content": "thinking...",
                "tool_calls": [{"id": "call_a", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}}],
            },
        }
    ],
    "usage": {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 2},
    },
}


def test_attribute_and_item_access() -> None:
    response = ChatCompletion(copy.deepcopy(COMPLETION), ResponseMeta(provider="openai", model="gpt-4o"))
    message = response.choices[0].message
    assert message.content is None
    assert message.reasoning_content == "thinking..."
    assert message.tool_calls is not None
    assert message.tool_calls[0].function is not None
    assert message.tool_calls[0].function.arguments == '{"x":1}'
    assert response["choices"][0]["message"]["tool_calls"][0]["id"] == "call_a"
    assert response.usage is not None
    assert response.usage.prompt_tokens_details is not None
    assert response.usage.prompt_tokens_details.cached_tokens == 4
    assert response.choices[0].finish_reason == "tool_calls"
    assert response.meta is not None
    assert response.meta.provider == "openai"
    assert message.refusal is None
    assert message.thinking_blocks is None


def test_to_dict_is_exact_openai_json_and_a_copy() -> None:
    response = ChatCompletion(copy.deepcopy(COMPLETION))
    data = response.to_dict()
    assert data == COMPLETION
    oai.ChatCompletion.model_validate(data)
    data["choices"].clear()
    assert len(response.choices) == 1


def test_unknown_field_raises_attribute_error() -> None:
    response = ChatCompletion(copy.deepcopy(COMPLETION))
    with pytest.raises(AttributeError, match="no field 'nope'"):
        _ = response.nope
    assert not hasattr(response.choices[0].message, "audio")
    assert response.get("nope", 3) == 3


def test_chunk_and_embedding_views() -> None:
    chunk = ChatCompletionChunk(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}],
        }
    )
    assert chunk.choices[0].delta.content == "Hi"
    assert chunk.usage is None
    embeddings = EmbeddingResponse(
        {
            "object": "list",
            "model": "e",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}],
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }
    )
    assert embeddings.data[0].embedding == [0.5]
    assert embeddings.usage is not None
    assert embeddings.usage.total_tokens == 1


def test_equality_and_json() -> None:
    a = OpenAIObject({"x": [1, {"y": 2}]})
    assert a == {"x": [1, {"y": 2}]}
    assert a == OpenAIObject({"x": [1, {"y": 2}]})
    assert a.x[1].y == 2
    assert a.to_json() == '{"x":[1,{"y":2}]}'
    assert "x" in a
    assert list(a) == ["x"]
    assert a.keys() == ["x"]

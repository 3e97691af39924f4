"""Cohere end to end: the official cohere SDK judges the fake (its client parses every answer the fake sends), then
tollway runs against the same fake, with the openai SDK's types judging every answer tollway returns."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from typing import Any

import cohere
import httpx
import openai.types.chat as oai
import orjson
import pytest
from openai.types import CreateEmbeddingResponse

import tollway
from fakes import Reply
from fakes.cohere import ANSWER, CohereFake
from tollway import Client

MODEL = "cohere/command-a-03-2025"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
def sdk(cohere_fake: CohereFake) -> Iterator[cohere.ClientV2]:
    with httpx.Client() as http:  # closed after the test: pytest turns an unclosed socket into an error
        yield cohere.ClientV2(api_key="co-test", base_url=cohere_fake.url, httpx_client=http)


@pytest.fixture
def client(cohere_fake: CohereFake) -> Iterator[Client]:
    client = Client(environ={"COHERE_API_KEY": "co-test", "COHERE_API_BASE": cohere_fake.url}, num_retries=0)
    yield client
    client.close()


# -- the fake, judged by the official SDK ----------------------------------------------------------------------
def test_sdk_chat_against_the_fake(sdk: cohere.ClientV2, cohere_fake: CohereFake) -> None:
    response = sdk.chat(model="command-a-03-2025", messages=[{"role": "user", "content": "Hi"}])
    assert response.finish_reason == "COMPLETE"
    assert response.message.content is not None
    assert response.message.content[0].text == ANSWER  # type: ignore[union-attr]
    assert response.usage is not None
    assert response.usage.tokens is not None
    assert response.usage.billed_units is not None
    assert response.usage.tokens.input_tokens > response.usage.billed_units.input_tokens  # type: ignore[operator]
    assert cohere_fake.last_request.headers["authorization"] == "Bearer co-test"


def test_sdk_chat_stream_against_the_fake(sdk: cohere.ClientV2) -> None:
    tools = [
        cohere.ToolV2(
            type="function",
            function=cohere.ToolV2Function(name="get_weather", parameters=WEATHER["function"]["parameters"]),
        )
    ]  # type: ignore[index]
    events = list(
        sdk.chat_stream(
            model="command-a-03-2025", messages=[{"role": "user", "content": "Use get_weather"}], tools=tools
        )
    )
    kinds = [event.type for event in events]
    assert kinds[0] == "message-start"
    assert kinds[-1] == "message-end"
    assert {"tool-plan-delta", "tool-call-start", "tool-call-delta", "tool-call-end"} <= set(kinds)
    arguments = "".join(
        e.delta.message.tool_calls.function.arguments  # type: ignore[union-attr]
        for e in events
        if e.type in ("tool-call-start", "tool-call-delta")
    )
    assert orjson.loads(arguments) == {"city": "example city"}
    assert events[-1].delta.finish_reason == "TOOL_CALL"  # type: ignore[union-attr]


def test_sdk_text_stream_parses_every_event(sdk: cohere.ClientV2) -> None:
    events = list(sdk.chat_stream(model="command-a-03-2025", messages=[{"role": "user", "content": "Hi"}]))
    text = "".join(e.delta.message.content.text for e in events if e.type == "content-delta")  # type: ignore[union-attr]
    assert text == ANSWER
    assert all(type(e).__name__ != "UncheckedBaseModel" for e in events)


def test_sdk_embed_and_rerank_against_the_fake(sdk: cohere.ClientV2) -> None:
    embedded = sdk.embed(
        model="embed-v4.0",
        texts=["a", "b"],
        input_type="search_document",
        embedding_types=["float"],
        output_dimension=8,
    )
    assert embedded.embeddings.float_ is not None
    assert [len(v) for v in embedded.embeddings.float_] == [8, 8]
    ranked = sdk.rerank(
        model="rerank-v3.5", query="capital of France", documents=["Bananas", "Paris, capital of France"]
    )
    assert [r.index for r in ranked.results] == [1, 0]


def test_sdk_sees_the_fake_errors(sdk: cohere.ClientV2, cohere_fake: CohereFake) -> None:
    cohere_fake.script(Reply.error(429, "slow down", headers={"retry-after": "1"}))
    with pytest.raises(cohere.TooManyRequestsError) as info:
        sdk.chat(model="m", messages=[{"role": "user", "content": "Hi"}], request_options={"max_retries": 0})
    assert info.value.body == {"id": "req_fake0000000001", "message": "slow down"}
    with pytest.raises(cohere.BadRequestError):
        sdk.chat(model="m", messages=[{"role": "user", "content": "Hi"}], tool_choice="AUTO")  # type: ignore[arg-type]


def test_fake_rejects_unknown_fields(cohere_fake: CohereFake, client: Client) -> None:
    with pytest.raises(tollway.BadRequestError, match="unknown field"):
        client.completion(MODEL, [{"role": "user", "content": "Hi"}], extra_body={"unknown_thing": 1})


# -- tollway against the fake ----------------------------------------------------------------------------------
def test_chat_tool_loop_end_to_end(client: Client, cohere_fake: CohereFake) -> None:
    first = client.completion(MODEL, [{"role": "user", "content": "Weather?"}], tools=[WEATHER], tool_choice="required")
    assert isinstance(first, tollway.ChatCompletion)
    data = first.to_dict()
    oai.ChatCompletion.model_validate(data)
    message = data["choices"][0]["message"]
    assert data["choices"][0]["finish_reason"] == "tool_calls"
    assert message["tool_plan"] == "I will call get_weather."
    call = message["tool_calls"][0]
    follow_up = [
        {"role": "user", "content": "Weather?"},
        message,
        {"role": "tool", "tool_call_id": call["id"], "content": '{"temp_c": 21}'},
    ]
    second = client.completion(MODEL, follow_up, tools=[WEATHER])
    assert isinstance(second, tollway.ChatCompletion)
    assert second.choices[0].message.content == ANSWER
    sent = cohere_fake.last_request.json["messages"]
    assert sent[1] == {"role": "assistant", "tool_calls": [call], "tool_plan": "I will call get_weather."}
    assert sent[2] == {"role": "tool", "tool_call_id": call["id"], "content": '{"temp_c": 21}'}


def test_stream_end_to_end_with_usage(client: Client) -> None:
    stream = client.completion(
        MODEL, [{"role": "user", "content": "Hi"}], stream=True, stream_options={"include_usage": True}
    )
    assert isinstance(stream, tollway.CompletionStream)
    chunks = list(stream)
    for chunk in chunks:
        oai.ChatCompletionChunk.model_validate(chunk.to_dict())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens > 64


def test_reasoning_and_cached_tokens(client: Client) -> None:
    response = client.completion(MODEL, [{"role": "user", "content": "Hi"}], reasoning_effort="medium")
    assert isinstance(response, tollway.ChatCompletion)
    assert response.choices[0].message.reasoning_content
    long = [{"role": "system", "content": "rule " * 3000}, {"role": "user", "content": "Hi"}]
    client.completion(MODEL, long)
    again = client.completion(MODEL, long)
    assert isinstance(again, tollway.ChatCompletion)
    assert again.to_dict()["usage"]["prompt_tokens_details"]["cached_tokens"] > 0


def test_in_stream_error_and_truncation(client: Client, cohere_fake: CohereFake) -> None:
    cohere_fake.script(Reply.stream_error(after=4, message="backend exploded"))
    stream = client.completion(MODEL, [{"role": "user", "content": "Hi"}], stream=True)
    with pytest.raises(tollway.InternalServerError, match="backend exploded"):
        list(stream)  # type: ignore[arg-type]
    cohere_fake.script(Reply.stream(truncate_after=4))
    stream = client.completion(MODEL, [{"role": "user", "content": "Hi"}], stream=True)
    with pytest.raises(tollway.APIConnectionError, match="cohere closed the stream before it finished"):
        list(stream)  # type: ignore[arg-type]


def test_rate_limit_keeps_retry_after(client: Client, cohere_fake: CohereFake) -> None:
    cohere_fake.script(Reply.error(429, "trial key", headers={"retry-after": "4"}))
    with pytest.raises(tollway.RateLimitError) as info:
        client.completion(MODEL, [{"role": "user", "content": "Hi"}])
    assert info.value.retry_after == 4.0
    assert info.value.message == "trial key"


def test_embeddings_float_and_base64(client: Client, cohere_fake: CohereFake) -> None:
    floats = client.embedding("cohere/embed-v4.0", ["a", "b"], dimensions=16)
    CreateEmbeddingResponse.model_validate(floats.to_dict())
    assert cohere_fake.last_request.json["output_dimension"] == 16
    assert cohere_fake.last_request.json["input_type"] == "search_document"
    vectors = [item.embedding for item in floats.data]
    encoded = client.embedding("cohere/embed-v4.0", ["a", "b"], dimensions=16, encoding_format="base64")
    raw = encoded.to_dict()["data"][0]["embedding"]
    assert isinstance(raw, str)
    assert list(struct.unpack("<16f", base64.b64decode(raw))) == pytest.approx(vectors[0], rel=1e-6)


def test_rerank_end_to_end(client: Client, cohere_fake: CohereFake) -> None:
    documents: list[Any] = ["Bananas are yellow.", {"text": "Paris is the capital of France."}]
    response = client.rerank("cohere/rerank-v3.5", "capital of France", documents, top_n=1, return_documents=True)
    assert response.to_dict()["results"] == [
        {
            "index": 1,
            "relevance_score": pytest.approx(0.9, abs=0.1),
            "document": {"text": "Paris is the capital of France."},
        }
    ]
    assert response.to_dict()["meta"]["billed_units"] == {"search_units": 1}
    assert cohere_fake.last_request.json == {
        "model": "rerank-v3.5",
        "query": "capital of France",
        "documents": ["Bananas are yellow.", "Paris is the capital of France."],
        "top_n": 1,
    }

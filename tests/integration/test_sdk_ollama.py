"""Ollama end to end: the official ollama SDK judges the fake (faithfulness), then tollway runs against that fake,
which refuses what the Go server refuses (data: URLs as images, arguments as strings)."""

from __future__ import annotations

import base64
import struct
import urllib.request
from collections.abc import Iterator

import ollama
import openai.types.chat as oai
import orjson
import pytest

import tollway
from fakes import Reply
from fakes.ollama import ANSWER, THINKING, OllamaFake
from tollway import Client

MODEL = "ollama/llama3.2"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Time in a timezone",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
    },
}
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


@pytest.fixture
def sdk(ollama_fake: OllamaFake) -> Iterator[ollama.Client]:
    sdk = ollama.Client(host=ollama_fake.url)
    yield sdk
    sdk.close()


@pytest.fixture
def client(ollama_fake: OllamaFake) -> Iterator[Client]:
    client = Client(environ={"OLLAMA_API_BASE": ollama_fake.url}, num_retries=0)
    yield client
    client.close()


def validated(response: object) -> tollway.ChatCompletion:
    assert isinstance(response, tollway.ChatCompletion)
    oai.ChatCompletion.model_validate(response.to_dict())
    return response


def chunks_of(stream: object) -> list[tollway.ChatCompletionChunk]:
    assert isinstance(stream, tollway.CompletionStream)
    chunks = list(stream)
    for chunk in chunks:
        oai.ChatCompletionChunk.model_validate(chunk.to_dict())
    return chunks


# -- the fake, judged by the official SDK ---------------------------------------------------------------------
def test_sdk_chat_with_image_and_options(sdk: ollama.Client, ollama_fake: OllamaFake) -> None:
    messages = [{"role": "user", "content": "What is this?", "images": [base64.b64decode(PNG_B64)]}]
    response = sdk.chat(model="llama3.2", messages=messages, options={"temperature": 0.1, "num_predict": 3})
    assert response.message.content == "Hello from the"
    assert response.done_reason == "length"
    assert response.eval_count == 3
    sent = ollama_fake.last_request.json
    assert sent["messages"][0]["images"] == [PNG_B64]
    assert sent["stream"] is False


def test_sdk_stream_and_content_type(sdk: ollama.Client, ollama_fake: OllamaFake) -> None:
    parts = list(sdk.chat(model="llama3.2", messages=MESSAGES, stream=True, think=True))
    assert "".join(p.message.content or "" for p in parts) == ANSWER
    assert "".join(p.message.thinking or "" for p in parts) == THINKING
    assert parts[-1].done is True
    assert parts[-1].prompt_eval_count
    request = urllib.request.Request(
        ollama_fake.url + "/api/chat", data=orjson.dumps({"model": "llama3.2", "messages": MESSAGES}), method="POST"
    )
    with urllib.request.urlopen(request) as answer:
        assert answer.headers["content-type"].startswith("application/x-ndjson")
        lines = answer.read().splitlines()
    assert orjson.loads(lines[-1])["done"] is True


def test_sdk_tool_calls(sdk: ollama.Client) -> None:
    messages = [{"role": "user", "content": "Use get_weather for Paris and get_time for Paris"}]
    response = sdk.chat(model="llama3.2", messages=messages, tools=[WEATHER, TIME])
    calls = response.message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert calls[0].function.arguments == {"city": "example city"}


def test_sdk_embed_and_errors(sdk: ollama.Client, ollama_fake: OllamaFake) -> None:
    response = sdk.embed(model="all-minilm", input=["a", "b"], dimensions=8)
    assert [len(v) for v in response.embeddings] == [8, 8]
    ollama_fake.script(Reply.error(404))
    with pytest.raises(ollama.ResponseError) as info:
        sdk.chat(model="llama3.2", messages=MESSAGES)
    assert info.value.status_code == 404
    assert "not found" in info.value.error
    ollama_fake.script(Reply.stream_error(after=2, message="runner crashed"))
    with pytest.raises(ollama.ResponseError, match="runner crashed"):
        list(sdk.chat(model="llama3.2", messages=MESSAGES, stream=True))


# -- tollway against the fake ---------------------------------------------------------------------------------
def test_chat_maps_params_and_keeps_metrics(client: Client, ollama_fake: OllamaFake) -> None:
    response = validated(
        client.completion(MODEL, MESSAGES, temperature=0.2, max_completion_tokens=50, seed=7, stop="END", top_k=40)
    )
    assert response.choices[0].message.content == ANSWER
    assert response.choices[0].finish_reason == "stop"
    body = ollama_fake.last_request.json
    assert body["stream"] is False
    assert body["options"] == {"temperature": 0.2, "seed": 7, "top_k": 40, "num_predict": 50, "stop": ["END"]}
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    data = response.to_dict()
    assert data["total_duration"] == 3244883583
    assert data["usage"]["total_tokens"] == data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"]


def test_images_from_data_urls_only(client: Client, ollama_fake: OllamaFake) -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG_B64}},
    ]
    validated(client.completion(MODEL, [{"role": "user", "content": content}]))
    assert ollama_fake.last_request.json["messages"][0] == {
        "role": "user",
        "content": "What is this?",
        "images": [PNG_B64],
    }
    remote = [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]
    with pytest.raises(tollway.BadRequestError, match="data:image"):
        client.completion(MODEL, [{"role": "user", "content": remote}])


def test_parallel_tool_loop(client: Client, ollama_fake: OllamaFake) -> None:
    ask = [{"role": "user", "content": "Use get_weather for Paris and get_time for Paris"}]
    first = validated(client.completion(MODEL, ask, tools=[WEATHER, TIME]))
    message = first.to_dict()["choices"][0]["message"]
    assert first.choices[0].finish_reason == "tool_calls"
    assert message["content"] is None
    ids = [c["id"] for c in message["tool_calls"]]
    assert len(set(ids)) == 2
    history = [
        *ask,
        first.choices[0].message.to_dict(),
        {"role": "tool", "tool_call_id": ids[0], "content": "21C"},
        {"role": "tool", "tool_call_id": ids[1], "content": "12:00"},
    ]
    second = validated(client.completion(MODEL, history, tools=[WEATHER, TIME]))
    assert second.choices[0].message.content == ANSWER
    sent = ollama_fake.last_request.json["messages"]
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == {"city": "example city"}
    assert [(m["tool_name"], m["tool_call_id"]) for m in sent[2:]] == [("get_weather", ids[0]), ("get_time", ids[1])]


def test_tool_choice_limits(client: Client, ollama_fake: OllamaFake) -> None:
    with pytest.raises(tollway.UnsupportedParamsError) as info:
        client.completion(MODEL, MESSAGES, tools=[WEATHER], tool_choice="required")
    assert info.value.param == "tool_choice"
    validated(client.completion(MODEL, MESSAGES, tools=[WEATHER], tool_choice="required", drop_params=True))
    assert ollama_fake.last_request.json["tools"][0]["function"]["name"] == "get_weather"
    validated(client.completion(MODEL, MESSAGES, tools=[WEATHER], tool_choice="none"))
    assert "tools" not in ollama_fake.last_request.json


def test_thinking_stream(client: Client, ollama_fake: OllamaFake) -> None:
    chunks = chunks_of(client.completion(MODEL, MESSAGES, reasoning_effort="medium", stream=True))
    assert ollama_fake.last_request.json["think"] == "medium"
    assert ollama_fake.last_request.json["stream"] is True
    rebuilt = tollway.stream_chunk_builder(chunks).to_dict()["choices"][0]["message"]
    assert rebuilt["reasoning_content"] == THINKING
    assert rebuilt["content"] == ANSWER


def test_errors(client: Client, ollama_fake: OllamaFake) -> None:
    ollama_fake.script(Reply.error(404))
    with pytest.raises(tollway.NotFoundError, match="not found"):
        client.completion(MODEL, MESSAGES)
    ollama_fake.script(Reply.stream_error(after=2, message="runner crashed"), Reply.stream(truncate_after=2))
    with pytest.raises(tollway.InternalServerError, match="runner crashed"):
        chunks_of(client.completion(MODEL, MESSAGES, stream=True))
    with pytest.raises(tollway.APIConnectionError, match="ollama closed the stream before it finished"):
        chunks_of(client.completion(MODEL, MESSAGES, stream=True))


def test_embeddings_and_api_key(ollama_fake: OllamaFake) -> None:
    client = Client(environ={"OLLAMA_HOST": ollama_fake.url.removeprefix("http://"), "OLLAMA_API_KEY": "k"})
    try:
        response = client.embedding("ollama/all-minilm", ["a", "b"], dimensions=4, encoding_format="base64")
    finally:
        client.close()
    sent = ollama_fake.last_request
    assert sent.json == {"model": "all-minilm", "input": ["a", "b"], "dimensions": 4}
    assert sent.headers["authorization"] == "Bearer k"
    encoded = response.data[0].embedding
    assert isinstance(encoded, str)
    assert len(struct.unpack("<4f", base64.b64decode(encoded))) == 4
    assert response.usage is not None
    assert response.usage.prompt_tokens == 2

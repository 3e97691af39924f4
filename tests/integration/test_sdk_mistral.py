"""Mistral end to end: the official mistralai SDK judges the fake (faithfulness), then tollway runs against that
fake, which judges every body like La Plateforme does (422 on unknown fields, 9-character tool-call ids)."""

from __future__ import annotations

from collections.abc import Iterator

import openai.types.chat as oai
import pytest
from mistralai.client import Mistral
from mistralai.client.errors import HTTPValidationError, SDKError
from mistralai.client.models import TextChunk, ThinkChunk

import tollway
from fakes import Reply
from fakes.mistral import ANSWER, THINKING, MistralFake
from tollway import Client

MODEL = "mistral/mistral-large-latest"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
def sdk(mistral_fake: MistralFake) -> Iterator[Mistral]:
    with Mistral(api_key="mistral-test", server_url=mistral_fake.origin) as client:
        yield client


@pytest.fixture
def client(mistral_fake: MistralFake) -> Iterator[Client]:
    client = Client(environ={"MISTRAL_API_KEY": "mistral-test", "MISTRAL_API_BASE": mistral_fake.url}, num_retries=0)
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
def test_sdk_chat_complete_and_tool_loop(sdk: Mistral, mistral_fake: MistralFake) -> None:
    first = sdk.chat.complete(
        model="mistral-large-latest", messages=MESSAGES, tools=[WEATHER], tool_choice="any", random_seed=7
    )
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert len(call.id) == 9
    assert call.id.isalnum()
    assert mistral_fake.last_request.path == "/v1/chat/completions"
    assert mistral_fake.last_request.headers["authorization"] == "Bearer mistral-test"
    follow_up = [
        *MESSAGES,
        first.choices[0].message,
        {"role": "tool", "tool_call_id": call.id, "name": "get_weather", "content": "21C"},
    ]
    second = sdk.chat.complete(model="mistral-large-latest", messages=follow_up, tools=[WEATHER])
    assert second.choices[0].message.content == ANSWER
    assert second.usage.total_tokens == second.usage.prompt_tokens + second.usage.completion_tokens


def test_sdk_chat_stream_has_usage_on_the_last_chunk(sdk: Mistral) -> None:
    events = list(sdk.chat.stream(model="mistral-large-latest", messages=MESSAGES))
    text = "".join(
        e.data.choices[0].delta.content or "" for e in events if isinstance(e.data.choices[0].delta.content, str)
    )
    assert text == ANSWER
    assert events[-1].data.choices[0].finish_reason == "stop"
    assert events[-1].data.usage is not None
    assert events[-1].data.usage.completion_tokens > 0
    assert all(e.data.usage is None for e in events[:-1])


def test_sdk_reasoning_answers_thinking_chunks(sdk: Mistral) -> None:
    response = sdk.chat.complete(model="magistral-medium-latest", messages=MESSAGES, prompt_mode="reasoning")
    content = response.choices[0].message.content
    assert isinstance(content, list)
    assert isinstance(content[0], ThinkChunk)
    assert content[0].thinking[0].text == THINKING
    assert isinstance(content[1], TextChunk)
    assert content[1].text == ANSWER


def test_sdk_embeddings(sdk: Mistral, mistral_fake: MistralFake) -> None:
    response = sdk.embeddings.create(model="mistral-embed", inputs=["a", "b"], output_dimension=8)
    assert [len(item.embedding or []) for item in response.data] == [8, 8]
    assert mistral_fake.last_request.json["input"] == ["a", "b"]


def test_sdk_errors(sdk: Mistral, mistral_fake: MistralFake) -> None:
    mistral_fake.script(Reply.error(429))
    with pytest.raises(SDKError) as info:
        sdk.chat.complete(model="mistral-large-latest", messages=MESSAGES)
    assert info.value.status_code == 429
    mistral_fake.script(Reply.error(422, "Input should be a valid string"))
    with pytest.raises(HTTPValidationError) as validation:
        sdk.chat.complete(model="mistral-large-latest", messages=MESSAGES)
    assert validation.value.data.detail[0].msg == "Input should be a valid string"


# -- tollway against the fake ---------------------------------------------------------------------------------
def test_params_are_renamed_and_whitelisted(client: Client, mistral_fake: MistralFake) -> None:
    response = validated(
        client.completion(MODEL, MESSAGES, seed=3, max_completion_tokens=50, safe_prompt=True, service_tier="default")
    )
    assert response.choices[0].message.content == ANSWER
    body = mistral_fake.last_request.json
    assert body["random_seed"] == 3
    assert "seed" not in body
    assert body["max_tokens"] == 50
    assert "max_completion_tokens" not in body
    assert body["safe_prompt"] is True
    assert body["service_tier"] == "standard_only"


def test_unsupported_params_raise_or_drop(client: Client, mistral_fake: MistralFake) -> None:
    with pytest.raises(tollway.UnsupportedParamsError) as info:
        client.completion(MODEL, MESSAGES, logit_bias={"1": 5})
    assert info.value.param == "logit_bias"
    assert "mistral" in str(info.value)
    assert mistral_fake.requests == []
    validated(client.completion(MODEL, MESSAGES, logit_bias={"1": 5}, user="u1", drop_params=True))
    assert "logit_bias" not in mistral_fake.last_request.json


def test_tool_loop_with_foreign_ids(client: Client, mistral_fake: MistralFake) -> None:
    """A history from OpenAI (``call_…`` ids) is accepted: ids are mapped the same way on both sides."""
    history = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "annotations": [],
            "tool_calls": [
                {"id": "call_AbC123xyz789", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_AbC123xyz789", "content": "21C"},
    ]
    validated(client.completion(MODEL, history, tools=[WEATHER]))
    sent = mistral_fake.last_request.json["messages"]
    mapped = sent[1]["tool_calls"][0]["id"]
    assert len(mapped) == 9
    assert mapped.isalnum()
    assert sent[2]["tool_call_id"] == mapped
    assert sent[2]["name"] == "get_weather"
    assert "refusal" not in sent[1]
    assert "annotations" not in sent[1]


def test_forced_call_uses_any_and_round_trips(client: Client, mistral_fake: MistralFake) -> None:
    first = validated(client.completion(MODEL, MESSAGES, tools=[WEATHER], tool_choice="required"))
    assert mistral_fake.last_request.json["tool_choice"] == "any"
    call = first.to_dict()["choices"][0]["message"]["tool_calls"][0]
    history = [
        *MESSAGES,
        first.choices[0].message.to_dict(),
        {"role": "tool", "tool_call_id": call["id"], "content": "21C"},
    ]
    validated(client.completion(MODEL, history, tools=[WEATHER]))
    assert mistral_fake.last_request.json["messages"][-1]["tool_call_id"] == call["id"]  # Mistral's id unchanged


def test_reasoning_content_from_thinking_chunks(client: Client) -> None:
    response = validated(client.completion("mistral/magistral-medium-latest", MESSAGES, prompt_mode="reasoning"))
    message = response.to_dict()["choices"][0]["message"]
    assert message["content"] == ANSWER
    assert message["reasoning_content"] == THINKING
    chunks = chunks_of(
        client.completion("mistral/magistral-medium-latest", MESSAGES, reasoning_effort="high", stream=True)
    )
    rebuilt = tollway.stream_chunk_builder(chunks).to_dict()["choices"][0]["message"]
    assert rebuilt["content"] == ANSWER
    assert rebuilt["reasoning_content"] == THINKING


def test_stream_sends_no_stream_options_and_reports_usage(client: Client, mistral_fake: MistralFake) -> None:
    chunks = chunks_of(client.completion(MODEL, MESSAGES, stream=True, stream_options={"include_usage": True}))
    assert "stream_options" not in mistral_fake.last_request.json
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert tollway.stream_chunk_builder(chunks).choices[0].message.content == ANSWER


def test_validation_error_and_mid_stream_error(client: Client, mistral_fake: MistralFake) -> None:
    mistral_fake.script(Reply.error(422, body={"detail": [{"loc": ["body", "n"], "msg": "bad n", "type": "x"}]}))
    with pytest.raises(tollway.UnprocessableEntityError, match=r"body\.n: bad n"):
        client.completion(MODEL, MESSAGES)
    mistral_fake.script(Reply.error(401))
    with pytest.raises(tollway.AuthenticationError, match="Unauthorized"):
        client.completion(MODEL, MESSAGES)
    mistral_fake.script(Reply.stream_error(after=2, message="model crashed"))
    with pytest.raises(tollway.InternalServerError, match="model crashed"):
        chunks_of(client.completion(MODEL, MESSAGES, stream=True))


def test_embeddings(client: Client, mistral_fake: MistralFake) -> None:
    response = client.embedding("mistral/mistral-embed", ["a", "b"], dimensions=4)
    assert mistral_fake.last_request.json == {"model": "mistral-embed", "input": ["a", "b"], "output_dimension": 4}
    assert [len(item.embedding) for item in response.data] == [4, 4]
    encoded = client.embedding("mistral/mistral-embed", "a", encoding_format="base64")
    assert isinstance(encoded.data[0].embedding, str)
    with pytest.raises(tollway.UnsupportedParamsError):
        client.embedding("mistral/mistral-embed", "a", user="u1")

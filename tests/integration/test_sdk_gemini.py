"""End to end against the Gemini fake: google-genai proves the fake faithful (§6.8); tollway talks to it."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from typing import Any

import openai.types.chat as oai
import orjson
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

import tollway
from fakes import Reply
from fakes.gemini import ANSWER, SIGNATURE, GeminiFake
from tollway import Client

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def sdk(fake: GeminiFake) -> genai.Client:
    return genai.Client(api_key="k", http_options=types.HttpOptions(base_url=fake.url))


@pytest.fixture
def tw(gemini_fake: GeminiFake) -> Iterator[Client]:
    client = Client(environ={"GEMINI_API_KEY": "k", "GEMINI_API_BASE": gemini_fake.url}, num_retries=0)
    yield client
    client.close()


def test_sdk_generate_and_stream(gemini_fake: GeminiFake) -> None:
    gc = sdk(gemini_fake)  # kept: the SDK closes its HTTP client when the Client is collected
    config = types.GenerateContentConfig(
        system_instruction="terse", thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=64)
    )
    response = gc.models.generate_content(model="gemini-2.5-flash", contents="Hi", config=config)
    assert response.text == ANSWER
    assert response.usage_metadata is not None
    assert response.usage_metadata.thoughts_token_count == 24
    assert gemini_fake.last_request.headers["x-goog-api-key"] == "k"
    pieces = list(gc.models.generate_content_stream(model="gemini-2.5-flash", contents="Hi"))
    assert "".join(p.text or "" for p in pieces) == ANSWER
    assert pieces[-1].candidates is not None
    assert pieces[-1].candidates[0].finish_reason == types.FinishReason.STOP


def test_sdk_function_calling_loop(gemini_fake: GeminiFake) -> None:
    gc = sdk(gemini_fake)  # kept: the SDK closes its HTTP client when the Client is collected

    def get_weather(city: str) -> str:
        """Current weather."""
        return "sunny in " + city

    config = types.GenerateContentConfig(tools=[get_weather])
    response = gc.models.generate_content(model="gemini-2.5-flash", contents="get_weather?", config=config)
    assert response.text == ANSWER
    history = gemini_fake.last_request.json["contents"]
    assert history[1]["parts"][0]["functionCall"]["name"] == "get_weather"
    assert history[2]["parts"][0]["functionResponse"]["response"] == {"result": "sunny in example city"}


def test_sdk_embeddings_and_errors(gemini_fake: GeminiFake) -> None:
    gc = sdk(gemini_fake)  # kept: the SDK closes its HTTP client when the Client is collected
    config = types.EmbedContentConfig(output_dimensionality=8)
    result = gc.models.embed_content(model="gemini-embedding-001", contents=["a", "b"], config=config)
    assert result.embeddings is not None
    assert [len(e.values or []) for e in result.embeddings] == [8, 8]
    gemini_fake.script(Reply.error(429))
    with pytest.raises(genai_errors.ClientError) as info:
        gc.models.generate_content(model="gemini-2.5-flash", contents="Hi")
    assert (info.value.code, info.value.status) == (429, "RESOURCE_EXHAUSTED")


def test_fake_rejects_what_the_real_api_rejects(gemini_fake: GeminiFake) -> None:
    gc = sdk(gemini_fake)  # kept: the SDK closes its HTTP client when the Client is collected
    with pytest.raises(genai_errors.ClientError, match="Unknown name"):
        gc.models.generate_content(
            model="gemini-2.5-flash", contents="Hi", config={"http_options": {"extra_body": {"bogus": 1}}}
        )


def test_tollway_thought_signature_round_trip(gemini_fake: GeminiFake, tw: Client) -> None:
    model = "gemini/gemini-3-flash-preview"
    first = tw.completion(model, [{"role": "user", "content": "Hi"}], tools=[WEATHER], tool_choice="required")
    oai.ChatCompletion.model_validate(first.to_dict())
    call = first.to_dict()["choices"][0]["message"]["tool_calls"][0]
    assert call["provider_specific_fields"] == {"thought_signature": SIGNATURE}
    history = [
        {"role": "user", "content": "Hi"},
        first.choices[0].message.to_dict(),
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny"},
    ]
    second = tw.completion(model, history, tools=[WEATHER])
    assert second.choices[0].message.content == ANSWER
    sent = gemini_fake.last_request.json["contents"][1]["parts"][0]
    assert sent["thoughtSignature"] == SIGNATURE
    # A client that keeps only the id (drops provider fields) still round-trips the signature.
    bare = {"role": "assistant", "content": None, "tool_calls": [{k: call[k] for k in ("id", "type", "function")}]}
    third = tw.completion(model, [history[0], bare, history[2]], tools=[WEATHER])
    assert third.choices[0].message.content == ANSWER
    # Without it Gemini 3 refuses the history, as the real API does.
    bare["tool_calls"][0]["id"] = "call_plain"
    with pytest.raises(tollway.BadRequestError, match="thought_signature"):
        tw.completion(model, [history[0], bare, {**history[2], "tool_call_id": "call_plain"}], tools=[WEATHER])


def test_tollway_stream_usage_and_reasoning(gemini_fake: GeminiFake, tw: Client) -> None:
    stream = tw.completion(
        "gemini/gemini-2.5-flash",
        [{"role": "user", "content": "Hi"}],
        stream=True,
        reasoning_effort="low",
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    for chunk in chunks:
        oai.ChatCompletionChunk.model_validate(chunk.to_dict())
    rebuilt = tollway.stream_chunk_builder(chunks).to_dict()
    assert rebuilt["choices"][0]["message"]["content"] == ANSWER
    assert chunks[-1].choices == []
    usage: dict[str, Any] = chunks[-1].to_dict()["usage"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 24
    assert usage["completion_tokens"] == 6 + 24
    body = gemini_fake.last_request.json
    assert body["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 1024, "includeThoughts": True}
    assert gemini_fake.last_request.query == {"alt": "sse"}


def test_tollway_grounding_kept_and_base64_embeddings(gemini_fake: GeminiFake, tw: Client) -> None:
    answer = tw.completion("gemini/gemini-2.5-flash", [{"role": "user", "content": "News?"}], web_search_options={})
    fields = answer.to_dict()["choices"][0]["message"]["provider_specific_fields"]
    assert fields["grounding_metadata"]["groundingChunks"][0]["web"]["uri"] == "https://example.com/"
    floats = tw.embedding("gemini/gemini-embedding-001", ["a"], dimensions=4)
    packed = tw.embedding("gemini/gemini-embedding-001", ["a"], dimensions=4, encoding_format="base64")
    raw = base64.b64decode(packed.to_dict()["data"][0]["embedding"])
    assert list(struct.unpack("<4f", raw)) == pytest.approx(floats.data[0].embedding, rel=1e-6)
    assert orjson.loads(gemini_fake.last_request.body)["requests"][0]["outputDimensionality"] == 4

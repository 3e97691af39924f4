"""One suite, every adapter: each scenario runs over every provider case that supports it.

The official openai SDK's types judge every response and chunk; each fake judges every request in its provider's
own terms. See harness.py for the conventions the fakes follow.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai.types.chat as oai
import orjson
import pytest

import tollway
from conformance.cases import all_cases
from conformance.harness import ProviderCase
from fakes import Reply
from tollway import Client

CASES = all_cases()
MESSAGES = [{"role": "user", "content": "Say hello"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local time in a timezone",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
    },
}
PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def cases_with(feature: str) -> list[Any]:
    chosen = [pytest.param(case, id=case.name) for case in CASES if feature in case.supports]
    return chosen or [pytest.param(None, marks=pytest.mark.skip(reason=f"no case supports {feature}"))]


class Harness:
    """One case's client and fake, with helpers that validate what comes back."""

    def __init__(self, case: ProviderCase, fake: Any) -> None:
        self.case = case
        self.fake = fake
        self.client = Client(environ=case.environ(fake), num_retries=0)
        self.kwargs = case.call_kwargs(fake)

    def complete(self, messages: list[dict[str, Any]] = MESSAGES, **params: Any) -> tollway.ChatCompletion:
        response = self.client.completion(self.case.model, messages, **self.kwargs, **params)
        assert isinstance(response, tollway.ChatCompletion)
        oai.ChatCompletion.model_validate(response.to_dict())
        return response

    def stream(self, messages: list[dict[str, Any]] = MESSAGES, **params: Any) -> list[tollway.ChatCompletionChunk]:
        stream = self.client.completion(self.case.model, messages, stream=True, **self.kwargs, **params)
        assert isinstance(stream, tollway.CompletionStream)
        chunks = list(stream)
        for chunk in chunks:
            oai.ChatCompletionChunk.model_validate(chunk.to_dict())
        return chunks

    def script(self, reply: Reply, *, stream: bool = False) -> None:
        route = self.case.stream_route if stream else self.case.chat_route
        self.fake.script(reply, route=route)


@pytest.fixture
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    case: ProviderCase = request.param
    harness = Harness(case, request.getfixturevalue(case.fake))
    yield harness
    harness.client.close()


def parametrize(feature: str) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("harness", cases_with(feature), indirect=True)


@parametrize("text")
def test_text(harness: Harness) -> None:
    response = harness.complete()
    assert response.choices[0].message.content
    assert response.choices[0].finish_reason == "stop"
    assert response.choices[0].message.role == "assistant"


@parametrize("system")
def test_system_and_multi_turn(harness: Harness) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Say hello again"},
    ]
    assert harness.complete(messages).choices[0].message.content


@parametrize("tools")
def test_forced_tool_call_and_tool_loop(harness: Harness) -> None:
    first = harness.complete(tools=[WEATHER], tool_choice="required")
    calls = first.to_dict()["choices"][0]["message"]["tool_calls"]
    assert len(calls) == 1
    assert calls[0]["function"]["name"] == "get_weather"
    assert "city" in orjson.loads(calls[0]["function"]["arguments"])
    assert calls[0]["id"]
    follow_up = [
        *MESSAGES,
        first.choices[0].message.to_dict(),
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": '{"temp_c": 21}'},
    ]
    second = harness.complete(follow_up, tools=[WEATHER])
    assert second.choices[0].message.content


@parametrize("tools")
def test_streamed_tool_call_reassembles(harness: Harness) -> None:
    chunks = harness.stream(tools=[WEATHER], tool_choice="required")
    call = tollway.stream_chunk_builder(chunks).to_dict()["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert "city" in orjson.loads(call["function"]["arguments"])


PARALLEL = [{"role": "user", "content": "Use get_weather for Paris and get_time for Europe/Paris"}]


@parametrize("parallel_tools")
def test_parallel_tool_calls(harness: Harness) -> None:
    whole = harness.complete(PARALLEL, tools=[WEATHER, TIME])
    calls = whole.to_dict()["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert len({c["id"] for c in calls}) == 2
    streamed = tollway.stream_chunk_builder(harness.stream(PARALLEL, tools=[WEATHER, TIME]))
    calls = streamed.to_dict()["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert [sorted(orjson.loads(c["function"]["arguments"])) for c in calls] == [["city"], ["tz"]]


@parametrize("images")
def test_image_input(harness: Harness) -> None:
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": PNG}}]
    assert harness.complete([{"role": "user", "content": content}]).choices[0].message.content


@parametrize("json")
def test_json_modes(harness: Harness) -> None:
    messages = [{"role": "user", "content": "Answer in JSON with a city"}]
    json_object = harness.complete(messages, response_format={"type": "json_object"})
    assert isinstance(orjson.loads(json_object.choices[0].message.content or ""), dict)
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    response_format = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    json_schema = harness.complete(messages, response_format=response_format)
    assert isinstance(orjson.loads(json_schema.choices[0].message.content or ""), dict)


@parametrize("stream")
def test_stream_matches_whole(harness: Harness) -> None:
    whole = harness.complete()
    chunks = harness.stream(stream_options={"include_usage": True})
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    rebuilt = tollway.stream_chunk_builder(chunks)
    assert rebuilt.choices[0].message.content == whole.choices[0].message.content
    assert rebuilt.choices[0].finish_reason == "stop"
    ids = {chunk.id for chunk in chunks}
    assert len(ids) == 1


@parametrize("usage")
def test_usage_counts(harness: Harness) -> None:
    usage = harness.complete().usage
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    stream = harness.client.completion(harness.case.model, MESSAGES, stream=True, **harness.kwargs)
    assert isinstance(stream, tollway.CompletionStream)
    assert all(chunk.choices for chunk in stream)  # no usage chunk unless asked...
    assert stream.usage is not None  # ...but the usage is known
    assert stream.usage.output_tokens > 0


@parametrize("usage")
def test_every_answer_carries_its_cost_or_unpriced(harness: Harness) -> None:
    from tollway.pricing import price_for, price_usage

    whole = harness.complete().meta
    stream = harness.client.completion(harness.case.model, MESSAGES, stream=True, **harness.kwargs)
    assert isinstance(stream, tollway.CompletionStream)
    list(stream)
    for meta in (whole, stream.meta):
        assert meta is not None
        assert meta.usage is not None
        if price_for(meta.provider, meta.model) is None:
            assert meta.cost is None  # unpriced: None, never a made-up zero
            continue
        expected = price_usage(meta.provider, meta.model, meta.usage)
        assert expected is not None
        assert meta.cost is not None
        assert meta.cost.total == expected.total
        assert meta.cost.total > 0
        assert meta.cost.source


@parametrize("cached")
def test_cached_tokens_on_a_repeated_prompt(harness: Harness) -> None:
    messages = [{"role": "system", "content": "policy " * 2000}, {"role": "user", "content": "Say hello"}]
    harness.complete(messages)
    again = harness.complete(messages)
    assert again.meta is not None
    assert again.meta.usage is not None
    assert 0 < again.meta.usage.cache_read_tokens <= again.meta.usage.input_tokens


@parametrize("reasoning")
def test_reasoning(harness: Harness) -> None:
    response = harness.complete(reasoning_effort="low")
    usage = response.meta.usage if response.meta else None
    assert (usage is not None and usage.reasoning_tokens > 0) or response.choices[0].message.reasoning_content


@parametrize("length")
def test_length_finish(harness: Harness) -> None:
    response = harness.complete(max_tokens=2)
    assert response.choices[0].finish_reason == "length"


@parametrize("errors")
@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, tollway.RateLimitError),
        (500, tollway.InternalServerError),
        (503, tollway.ServiceUnavailableError),
        (401, tollway.AuthenticationError),
    ],
)
def test_error_statuses(harness: Harness, status: int, error: type[tollway.TollwayError]) -> None:
    harness.script(Reply.error(status, headers={"retry-after": "7"}))
    with pytest.raises(error) as info:
        harness.complete()
    assert info.value.upstream_status == status
    assert info.value.retry_after == 7.0
    assert info.value.provider == harness.case.model.split("/")[0]


@parametrize("mid_stream_error")
def test_error_inside_a_stream(harness: Harness) -> None:
    harness.script(Reply.stream_error(after=3), stream=True)
    with pytest.raises(tollway.TollwayError) as info:
        harness.stream()
    assert not isinstance(info.value, tollway.APIConnectionError)  # the provider's error, not a broken pipe


@parametrize("truncated")
def test_truncated_stream(harness: Harness) -> None:
    harness.script(Reply.stream(truncate_after=3), stream=True)
    with pytest.raises(tollway.APIConnectionError, match="before it finished"):
        harness.stream()


@parametrize("embeddings")
def test_embeddings(harness: Harness) -> None:
    model = harness.case.embedding_model
    assert model is not None
    response = harness.client.embedding(model, ["first text", "second text"], **harness.kwargs)
    assert [item.index for item in response.data] == [0, 1]
    vectors = [item.embedding for item in response.data]
    assert all(isinstance(v, list) and v and all(isinstance(x, float) for x in v) for v in vectors)
    assert vectors[0] != vectors[1]


@parametrize("rerank")
def test_rerank(harness: Harness) -> None:
    model = harness.case.rerank_model
    assert model is not None
    documents = ["Paris is the capital of France.", "Bananas are yellow.", "France's capital city is Paris."]
    response = harness.client.rerank(model, "capital of France", documents, top_n=2, **harness.kwargs)
    results = response.results
    assert len(results) == 2
    assert results[0].relevance_score >= results[1].relevance_score
    assert {r.index for r in results} <= {0, 1, 2}

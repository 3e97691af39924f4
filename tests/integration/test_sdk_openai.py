"""The SDK end to end against the loopback OpenAI fake: sync, async, streaming, tools, images, errors.

The fake checks every request against openai-python's request types; the official SDK's response types judge
every answer tollway returns.
"""

from collections.abc import Iterator

import openai.types as oai_types
import openai.types.chat as oai
import orjson
import pytest

import tollway
from fakes import SSE, OpenAIFake, Reply
from tollway import Client

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@pytest.fixture
def client(openai_fake: OpenAIFake) -> Iterator[Client]:
    client = Client(environ={"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": openai_fake.url})
    yield client
    client.close()


def validated(response: object) -> tollway.ChatCompletion:
    assert isinstance(response, tollway.ChatCompletion)
    oai.ChatCompletion.model_validate(response.to_dict())
    return response


def test_module_function_with_keys_from_the_environment(
    openai_fake: OpenAIFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_fake.url)
    response = validated(tollway.completion(model="gpt-4o-mini", messages=MESSAGES, temperature=0.1))
    assert response.choices[0].message.content == "Hello from the fake OpenAI upstream."
    assert response.usage is not None
    assert response.usage.prompt_tokens > 0
    sent = openai_fake.last_request
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-env"
    assert sent.json == {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0.1}


async def test_async_with_explicit_base_and_key(openai_fake: OpenAIFake) -> None:
    client = Client(environ={})
    response = validated(
        await client.acompletion("openai/gpt-4o", MESSAGES, api_base=openai_fake.url, api_key="sk-arg", seed=7, n=2)
    )
    assert len(response.choices) == 2
    assert openai_fake.last_request.headers["authorization"] == "Bearer sk-arg"
    await client.aclose()


def test_sync_stream(client: Client, openai_fake: OpenAIFake) -> None:
    stream = client.completion("gpt-4o-mini", MESSAGES, stream=True)
    assert isinstance(stream, tollway.CompletionStream)
    chunks = list(stream)
    for chunk in chunks:
        oai.ChatCompletionChunk.model_validate(chunk.to_dict())
    assert all(chunk.choices for chunk in chunks)  # the caller did not ask for the usage chunk
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "Hello from the fake OpenAI upstream."
    assert stream.usage is not None
    assert stream.usage.output_tokens > 0  # tollway asked for usage upstream anyway
    assert openai_fake.last_request.json["stream_options"] == {"include_usage": True}


async def test_async_stream_with_usage_chunk(openai_fake: OpenAIFake) -> None:
    client = Client(environ={"OPENAI_API_KEY": "k"})
    stream = await client.acompletion(
        "gpt-4o-mini", MESSAGES, api_base=openai_fake.url, stream=True, stream_options={"include_usage": True}
    )
    assert isinstance(stream, tollway.AsyncCompletionStream)
    chunks = [chunk async for chunk in stream]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    whole = validated(tollway.stream_chunk_builder(chunks))
    assert whole.usage is not None
    assert whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens
    await client.aclose()


def test_tool_call_and_the_tool_loop(client: Client, openai_fake: OpenAIFake) -> None:
    first = validated(client.completion("gpt-4o-mini", MESSAGES, tools=[WEATHER_TOOL], tool_choice="required"))
    calls = first.choices[0].message.tool_calls
    assert calls is not None
    assert calls[0].function is not None
    assert calls[0].function.name == "get_weather"
    follow_up = [
        *MESSAGES,
        first.choices[0].message.to_dict(),
        {"role": "tool", "tool_call_id": calls[0].id, "content": '{"temp_c": 21}'},
    ]
    second = validated(client.completion("gpt-4o-mini", follow_up, tools=[WEATHER_TOOL]))
    assert second.choices[0].message.content
    assert openai_fake.last_request.json["messages"][-1]["tool_call_id"] == calls[0].id


def test_streamed_tool_arguments_reassemble(client: Client) -> None:
    stream = client.completion("gpt-4o-mini", MESSAGES, tools=[WEATHER_TOOL], tool_choice="required", stream=True)
    whole = validated(tollway.stream_chunk_builder(list(stream)))
    calls = whole.to_dict()["choices"][0]["message"]["tool_calls"]
    assert len(calls) == 1
    assert calls[0]["function"]["name"] == "get_weather"
    assert calls[0]["function"]["arguments"].startswith("{")
    assert "city" in calls[0]["function"]["arguments"]


def test_images_pass_through(client: Client, openai_fake: OpenAIFake) -> None:
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": PNG}}]
    validated(client.completion("gpt-4o-mini", [{"role": "user", "content": content}]))
    assert openai_fake.last_request.json["messages"][0]["content"] == content


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_embeddings(client: Client, openai_fake: OpenAIFake, encoding: str) -> None:
    response = client.embedding("text-embedding-3-small", ["a", "b"], encoding_format=encoding, dimensions=8)
    assert len(response.data) == 2
    if encoding == "float":
        oai_types.CreateEmbeddingResponse.model_validate(response.to_dict())
        assert len(response.data[0].embedding) == 8
    else:
        assert isinstance(response.data[0].embedding, str)
    assert openai_fake.last_request.path == "/v1/embeddings"


def test_rate_limit_is_retried_honouring_retry_after(client: Client, openai_fake: OpenAIFake) -> None:
    openai_fake.script(Reply.error(429, "Rate limit reached", headers={"retry-after": "0"}))
    response = validated(client.completion("gpt-4o-mini", MESSAGES))
    assert response.meta is not None
    assert response.meta.attempts == 2
    assert len(openai_fake.requests) == 2


def test_persistent_server_errors_surface_after_retries(client: Client, openai_fake: OpenAIFake) -> None:
    openai_fake.script(*[Reply.error(500, "The server had an error", headers={"retry-after": "0"})] * 3)
    with pytest.raises(tollway.InternalServerError, match="The server had an error") as info:
        client.completion("gpt-4o-mini", MESSAGES)
    assert info.value.upstream_status == 500
    assert len(openai_fake.requests) == 3


def test_bad_key_is_not_retried(client: Client, openai_fake: OpenAIFake) -> None:
    openai_fake.script(Reply.error(401, "Incorrect API key provided", code="invalid_api_key"))
    with pytest.raises(tollway.AuthenticationError, match="Incorrect API key"):
        client.completion("gpt-4o-mini", MESSAGES)
    assert len(openai_fake.requests) == 1


def test_html_answer_is_a_bad_gateway_error(client: Client, openai_fake: OpenAIFake) -> None:
    openai_fake.script(Reply.text("<html>maintenance</html>", 200, content_type="text/html"))
    with pytest.raises(tollway.BadGatewayError, match="not JSON"):
        client.completion("gpt-4o-mini", MESSAGES, num_retries=0)


def chunk(content: str) -> dict[str, object]:
    return {
        "id": "chatcmpl-x",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }


def test_mid_stream_error_reaches_the_caller(client: Client, openai_fake: OpenAIFake) -> None:
    events = [chunk("Hel"), SSE(data=orjson.dumps(chunk("lo")).decode(), delay=0.1)]
    openai_fake.script(Reply.stream_error(2, "upstream exploded", events=events))
    stream = client.completion("gpt-4o-mini", MESSAGES, stream=True)
    assert isinstance(stream, tollway.CompletionStream)
    received = []
    with pytest.raises(tollway.InternalServerError, match="upstream exploded") as info:
        received.extend(c.choices[0].delta.content for c in stream)
    assert received == ["Hel", "lo"]
    assert info.value.provider == "openai"
    assert stream.meta.attempts == 1


def test_connection_dropped_mid_stream(client: Client, openai_fake: OpenAIFake) -> None:
    openai_fake.script(Reply.stream(truncate_after=3, abort=True))
    stream = client.completion("gpt-4o-mini", MESSAGES, stream=True)
    with pytest.raises(tollway.APIConnectionError):
        list(stream)


def test_stream_ending_early_is_not_silently_short(client: Client, openai_fake: OpenAIFake) -> None:
    openai_fake.script(Reply.stream(truncate_after=3))
    stream = client.completion("gpt-4o-mini", MESSAGES, stream=True)
    with pytest.raises(tollway.APIConnectionError, match="before it finished"):
        list(stream)


def test_slow_upstream_times_out(client: Client, openai_fake: OpenAIFake) -> None:
    openai_fake.script(Reply.delay(3.0))
    with pytest.raises(tollway.Timeout):
        client.completion("gpt-4o-mini", MESSAGES, timeout=0.2, num_retries=0)


def test_silence_in_the_middle_of_a_stream_times_out(client: Client, openai_fake: OpenAIFake) -> None:
    events = [chunk("a"), chunk("b"), SSE(data=orjson.dumps(chunk("c")).decode(), delay=2.0)]
    openai_fake.script(Reply.stream(events))
    stream = client.completion("gpt-4o-mini", MESSAGES, stream=True, timeout=tollway.Timeouts(read=0.3, total=5))
    received = []
    with pytest.raises(tollway.Timeout):
        received.extend(c.choices[0].delta.content for c in stream)
    assert received == ["a", "b"]


def test_connection_refused(client: Client) -> None:
    with pytest.raises(tollway.APIConnectionError, match="cannot connect"):
        client.completion("gpt-4o-mini", MESSAGES, api_base="http://127.0.0.1:9/v1", num_retries=0)


def test_unknown_parameter_never_reaches_the_upstream(client: Client, openai_fake: OpenAIFake) -> None:
    with pytest.raises(tollway.UnsupportedParamsError, match="top_k"):
        client.completion("gpt-4o-mini", MESSAGES, top_k=3)
    assert openai_fake.requests == []
    validated(client.completion("gpt-4o-mini", MESSAGES, top_k=3, drop_params=True))
    assert "top_k" not in openai_fake.last_request.json

"""The SDK end to end against the loopback Anthropic fake: the fake judges every body with the anthropic SDK's
request types, and the openai SDK's response types judge every answer tollway returns."""

from collections.abc import Iterator
from typing import Any

import openai.types.chat as oai
import pytest

import tollway
from fakes import AnthropicFake, Reply
from tollway import Client

MODEL = "anthropic/claude-sonnet-4-5"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


@pytest.fixture
def client(anthropic_fake: AnthropicFake) -> Iterator[Client]:
    client = Client(environ={"ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": anthropic_fake.url})
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


def test_module_function_with_keys_from_the_environment(
    anthropic_fake: AnthropicFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic_fake.url)
    response = validated(tollway.completion(model=MODEL, messages=MESSAGES, max_tokens=50, user="customer-42"))
    assert response.choices[0].message.content == "Hello from the fake Anthropic upstream."
    assert response.choices[0].finish_reason == "stop"
    sent = anthropic_fake.last_request
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-env"
    assert sent.headers["anthropic-version"]
    assert sent.json["system"] == "Be brief."
    assert sent.json["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Say hello"}]}]
    assert sent.json["max_tokens"] == 50
    assert sent.json["metadata"] == {"user_id": "customer-42"}


def test_default_max_tokens_is_always_sent(client: Client, anthropic_fake: AnthropicFake) -> None:
    validated(client.completion(MODEL, MESSAGES))
    assert anthropic_fake.last_request.json["max_tokens"] == 64000


async def test_async_and_usage_with_prompt_cache(anthropic_fake: AnthropicFake) -> None:
    client = Client(environ={"ANTHROPIC_API_KEY": "k"})
    long_rules = "rule " * 2000
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": [{"type": "text", "text": long_rules, "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": "hi"},
    ]
    first = validated(await client.acompletion(MODEL, messages, api_base=anthropic_fake.url))
    second = validated(await client.acompletion(MODEL, messages, api_base=anthropic_fake.url))
    assert anthropic_fake.last_request.json["system"][0]["cache_control"] == {"type": "ephemeral"}
    write, read = first.meta, second.meta
    assert write is not None
    assert write.usage is not None
    assert read is not None
    assert read.usage is not None
    assert write.usage.cache_write_tokens > 0
    assert read.usage.cache_read_tokens == write.usage.cache_write_tokens
    # OpenAI semantics: prompt_tokens includes cached reads and cache writes.
    assert read.usage.input_tokens >= read.usage.cache_read_tokens
    await client.aclose()


def test_stream_text_and_usage(client: Client) -> None:
    stream = client.completion(MODEL, MESSAGES, stream=True, stream_options={"include_usage": True})
    chunks = chunks_of(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the fake Anthropic upstream."
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    whole = validated(tollway.stream_chunk_builder(chunks))
    assert whole.choices[0].finish_reason == "stop"


def test_tool_loop_round_trips_ids(client: Client, anthropic_fake: AnthropicFake) -> None:
    first = validated(client.completion(MODEL, MESSAGES, tools=[WEATHER_TOOL], tool_choice="required"))
    assert first.choices[0].finish_reason == "tool_calls"
    calls = first.choices[0].message.tool_calls
    assert calls is not None
    assert calls[0].function is not None
    assert calls[0].function.name == "get_weather"
    assert anthropic_fake.last_request.json["tool_choice"] == {"type": "any"}
    follow_up = [
        *MESSAGES,
        first.choices[0].message.to_dict(),
        {"role": "tool", "tool_call_id": calls[0].id, "content": '{"temp_c": 21}'},
    ]
    validated(client.completion(MODEL, follow_up, tools=[WEATHER_TOOL]))
    sent = anthropic_fake.last_request.json["messages"]
    assert sent[1]["content"][-1]["type"] == "tool_use"
    assert sent[1]["content"][-1]["id"] == calls[0].id
    assert sent[2]["content"][0] == {"type": "tool_result", "tool_use_id": calls[0].id, "content": '{"temp_c": 21}'}


def test_streamed_tool_arguments_reassemble(client: Client) -> None:
    stream = client.completion(MODEL, MESSAGES, tools=[WEATHER_TOOL], tool_choice="required", stream=True)
    whole = validated(tollway.stream_chunk_builder(chunks_of(stream)))
    calls = whole.to_dict()["choices"][0]["message"]["tool_calls"]
    assert len(calls) == 1
    assert calls[0]["function"]["name"] == "get_weather"
    assert '"city"' in calls[0]["function"]["arguments"]


def test_thinking_blocks_go_back_signed_in_the_next_turn(client: Client, anthropic_fake: AnthropicFake) -> None:
    first = validated(client.completion(MODEL, MESSAGES, reasoning_effort="low"))
    message = first.choices[0].message
    assert message.reasoning_content
    assert message.thinking_blocks is not None
    assert message.thinking_blocks[0]["signature"]
    assert anthropic_fake.last_request.json["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    follow_up = [*MESSAGES, message.to_dict(), {"role": "user", "content": "And again?"}]
    validated(client.completion(MODEL, follow_up, reasoning_effort="low"))
    assistant = anthropic_fake.last_request.json["messages"][1]
    assert assistant["content"][0] == message.thinking_blocks[0]


def test_streamed_thinking(client: Client) -> None:
    chunks = chunks_of(client.completion(MODEL, MESSAGES, reasoning_effort="medium", stream=True))
    whole = tollway.stream_chunk_builder(chunks)
    assert whole.choices[0].message.reasoning_content
    blocks = whole.choices[0].message.thinking_blocks
    assert blocks is not None
    assert blocks[0]["signature"]


def test_images_data_and_https(client: Client, anthropic_fake: AnthropicFake) -> None:
    content = [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    validated(client.completion(MODEL, [{"role": "user", "content": content}]))
    sent = anthropic_fake.last_request.json["messages"][0]["content"]
    assert sent[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}}
    assert sent[2] == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}


def test_json_schema(client: Client) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    response = validated(
        client.completion(
            MODEL,
            MESSAGES,
            response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}},
        )
    )
    assert response.choices[0].message.content is not None


def test_unsupported_parameter_never_reaches_the_upstream(client: Client, anthropic_fake: AnthropicFake) -> None:
    with pytest.raises(tollway.UnsupportedParamsError, match="logprobs"):
        client.completion(MODEL, MESSAGES, logprobs=True)
    assert anthropic_fake.requests == []
    validated(client.completion(MODEL, MESSAGES, logprobs=True, drop_params=True))
    assert "logprobs" not in anthropic_fake.last_request.json


@pytest.mark.parametrize(
    ("status", "error"),
    [(529, tollway.ServiceUnavailableError), (500, tollway.InternalServerError), (429, tollway.RateLimitError)],
)
def test_retryable_errors_are_retried_then_surface(
    client: Client, anthropic_fake: AnthropicFake, status: int, error: type[tollway.TollwayError]
) -> None:
    anthropic_fake.script(*[Reply.error(status, headers={"retry-after": "0"})] * 3)
    with pytest.raises(error) as info:
        client.completion(MODEL, MESSAGES)
    assert info.value.upstream_status == status
    assert info.value.retry_after == 0.0
    assert len(anthropic_fake.requests) == 3


def test_overloaded_once_then_success(client: Client, anthropic_fake: AnthropicFake) -> None:
    anthropic_fake.script(Reply.error(529, headers={"retry-after": "0"}))
    response = validated(client.completion(MODEL, MESSAGES))
    assert response.meta is not None
    assert response.meta.attempts == 2


def test_bad_key(client: Client, anthropic_fake: AnthropicFake) -> None:
    anthropic_fake.script(Reply.error(401, "invalid x-api-key"))
    with pytest.raises(tollway.AuthenticationError, match="invalid x-api-key"):
        client.completion(MODEL, MESSAGES)
    assert len(anthropic_fake.requests) == 1


def test_error_event_mid_stream(client: Client, anthropic_fake: AnthropicFake) -> None:
    anthropic_fake.script(Reply.stream_error(4, "Overloaded", type="overloaded_error"))
    stream = client.completion(MODEL, MESSAGES, stream=True, num_retries=0)
    with pytest.raises(tollway.ServiceUnavailableError, match="Overloaded"):
        list(stream)  # type: ignore[call-overload]


def test_truncated_stream(client: Client, anthropic_fake: AnthropicFake) -> None:
    anthropic_fake.script(Reply.stream(truncate_after=4))
    stream = client.completion(MODEL, MESSAGES, stream=True)
    with pytest.raises(tollway.APIConnectionError, match="before it finished"):
        list(stream)  # type: ignore[call-overload]


def test_context_window_error(client: Client, anthropic_fake: AnthropicFake) -> None:
    anthropic_fake.script(Reply.error(400, "prompt is too long: 250000 tokens > 200000 maximum"))
    with pytest.raises(tollway.ContextWindowExceededError):
        client.completion(MODEL, MESSAGES)

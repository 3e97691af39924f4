"""The fakes are faithful: the official SDKs, pointed at them, parse every answer and raise the right errors."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from fakes import SSE, AnthropicFake, OpenAIFake, Reply
from fakes.anthropic import ANSWER as ANTHROPIC_ANSWER
from fakes.openai import ANSWER as OPENAI_ANSWER

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}
ANTHROPIC_WEATHER_TOOL: Any = {"name": "get_weather", "input_schema": WEATHER_TOOL["function"]["parameters"]}
HELLO: Any = [{"role": "user", "content": "Say hello."}]


@pytest.fixture
def oai(openai_fake: OpenAIFake) -> Any:
    with openai.OpenAI(base_url=openai_fake.url, api_key="test", max_retries=0) as client:
        yield client


@pytest.fixture
def claude(anthropic_fake: AnthropicFake) -> Any:
    with anthropic.Anthropic(base_url=anthropic_fake.url, api_key="test", max_retries=0) as client:
        yield client


async def post(url: str, body: Any, headers: dict[str, str]) -> tuple[int, str, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as response:
        return response.status, response.content_type, dict(response.headers), await response.read()


# -- OpenAI ---------------------------------------------------------------------------------------------------
def test_openai_chat(oai: Any, openai_fake: OpenAIFake) -> None:
    response = oai.chat.completions.with_raw_response.create(model="gpt-4o", messages=HELLO, user="u1")
    completion = response.parse()
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"].startswith("req_")
    assert completion.choices[0].message.content == OPENAI_ANSWER
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert usage.prompt_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details.reasoning_tokens == 0
    request = openai_fake.last_request
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer test"
    assert request.json == json.loads(request.body) == {"model": "gpt-4o", "messages": HELLO, "user": "u1"}


def test_openai_chat_usage_for_reasoning_and_repeated_long_prompts(oai: Any) -> None:
    messages = [{"role": "user", "content": "word " * 1200}]
    first = oai.chat.completions.create(model="o3-mini", messages=messages)
    second = oai.chat.completions.create(model="o3-mini", messages=messages)
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert 1024 <= second.usage.prompt_tokens_details.cached_tokens <= second.usage.prompt_tokens
    assert second.usage.completion_tokens_details.reasoning_tokens > 0


def test_openai_chat_stream(oai: Any) -> None:
    chunks = list(
        oai.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True, stream_options={"include_usage": True})
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == OPENAI_ANSWER
    assert len([chunk for chunk in chunks if chunk.choices and chunk.choices[0].delta.content]) > 3
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 6
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert len({chunk.id for chunk in chunks}) == 1


async def test_openai_stream_wire_format_without_usage(openai_fake: OpenAIFake) -> None:
    body = {"model": "gpt-4o", "messages": HELLO, "stream": True}
    status, content_type, _, raw = await post(
        openai_fake.url + "/chat/completions", body, {"authorization": "Bearer k"}
    )
    assert (status, content_type) == (200, "text/event-stream")
    events = raw.decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    assert all(event.startswith("data: {") for event in events[:-2])
    assert all("usage" not in json.loads(event[6:]) for event in events[:-2])


@pytest.mark.parametrize("stream", [False, True])
def test_openai_required_tool_call(oai: Any, stream: bool) -> None:
    kwargs: Any = {"model": "gpt-4o", "messages": HELLO, "tools": [WEATHER_TOOL], "tool_choice": "required"}
    if not stream:
        message = oai.chat.completions.create(**kwargs).choices[0]
        assert message.finish_reason == "tool_calls"
        call = message.message.tool_calls[0]
        assert (call.function.name, json.loads(call.function.arguments)) == (
            "get_weather",
            {"city": "example city", "days": 1},
        )
        return
    chunks = list(oai.chat.completions.create(**kwargs, stream=True))
    fragments = [
        delta.tool_calls[0].function.arguments
        for chunk in chunks
        if (delta := chunk.choices[0].delta).tool_calls and delta.tool_calls[0].id is None
    ]
    assert len(fragments) >= 2
    assert chunks[0].choices[0].delta.tool_calls[0].function.name == "get_weather"
    assert json.loads("".join(fragments)) == {"city": "example city", "days": 1}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_openai_named_tool_choice_finishes_with_stop(oai: Any) -> None:
    choice = {"type": "function", "function": {"name": "get_weather"}}
    completion = oai.chat.completions.create(model="gpt-4o", messages=HELLO, tools=[WEATHER_TOOL], tool_choice=choice)
    assert completion.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert completion.choices[0].finish_reason == "stop"


def test_openai_n_choices_stream_interleaved(oai: Any) -> None:
    texts = ["", ""]
    for chunk in oai.chat.completions.create(model="gpt-4o", messages=HELLO, n=2, stream=True):
        texts[chunk.choices[0].index] += chunk.choices[0].delta.content or ""
    assert texts == [OPENAI_ANSWER, OPENAI_ANSWER]


def test_openai_max_tokens_truncates(oai: Any) -> None:
    choice = oai.chat.completions.create(model="gpt-4o", messages=HELLO, max_completion_tokens=2).choices[0]
    assert (choice.message.content, choice.finish_reason) == ("Hello from", "length")


def test_openai_embeddings_base64_and_float(oai: Any, openai_fake: OpenAIFake) -> None:
    default = oai.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert openai_fake.last_request.json["encoding_format"] == "base64"  # the SDK's default
    floats = oai.embeddings.create(model="text-embedding-3-small", input=["a", "b"], encoding_format="float")
    assert len(default.data[0].embedding) == 1536
    assert [item.embedding for item in default.data] == [item.embedding for item in floats.data]
    assert default.data[0].embedding != default.data[1].embedding
    short = oai.embeddings.create(model="text-embedding-3-large", input="a", dimensions=8)
    assert len(short.data[0].embedding) == 8
    assert floats.usage.prompt_tokens == 2


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (401, openai.AuthenticationError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_openai_scripted_errors(oai: Any, openai_fake: OpenAIFake, status: int, error_class: type) -> None:
    openai_fake.script(Reply.error(status, headers={"retry-after": "0"}))
    with pytest.raises(error_class) as caught:
        oai.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert caught.value.status_code == status
    assert caught.value.response.headers["retry-after"] == "0"
    assert caught.value.body["type"]  # the SDK unwraps {"error": {...}}
    assert openai_fake.pending == 0
    assert oai.chat.completions.create(model="gpt-4o", messages=HELLO).choices  # back to the default


def test_openai_non_json_and_raw_json_bodies(oai: Any, openai_fake: OpenAIFake) -> None:
    openai_fake.script(
        Reply.text("<html><body>502 Bad Gateway</body></html>", 502),
        Reply.json({"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": []}),
    )
    with pytest.raises(openai.InternalServerError) as caught:
        oai.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert caught.value.response.headers["content-type"] == "text/html"
    assert "Bad Gateway" in caught.value.response.text
    assert oai.chat.completions.create(model="gpt-4o", messages=HELLO).choices == []


def test_openai_mid_stream_error(oai: Any, openai_fake: OpenAIFake) -> None:
    openai_fake.script(Reply.stream_error(after=2, message="boom"))
    stream = oai.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
    received = []
    with pytest.raises(openai.APIError, match="boom"):
        received.extend(stream)
    assert len(received) == 2


def test_openai_truncated_and_scripted_streams(oai: Any, openai_fake: OpenAIFake) -> None:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    pieces = [{**chunk, "choices": [{"index": 0, "delta": {"content": p}}]} for p in ("a", "b", "c")]
    openai_fake.script(
        Reply.stream(truncate_after=3),
        Reply.stream(truncate_after=2, abort=True),
        Reply.stream([pieces[0], SSE(comment="keep-alive"), pieces[1], SSE(data=json.dumps(pieces[2]), delay=0.05)]),
    )
    assert len(list(oai.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True))) == 3
    with pytest.raises(openai.APIError):
        list(oai.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True))
    started = time.monotonic()
    chunks = list(oai.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True))
    assert "".join(c.choices[0].delta.content for c in chunks) == "abc"
    assert time.monotonic() - started >= 0.05


async def test_openai_keepalive_comments(openai_fake: OpenAIFake) -> None:
    openai_fake.script(Reply.stream(keepalive_every=2))
    body = {"model": "gpt-4o", "messages": HELLO, "stream": True}
    _, _, _, raw = await post(openai_fake.url + "/chat/completions", body, {"authorization": "Bearer k"})
    assert raw.count(b": keep-alive\n\n") >= 3
    async with openai.AsyncOpenAI(base_url=openai_fake.url, api_key="test", max_retries=0) as client:
        openai_fake.script(Reply.stream(keepalive_every=1))
        stream = await client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
    assert text == OPENAI_ANSWER


@pytest.mark.parametrize(
    ("reply", "error_class"),
    [
        (Reply.delay(2.0), openai.APITimeoutError),
        (Reply.hang(), openai.APITimeoutError),
        (Reply.disconnect(), openai.APIConnectionError),
        (Reply.disconnect(reset=True), openai.APIConnectionError),
    ],
)
def test_openai_network_failures(openai_fake: OpenAIFake, reply: Reply, error_class: type) -> None:
    openai_fake.script(reply)
    started = time.monotonic()
    with (
        openai.OpenAI(base_url=openai_fake.url, api_key="t", max_retries=0, timeout=0.2) as client,
        pytest.raises(error_class),
    ):
        client.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert time.monotonic() - started < 1.5


async def test_openai_validation(openai_fake: OpenAIFake) -> None:
    url = openai_fake.url + "/chat/completions"
    status, _, _, raw = await post(url, {"model": "m", "messages": HELLO}, {})
    assert status == 401
    assert json.loads(raw)["error"]["code"] == "invalid_api_key"
    bad_bodies = [
        {"messages": HELLO},
        {"model": "m"},
        {"model": "m", "messages": HELLO, "frobnicate": True},
        {"model": "m", "messages": [{"role": "user", "content": "x", "bogus": 1}]},
        {"model": "m", "messages": HELLO, "stream_options": {"include_usage": True}},
    ]
    for body in bad_bodies:
        status, _, _, raw = await post(url, body, {"authorization": "Bearer k"})
        assert status == 400, body
        assert json.loads(raw)["error"]["type"] == "invalid_request_error"
    status, *_ = await post(openai_fake.url + "/nope", {}, {"authorization": "Bearer k"})
    assert status == 404


# -- Anthropic ------------------------------------------------------------------------------------------------
def test_anthropic_message(claude: Any, anthropic_fake: AnthropicFake) -> None:
    response = claude.messages.with_raw_response.create(model="claude-x", max_tokens=100, messages=HELLO)
    message = response.parse()
    assert response.headers["request-id"].startswith("req_")
    assert message.content[0].text == ANTHROPIC_ANSWER
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0
    assert message.usage.cache_read_input_tokens == 0
    request = anthropic_fake.last_request
    assert request.path == "/v1/messages"
    assert "anthropic-version" in request.headers


def test_anthropic_cache_usage(claude: Any) -> None:
    system = [{"type": "text", "text": "Be terse. " * 50, "cache_control": {"type": "ephemeral"}}]
    first = claude.messages.create(model="claude-x", max_tokens=100, system=system, messages=HELLO)
    second = claude.messages.create(model="claude-x", max_tokens=100, system=system, messages=HELLO)
    assert first.usage.cache_creation_input_tokens > 0
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.input_tokens == first.usage.input_tokens


def test_anthropic_stream_thinking_and_tool_use(claude: Any, anthropic_fake: AnthropicFake) -> None:
    with claude.messages.stream(
        model="claude-x",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 1024},
        tools=[ANTHROPIC_WEATHER_TOOL],
        messages=[{"role": "user", "content": "Use get_weather for Paris."}],
    ) as stream:
        event_types = [event.type for event in stream]
        message = stream.get_final_message()
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[0].signature
    assert message.content[2].input == {"city": "example city", "days": 1}
    assert message.stop_reason == "tool_use"
    assert message.usage.output_tokens > 1
    assert "signature" in event_types
    assert event_types.count("input_json") >= 2
    raw = anthropic_fake.last_request
    assert raw.json["stream"] is True


async def test_anthropic_stream_wire_format(anthropic_fake: AnthropicFake) -> None:
    body = {"model": "claude-x", "max_tokens": 50, "messages": HELLO, "stream": True}
    status, content_type, _, raw = await post(
        anthropic_fake.url + "/v1/messages", body, {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    )
    assert (status, content_type) == (200, "text/event-stream")
    names = [event.split("\n")[0] for event in raw.decode().strip().split("\n\n")]
    assert names[:3] == ["event: message_start", "event: content_block_start", "event: ping"]
    assert names[-3:] == ["event: content_block_stop", "event: message_delta", "event: message_stop"]


def test_anthropic_forced_tool(claude: Any) -> None:
    message = claude.messages.create(
        model="claude-x",
        max_tokens=100,
        tools=[ANTHROPIC_WEATHER_TOOL],
        tool_choice={"type": "any"},
        messages=HELLO,
    )
    assert [block.type for block in message.content] == ["tool_use"]


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(429, anthropic.RateLimitError), (529, anthropic.OverloadedError), (401, anthropic.AuthenticationError)],
)
def test_anthropic_scripted_errors(claude: Any, anthropic_fake: AnthropicFake, status: int, error_class: type) -> None:
    anthropic_fake.script(Reply.error(status, headers={"retry-after": "1"}))
    with pytest.raises(error_class) as caught:
        claude.messages.create(model="claude-x", max_tokens=10, messages=HELLO)
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.body["type"] == "error"
    assert caught.value.body["request_id"].startswith("req_")


def test_anthropic_mid_stream_error_and_truncation(claude: Any, anthropic_fake: AnthropicFake) -> None:
    anthropic_fake.script(Reply.stream_error(after=3), Reply.stream(truncate_after=4))
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        list(claude.messages.create(model="claude-x", max_tokens=10, messages=HELLO, stream=True))
    events = list(claude.messages.create(model="claude-x", max_tokens=10, messages=HELLO, stream=True))
    assert [event.type for event in events][-1] != "message_stop"
    assert len(events) == 3  # the ping is not surfaced by the SDK


async def test_anthropic_validation(anthropic_fake: AnthropicFake) -> None:
    url = anthropic_fake.url + "/v1/messages"
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    valid = {"model": "claude-x", "max_tokens": 10, "messages": HELLO}
    status, _, _, raw = await post(url, {**valid, "frobnicate": 1}, headers)
    assert status == 400
    assert json.loads(raw)["error"] == {
        "type": "invalid_request_error",
        "message": "frobnicate: Extra inputs are not permitted",
    }
    status, _, _, raw = await post(url, {"model": "claude-x", "messages": HELLO}, headers)
    assert status == 400
    assert json.loads(raw)["error"]["message"] == "max_tokens: Field required"
    empty_text = [{"role": "user", "content": [{"type": "text", "text": ""}]}]
    assert (await post(url, {**valid, "messages": empty_text}, headers))[0] == 400
    nested_extra = [{"role": "user", "content": [{"type": "text", "text": "x", "bogus": 1}]}]
    assert (await post(url, {**valid, "messages": nested_extra}, headers))[0] == 400
    status, _, _, raw = await post(url, valid, {"anthropic-version": "2023-06-01"})
    assert status == 401
    assert json.loads(raw)["error"]["type"] == "authentication_error"
    assert (await post(url, valid, {"authorization": "Bearer k"}))[0] == 400  # no anthropic-version
    assert (await post(url, valid, {"authorization": "Bearer k", "anthropic-version": "2026-10-21"}))[0] == 200


def test_scripts_are_per_route_and_reset(openai_fake: OpenAIFake, oai: Any) -> None:
    openai_fake.script(Reply.error(500), route="embeddings")
    assert oai.chat.completions.create(model="gpt-4o", messages=HELLO).choices
    with pytest.raises(openai.InternalServerError):
        oai.embeddings.create(model="text-embedding-3-small", input="a")
    assert [request.path for request in openai_fake.requests] == ["/v1/chat/completions", "/v1/embeddings"]
    openai_fake.script(Reply.error(500))
    openai_fake.reset()
    assert (openai_fake.pending, openai_fake.requests) == (0, [])
    with pytest.raises(KeyError):
        openai_fake.script(Reply.error(500), route="nope")

"""The Anthropic-compatible translation (tollway.proxy.anthropic_compat), judged by the official anthropic SDK:
every answer validates as ``anthropic.types.Message``, every stream decodes through the SDK's own stream parser,
and translated requests round-trip through tollway's Anthropic adapter into bodies the SDK's request types accept."""

from __future__ import annotations

import copy
from typing import Any

import anthropic
import httpx2
import orjson
import pydantic
import pytest
from anthropic.types import Message, RawMessageStreamEvent

from fakes import AnthropicFake, OpenAIFake
from fakes.anthropic_judge import sdk_errors
from tollway import ChatCompletion, Client
from tollway.adapters.anthropic import AnthropicAdapter
from tollway.adapters.base import Endpoint
from tollway.errors import (
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    TollwayError,
)
from tollway.proxy.anthropic_compat import (
    AnthropicStreamEncoder,
    anthropic_error,
    anthropic_to_openai,
    count_tokens,
    openai_to_anthropic,
    portable_request,
)
from tollway.streaming import AsyncCompletionStream

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
PDF_B64 = "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK"
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIME = {"name": "get_time", "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}}}}
ENDPOINT = Endpoint(provider="anthropic", model="claude-sonnet-4-5", api_base="https://api.anthropic.com", api_key="k")

# A tool loop with everything a Claude client sends: cached system blocks, an image, a PDF, signed thinking,
# parallel tool_use, tool results (one an error) and a cached tool definition.
FULL_BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 4096,
    "system": [
        {"type": "text", "text": "You are terse."},
        {"type": "text", "text": "Rules " * 10, "cache_control": {"type": "ephemeral"}},
    ],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64}},
                {"type": "text", "text": "Weather and time in Paris?", "cache_control": {"type": "ephemeral"}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Two tools at once.", "signature": "EqQBsig=="},
                {"type": "redacted_thinking", "data": "EmwKAhgB"},
                {"type": "text", "text": "Checking both."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_02", "name": "get_time", "input": {"tz": "Europe/Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "21C"},
                {"type": "tool_result", "tool_use_id": "toolu_02", "content": [{"type": "text", "text": "14:00"}]},
                {"type": "text", "text": "Thanks"},
            ],
        },
    ],
    "tools": [WEATHER, {**TIME, "cache_control": {"type": "ephemeral"}}],
    "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    "thinking": {"type": "enabled", "budget_tokens": 2048},
    "stop_sequences": ["END"],
    "metadata": {"user_id": "customer-7"},
}


# ------------------------------------------------------------------------------------------------ SDK judges


def sdk_client(handler: Any) -> anthropic.Anthropic:
    http_client = httpx2.Client(transport=httpx2.MockTransport(handler))
    return anthropic.Anthropic(api_key="k", base_url="http://gateway.test", http_client=http_client, max_retries=0)


def sdk_final_message(sse: bytes) -> Message:
    """Decode SSE bytes with the anthropic SDK's own stream machinery, as a Claude client would."""
    client = sdk_client(lambda _: httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse))
    with client.messages.stream(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]) as stream:
        for _ in stream:
            pass
        final = stream.get_final_message().model_dump()
    for block in final["content"]:
        block.pop("parsed_output", None)  # the SDK's structured-output extra, absent from a plain Message
    return Message.model_validate(final)


def sse_events(sse: bytes) -> list[dict[str, Any]]:
    """Every event, checked to be framed as §5.5 (event line = data type) and to validate as the SDK's event type."""
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RawMessageStreamEvent)
    assert sse.endswith(b"\n\n")
    events = []
    for frame in sse[:-2].split(b"\n\n"):
        name, data = frame.split(b"\n")
        assert name.startswith(b"event: ")
        assert data.startswith(b"data: ")
        payload = orjson.loads(data[6:])
        assert payload["type"] == name[7:].decode()
        if payload["type"] != "error":
            adapter.validate_python(payload)
        events.append(payload)
    return events


def without_ids(message: Message) -> dict[str, Any]:
    dumped = message.model_dump()
    dumped.pop("id")
    for block in dumped["content"]:
        if block["type"] == "tool_use":
            block.pop("id")
    return dumped


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o", "choices": choices, **extra}


def encode_all(chunks: list[dict[str, Any]], model: str = "claude-sonnet-4-5") -> bytes:
    encoder = AnthropicStreamEncoder(model)
    return b"".join(encoder.encode(c) for c in chunks) + encoder.finish()


# ------------------------------------------------------------------------------------------ request translation


def test_full_request_translates_to_openai() -> None:
    request = anthropic_to_openai(copy.deepcopy(FULL_BODY))
    system, user, assistant, result_1, result_2, thanks = request["messages"]
    assert system["role"] == "system"
    assert system["content"][1]["cache_control"] == {"type": "ephemeral"}
    assert user["content"][0]["image_url"]["url"] == f"data:image/png;base64,{PNG_B64}"
    assert user["content"][1]["image_url"]["url"] == "https://example.com/a.jpg"
    assert user["content"][2] == {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF_B64}"}}
    assert user["content"][3]["cache_control"] == {"type": "ephemeral"}
    assert assistant["content"] == "Checking both."
    assert [c["function"]["arguments"] for c in assistant["tool_calls"]] == [
        '{"city":"Paris"}',
        '{"tz":"Europe/Paris"}',
    ]
    assert assistant["thinking_blocks"][0] == {
        "type": "thinking",
        "thinking": "Two tools at once.",
        "signature": "EqQBsig==",
    }
    assert assistant["thinking_blocks"][1] == {"type": "redacted_thinking", "data": "EmwKAhgB"}
    assert result_1 == {"role": "tool", "tool_call_id": "toolu_01", "content": "21C"}
    assert result_2["content"] == [{"type": "text", "text": "14:00"}]
    assert thanks == {"role": "user", "content": [{"type": "text", "text": "Thanks"}]}
    assert request["tools"][0]["function"]["parameters"] == WEATHER["input_schema"]
    assert request["tools"][1]["cache_control"] == {"type": "ephemeral"}
    assert request["tool_choice"] == "auto"
    assert request["parallel_tool_calls"] is False
    assert (request["max_tokens"], request["stop"], request["user"]) == (4096, ["END"], "customer-7")
    assert request["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert "stream" not in request


def _normalised(body: dict[str, Any]) -> dict[str, Any]:
    """String content as a text block, and thinking blocks without the keys the adapter need not echo."""
    messages = []
    for message in body["messages"]:
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        messages.append({"role": message["role"], "content": blocks})
    system = body.get("system")
    if isinstance(system, list) and not any("cache_control" in b for b in system):
        system = "\n".join(b["text"] for b in system)
    return {**body, "messages": messages, "system": system}


def test_request_round_trips_through_the_anthropic_adapter() -> None:
    request = anthropic_to_openai(copy.deepcopy(FULL_BODY))
    sent = orjson.loads(AnthropicAdapter().build_chat_request(request, ENDPOINT).body)
    assert sdk_errors(sent) == []
    expected = _normalised(copy.deepcopy(FULL_BODY))
    assert sent["system"] == expected["system"]
    assert sent["messages"] == expected["messages"]
    assert sent["tools"] == expected["tools"]
    for key in ("tool_choice", "thinking", "stop_sequences", "metadata", "max_tokens"):
        assert sent[key] == expected[key], key


@pytest.mark.parametrize(
    ("choice", "openai_choice"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "get_weather"}, {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
def test_tool_choice_round_trips(choice: dict[str, Any], openai_choice: Any) -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "tools": [WEATHER]}
    request = anthropic_to_openai({**body, "tool_choice": choice})
    assert request["tool_choice"] == openai_choice
    sent = orjson.loads(AnthropicAdapter().build_chat_request(request, ENDPOINT).body)
    assert sent["tool_choice"] == choice


def test_simple_request_stays_simple() -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "temperature": 0.2,
        "top_k": 5,
        "output_config": {"effort": "high"},
    }
    request = anthropic_to_openai(body)
    assert request["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert (request["stream"], request["temperature"], request["top_k"]) == (True, 0.2, 5)
    assert request["reasoning_effort"] == "high"


def test_tool_error_result_and_tool_only_assistant_turn() -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "boom", "is_error": True}],
            },
        ],
    }
    messages = anthropic_to_openai(body)["messages"]
    assert messages[1]["content"] is None
    assert messages[2] == {"role": "tool", "tool_call_id": "t1", "content": "Error: boom"}


def test_portable_request_replaces_anthropic_only_params() -> None:
    request = anthropic_to_openai({**FULL_BODY, "top_k": 3})
    portable = portable_request(request)
    assert "thinking" not in portable
    assert "top_k" not in portable
    assert portable["reasoning_effort"] == "medium"  # budget 2048
    assert request["thinking"]  # the original is untouched


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([], "body"),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
        ({"model": "m", "max_tokens": 5, "messages": "hi"}, "messages"),
        ({"model": "m", "max_tokens": 5, "messages": []}, "messages"),
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "m", "max_tokens": "5", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "messages[0].content[0].type",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            },
            "tools[0].type",
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "api_base": "http://x"},
            "api_base",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "hi"}],
                "tool_choice": {"type": "sometimes"},
            },
            "tool_choice.type",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [
                    {"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}
                ],
            },
            "messages[0].content[0].source.type",
        ),
    ],
)
def test_invalid_requests_name_the_field(body: Any, param: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        anthropic_to_openai(body)
    assert caught.value.param == param
    assert param in str(caught.value)


# -------------------------------------------------------------------------------------------------- responses


def test_response_with_thinking_text_and_parallel_tools() -> None:
    completion = {
        "id": "chatcmpl-9",
        "object": "chat.completion",
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "Checking.",
                    "reasoning_content": "ignored when signed blocks exist",
                    "thinking_blocks": [{"type": "thinking", "thinking": "Plan.", "signature": "sig"}],
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        },
                        {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}},
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "total_tokens": 120,
            "prompt_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 30},
        },
    }
    message = Message.model_validate(openai_to_anthropic(completion, "claude-x"))
    assert message.id == "msg_chatcmpl-9"
    assert message.model == "claude-x"
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert message.content[0].signature == "sig"  # type: ignore[union-attr]
    assert message.content[2].input == {"city": "Paris"}  # type: ignore[union-attr]
    assert message.content[3].input == {}  # type: ignore[union-attr]
    assert message.stop_reason == "tool_use"
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens) == (10, 20)
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (60, 30)


@pytest.mark.parametrize(
    ("finish", "stop"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("content_filter", "refusal"),
        (None, "end_turn"),
    ],
)
def test_stop_reasons(finish: str | None, stop: str) -> None:
    completion = {"choices": [{"message": {"role": "assistant", "content": "x"}, "finish_reason": finish}]}
    message = Message.model_validate(openai_to_anthropic(completion, "m"))
    assert message.stop_reason == stop
    assert message.id.startswith("msg_")


def test_reasoning_content_becomes_an_unsigned_thinking_block() -> None:
    completion = {
        "choices": [
            {"message": {"role": "assistant", "content": "4", "reasoning_content": "2+2"}, "finish_reason": "stop"}
        ]
    }
    message = Message.model_validate(openai_to_anthropic(completion, "m"))
    assert message.content[0].model_dump() == {"type": "thinking", "thinking": "2+2", "signature": ""}


# ----------------------------------------------------------------------------------------------------- streams


def test_stream_events_decode_with_the_sdk() -> None:
    chunks = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"reasoning_content": "Plan "}),
        chunk({"reasoning_content": "it."}),
        chunk({"thinking_blocks": [{"type": "thinking", "thinking": "Plan it.", "signature": "sig"}]}),
        chunk({"content": "Check"}),
        chunk({"content": "ing."}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": "{}"},
                    }
                ]
            }
        ),
        chunk({}, "tool_calls"),
        chunk(None, usage={"prompt_tokens": 50, "completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": 8}}),
    ]
    sse = encode_all(chunks)
    events = sse_events(sse)
    assert [e["type"] for e in events][:2] == ["message_start", "content_block_start"]
    assert [e["type"] for e in events][-2:] == ["message_delta", "message_stop"]
    assert [e["index"] for e in events if e["type"] == "content_block_start"] == [0, 1, 2, 3]
    final = sdk_final_message(sse)
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert final.content[0].model_dump() == {"type": "thinking", "thinking": "Plan it.", "signature": "sig"}
    assert final.content[2].input == {"city": "Paris"}  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens, final.usage.cache_read_input_tokens) == (42, 9, 8)
    completion = {
        "id": "chatcmpl-1",
        "usage": chunks[-1]["usage"],
        "choices": [
            {
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "Checking.",
                    "thinking_blocks": [{"type": "thinking", "thinking": "Plan it.", "signature": "sig"}],
                    "tool_calls": [
                        {"id": "call_1", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
                        {"id": "call_2", "function": {"name": "get_time", "arguments": "{}"}},
                    ],
                },
            }
        ],
    }
    assert final == Message.model_validate(openai_to_anthropic(completion, "claude-sonnet-4-5"))


def test_finish_closes_a_stream_that_ended_without_usage() -> None:
    encoder = AnthropicStreamEncoder("m")
    sse = encoder.encode(chunk({"content": "Hi"})) + encoder.encode(chunk({}, "length")) + encoder.finish()
    assert encoder.finish() == b""
    assert encoder.encode(chunk({"content": "late"})) == b""
    final = sdk_final_message(sse)
    assert final.stop_reason == "max_tokens"
    assert final.content[0].text == "Hi"  # type: ignore[union-attr]


def test_redacted_thinking_streams_whole() -> None:
    sse = encode_all(
        [chunk({"thinking_blocks": [{"type": "redacted_thinking", "data": "abc"}]}), chunk({"content": "ok"}, "stop")]
    )
    final = sdk_final_message(sse)
    assert final.content[0].model_dump() == {"type": "redacted_thinking", "data": "abc"}
    assert final.stop_reason == "end_turn"


def test_error_mid_stream_raises_in_the_sdk() -> None:
    encoder = AnthropicStreamEncoder("m")
    sse = encoder.encode(chunk({"content": "Hi"})) + encoder.error(ServiceUnavailableError("Overloaded"))
    assert encoder.finish() == b""
    assert sse_events(sse)[-1] == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
        sdk_final_message(sse)


# ------------------------------------------------------------------------------------------------------ errors


def too_large() -> TollwayError:
    error = TollwayError("request body too large")
    error.status_code = 413  # what the gateway's body-size limit raises
    return error


@pytest.mark.parametrize(
    ("error", "status", "kind", "sdk_error"),
    [
        (
            BadRequestError("max_tokens: Field required", param="max_tokens"),
            400,
            "invalid_request_error",
            anthropic.BadRequestError,
        ),
        (AuthenticationError("bad key"), 401, "authentication_error", anthropic.AuthenticationError),
        (PermissionDeniedError("no"), 403, "permission_error", anthropic.PermissionDeniedError),
        (NotFoundError("no model"), 404, "not_found_error", anthropic.NotFoundError),
        (too_large(), 413, "request_too_large", anthropic.APIStatusError),
        (RateLimitError("slow down"), 429, "rate_limit_error", anthropic.RateLimitError),
        (InternalServerError("boom"), 500, "api_error", anthropic.InternalServerError),
        (ServiceUnavailableError("Overloaded"), 503, "overloaded_error", anthropic.APIStatusError),
    ],
)
def test_errors_use_the_anthropic_envelope(
    error: TollwayError, status: int, kind: str, sdk_error: type[Exception]
) -> None:
    got_status, body = anthropic_error(error)
    assert (got_status, body["type"], body["error"]["type"]) == (status, "error", kind)
    assert body["error"]["message"] == str(error)
    client = sdk_client(lambda _: httpx2.Response(got_status, json=body))
    with pytest.raises(sdk_error) as caught:
        client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert str(error) in str(caught.value)


# ---------------------------------------------------------------------------------------------------- counting


def test_count_tokens_grows_with_the_prompt_and_needs_no_max_tokens() -> None:
    small = count_tokens({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]})
    body = {**FULL_BODY}
    body.pop("max_tokens")
    large = count_tokens(body)
    assert set(small) == {"input_tokens"}
    assert 0 < small["input_tokens"] < large["input_tokens"]
    with pytest.raises(BadRequestError):
        count_tokens({"model": "m", "messages": "hi"})


# ------------------------------------------------------------------------------- end to end through the SDK


async def _both(client: Client, body: dict[str, Any], model: str, api_base: str) -> tuple[Message, Message]:
    """The non-streamed and the streamed answer for ``body`` via tollway to a fake upstream, both SDK-judged."""
    request = anthropic_to_openai(body)
    params = {k: v for k, v in request.items() if k not in ("model", "messages")}
    if not model.startswith("anthropic/"):
        params = portable_request(params)
    response = await client.acompletion(model, request["messages"], api_base=api_base, **params)
    assert isinstance(response, ChatCompletion)
    whole = Message.model_validate(openai_to_anthropic(response.to_dict(), body["model"]))
    stream = await client.acompletion(
        model, request["messages"], api_base=api_base, stream=True, stream_options={"include_usage": True}, **params
    )
    assert isinstance(stream, AsyncCompletionStream)
    encoder = AnthropicStreamEncoder(body["model"])
    sse = b"".join([encoder.encode(c.to_dict()) async for c in stream]) + encoder.finish()
    sse_events(sse)
    return whole, sdk_final_message(sse)


async def test_openai_backend_streams_what_it_answers(openai_fake: OpenAIFake) -> None:
    client = Client(environ={"OPENAI_API_KEY": "sk-test"})
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 200,
        "tools": [WEATHER, TIME],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "Use get_weather and get_time for Paris"}],
    }
    whole, streamed = await _both(client, body, "openai/gpt-4o", openai_fake.url)
    assert [b.type for b in whole.content][-2:] == ["tool_use", "tool_use"]
    assert whole.stop_reason == "tool_use"
    assert without_ids(streamed) == without_ids(whole)
    assert "thinking" not in openai_fake.last_request.json
    await client.aclose()


async def test_anthropic_backend_round_trips_thinking(anthropic_fake: AnthropicFake) -> None:
    client = Client(environ={"ANTHROPIC_API_KEY": "sk-ant-test"})
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "Say hello"}],
    }
    whole, streamed = await _both(client, body, "anthropic/claude-sonnet-4-5", anthropic_fake.url)
    assert [b.type for b in whole.content] == ["thinking", "text"]
    assert whole.content[0].signature  # type: ignore[union-attr]
    # The cache_control on the system block reached the upstream: the first call wrote the cache, the second read it.
    assert anthropic_fake.last_request.json["system"][0]["cache_control"] == {"type": "ephemeral"}
    written = whole.usage.cache_creation_input_tokens
    assert written
    assert streamed.usage.cache_read_input_tokens == written
    assert streamed.usage.input_tokens == whole.usage.input_tokens
    assert {**without_ids(streamed), "usage": None} == {**without_ids(whole), "usage": None}
    # The next turn sends the signed block back unmodified.
    follow = {
        **body,
        "messages": [
            *body["messages"],
            {"role": "assistant", "content": [b.model_dump() for b in whole.content]},
            {"role": "user", "content": "Again"},
        ],
    }
    await _both(client, follow, "anthropic/claude-sonnet-4-5", anthropic_fake.url)
    assert anthropic_fake.last_request.json["messages"][1]["content"][0] == whole.content[0].model_dump()
    await client.aclose()


def test_usage_is_taken_from_the_final_usage_chunk() -> None:
    # Some upstreams put usage on content chunks too; the choices-free usage chunk after the finish is the final one.
    early = {"prompt_tokens": 5, "completion_tokens": 1}
    final = {"prompt_tokens": 5, "completion_tokens": 7}
    sse = encode_all([chunk({"content": "Hi"}, "stop", usage=early), chunk(None, usage=final)])
    assert sdk_final_message(sse).usage.output_tokens == 7

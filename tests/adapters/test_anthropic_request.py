"""AnthropicAdapter.build_chat_request: every body is judged by the official anthropic SDK's request types."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from fakes.anthropic_judge import sdk_errors
from tollway.adapters.anthropic import AnthropicAdapter
from tollway.adapters.base import Endpoint
from tollway.errors import BadRequestError, UnsupportedParamsError
from tollway.http import HttpResponse

FIXTURES = Path(__file__).parent / "fixtures" / "anthropic"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
PDF = "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoKdHJhaWxlcgo8PC9Sb290IDEgMCBSPj4KJSVFT0YK"
PNG_SOURCE = {"type": "base64", "media_type": "image/png", "data": PNG}
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Weather in a city", "parameters": SCHEMA},
}


def endpoint(model: str = "claude-sonnet-4-5-20250929", **kwargs: Any) -> Endpoint:
    return Endpoint(
        provider="anthropic", model=model, api_base="https://api.anthropic.com", api_key="sk-ant-test", **kwargs
    )


def build(request: dict[str, Any], ep: Endpoint | None = None) -> dict[str, Any]:
    """Build, check URL and SDK validity, and return the body."""
    request = {"model": "anthropic/x", **request}
    http = AnthropicAdapter().build_chat_request(request, ep or endpoint())
    assert http.method == "POST"
    assert http.url == "https://api.anthropic.com/v1/messages"
    body: dict[str, Any] = orjson.loads(http.body)
    assert sdk_errors(body) == []
    return body


def user(text: str = "Hi") -> dict[str, Any]:
    return {"role": "user", "content": text}


# --- the judge itself ------------------------------------------------------------------------------------------


def body_with(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 1, "messages": [user()], **fields}


def blocks(*content: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": list(content)}]


@pytest.mark.parametrize(
    "bad",
    [
        body_with(frequency_penalty=1),
        {"model": "m", "messages": [user()]},
        body_with(max_tokens="1"),
        body_with(messages=blocks({"type": "text", "text": "a", "x": 1})),
        body_with(messages=blocks({"type": "text"})),
        body_with(messages=blocks({"type": "image", "source": {**PNG_SOURCE, "media_type": "image/bmp"}})),
        body_with(messages=blocks({"type": "tool_result", "tool_use_id": "t", "content": [{"txt": "a"}]})),
        body_with(messages=[{"role": "tool", "content": "a"}]),
        body_with(tool_choice={"type": "required"}),
        body_with(tool_choice={"type": "auto", "parallel": False}),
        body_with(metadata={"user_id": "u", "tag": "t"}),
        body_with(temperature="hot"),
        body_with(stream=False, output_config={"format": {"type": "json_object"}}),
    ],
)
def test_judge_rejects_invalid_bodies(bad: dict[str, Any]) -> None:
    assert sdk_errors(bad) != []


# --- URL, headers ----------------------------------------------------------------------------------------------


def test_headers_default_to_x_api_key_and_documented_version() -> None:
    http = AnthropicAdapter().build_chat_request({"model": "x", "messages": [user()]}, endpoint())
    assert http.headers == {
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "x-api-key": "sk-ant-test",
    }


def test_headers_quirks_version_and_caller_headers_last() -> None:
    ep = endpoint(
        api_version="2026-10-21",
        quirks={"auth_header": "authorization", "anthropic_beta": ["a-1", "b-2"]},
        headers={"Anthropic-Version": "2099-01-01", "x-trace": "1"},
    )
    http = AnthropicAdapter().build_chat_request({"model": "x", "messages": [user()]}, ep)
    assert http.headers == {
        "content-type": "application/json",
        "authorization": "Bearer sk-ant-test",
        "anthropic-beta": "a-1,b-2",
        "Anthropic-Version": "2099-01-01",
        "x-trace": "1",
    }


def test_extra_body_is_merged_verbatim() -> None:
    ep = endpoint(extra_body={"inference_geo": "us"})
    body = build({"messages": [user()]}, ep)
    assert body["inference_geo"] == "us"


# --- messages --------------------------------------------------------------------------------------------------


def test_minimal_request_has_model_max_tokens_and_block_content() -> None:
    body = build({"messages": [user("Hello")]})
    assert body == {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 64000,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
    }


def test_system_and_developer_messages_anywhere_become_system_in_order() -> None:
    body = build(
        {
            "messages": [
                {"role": "system", "content": "Be terse."},
                user("a"),
                {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
                {"role": "assistant", "content": "b", "name": "bot"},
                user("c"),
            ]
        }
    )
    assert body["system"] == "Be terse.\nUse French."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1] == {"role": "assistant", "content": [{"type": "text", "text": "b"}]}


def test_system_with_cache_control_is_a_block_list() -> None:
    cache = {"type": "ephemeral", "ttl": "1h"}
    body = build(
        {
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "long rules", "cache_control": cache}]},
                {"role": "system", "content": "short"},
                user(),
            ]
        }
    )
    assert body["system"] == [
        {"type": "text", "text": "long rules", "cache_control": cache},
        {"type": "text", "text": "short"},
    ]


def test_consecutive_same_role_messages_merge_and_empty_text_is_dropped() -> None:
    body = build(
        {
            "messages": [
                user("a"),
                {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "b"}]},
                {"role": "assistant", "content": ""},
                {"role": "assistant", "content": "c"},
                user(""),
                user("d"),
            ]
        }
    )
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "c"}]},
        {"role": "user", "content": [{"type": "text", "text": "d"}]},
    ]


def test_final_assistant_prefill_loses_trailing_whitespace() -> None:
    body = build({"messages": [user(), {"role": "assistant", "content": "The answer is "}]})
    assert body["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": "The answer is"}]}


def test_only_system_messages_is_a_bad_request() -> None:
    with pytest.raises(BadRequestError, match="no user or assistant"):
        build({"messages": [{"role": "system", "content": "s"}]})


def test_images_data_and_https_and_pdf_file() -> None:
    content = [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": f"data:application/pdf;base64,{PDF}"}},
    ]
    body = build({"messages": [{"role": "user", "content": content}]})
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "Compare"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}},
    ]


@pytest.mark.parametrize(
    ("part", "match"),
    [
        ({"type": "image_url", "image_url": {"url": f"data:image/bmp;base64,{PNG}"}}, "image/bmp"),
        ({"type": "file", "file": {"file_data": f"data:text/csv;base64,{PDF}"}}, "PDF"),
        ({"type": "file", "file": {"file_id": "file-1"}}, "file_id"),
        ({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}, "input_audio"),
    ],
)
def test_content_anthropic_cannot_take_is_a_bad_request(part: dict[str, Any], match: str) -> None:
    with pytest.raises(BadRequestError, match=match) as info:
        build({"messages": [{"role": "user", "content": [part]}]})
    assert info.value.param is not None
    assert info.value.param.startswith("messages[0].content[0]")


def test_cache_control_on_parts_and_on_string_messages_passes_through() -> None:
    cache = {"type": "ephemeral"}
    body = build(
        {
            "messages": [
                {"role": "user", "content": "big document", "cache_control": cache},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [{"type": "text", "text": "q", "cache_control": {**cache, "ttl": "5m"}}]},
            ]
        }
    )
    assert body["messages"][0]["content"] == [{"type": "text", "text": "big document", "cache_control": cache}]
    assert body["messages"][2]["content"][0]["cache_control"] == {"type": "ephemeral", "ttl": "5m"}


def test_tool_loop_merges_tool_results_into_one_user_turn_first() -> None:
    calls = [
        {"id": "toolu_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
        {"id": "toolu_b", "type": "function", "function": {"name": "get_weather", "arguments": ""}},
    ]
    body = build(
        {
            "messages": [
                user("Weather in Paris and Rome?"),
                {"role": "assistant", "content": None, "tool_calls": calls},
                {"role": "tool", "tool_call_id": "toolu_a", "content": "21C"},
                {"role": "tool", "tool_call_id": "toolu_b", "content": [{"type": "text", "text": "25C"}]},
                user("And tomorrow?"),
            ],
            "tools": [WEATHER_TOOL],
        }
    )
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": {}},
        ],
    }
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_a", "content": "21C"},
            {"type": "tool_result", "tool_use_id": "toolu_b", "content": [{"type": "text", "text": "25C"}]},
            {"type": "text", "text": "And tomorrow?"},
        ],
    }
    assert len(body["messages"]) == 3


def test_invalid_tool_arguments_name_the_message() -> None:
    bad = {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{city:"}}
    with pytest.raises(BadRequestError, match=r"messages\[1\]\.tool_calls\[0\]"):
        build({"messages": [user(), {"role": "assistant", "content": None, "tool_calls": [bad]}]})


def test_legacy_functions_and_function_messages() -> None:
    body = build(
        {
            "messages": [
                user(),
                {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": '{"a":1}'}},
                {"role": "function", "name": "f", "content": "done"},
            ],
            "functions": [{"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}],
            "function_call": {"name": "f"},
        }
    )
    tool_use = body["messages"][1]["content"][0]
    assert tool_use["type"] == "tool_use"
    assert tool_use["input"] == {"a": 1}
    assert body["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": tool_use["id"], "content": "done"}]
    assert body["tools"][0]["name"] == "f"
    assert body["tool_choice"] == {"type": "tool", "name": "f"}


def test_thinking_blocks_go_back_first_and_unchanged() -> None:
    thinking = [
        {"type": "thinking", "thinking": "Let me think", "signature": "EqQBsig=="},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy"},
    ]
    call = {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}
    body = build(
        {
            "messages": [
                user(),
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "reasoning_content": "Let me think",
                    "thinking_blocks": thinking,
                    "tool_calls": [call],
                },
                {"role": "tool", "tool_call_id": "toolu_1", "content": "-3C"},
            ],
            "tools": [WEATHER_TOOL],
            "reasoning_effort": "low",
        }
    )
    assert body["messages"][1]["content"] == [
        *thinking,
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
    ]


# --- tools -----------------------------------------------------------------------------------------------------


def test_tools_keep_strict_and_cache_control() -> None:
    function: dict[str, Any] = {**WEATHER_TOOL["function"], "strict": True}  # type: ignore[dict-item]
    tool = {**WEATHER_TOOL, "function": function, "cache_control": {"type": "ephemeral"}}
    bare = {"type": "function", "function": {"name": "now"}}
    body = build({"messages": [user()], "tools": [tool, bare]})
    assert body["tools"] == [
        {
            "name": "get_weather",
            "input_schema": SCHEMA,
            "description": "Weather in a city",
            "strict": True,
            "cache_control": {"type": "ephemeral"},
        },
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert "tool_choice" not in body


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("required", None, {"type": "any"}),
        ("none", None, {"type": "none"}),
        ({"type": "function", "function": {"name": "get_weather"}}, None, {"type": "tool", "name": "get_weather"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
        (None, True, None),
    ],
)
def test_tool_choice_variants(choice: Any, parallel: bool | None, expected: dict[str, Any] | None) -> None:
    body = build(
        {"messages": [user()], "tools": [WEATHER_TOOL], "tool_choice": choice, "parallel_tool_calls": parallel}
    )
    assert body.get("tool_choice") == expected


# --- parameters ------------------------------------------------------------------------------------------------


def test_sampling_stop_user_and_service_tier() -> None:
    body = build(
        {
            "messages": [user()],
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 40,
            "stop": "END",
            "user": "customer-42",
            "n": 1,
            "service_tier": "default",
            "max_completion_tokens": 300,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    assert body["temperature"] == 0.2
    assert body["top_p"] == 0.9
    assert body["top_k"] == 40
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "customer-42"}
    assert body["service_tier"] == "standard_only"
    assert body["max_tokens"] == 300
    assert body["stream"] is True
    assert "n" not in body
    assert "stream_options" not in body


def test_stop_list_and_max_tokens_alias() -> None:
    body = build({"messages": [user()], "stop": ["a", "b"], "max_tokens": 77, "service_tier": "auto"})
    assert body["stop_sequences"] == ["a", "b"]
    assert body["max_tokens"] == 77
    assert body["service_tier"] == "auto"


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("metadata", {"k": "v"}),
        ("frequency_penalty", 0.5),
        ("logprobs", True),
        ("seed", 1),
        ("n", 2),
        ("service_tier", "flex"),
        ("response_format", {"type": "grammar"}),
    ],
)
def test_unsupported_params_raise_or_drop(param: str, value: Any) -> None:
    request = {"model": "x", "messages": [user()], param: value}
    with pytest.raises(UnsupportedParamsError) as info:
        AnthropicAdapter().build_chat_request(request, endpoint())
    assert info.value.param == param
    body = build({"messages": [user()], param: value}, endpoint(drop_params=True))
    assert set(body) == {"model", "max_tokens", "messages"}


# --- reasoning -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("effort", "budget"),
    [("none", 0), ("minimal", 1024), ("low", 1024), ("medium", 2048), ("high", 4096), ("xhigh", 8192), ("max", 16384)],
)
def test_reasoning_effort_sets_a_thinking_budget(effort: str, budget: int) -> None:
    body = build({"messages": [user()], "reasoning_effort": effort})
    assert body.get("thinking") == ({"type": "enabled", "budget_tokens": budget} if budget else None)
    assert body["max_tokens"] == 64000


def test_max_tokens_is_raised_above_the_budget() -> None:
    unknown = endpoint("claude-next")  # default 4096 is not above a 4096 budget
    assert build({"messages": [user()], "reasoning_effort": "high"}, unknown)["max_tokens"] == 8192
    body = build({"messages": [user()], "reasoning_effort": "medium", "max_completion_tokens": 500})
    assert body["max_tokens"] == 2548
    body = build({"messages": [user()], "reasoning_effort": "medium", "max_completion_tokens": 9000})
    assert body["max_tokens"] == 9000


def test_anthropic_thinking_param_passes_through_and_wins() -> None:
    thinking = {"type": "enabled", "budget_tokens": 5000}
    body = build({"messages": [user()], "thinking": thinking, "reasoning_effort": "low", "temperature": 1})
    assert body["thinking"] == thinking
    assert body["temperature"] == 1
    body = build({"messages": [user()], "thinking": {"type": "disabled"}, "temperature": 0.3})
    assert body["thinking"] == {"type": "disabled"}
    assert body["temperature"] == 0.3


@pytest.mark.parametrize(("param", "value"), [("temperature", 0.2), ("top_k", 5), ("top_p", 0.5)])
def test_thinking_rejects_sampling_params_unless_dropped(param: str, value: Any) -> None:
    with pytest.raises(UnsupportedParamsError) as info:
        build({"messages": [user()], "reasoning_effort": "low", param: value})
    assert info.value.param == param
    body = build({"messages": [user()], "reasoning_effort": "low", param: value}, endpoint(drop_params=True))
    assert param not in body
    assert body["thinking"]["budget_tokens"] == 1024


def test_thinking_rejects_a_forced_tool() -> None:
    request = {"messages": [user()], "reasoning_effort": "low", "tools": [WEATHER_TOOL], "tool_choice": "required"}
    with pytest.raises(UnsupportedParamsError) as info:
        build(request)
    assert info.value.param == "tool_choice"
    assert build(request, endpoint(drop_params=True))["tool_choice"] == {"type": "auto"}


def test_unknown_reasoning_effort_is_unsupported() -> None:
    with pytest.raises(UnsupportedParamsError):
        build({"messages": [user()], "reasoning_effort": "extreme"})


# --- response_format -------------------------------------------------------------------------------------------

JSON_SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {"name": "city", "schema": SCHEMA, "strict": True}}


def test_json_schema_native_output_config() -> None:
    body = build({"messages": [user()], "response_format": JSON_SCHEMA_FORMAT})
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    assert "tools" not in body
    assert "tool_choice" not in body


def test_json_schema_emulated_with_a_forced_tool() -> None:
    body = build({"messages": [user()], "response_format": JSON_SCHEMA_FORMAT}, endpoint("claude-3-5-haiku-20241022"))
    assert "output_config" not in body
    assert body["tools"] == [
        {"name": "json_tool_call", "description": body["tools"][0]["description"], "input_schema": SCHEMA}
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "json_tool_call"}


def test_json_object_is_a_forced_tool_with_an_object_schema() -> None:
    body = build({"messages": [user()], "response_format": {"type": "json_object"}, "tools": [WEATHER_TOOL]})
    assert [t["name"] for t in body["tools"]] == ["get_weather", "json_tool_call"]
    assert body["tools"][1]["input_schema"] == {"type": "object"}
    assert body["tool_choice"] == {"type": "tool", "name": "json_tool_call"}


def test_json_emulation_with_thinking_does_not_force_the_tool() -> None:
    body = build({"messages": [user()], "response_format": {"type": "json_object"}, "reasoning_effort": "low"})
    assert body["tool_choice"] == {"type": "auto"}


def test_text_response_format_changes_nothing() -> None:
    body = build({"messages": [user()], "response_format": {"type": "text"}})
    assert set(body) == {"model", "max_tokens", "messages"}


def test_default_max_tokens_reaches_the_body() -> None:
    assert build({"messages": [user()]}, endpoint("claude-3-5-haiku-20241022"))["max_tokens"] == 8192
    assert build({"messages": [user()]}, endpoint("claude-opus-4-1"))["max_tokens"] == 32000
    assert build({"messages": [user()]}, endpoint("claude-unknown"))["max_tokens"] == 4096


def test_a_parsed_answer_goes_back_as_history_unchanged() -> None:
    thinking = {"type": "thinking", "thinking": "Need the weather.", "signature": "EqQBsig=="}
    tool_use = {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Lima"}}
    answer = {
        "id": "msg_9",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [thinking, {"type": "text", "text": "Checking."}, tool_use],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 5, "output_tokens": 9},
    }
    request = {"model": "x", "messages": [user("Weather in Lima?")], "tools": [WEATHER_TOOL], "reasoning_effort": "low"}
    parsed = AnthropicAdapter().parse_chat_response(HttpResponse(200, {}, orjson.dumps(answer)), request, endpoint())
    assistant = parsed["choices"][0]["message"]
    result = {"role": "tool", "tool_call_id": assistant["tool_calls"][0]["id"], "content": "18C"}
    body = build({**request, "messages": [*request["messages"], assistant, result]})
    assert body["messages"][1] == {"role": "assistant", "content": answer["content"]}
    assert body["messages"][2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "18C"}],
    }

"""GeminiAdapter request building: body, URL, headers (PROVIDERS.md §6.1-6.2, §13.3)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tollway.adapters.base import Endpoint
from tollway.adapters.gemini import GeminiAdapter, generate_content_body
from tollway.adapters.gemini_messages import tool_call_id
from tollway.errors import BadRequestError, UnsupportedParamsError

ADAPTER = GeminiAdapter()
PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather",
        "parameters": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def endpoint(**kwargs: Any) -> Endpoint:
    values: dict[str, Any] = {
        "provider": "gemini",
        "model": "gemini-2.5-flash",
        "api_base": "https://generativelanguage.googleapis.com",
        "api_key": "k-123",
    }
    return Endpoint(**{**values, **kwargs})


def body(messages: list[dict[str, Any]] | None = None, ep: Endpoint | None = None, **params: Any) -> dict[str, Any]:
    request = {"model": "gemini/gemini-2.5-flash", "messages": messages or [{"role": "user", "content": "Hi"}]}
    return generate_content_body({**request, **params}, ep or endpoint())


def test_url_headers_and_stream_url() -> None:
    request = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}
    built = ADAPTER.build_chat_request(request, endpoint(headers={"X-Extra": "1"}))
    assert built.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    assert built.headers == {"content-type": "application/json", "x-goog-api-key": "k-123", "X-Extra": "1"}
    streamed = ADAPTER.build_chat_request({**request, "stream": True}, endpoint(api_version="v1"))
    assert streamed.url.endswith("/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    tuned = ADAPTER.build_chat_request(request, endpoint(model="tunedModels/mine"))
    assert "/v1beta/tunedModels/mine:generateContent" in tuned.url
    assert orjson.loads(built.body) == {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}


def test_extra_body_reaches_the_upstream() -> None:
    request = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    built = ADAPTER.build_chat_request(request, endpoint(extra_body={"safetySettings": safety}))
    assert orjson.loads(built.body)["safetySettings"] == safety


def test_system_roles_and_generation_config() -> None:
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
        {"role": "user", "content": "Hi", "name": "ann"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Weather?"},
    ]
    result = body(
        messages,
        max_tokens=100,
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        stop="END",
        seed=7,
        n=2,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        logprobs=True,
        top_logprobs=3,
    )
    assert result["systemInstruction"] == {"parts": [{"text": "Be terse."}, {"text": "Use metric."}]}
    assert [c["role"] for c in result["contents"]] == ["user", "model", "user"]
    assert result["generationConfig"] == {
        "maxOutputTokens": 100,
        "temperature": 0.2,
        "topP": 0.9,
        "topK": 40,
        "stopSequences": ["END"],
        "seed": 7,
        "candidateCount": 2,
        "presencePenalty": 0.1,
        "frequencyPenalty": 0.2,
        "responseLogprobs": True,
        "logprobs": 3,
    }


def test_json_modes() -> None:
    assert body(response_format={"type": "json_object"})["generationConfig"] == {"responseMimeType": "application/json"}
    schema = {"$schema": "x", "type": "object", "properties": {"a": {"type": ["string", "null"]}}}
    config = body(response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": schema}})[
        "generationConfig"
    ]
    assert config["responseJsonSchema"] == {"type": "object", "properties": {"a": {"type": ["string", "null"]}}}
    openapi = body(
        response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": schema}},
        ep=endpoint(quirks={"schema_dialect": "openapi"}),
    )["generationConfig"]
    assert openapi["responseSchema"] == {"type": "OBJECT", "properties": {"a": {"type": "STRING", "nullable": True}}}


def test_tools_one_entry_cleaned_and_native_tools_kept() -> None:
    empty = {"type": "function", "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}}}
    result = body(tools=[WEATHER, empty, {"googleSearch": {}}], tool_choice="auto", web_search_options={})
    declarations = result["tools"][0]["functionDeclarations"]
    assert declarations[0] == {
        "name": "get_weather",
        "description": "Weather",
        "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
    assert declarations[1] == {"name": "ping"}
    assert result["tools"][1:] == [{"googleSearch": {}}, {"googleSearch": {}}]
    assert result["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("required", {"mode": "ANY"}),
        ("none", {"mode": "NONE"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_tool_choice(choice: Any, config: dict[str, Any]) -> None:
    assert body(tools=[WEATHER], tool_choice=choice)["toolConfig"] == {"functionCallingConfig": config}


def test_tool_history_names_signatures_and_merged_results() -> None:
    signed = tool_call_id("get_weather", '{"city":"Paris"}', 0, "SIG1")
    messages = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": signed,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": '{"tz":"Europe/Rome"}'},
                    "provider_specific_fields": {"thought_signature": "SIG2"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": signed, "content": '{"temp_c": 21}'},
        {"role": "tool", "tool_call_id": "call_b", "content": "12:00"},
    ]
    contents = body(messages)["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "SIG1"},
            {"functionCall": {"name": "get_time", "args": {"tz": "Europe/Rome"}}, "thoughtSignature": "SIG2"},
        ],
    }
    assert contents[2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}},
            {"functionResponse": {"name": "get_time", "response": {"result": "12:00"}}},
        ],
    }


def test_text_signature_goes_back_on_the_text_part() -> None:
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello", "provider_specific_fields": {"thought_signature": "T"}},
        {"role": "user", "content": "Again"},
    ]
    assert body(messages)["contents"][1]["parts"] == [{"text": "Hello", "thoughtSignature": "T"}]


def test_unknown_tool_result_is_refused() -> None:
    messages = [{"role": "user", "content": "Hi"}, {"role": "tool", "tool_call_id": "nope", "content": "x"}]
    with pytest.raises(BadRequestError, match="answers no tool call"):
        body(messages)


def test_media_parts() -> None:
    content = [
        {"type": "text", "text": "What?"},
        {"type": "image_url", "image_url": {"url": PNG}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg?x=1"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjQ="}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
    ]
    parts = body([{"role": "user", "content": content}])["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": PNG.split(",", 1)[1]}}
    assert parts[2] == {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg?x=1"}}
    assert parts[3] == {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0xLjQ="}}
    assert parts[4] == {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}}


def test_empty_assistant_turn_is_dropped() -> None:
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "x"},
    ]
    assert body(messages)["contents"] == [{"role": "user", "parts": [{"text": "Hi"}, {"text": "x"}]}]


@pytest.mark.parametrize(
    ("model", "params", "thinking"),
    [
        ("gemini-2.5-flash", {"reasoning_effort": "low"}, {"thinkingBudget": 1024, "includeThoughts": True}),
        ("gemini-2.5-flash", {"reasoning_effort": "none"}, {"thinkingBudget": 0}),
        ("gemini-3-pro-preview", {"reasoning_effort": "high"}, {"thinkingLevel": "HIGH", "includeThoughts": True}),
        (
            "gemini-2.5-pro",
            {"thinking": {"type": "enabled", "budget_tokens": 2000}},
            {"thinkingBudget": 2000, "includeThoughts": True},
        ),
        ("gemini-2.5-flash", {"thinking": {"type": "disabled"}}, {"thinkingBudget": 0}),
    ],
)
def test_thinking_config(model: str, params: dict[str, Any], thinking: dict[str, Any]) -> None:
    assert body(ep=endpoint(model=model), **params)["generationConfig"]["thinkingConfig"] == thinking


@pytest.mark.parametrize(
    ("param", "value"),
    [("user", "u1"), ("logit_bias", {"1": 1}), ("parallel_tool_calls", False), ("reasoning_effort", "extreme")],
)
def test_unsupported_params_raise_or_drop(param: str, value: Any) -> None:
    with pytest.raises(UnsupportedParamsError) as info:
        body(tools=[WEATHER], **{param: value})
    assert info.value.param == param
    assert info.value.provider == "gemini"
    assert "gemini" in str(info.value)
    dropped = body(ep=endpoint(drop_params=True), tools=[WEATHER], **{param: value})
    assert dropped == body(tools=[WEATHER])

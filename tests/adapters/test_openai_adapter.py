"""The OpenAI adapter: request building, response parsing, embeddings and error mapping."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from openai.types import CreateEmbeddingResponse, embedding_create_params
from openai.types.chat import ChatCompletion, completion_create_params
from pydantic import TypeAdapter

from tollway.adapters.base import Endpoint
from tollway.adapters.openai import CHAT_PARAMS, EMBEDDING_PARAMS, OpenAIAdapter, reasoning_model_rejects
from tollway.errors import (
    APIError,
    AuthenticationError,
    BadGatewayError,
    BadRequestError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
    TollwayError,
    UnprocessableEntityError,
    UnsupportedParamsError,
)
from tollway.http import HttpRequest, HttpResponse

ADAPTER = OpenAIAdapter()
MESSAGES = [{"role": "user", "content": "Hi"}]
FIXTURES = Path(__file__).parent / "fixtures" / "openai"
# One plausible value for every documented chat parameter (PROVIDERS.md §1.2).
ALL_PARAMS: dict[str, Any] = orjson.loads((FIXTURES / "all_chat_params.json").read_bytes())
# Responses in OpenAI's exact shape (§1.5): text, parallel tool calls, n=2 with logprobs, refusal.
RESPONSES: dict[str, dict[str, Any]] = orjson.loads((FIXTURES / "responses.json").read_bytes())
TEXT_RESPONSE = RESPONSES["text"]
WEATHER_TOOL = ALL_PARAMS["tools"][0]

NON_STREAMING = completion_create_params.CompletionCreateParamsNonStreaming
STREAMING = completion_create_params.CompletionCreateParamsStreaming
EMBEDDING = embedding_create_params.EmbeddingCreateParams


def endpoint(**kwargs: Any) -> Endpoint:
    values: dict[str, Any] = {
        "provider": "openai",
        "model": "gpt-4o-2024-08-06",
        "api_base": "https://api.openai.com/v1",
        "api_key": "sk-test",
    }
    values.update(kwargs)
    return Endpoint(**values)


def body_of(request: HttpRequest) -> dict[str, Any]:
    return cast(dict[str, Any], orjson.loads(request.body))


def build(request: dict[str, Any], ep: Endpoint | None = None) -> dict[str, Any]:
    return body_of(ADAPTER.build_chat_request({"model": "alias", **request}, ep or endpoint()))


def force(value: object) -> object:
    """Exhaust pydantic's lazy iterators (``Iterable[...]`` fields validate item by item when consumed)."""
    if isinstance(value, Mapping):
        return {k: force(v) for k, v in value.items()}
    if isinstance(value, (Iterator, list, tuple)):
        return [force(v) for v in value]
    return value


def assert_valid_sdk_request(body: dict[str, Any], typed_dict: Any) -> None:
    """The body is a valid openai-python request (a request TypedDict): known keys, documented value types."""
    known = typed_dict.__required_keys__ | typed_dict.__optional_keys__
    assert set(body) <= known, set(body) - known
    adapter = TypeAdapter(typed_dict)  # must outlive the lazy iterators it returns (pydantic-core panics)
    validated = force(adapter.validate_python(body))
    assert validated == body


def response(data: object, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    body = data if isinstance(data, bytes) else orjson.dumps(data)
    return HttpResponse(status=status, headers=headers or {}, body=body)


# --- the whitelist ---------------------------------------------------------------------------------------------


def test_whitelist_matches_the_sdk_request_params() -> None:
    sdk = completion_create_params.CompletionCreateParamsNonStreaming
    assert sdk.__required_keys__ | sdk.__optional_keys__ == CHAT_PARAMS | {"model"}
    embedding = embedding_create_params.EmbeddingCreateParams
    assert embedding.__optional_keys__ == EMBEDDING_PARAMS | {"model"}


def test_every_documented_param_reaches_the_body() -> None:
    body = build(ALL_PARAMS)
    expected = {k: v for k, v in ALL_PARAMS.items() if v is not None}
    assert body == {"model": "gpt-4o-2024-08-06", **expected}
    assert_valid_sdk_request(body, NON_STREAMING)


def test_model_is_the_endpoint_upstream_id() -> None:
    body = build({"messages": MESSAGES, "temperature": None}, endpoint(model="my-azure-deployment"))
    assert body == {"model": "my-azure-deployment", "messages": MESSAGES}  # None counts as not given


def test_unknown_param_raises_naming_it() -> None:
    with pytest.raises(UnsupportedParamsError) as info:
        build({"messages": MESSAGES, "top_k": 5})
    assert info.value.param == "top_k"
    assert "'top_k'" in info.value.message
    assert info.value.provider == "openai"
    assert info.value.status_code == 400


def test_drop_params_drops_unknown_param() -> None:
    body = build({"messages": MESSAGES, "top_k": 5, "temperature": 0.1}, endpoint(drop_params=True))
    assert body == {"model": "gpt-4o-2024-08-06", "messages": MESSAGES, "temperature": 0.1}


def test_permissive_quirk_forwards_unknown_params() -> None:
    body = build({"messages": MESSAGES, "mock_response": "hi", "top_k": 5}, endpoint(quirks={"permissive": True}))
    assert body == {"model": "gpt-4o-2024-08-06", "messages": MESSAGES, "mock_response": "hi", "top_k": 5}


def test_unsupported_params_quirk() -> None:
    groq = endpoint(provider="groq", model="llama-3.3-70b", quirks={"unsupported_params": ("logprobs", "logit_bias")})
    with pytest.raises(UnsupportedParamsError) as info:
        build({"messages": MESSAGES, "logprobs": True}, groq)
    assert info.value.param == "logprobs"
    assert info.value.provider == "groq"
    dropping = endpoint(drop_params=True, quirks={"unsupported_params": ["logprobs"]})
    assert "logprobs" not in build({"messages": MESSAGES, "logprobs": True}, dropping)


def test_extra_params_quirk_adds_vendor_params() -> None:
    together = endpoint(quirks={"extra_params": frozenset({"top_k", "repetition_penalty"})})
    body = build({"messages": MESSAGES, "top_k": 40, "repetition_penalty": 1.1}, together)
    assert body["top_k"] == 40
    assert body["repetition_penalty"] == 1.1
    with pytest.raises(UnsupportedParamsError):
        build({"messages": MESSAGES, "min_p": 0.1}, together)


def test_request_is_not_mutated() -> None:
    request = {"model": "o3", "messages": MESSAGES, "max_tokens": 10, "stream": True}
    copy = orjson.loads(orjson.dumps(request))
    ADAPTER.build_chat_request(request, endpoint(model="o3"))
    assert request == copy


# --- reasoning models -------------------------------------------------------------------------------------------


REASONING_IDS = ("o1", "o1-mini-2024-09-12", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5.1")
OTHER_IDS = ("gpt-5-chat-latest", "gpt-4o", "gpt-4.1-mini", "omni-moderation-latest")


@pytest.mark.parametrize("model", REASONING_IDS + OTHER_IDS)
def test_reasoning_model_rule(model: str) -> None:
    reasoning = model in REASONING_IDS
    rejected = reasoning_model_rejects(model, {}, {})
    assert bool(rejected) is reasoning
    body = build({"messages": MESSAGES, "max_tokens": 64}, endpoint(model=model))
    if reasoning:
        assert "max_tokens" not in body
        assert body["max_completion_tokens"] == 64
    else:
        assert body["max_tokens"] == 64
        assert "max_completion_tokens" not in body


def test_reasoning_model_both_limits_max_completion_tokens_wins() -> None:
    body = build({"messages": MESSAGES, "max_tokens": 64, "max_completion_tokens": 500}, endpoint(model="o3"))
    assert body["max_completion_tokens"] == 500
    assert "max_tokens" not in body


@pytest.mark.parametrize(
    ("param", "value"),
    [("temperature", 0.7), ("temperature", 0), ("top_p", 0.9), ("presence_penalty", 0.1),
     ("frequency_penalty", 0.1), ("logprobs", True), ("top_logprobs", 2), ("logit_bias", {"1": 5})],
)  # fmt: skip
def test_reasoning_model_rejects_sampling_params(param: str, value: object) -> None:
    with pytest.raises(UnsupportedParamsError) as info:
        build({"messages": MESSAGES, param: value}, endpoint(model="gpt-5-mini"))
    assert info.value.param == param
    body = build({"messages": MESSAGES, param: value, "seed": 1}, endpoint(model="gpt-5-mini", drop_params=True))
    assert body == {"model": "gpt-5-mini", "messages": MESSAGES, "seed": 1}


def test_reasoning_model_accepts_default_temperature() -> None:
    assert build({"messages": MESSAGES, "temperature": 1}, endpoint(model="o1"))["temperature"] == 1
    assert build({"messages": MESSAGES, "temperature": 1.0}, endpoint(model="o1"))["temperature"] == 1.0


def test_gpt_5_1_with_reasoning_off_accepts_sampling() -> None:
    request = {"messages": MESSAGES, "reasoning_effort": "none", "temperature": 0.3, "top_p": 0.5}
    body = build(request, endpoint(model="gpt-5.1"))
    assert (body["temperature"], body["top_p"]) == (0.3, 0.5)
    with pytest.raises(UnsupportedParamsError):
        build({**request, "reasoning_effort": "low"}, endpoint(model="gpt-5.1"))
    with pytest.raises(UnsupportedParamsError):
        build(request, endpoint(model="gpt-5"))  # the first GPT-5 models have no "none" effort


def test_reasoning_model_quirk_overrides_the_id_rule() -> None:
    deployment = endpoint(model="prod-reasoner", quirks={"reasoning_model": True})
    assert build({"messages": MESSAGES, "max_tokens": 5}, deployment)["max_completion_tokens"] == 5
    plain = endpoint(model="o3-custom-finetune", quirks={"reasoning_model": False})
    assert build({"messages": MESSAGES, "max_tokens": 5, "temperature": 0.2}, plain)["max_tokens"] == 5


@pytest.mark.parametrize("model", ["gpt-4o", "o3"])
def test_max_tokens_field_quirk(model: str) -> None:
    mistral_like = endpoint(model=model, quirks={"max_tokens_field": "max_tokens"})
    assert build({"messages": MESSAGES, "max_completion_tokens": 77}, mistral_like)["max_tokens"] == 77
    body = build({"messages": MESSAGES, "max_completion_tokens": 77, "max_tokens": 10}, mistral_like)
    assert body == {"model": model, "messages": MESSAGES, "max_tokens": 77}
    only_new = endpoint(model=model, quirks={"max_tokens_field": "max_completion_tokens"})
    body = build({"messages": MESSAGES, "max_tokens": 12}, only_new)
    assert body == {"model": model, "messages": MESSAGES, "max_completion_tokens": 12}


# --- URL, headers, extra_body, streaming ------------------------------------------------------------------------


def test_url_and_headers() -> None:
    req = ADAPTER.build_chat_request({"model": "x", "messages": MESSAGES}, endpoint())
    assert (req.method, req.url) == ("POST", "https://api.openai.com/v1/chat/completions")
    assert dict(req.headers) == {"content-type": "application/json", "authorization": "Bearer sk-test"}
    # no key: no auth header; endpoint headers are merged last
    ep = endpoint(api_key=None, headers={"openai-organization": "org-1", "content-type": "application/json; x=1"})
    req = ADAPTER.build_chat_request({"model": "x", "messages": MESSAGES}, ep)
    assert dict(req.headers) == {"content-type": "application/json; x=1", "openai-organization": "org-1"}


@pytest.mark.parametrize("header", ["api-key", "x-api-key"])
def test_auth_header_quirk_sends_raw_key(header: str) -> None:
    ep = endpoint(api_key="az-key", quirks={"auth_header": header, "chat_path": "/openai/v1/chat/completions"})
    req = ADAPTER.build_chat_request({"model": "x", "messages": MESSAGES}, ep)
    assert req.headers[header] == "az-key"
    assert "authorization" not in req.headers
    assert req.url == "https://api.openai.com/v1/openai/v1/chat/completions"


def test_extra_body_is_merged_over_the_payload() -> None:
    ep = endpoint(extra_body={"provider": {"order": ["a"]}, "temperature": 0.9})
    body = build({"messages": MESSAGES, "temperature": 0.1}, ep)
    expected = {"model": "gpt-4o-2024-08-06", "messages": MESSAGES, "temperature": 0.9, "provider": {"order": ["a"]}}
    assert body == expected


@pytest.mark.parametrize(
    ("params", "quirks", "expected"),
    [({"stream": True}, {}, {"include_usage": True}),
     ({"stream": True, "stream_options": {"include_obfuscation": False}}, {},
      {"include_obfuscation": False, "include_usage": True}),
     ({"stream": True, "stream_options": {"include_usage": False}}, {}, {"include_usage": True}),
     ({"stream": True}, {"include_usage": False}, None),
     ({"stream": False}, {}, None),
     ({}, {}, None)],
)  # fmt: skip
def test_streaming_forces_include_usage(params: dict[str, Any], quirks: dict[str, Any], expected: object) -> None:
    body = build({"messages": MESSAGES, **params}, endpoint(quirks=quirks))
    assert body.get("stream_options") == expected
    assert_valid_sdk_request(body, STREAMING if params.get("stream") else NON_STREAMING)


def test_tools_response_format_logprobs_n_pass_through() -> None:
    schema_format = {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": {"type": "object", "properties": {}}, "strict": True},
    }
    request = {
        "messages": MESSAGES,
        "tools": [WEATHER_TOOL],
        "tool_choice": "required",
        "parallel_tool_calls": True,
        "response_format": schema_format,
        "logprobs": True,
        "top_logprobs": 5,
        "n": 3,
    }
    body = build(request)
    assert body == {"model": "gpt-4o-2024-08-06", **request}
    assert_valid_sdk_request(body, NON_STREAMING)


@pytest.mark.parametrize(
    ("param", "value"),
    [("n", 0), ("n", -1), ("n", "2"), ("n", 1.5), ("n", True),
     ("stop", ["a", "b", "c", "d", "e"]), ("stop", ["a", 1]), ("stop", 7), ("stop", {"a": 1})],
)  # fmt: skip
def test_cheap_validation(param: str, value: object) -> None:
    with pytest.raises(BadRequestError) as info:
        build({"messages": MESSAGES, param: value})
    assert type(info.value) is BadRequestError
    assert info.value.param == param


@pytest.mark.parametrize("stop", ["END", ["a", "b", "c", "d"], []])
def test_valid_stop_values(stop: object) -> None:
    assert build({"messages": MESSAGES, "stop": stop})["stop"] == stop


# --- chat responses ---------------------------------------------------------------------------------------------


def parse(data: object, ep: Endpoint | None = None) -> dict[str, Any]:
    result = ADAPTER.parse_chat_response(response(data), {"model": "x", "messages": MESSAGES}, ep or endpoint())
    parsed = ChatCompletion.model_validate(result)
    assert parsed.model_dump(mode="json", exclude_unset=True) == result
    return result


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_responses_pass_through_exactly(name: str) -> None:
    data = RESPONSES[name]
    assert parse(data) == data


def test_parsed_fields() -> None:
    tool = ChatCompletion.model_validate(parse(RESPONSES["tool_calls"]))
    calls = tool.choices[0].message.tool_calls
    assert calls is not None
    assert [(c.id, c.function.arguments) for c in calls if c.type == "function"] == [
        ("call_a", '{"city":"Paris"}'),
        ("call_b", '{"city":"Tokyo"}'),
    ]
    refusal = ChatCompletion.model_validate(parse(RESPONSES["refusal"]))
    assert refusal.choices[0].message.refusal == "I can't help with that."
    assert refusal.choices[0].message.content is None
    logprobs = ChatCompletion.model_validate(parse(RESPONSES["logprobs_n2"])).choices[0].logprobs
    assert logprobs is not None
    assert logprobs.content is not None
    assert logprobs.content[0].top_logprobs[1].token == "Hello"


def test_usage_total_is_recomputed() -> None:
    data = {**TEXT_RESPONSE, "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 99}}
    assert parse(data)["usage"] == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


def test_reasoning_field_quirk_copies_to_reasoning_content() -> None:
    message = {"role": "assistant", "content": "4", "reasoning": "2+2"}
    data = {**TEXT_RESPONSE, "choices": [{"index": 0, "finish_reason": "stop", "message": message}]}
    result = parse(data, endpoint(quirks={"reasoning_field": "reasoning"}))
    assert result["choices"][0]["message"] == {**message, "reasoning_content": "2+2"}
    assert "reasoning_content" not in parse(data)["choices"][0]["message"]


@pytest.mark.parametrize(
    ("data", "problem"),
    [({"id": "x", "object": "chat.completion"}, "'choices'"), ({"choices": None}, "'choices'"),
     ({"choices": {"0": {}}}, "'choices'"), (b"<html>oops</html>", "not JSON"), (b"[1]", "not a JSON object")],
)  # fmt: skip
def test_unreadable_response_is_bad_gateway(data: object, problem: str) -> None:
    with pytest.raises(BadGatewayError) as info:
        parse(data)
    assert problem in info.value.message


def test_error_envelope_with_status_200_raises_mapped_error() -> None:
    with pytest.raises(RateLimitError) as info:
        parse({"error": {"code": 429, "message": "Provider rate limited"}})
    assert info.value.message == "Provider rate limited"


def test_leading_whitespace_before_json_is_accepted() -> None:
    # DeepSeek sends blank lines while a request waits (PROVIDERS.md §11)
    body = b"\n\n\n" + orjson.dumps(TEXT_RESPONSE)
    assert ADAPTER.parse_chat_response(response(body), {}, endpoint()) == TEXT_RESPONSE


# --- embeddings -------------------------------------------------------------------------------------------------


def build_embedding(request: dict[str, Any], ep: Endpoint | None = None) -> tuple[HttpRequest, dict[str, Any]]:
    ep = ep or endpoint(model="text-embedding-3-small")
    req = ADAPTER.build_embedding_request({"model": "alias", **request}, ep)
    return req, body_of(req)


def test_embedding_request() -> None:
    request = {"input": ["hello", "world"], "encoding_format": "float", "dimensions": 256, "user": "u1"}
    req, body = build_embedding(request)
    assert req.url == "https://api.openai.com/v1/embeddings"
    assert req.headers["authorization"] == "Bearer sk-test"
    assert body == {"model": "text-embedding-3-small", **request}
    assert_valid_sdk_request(body, EMBEDDING)


def test_embedding_path_quirk_and_unknown_param() -> None:
    ep = endpoint(model="e5", quirks={"embeddings_path": "/v2/embed"})
    req, _ = build_embedding({"input": "x"}, ep)
    assert req.url == "https://api.openai.com/v1/v2/embed"
    with pytest.raises(UnsupportedParamsError) as info:
        build_embedding({"input": "x", "input_type": "query"})
    assert info.value.param == "input_type"


@pytest.mark.parametrize("value", ["hello", ["a", "b"], [1, 2, 3], [[1, 2], [3]]])
def test_embedding_valid_inputs(value: object) -> None:
    assert build_embedding({"input": value})[1]["input"] == value


@pytest.mark.parametrize(
    "value", [None, "", [], [""], ["a", 1], [1, "a"], [[1], []], [[1], ["a"]], [True], 3, {"text": "a"}, [1.5]]
)
def test_embedding_invalid_inputs(value: object) -> None:
    with pytest.raises(BadRequestError) as info:
        build_embedding({"input": value})
    assert info.value.param == "input"


def embedding_response(vectors: list[object]) -> dict[str, Any]:
    return {
        "object": "list",
        "model": "text-embedding-3-small",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
        "usage": {"prompt_tokens": 2, "total_tokens": 2},
    }


def test_embedding_float_response() -> None:
    data = embedding_response([[0.0123, -0.0456], [0.5, 0.25]])
    result = ADAPTER.parse_embedding_response(response(data), {}, endpoint())
    assert result == data
    parsed = CreateEmbeddingResponse.model_validate(result)
    assert parsed.data[1].embedding == [0.5, 0.25]
    assert parsed.usage.total_tokens == 2


def test_embedding_base64_response_stays_base64() -> None:
    packed = base64.b64encode(struct.pack("<3f", 0.5, -1.0, 0.25)).decode()
    data = embedding_response([packed])
    result = ADAPTER.parse_embedding_response(response(data), {}, endpoint())
    assert result["data"][0]["embedding"] == packed
    assert struct.unpack("<3f", base64.b64decode(result["data"][0]["embedding"])) == (0.5, -1.0, 0.25)


def test_embedding_usage_total_recomputed_and_missing_data() -> None:
    data = {**embedding_response([[1.0]]), "usage": {"prompt_tokens": 7, "total_tokens": 0}}
    assert ADAPTER.parse_embedding_response(response(data), {}, endpoint())["usage"]["total_tokens"] == 7
    with pytest.raises(BadGatewayError) as info:
        ADAPTER.parse_embedding_response(response({"object": "list"}), {}, endpoint())
    assert "data" in info.value.message


# --- errors -----------------------------------------------------------------------------------------------------


def envelope(message: str, type_: str | None = None, code: object = None, param: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})


def map_error(
    status: int, body: bytes, headers: dict[str, str] | None = None, ep: Endpoint | None = None
) -> TollwayError:
    return ADAPTER.map_error(HttpResponse(status=status, headers=headers or {}, body=body), ep or endpoint())


@pytest.mark.parametrize(
    ("status", "cls", "type_", "code", "retryable"),
    [
        (400, BadRequestError, "invalid_request_error", "invalid_value", False),
        (401, AuthenticationError, "invalid_request_error", "invalid_api_key", False),
        (403, PermissionDeniedError, "invalid_request_error", "unsupported_country_region_territory", False),
        (404, NotFoundError, "invalid_request_error", "model_not_found", False),
        (408, Timeout, None, None, True),
        (409, APIError, None, None, True),
        (422, UnprocessableEntityError, None, None, False),
        (429, RateLimitError, "requests", "rate_limit_exceeded", True),
        (500, InternalServerError, "server_error", None, True),
        (502, InternalServerError, "server_error", None, True),
        (503, ServiceUnavailableError, "server_error", None, True),
    ],
)
def test_map_error_by_status(
    status: int, cls: type[TollwayError], type_: str | None, code: str | None, retryable: bool
) -> None:
    body = envelope("upstream words", type_, code, "messages")
    err = map_error(status, body, {"x-request-id": "req_1"})
    assert type(err) is cls
    assert err.message == "upstream words"
    assert err.upstream_status == status
    assert err.param == "messages"
    assert err.body == body
    assert err.headers == {"x-request-id": "req_1"}
    assert err.provider == "openai"
    assert err.model == "gpt-4o-2024-08-06"
    assert err.retryable is retryable
    assert err.status_code == (status if status != 502 else 500)  # tollway reports 500 for an upstream 502
    if code is not None:
        assert err.code == code
        assert err.to_dict()["error"]["code"] == code


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"retry-after": "7"}, 7.0), ({"retry-after-ms": "1500", "retry-after": "2"}, 1.5), ({}, None)],
)
def test_map_error_429_retry_after(headers: dict[str, str], expected: float | None) -> None:
    err = map_error(429, envelope("Rate limit reached", "requests", "rate_limit_exceeded"), headers)
    assert type(err) is RateLimitError
    assert err.retry_after == expected
    assert err.retryable


def test_map_error_insufficient_quota_is_not_retryable() -> None:
    err = map_error(429, envelope("You exceeded your current quota", "insufficient_quota", "insufficient_quota"))
    assert type(err) is RateLimitError
    assert err.retryable is False
    assert err.code == "insufficient_quota"
    assert RateLimitError.retryable is True  # the class is untouched


@pytest.mark.parametrize(
    ("body", "cls"),
    [
        (envelope("This model's maximum context length is 8192 tokens.", code="context_length_exceeded"),
         ContextWindowExceededError),
        (envelope("This model's maximum context length is 8192 tokens, however you requested 9000."),
         ContextWindowExceededError),
        (envelope("prompt exceeds the context length of the model"), ContextWindowExceededError),
        (envelope("Your request was rejected by our safety system", code="content_policy_violation"),
         ContentPolicyViolationError),
        (envelope("'max_tokens' is not supported with this model.", code="unsupported_parameter",
                  param="max_tokens"), UnsupportedParamsError),
        (envelope("Unsupported value: 'temperature' does not support 0.5", code="unsupported_value",
                  param="temperature"), UnsupportedParamsError),
    ],
)  # fmt: skip
def test_map_error_refines_400(body: bytes, cls: type[TollwayError]) -> None:
    err = map_error(400, body)
    assert type(err) is cls
    sent = orjson.loads(body)["error"]
    assert (err.param, err.code) == (sent["param"], sent["code"] or cls.default_code)
    assert err.upstream_status == 400
    assert err.status_code == 400


def test_map_error_azure_content_filter() -> None:
    message = "The response was filtered due to the prompt triggering content management policy."
    inner = {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {}}
    error = {"code": "content_filter", "message": message, "param": "prompt", "status": 400, "innererror": inner}
    body = orjson.dumps({"error": error})
    err = map_error(400, body)
    assert type(err) is ContentPolicyViolationError
    assert err.param == "prompt"
    assert err.code == "content_filter"


def test_map_error_azure_string_status_code() -> None:
    body = orjson.dumps({"error": {"code": "429", "message": "Please retry after 6 seconds."}})
    err = map_error(429, body, {"retry-after": "6"})
    assert type(err) is RateLimitError
    assert err.retry_after == 6.0
    assert err.code == "rate_limit_exceeded"  # a digit string is a status, not a code


def test_map_error_string_error_field() -> None:
    # xAI (PROVIDERS.md §11): {"code": "...", "error": "<message>"}; auth failures come as 400
    body = orjson.dumps({"code": "Client specified an invalid argument", "error": "Incorrect API key provided"})
    err = map_error(400, body)
    assert type(err) is BadRequestError
    assert err.message == "Incorrect API key provided"


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (502, b"<html><body>502 Bad Gateway</body></html>", InternalServerError),
        (503, b"upstream connect error", ServiceUnavailableError),
        (500, b"", InternalServerError),
        (400, b'{"detail": "bad"}', BadRequestError),
    ],
)
def test_map_error_non_json_body(status: int, body: bytes, cls: type[TollwayError]) -> None:
    err = map_error(status, body)
    assert type(err) is cls
    assert err.message == f"openai returned HTTP {status}: {body.decode()}"
    assert err.upstream_status == status


def test_map_error_long_body_is_cut_to_200_chars() -> None:
    err = map_error(500, b"x" * 1000, ep=endpoint(provider="together"))
    assert err.message == "together returned HTTP 500: " + "x" * 200
    assert err.body == b"x" * 1000

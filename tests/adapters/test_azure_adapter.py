"""The Azure adapter: URL forms, auth, reasoning deployments, parameters, responses and error mapping."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion

from tollway.adapters.azure import DEFAULT_API_VERSION, AzureAdapter, azure_openai_endpoint
from tollway.adapters.base import Endpoint
from tollway.errors import (
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    NotFoundError,
    RateLimitError,
    TollwayError,
    UnsupportedParamsError,
)
from tollway.http import HttpRequest, HttpResponse

ADAPTER = AzureAdapter()
MESSAGES = [{"role": "user", "content": "Hi"}]
RESOURCE = "https://my-resource.openai.azure.com"
SAFE = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}


def endpoint(**kwargs: Any) -> Endpoint:
    values: dict[str, Any] = {
        "provider": "azure",
        "model": "my-gpt-4o",
        "api_base": RESOURCE,
        "api_key": "azure-key",
        "api_version": "2024-10-21",
    }
    values.update(kwargs)
    return Endpoint(**values)


def chat(request: dict[str, Any] | None = None, **kwargs: Any) -> HttpRequest:
    return ADAPTER.build_chat_request(request or {"messages": MESSAGES}, endpoint(**kwargs))


def body_of(http: HttpRequest) -> dict[str, Any]:
    data = orjson.loads(http.body)
    assert isinstance(data, dict)
    return data


# -- URLs -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "url"),
    [
        ({}, f"{RESOURCE}/openai/deployments/my-gpt-4o/chat/completions?api-version=2024-10-21"),
        ({"api_version": "2025-04-01-preview"},
         f"{RESOURCE}/openai/deployments/my-gpt-4o/chat/completions?api-version=2025-04-01-preview"),
        ({"api_version": None},
         f"{RESOURCE}/openai/deployments/my-gpt-4o/chat/completions?api-version={DEFAULT_API_VERSION}"),
        ({"api_base": RESOURCE + "/"},
         f"{RESOURCE}/openai/deployments/my-gpt-4o/chat/completions?api-version=2024-10-21"),
        ({"api_base": RESOURCE + "/openai"},
         f"{RESOURCE}/openai/deployments/my-gpt-4o/chat/completions?api-version=2024-10-21"),
        ({"model": "team a/gpt?4"},
         f"{RESOURCE}/openai/deployments/team%20a%2Fgpt%3F4/chat/completions?api-version=2024-10-21"),
        ({"api_version": "v1"}, f"{RESOURCE}/openai/v1/chat/completions"),
        ({"api_version": "latest"}, f"{RESOURCE}/openai/v1/chat/completions"),
        ({"api_version": "preview"}, f"{RESOURCE}/openai/v1/chat/completions?api-version=preview"),
        ({"api_base": RESOURCE + "/openai/v1"}, f"{RESOURCE}/openai/v1/chat/completions"),
        ({"api_base": RESOURCE + "/openai/v1/", "api_version": None}, f"{RESOURCE}/openai/v1/chat/completions"),
        ({"api_base": RESOURCE + "/openai", "api_version": "v1"}, f"{RESOURCE}/openai/v1/chat/completions"),
    ],
)  # fmt: skip
def test_chat_url_forms(kwargs: dict[str, Any], url: str) -> None:
    assert chat(**kwargs).url == url


def test_body_model_is_the_deployment_on_both_forms() -> None:
    assert body_of(chat())["model"] == "my-gpt-4o"
    assert body_of(chat(api_version="v1")) == {"model": "my-gpt-4o", "messages": MESSAGES}


def test_embedding_urls_and_body() -> None:
    request = {"input": ["a", "b"], "dimensions": 256}
    http = ADAPTER.build_embedding_request(request, endpoint(model="embed-small"))
    assert http.url == f"{RESOURCE}/openai/deployments/embed-small/embeddings?api-version=2024-10-21"
    assert body_of(http) == {"model": "embed-small", "input": ["a", "b"], "dimensions": 256}
    assert http.headers["api-key"] == "azure-key"
    v1 = ADAPTER.build_embedding_request(request, endpoint(model="embed-small", api_base=RESOURCE + "/openai/v1"))
    assert v1.url == f"{RESOURCE}/openai/v1/embeddings"


# -- auth -------------------------------------------------------------------------------------------------------


def test_api_key_header() -> None:
    headers = chat().headers
    assert headers["api-key"] == "azure-key"
    assert "authorization" not in headers


def test_entra_token_as_bearer_when_no_key() -> None:
    headers = chat(api_key=None, params={"azure_ad_token": "eyJ0eXAi"}).headers
    assert headers["authorization"] == "Bearer eyJ0eXAi"
    assert "api-key" not in headers


def test_key_wins_over_token_and_extra_headers_apply() -> None:
    headers = chat(params={"azure_ad_token": "tok"}, headers={"x-ms-client-request-id": "abc"}).headers
    assert headers["api-key"] == "azure-key"
    assert "authorization" not in headers
    assert headers["x-ms-client-request-id"] == "abc"


def test_no_credentials_sends_no_auth_header() -> None:
    # The resolver refuses such a call before it gets here; the adapter does not invent a credential.
    headers = chat(api_key=None).headers
    assert "api-key" not in headers
    assert "authorization" not in headers


# -- reasoning deployments ---------------------------------------------------------------------------------------

SAMPLING = {"messages": MESSAGES, "max_tokens": 50, "temperature": 0.2}


def test_plain_deployment_keeps_max_tokens_and_sampling() -> None:
    assert body_of(chat(SAMPLING)) == {"model": "my-gpt-4o", **SAMPLING}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model": "o_series/my-reasoner"},
        {"model": "gpt5_series/my-reasoner"},
        {"model": "my-reasoner", "params": {"azure_reasoning_model": True}},
        {"model": "my-reasoner", "quirks": {"reasoning_model": True}},
    ],
)
def test_reasoning_deployment_markers(kwargs: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match="temperature") as info:
        chat(SAMPLING, **kwargs)
    assert info.value.param == "temperature"
    assert info.value.provider == "azure"
    http = chat(SAMPLING, drop_params=True, **kwargs)
    assert body_of(http) == {"model": "my-reasoner", "messages": MESSAGES, "max_completion_tokens": 50}
    assert "/deployments/my-reasoner/" in http.url


def test_deployment_named_after_a_reasoning_model_follows_openai_rule() -> None:
    body = body_of(chat({"messages": MESSAGES, "max_tokens": 9}, model="o4-mini"))
    assert body == {"model": "o4-mini", "messages": MESSAGES, "max_completion_tokens": 9}


def test_params_override_a_reasoning_looking_name() -> None:
    body = body_of(chat(SAMPLING, model="o3-prod", params={"azure_reasoning_model": False}))
    assert body == {"model": "o3-prod", **SAMPLING}


# -- parameters ---------------------------------------------------------------------------------------------------


def test_unknown_parameter_names_parameter_and_provider() -> None:
    with pytest.raises(UnsupportedParamsError, match="azure does not support the parameter 'top_k'") as info:
        chat({"messages": MESSAGES, "top_k": 5})
    assert info.value.param == "top_k"
    assert body_of(chat({"messages": MESSAGES, "top_k": 5}, drop_params=True)) == {
        "model": "my-gpt-4o",
        "messages": MESSAGES,
    }


def test_azure_only_parameters_pass() -> None:
    sources = [{"type": "azure_search", "parameters": {"endpoint": "https://s.search.windows.net", "index_name": "i"}}]
    context = {"application_name": "app", "end_user_id": "u1"}
    body = body_of(chat({"messages": MESSAGES, "data_sources": sources, "user_security_context": context}))
    assert body["data_sources"] == sources
    assert body["user_security_context"] == context


def test_extra_body_is_merged() -> None:
    assert body_of(chat(extra_body={"x_azure_flag": True}))["x_azure_flag"] is True


def test_stream_asks_for_usage_on_recent_versions_only() -> None:
    request = {"messages": MESSAGES, "stream": True}
    assert body_of(chat(request))["stream_options"] == {"include_usage": True}
    assert body_of(chat(request, api_version="v1"))["stream_options"] == {"include_usage": True}
    assert "stream_options" not in body_of(chat(request, api_version="2024-06-01"))
    assert "stream_options" not in body_of(chat(request, api_version="2024-02-15-preview"))


def test_endpoint_rewrite_keeps_registry_quirks() -> None:
    rewritten = azure_openai_endpoint(endpoint(quirks={"extra_params": ["foo"], "reasoning_field": "reasoning"}))
    assert rewritten.quirks["reasoning_field"] == "reasoning"
    assert set(rewritten.quirks["extra_params"]) == {"foo", "data_sources", "user_security_context"}
    assert rewritten.provider == "azure"


# -- responses ----------------------------------------------------------------------------------------------------


def azure_completion(finish_reason: str = "stop", content: str | None = "Hello!") -> dict[str, Any]:
    results = (
        {**SAFE, "violence": {"filtered": True, "severity": "high"}} if finish_reason == "content_filter" else SAFE
    )
    return {
        "id": "chatcmpl-az1",
        "object": "chat.completion",
        "created": 1735689600,
        "model": "gpt-4o-2024-11-20",
        "system_fingerprint": "fp_az",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": SAFE}],
        "choices": [
            {
                "index": 0,
                "finish_reason": finish_reason,
                "logprobs": None,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "content_filter_results": results,
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 999},
    }


def parse(body: dict[str, Any]) -> dict[str, Any]:
    response = HttpResponse(200, {}, orjson.dumps(body))
    return ADAPTER.parse_chat_response(response, {"messages": MESSAGES}, endpoint())


def test_response_keeps_filter_results_and_fixes_total() -> None:
    data = parse(azure_completion())
    assert data["prompt_filter_results"][0]["content_filter_results"] == SAFE
    assert data["choices"][0]["content_filter_results"] == SAFE
    assert data["usage"]["total_tokens"] == 12
    typed = ChatCompletion.model_validate(data)
    assert typed.choices[0].message.content == "Hello!"
    assert typed.model_extra is not None
    assert typed.model_extra["prompt_filter_results"] == data["prompt_filter_results"]


def test_output_blocked_is_content_filter_finish() -> None:
    data = parse(azure_completion("content_filter", None))
    typed = ChatCompletion.model_validate(data)
    assert typed.choices[0].finish_reason == "content_filter"
    assert data["choices"][0]["content_filter_results"]["violence"]["filtered"] is True


def test_embedding_response() -> None:
    body = {
        "object": "list",
        "model": "text-embedding-3-small",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25]}],
        "usage": {"prompt_tokens": 2, "total_tokens": 2},
    }
    data = ADAPTER.parse_embedding_response(HttpResponse(200, {}, orjson.dumps(body)), {"input": "a"}, endpoint())
    assert CreateEmbeddingResponse.model_validate(data).data[0].embedding == [0.5, -0.25]


# -- errors -------------------------------------------------------------------------------------------------------


def map_error(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return ADAPTER.map_error(HttpResponse(status, headers or {}, orjson.dumps(body)), endpoint())


def test_prompt_filter_400_is_content_policy_violation() -> None:
    inner = {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {"violence": {"filtered": True}}}
    error = {"code": "content_filter", "message": "filtered", "param": "prompt", "status": 400, "innererror": inner}
    err = map_error(400, {"error": error})
    assert type(err) is ContentPolicyViolationError
    assert (err.param, err.code, err.upstream_status, err.provider) == ("prompt", "content_filter", 400, "azure")


def test_innererror_alone_is_content_policy_violation() -> None:
    # Some Azure surfaces (image inputs, older versions) send another outer code with the same innererror.
    error = {
        "code": "invalid_request_error",
        "message": "blocked",
        "innererror": {"code": "ResponsibleAIPolicyViolation"},
    }
    err = map_error(400, {"error": error}, {"apim-request-id": "r1"})
    assert type(err) is ContentPolicyViolationError
    assert err.code == "invalid_request_error"
    assert err.headers == {"apim-request-id": "r1"}
    assert err.body is not None
    assert b"ResponsibleAIPolicyViolation" in err.body


def test_plain_400_stays_bad_request() -> None:
    err = map_error(400, {"error": {"code": "BadRequest", "message": "API version not supported"}})
    assert type(err) is BadRequestError
    assert err.message == "API version not supported"


def test_rate_limit_with_string_code_and_retry_after_ms() -> None:
    body = {"error": {"code": "429", "message": "... Please retry after 6 seconds."}}
    err = map_error(429, body, {"retry-after": "6", "retry-after-ms": "5500"})
    assert type(err) is RateLimitError
    assert err.retry_after == 5.5
    assert err.retryable


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (401, {"error": {"code": "401", "message": "Access denied due to invalid subscription key."}},
         AuthenticationError),
        (404, {"error": {"code": "DeploymentNotFound", "message": "The API deployment does not exist."}},
         NotFoundError),
        (404, {"error": {"code": "404", "message": "Resource not found"}}, NotFoundError),
    ],
)  # fmt: skip
def test_other_azure_errors(status: int, body: dict[str, Any], cls: type[TollwayError]) -> None:
    err = map_error(status, body)
    assert type(err) is cls
    assert err.message == body["error"]["message"]


def test_non_json_error_body() -> None:
    err = ADAPTER.map_error(HttpResponse(400, {}, b"<html>bad</html>"), endpoint())
    assert type(err) is BadRequestError

"""The OpenAI-compatible vendor table: every row reached through the client (URL, auth), and its quirks applied.

Each call goes through ``tollway.Client`` with a scripted in-memory transport that records the upstream request and
answers with a valid OpenAI ``chat.completion``; the official SDK's types judge every answer.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import openai.types.chat as oai
import orjson
import pytest

import tollway
from tollway import Client
from tollway.adapters.compat import COMPATIBLE_PROVIDERS
from tollway.http import HttpRequest
from tollway.registry import ALIASES, PROVIDERS
from tollway.spec import ProviderSpec
from tollway.transport import Timeouts

MESSAGES = [{"role": "user", "content": "hi"}]
MODEL = "vendor-model/v1"  # a slash inside the upstream id must survive (OpenRouter, Together, Fireworks ids)
TENANT_BASE = "https://tenant.example.test/v1"
# Rows whose host or path holds the caller's workspace/account: the caller must give the base URL.
PER_ACCOUNT = {"azure_ai", "cloudflare", "databricks"}


def answer(**message: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok", **message},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 99},
    }


@dataclass
class Scripted:
    """A transport that records each request and answers with ``body`` (or streams ``chunks``)."""

    body: bytes = field(default_factory=lambda: orjson.dumps(answer()))
    chunks: list[bytes] | None = None
    sent: list[HttpRequest] = field(default_factory=list)

    async def send(self, request: HttpRequest, timeouts: Timeouts) -> _Response:
        self.sent.append(request)
        return _Response(self.body, self.chunks)

    async def aclose(self) -> None:
        return None


class _Response:
    def __init__(self, body: bytes, chunks: list[bytes] | None) -> None:
        self.status = 200
        self.headers = {"content-type": "text/event-stream" if chunks else "application/json"}
        self._body = body
        self._chunks = chunks

    async def read(self) -> bytes:
        return self._body

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        for piece in self._chunks or [self._body]:
            await asyncio.sleep(0)
            yield piece

    async def aclose(self) -> None:
        return None


def client_for(environ: dict[str, str], transport: Scripted) -> Client:
    factory: Callable[[], Scripted] = lambda: transport  # noqa: E731
    return Client(environ=environ, transport_factory=factory, num_retries=0)


def base_environ(spec: ProviderSpec) -> dict[str, str]:
    return {} if spec.api_base is not None else {spec.api_base_env[0]: TENANT_BASE}


def expected_url(spec: ProviderSpec, base: str | None = None) -> str:
    path: str = spec.quirks.get("chat_path", "/chat/completions")
    return (base or spec.api_base or TENANT_BASE) + path


def assert_auth(sent: HttpRequest, spec: ProviderSpec, key: str) -> None:
    header = spec.quirks.get("auth_header")
    if header:
        assert sent.headers[header] == key
        assert "authorization" not in sent.headers
    else:
        assert sent.headers["authorization"] == f"Bearer {key}"


ROWS = [pytest.param(spec, id=spec.name) for spec in COMPATIBLE_PROVIDERS]
KEYED = [pytest.param(spec, id=spec.name) for spec in COMPATIBLE_PROVIDERS if spec.key_required]
LOCAL = [pytest.param(spec, id=spec.name) for spec in COMPATIBLE_PROVIDERS if not spec.key_required]
SECOND_KEY = [pytest.param(spec, id=spec.name) for spec in COMPATIBLE_PROVIDERS if len(spec.api_key_env) > 1]


@pytest.mark.parametrize("spec", ROWS)
async def test_every_row_reaches_its_documented_url_with_its_key(spec: ProviderSpec) -> None:
    transport = Scripted()
    client = client_for({spec.api_key_env[0]: "k-1", **base_environ(spec)}, transport)
    response = await client.acompletion(f"{spec.name}/{MODEL}", MESSAGES)
    await client.aclose()
    assert isinstance(response, tollway.ChatCompletion)
    (sent,) = transport.sent
    assert sent.method == "POST"
    assert sent.url == expected_url(spec)
    assert_auth(sent, spec, "k-1")
    body = orjson.loads(sent.body)
    assert body["model"] == MODEL
    assert body["messages"] == MESSAGES
    data = response.to_dict()
    oai.ChatCompletion.model_validate(data)
    assert data["choices"][0]["message"]["content"] == "ok"
    assert data["usage"]["total_tokens"] == 4  # recomputed from prompt + completion
    assert response.meta is not None
    assert response.meta.provider == spec.name


@pytest.mark.parametrize("spec", SECOND_KEY)
async def test_the_vendors_own_key_variable_also_works(spec: ProviderSpec) -> None:
    transport = Scripted()
    client = client_for({spec.api_key_env[-1]: "k-2", **base_environ(spec)}, transport)
    await client.acompletion(f"{spec.name}/{MODEL}", MESSAGES)
    await client.aclose()
    assert_auth(transport.sent[0], spec, "k-2")


@pytest.mark.parametrize("spec", ROWS)
async def test_the_base_url_variable_overrides_the_default(spec: ProviderSpec) -> None:
    transport = Scripted()
    environ = {spec.api_key_env[0]: "k", spec.api_base_env[0]: "http://127.0.0.1:9/proxy/v1/"}
    client = client_for(environ, transport)
    await client.acompletion(f"{spec.name}/{MODEL}", MESSAGES)
    await client.aclose()
    assert transport.sent[0].url == expected_url(spec, "http://127.0.0.1:9/proxy/v1")


@pytest.mark.parametrize("spec", KEYED)
def test_missing_key_names_the_variable_to_set(spec: ProviderSpec) -> None:
    transport = Scripted()
    client = client_for(base_environ(spec), transport)
    with pytest.raises(tollway.MissingCredentialsError, match=re.escape(spec.api_key_env[0])) as info:
        client.completion(f"{spec.name}/{MODEL}", MESSAGES)
    client.close()
    assert spec.name in str(info.value)
    assert transport.sent == []


@pytest.mark.parametrize("spec", LOCAL)
async def test_local_servers_need_no_key(spec: ProviderSpec) -> None:
    transport = Scripted()
    client = client_for({}, transport)
    await client.acompletion(f"{spec.name}/{MODEL}", MESSAGES)
    await client.aclose()
    (sent,) = transport.sent
    assert sent.url == expected_url(spec)
    assert sent.url.startswith(("http://localhost:", "http://127.0.0.1:"))
    assert "authorization" not in sent.headers


@pytest.mark.parametrize("name", sorted(PER_ACCOUNT))
def test_per_account_vendors_ask_for_a_base_url(name: str) -> None:
    spec = PROVIDERS[name]
    client = client_for({spec.api_key_env[0]: "k"}, Scripted())
    with pytest.raises(tollway.BadRequestError, match=spec.api_base_env[0]):
        client.completion(f"{name}/{MODEL}", MESSAGES)
    client.close()


def test_the_table_reaches_130_addressable_providers() -> None:
    names = tollway.provider_list
    assert len(names) >= 130
    assert len(set(names)) == len(names)
    rows = {spec.name for spec in COMPATIBLE_PROVIDERS}
    assert len(rows) == len(COMPATIBLE_PROVIDERS)  # unique names
    assert rows <= set(names)
    assert not rows & set(ALIASES)
    assert "github_copilot" not in rows  # an OAuth device flow, not a key: out of scope for a table row


@pytest.mark.parametrize("spec", ROWS)
def test_every_row_is_complete_data(spec: ProviderSpec) -> None:
    assert PROVIDERS[spec.name] is spec
    assert spec.adapter == "tollway.adapters.openai:OpenAIAdapter"
    if spec.name in PER_ACCOUNT:
        assert spec.api_base is None
    else:
        assert spec.api_base is not None
        assert re.fullmatch(r"https?://[^\s/{}]+(/[^\s{}]*)?", spec.api_base)
        assert not spec.api_base.endswith("/")
        assert spec.api_base.startswith("https://") or not spec.key_required  # keys never travel in clear text
    assert spec.source.startswith("https://")
    assert spec.api_key_env
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", name) for name in (*spec.api_key_env, *spec.api_base_env))
    assert spec.api_base_env == (spec.name.upper().replace("-", "_") + "_API_BASE",)
    assert set(spec.quirks) <= {
        "chat_path",
        "embeddings_path",
        "auth_header",
        "permissive",
        "unsupported_params",
        "extra_params",
        "max_tokens_field",
        "include_usage",
        "reasoning_field",
        "reasoning_model",
    }


# --- quirks ---------------------------------------------------------------------------------------------------------


async def call(name: str, scripted: Scripted | None = None, /, **params: Any) -> tuple[Any, dict[str, Any]]:
    transport = scripted or Scripted()
    spec = PROVIDERS[name]
    client = client_for({spec.api_key_env[0]: "k", **base_environ(spec)}, transport)
    try:
        response = await client.acompletion(f"{name}/{MODEL}", MESSAGES, **params)
    finally:
        await client.aclose()
    return response, orjson.loads(transport.sent[-1].body)


@pytest.mark.parametrize(
    ("name", "param", "value"),
    [
        ("groq", "logprobs", True),
        ("groq", "logit_bias", {"1": 1}),
        ("groq", "top_logprobs", 2),
        ("cerebras", "presence_penalty", 0.5),
        ("cerebras", "parallel_tool_calls", False),
    ],
)
async def test_documented_unsupported_params_raise_or_drop(name: str, param: str, value: object) -> None:
    with pytest.raises(tollway.UnsupportedParamsError, match=param) as info:
        await call(name, **{param: value})
    assert name in str(info.value)
    assert info.value.param == param
    _, body = await call(name, drop_params=True, temperature=0.3, **{param: value})
    assert param not in body
    assert body["temperature"] == 0.3


async def test_params_openai_has_but_groq_lacks_pass_elsewhere() -> None:
    _, body = await call("together_ai", logprobs=True, top_logprobs=2)
    assert (body["logprobs"], body["top_logprobs"]) == (True, 2)


@pytest.mark.parametrize(
    ("name", "param", "value"),
    [
        ("together_ai", "top_k", 40),
        ("together_ai", "repetition_penalty", 1.1),
        ("openrouter", "provider", {"order": ["anthropic"]}),
        ("openrouter", "models", ["a/b", "c/d"]),
        ("groq", "reasoning_format", "parsed"),
        ("perplexity", "search_recency_filter", "week"),
        ("dashscope", "enable_thinking", True),
        ("vllm", "guided_choice", ["yes", "no"]),
        ("minimax", "reasoning_split", True),
    ],
)
async def test_documented_vendor_params_are_forwarded(name: str, param: str, value: object) -> None:
    _, body = await call(name, **{param: value})
    assert body[param] == value


async def test_unknown_params_still_fail_on_vendors() -> None:
    with pytest.raises(tollway.UnsupportedParamsError, match="top_k"):
        await call("groq", top_k=3)
    with pytest.raises(tollway.UnsupportedParamsError, match="colour"):
        await call("openrouter", colour="blue")


async def test_extra_body_reaches_any_vendor_verbatim() -> None:
    _, body = await call("xai", extra_body={"search_parameters": {"mode": "auto"}})
    assert body["search_parameters"] == {"mode": "auto"}


async def test_gateways_forward_everything() -> None:
    _, body = await call("litellm_proxy", mock_testing_flag=1, top_k=3)
    assert (body["mock_testing_flag"], body["top_k"]) == (1, 3)


@pytest.mark.parametrize("given", ["max_tokens", "max_completion_tokens"])
async def test_deepseek_gets_max_tokens_whichever_name_is_used(given: str) -> None:
    _, body = await call("deepseek", **{given: 64})
    assert body["max_tokens"] == 64
    assert "max_completion_tokens" not in body


async def test_other_vendors_keep_the_callers_token_limit_name() -> None:
    _, body = await call("groq", max_completion_tokens=64)
    assert body["max_completion_tokens"] == 64
    assert "max_tokens" not in body


@pytest.mark.parametrize("name", ["groq", "openrouter", "vllm"])
async def test_reasoning_field_is_copied_to_reasoning_content(name: str) -> None:
    transport = Scripted(body=orjson.dumps(answer(reasoning="because")))
    response, _ = await call(name, transport)
    data = response.to_dict()
    oai.ChatCompletion.model_validate(data)
    message = data["choices"][0]["message"]
    assert message["reasoning_content"] == "because"
    assert message["reasoning"] == "because"  # the vendor's own field is kept too


async def test_reasoning_field_is_left_alone_where_not_documented() -> None:
    transport = Scripted(body=orjson.dumps(answer(reasoning="because")))
    response, _ = await call("xai", transport)
    assert "reasoning_content" not in response.to_dict()["choices"][0]["message"]


async def test_vendor_response_fields_are_kept() -> None:
    extra = {"citations": ["https://example.org"], "search_results": [{"title": "t", "url": "https://example.org"}]}
    transport = Scripted(body=orjson.dumps({**answer(), **extra}))
    response, _ = await call("perplexity", transport)
    data = response.to_dict()
    oai.ChatCompletion.model_validate(data)
    assert data["citations"] == extra["citations"]
    assert data["search_results"] == extra["search_results"]


def sse(*events: dict[str, Any]) -> list[bytes]:
    return [b"data: " + orjson.dumps(event) + b"\n\n" for event in events] + [b"data: [DONE]\n\n"]


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


async def test_streamed_reasoning_is_copied_and_usage_comes_last() -> None:
    usage = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": MODEL, "choices": []}
    usage["usage"] = {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
    raw = b"".join(sse(chunk({"role": "assistant", "reasoning": "hm"}), chunk({"content": "ok"}, "stop"), usage))
    transport = Scripted(chunks=[raw[i : i + 1] for i in range(len(raw))])  # byte by byte
    client = client_for({"OPENROUTER_API_KEY": "k"}, transport)
    stream = await client.acompletion(
        f"openrouter/{MODEL}", MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert isinstance(stream, tollway.AsyncCompletionStream)
    chunks = [c.to_dict() async for c in stream]
    await client.aclose()
    for item in chunks:
        oai.ChatCompletionChunk.model_validate(item)
    assert chunks[0]["choices"][0]["delta"]["reasoning_content"] == "hm"
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == "ok"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 5
    assert orjson.loads(transport.sent[0].body)["stream_options"] == {"include_usage": True}


async def test_azure_ai_sends_the_key_in_api_key_header() -> None:
    transport = Scripted()
    client = client_for({"AZURE_AI_API_KEY": "az"}, transport)
    await client.acompletion(f"azure_ai/{MODEL}", MESSAGES, api_base="https://res.services.ai.azure.com/models")
    await client.aclose()
    sent = transport.sent[0]
    assert sent.url == "https://res.services.ai.azure.com/models/chat/completions"
    assert sent.headers["api-key"] == "az"

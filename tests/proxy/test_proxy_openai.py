"""The gateway's OpenAI-compatible routes, driven by the official openai SDK over a real socket."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import openai
import pytest
import uvicorn
from starlette.applications import Starlette

from tollway.proxy.app import create_app
from tollway.proxy.gateway_config import GatewayConfig

KEY = "sk-test-master-key-0123456789"


def model_list(openai_url: str, cohere_url: str) -> list[dict[str, Any]]:
    return [
        {"model_name": "mock/*", "litellm_params": {"model": "mock/*"}},
        {
            "model_name": "gpt-test",
            "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": openai_url, "api_key": "sk-upstream"},
        },
        {
            "model_name": "embed-test",
            "litellm_params": {"model": "openai/text-embedding-3-small", "api_base": openai_url, "api_key": "sk-up"},
        },
        {
            "model_name": "rerank-test",
            "litellm_params": {"model": "cohere/rerank-v3.5", "api_base": cohere_url, "api_key": "co-upstream"},
        },
    ]


@contextmanager
def running(app: Starlette) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yield its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def gateway(openai_fake: Any, cohere_fake: Any) -> Iterator[str]:
    config = GatewayConfig(model_list=tuple(model_list(openai_fake.url, cohere_fake.url)), master_key=KEY)
    with running(create_app(config, environ={})) as url:
        yield url


@pytest.fixture
def client(gateway: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway + "/v1", api_key=KEY, max_retries=0) as sdk:
        yield sdk


def test_chat_whole_with_headers(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="mock/demo", messages=[{"role": "user", "content": "hi"}], extra_body={"mock_response": "pong"}
    )
    answer = raw.parse()
    assert answer.choices[0].message.content == "pong"
    assert answer.usage is not None
    assert answer.usage.total_tokens > 0
    assert len(raw.headers["x-request-id"]) == 32
    assert raw.headers["x-tollway-model"]
    assert raw.headers["x-tollway-cost"] == "0"  # the mock provider prices at zero
    assert "x-tollway-cache-hit" not in raw.headers


def test_chat_through_upstream_fake(client: openai.OpenAI, openai_fake: Any) -> None:
    answer = client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "Hello from the fake OpenAI upstream."
    sent = openai_fake.last_request
    assert sent.json["model"] == "gpt-4o-mini"
    assert sent.headers["authorization"] == "Bearer sk-upstream"  # the configured key, never the client's


def test_chat_streamed_usage_only_when_asked(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "hi"}]
    chunks = list(client.chat.completions.create(model="gpt-test", messages=messages, stream=True))  # type: ignore[arg-type]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the fake OpenAI upstream."
    assert all(c.usage is None for c in chunks)
    with_usage = list(
        client.chat.completions.create(
            model="gpt-test",
            messages=messages,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert with_usage[-1].choices == []
    assert with_usage[-1].usage is not None
    assert with_usage[-1].usage.completion_tokens > 0


def test_stream_raw_sse_ends_with_done(gateway: str) -> None:
    body = {"model": "mock/demo", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with httpx.stream(
        "POST", gateway + "/chat/completions", json=body, headers={"authorization": f"Bearer {KEY}"}
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert all(line.startswith("data: ") for line in lines)


def test_embeddings_default_base64(client: openai.OpenAI, openai_fake: Any) -> None:
    answer = client.embeddings.create(model="embed-test", input=["a", "b"])
    assert len(answer.data) == 2
    assert all(isinstance(x, float) for x in answer.data[0].embedding)
    assert openai_fake.last_request.json["encoding_format"] == "base64"


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == ["mock/*", "gpt-test", "embed-test", "rerank-test"]
    assert client.models.retrieve("gpt-test").id == "gpt-test"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_auth_missing_and_wrong_key(gateway: str) -> None:
    for key in ("wrong-key-wrong-key-wrong", KEY + "x"):
        with openai.OpenAI(base_url=gateway + "/v1", api_key=key, max_retries=0) as bad:
            with pytest.raises(openai.AuthenticationError) as caught:
                bad.models.list()
            assert caught.value.body["type"] == "authentication_error"  # type: ignore[index]
    r = httpx.get(gateway + "/v1/models")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "missing_api_key"
    assert httpx.get(gateway + "/v1/models", headers={"x-api-key": KEY}).status_code == 200
    assert httpx.get(gateway + "/v1/models", headers={"api-key": KEY}).status_code == 200


def test_rerank(gateway: str, cohere_fake: Any) -> None:
    body = {"model": "rerank-test", "query": "capital of France", "documents": ["Paris", "Berlin"], "top_n": 1}
    r = httpx.post(gateway + "/v1/rerank", json=body, headers={"authorization": f"Bearer {KEY}"})
    assert r.status_code == 200, r.text
    assert len(r.json()["results"]) == 1
    assert cohere_fake.last_request.headers["authorization"] == "Bearer co-upstream"


def test_azure_style_route(gateway: str) -> None:
    with openai.AzureOpenAI(azure_endpoint=gateway, api_key=KEY, api_version="2024-10-21", max_retries=0) as azure:
        answer = azure.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content == "Hello from the fake OpenAI upstream."
        vectors = azure.embeddings.create(model="embed-test", input="a")
        assert len(vectors.data) == 1


def test_legacy_completions(client: openai.OpenAI) -> None:
    answer = client.completions.create(model="mock/demo", prompt="say", extra_body={"mock_response": "said"})
    assert answer.object == "text_completion"
    assert answer.choices[0].text == "said"
    streamed = list(client.completions.create(model="mock/demo", prompt="say", stream=True))
    assert "".join(c.choices[0].text for c in streamed if c.choices) == "This is a mock response from tollway."


def test_request_id_is_echoed(gateway: str) -> None:
    headers = {"authorization": f"Bearer {KEY}", "x-request-id": "trace-123"}
    body = {"model": "mock/x", "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(gateway + "/chat/completions", json=body, headers=headers).headers["x-request-id"] == "trace-123"


def test_anthropic_messages_route(gateway: str) -> None:
    import anthropic

    with anthropic.Anthropic(base_url=gateway, api_key=KEY, max_retries=0) as claude:
        message = claude.messages.create(model="gpt-test", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
        assert message.content[0].text == "Hello from the fake OpenAI upstream."  # type: ignore[union-attr]
    with (
        anthropic.Anthropic(base_url=gateway, api_key="bad", max_retries=0) as wrong,
        pytest.raises(anthropic.AuthenticationError) as caught,
    ):
        wrong.messages.create(model="gpt-test", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["type"] == "error"  # type: ignore[index]  # Anthropic's envelope, not OpenAI's

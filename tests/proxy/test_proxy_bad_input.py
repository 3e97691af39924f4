"""Bad input gets the right status and OpenAI envelope, nothing leaks, and the gateway keeps serving."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from test_proxy_openai import KEY, running

from fakes import Reply
from tollway.proxy.app import create_app
from tollway.proxy.gateway_config import GatewayConfig
from tollway.router import Router
from tollway.streaming import AsyncCompletionStream

AUTH = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
MODELS = ({"model_name": "mock/*", "litellm_params": {"model": "mock/*"}},)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    config = GatewayConfig(model_list=MODELS, master_key=KEY, settings={"max_request_size_mb": 0.01})
    app = create_app(config, environ={})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


def envelope(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "Traceback" not in error["message"]
    return dict(error)


async def test_malformed_json_names_position(http: httpx.AsyncClient) -> None:
    error = envelope(await http.post("/v1/chat/completions", content=b'{"model": "mock/x",', headers=AUTH), 400)
    assert error["code"] == "invalid_json"
    assert "line 1 column" in error["message"]


async def test_body_not_an_object_and_empty(http: httpx.AsyncClient) -> None:
    envelope(await http.post("/v1/chat/completions", content=b"[1, 2]", headers=AUTH), 400)
    assert envelope(await http.post("/v1/chat/completions", content=b"", headers=AUTH), 400)["code"] == "invalid_json"


async def test_invalid_utf8(http: httpx.AsyncClient) -> None:
    raw = b'{"model": "mock/x", "messages": [{"role": "user", "content": "\xff\xfe"}]}'
    error = envelope(await http.post("/v1/chat/completions", content=raw, headers=AUTH), 400)
    assert error["code"] == "invalid_encoding"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "mock/x"}, "messages"),
        ({"model": 42, "messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "mock/x", "messages": "hi"}, "messages"),
        ({"model": "mock/x", "messages": []}, "messages"),
    ],
)
async def test_missing_or_wrong_types(http: httpx.AsyncClient, body: dict[str, Any], param: str) -> None:
    error = envelope(await http.post("/v1/chat/completions", json=body, headers=AUTH), 400)
    assert error["param"] == param


async def test_sdk_validation_reaches_client_as_400(http: httpx.AsyncClient) -> None:
    body = {"model": "mock/x", "messages": [42]}
    assert envelope(await http.post("/v1/chat/completions", json=body, headers=AUTH), 400)["type"]


async def test_unknown_model_is_404(http: httpx.AsyncClient) -> None:
    body = {"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}
    assert envelope(await http.post("/v1/chat/completions", json=body, headers=AUTH), 404)["type"] == "not_found_error"


async def test_oversized_body_is_413(http: httpx.AsyncClient) -> None:
    body = {"model": "mock/x", "messages": [{"role": "user", "content": "x" * 20_000}]}
    error = envelope(await http.post("/v1/chat/completions", json=body, headers=AUTH), 413)
    assert "limit" in error["message"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit applies while reading
        for _ in range(20):
            yield b"x" * 1024

    envelope(await http.post("/v1/chat/completions", content=chunks(), headers=AUTH), 413)


@pytest.mark.parametrize(
    "field",
    [
        "api_base",
        "base_url",
        "api_key",
        "extra_headers",
        "aws_region_name",
        "custom_llm_provider",
        "extra_body",
        "input_cost_per_token",
        "base_model",
        "model_info",
    ],
)
async def test_redirecting_fields_are_refused(http: httpx.AsyncClient, field: str) -> None:
    body = {"model": "mock/x", "messages": [{"role": "user", "content": "hi"}], field: "http://169.254.169.254"}
    error = envelope(await http.post("/v1/chat/completions", json=body, headers=AUTH), 400)
    assert error["param"] == field
    assert field in error["message"]
    body = {"model": "mock/x", "input": "hi", field: "http://169.254.169.254"}
    assert envelope(await http.post("/v1/embeddings", json=body, headers=AUTH), 400)["param"] == field


async def test_retries_a_client_asks_for_are_bounded(http: httpx.AsyncClient) -> None:
    body = {"model": "mock/x", "messages": [{"role": "user", "content": "hi"}], "num_retries": 500}
    assert envelope(await http.post("/v1/chat/completions", json=body, headers=AUTH), 400)["param"] == "num_retries"


async def test_unknown_route_and_method(http: httpx.AsyncClient) -> None:
    envelope(await http.get("/v1/nope", headers=AUTH), 404)
    envelope(await http.get("/v1/chat/completions", headers=AUTH), 405)


async def test_no_prompt_or_key_in_errors_or_logs(http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    secret = "prompt-secret-7f3a"
    body = {"model": "no-such-model", "messages": [{"role": "user", "content": secret}]}
    with caplog.at_level(logging.DEBUG):
        response = await http.post("/v1/chat/completions", json=body, headers=AUTH)
        bad_json = await http.post("/v1/chat/completions", content=b'{"x": "' + secret.encode(), headers=AUTH)
    for text in (response.text, bad_json.text, caplog.text):
        assert secret not in text
        assert KEY not in text


async def test_unexpected_error_is_500_with_request_id(caplog: pytest.LogCaptureFixture) -> None:
    router = Router(list(MODELS), environ={})

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug with secret detail")

    router.acompletion = broken  # type: ignore[method-assign]
    app = create_app(GatewayConfig(master_key=KEY), router=router, environ={})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        with caplog.at_level(logging.ERROR, logger="tollway.proxy"):
            body = {"model": "mock/x", "messages": [{"role": "user", "content": "hi"}]}
            response = await http.post("/chat/completions", json=body, headers=AUTH)
    error = envelope(response, 500)
    assert response.headers["x-request-id"] in error["message"]
    assert "secret detail" not in response.text
    assert "RuntimeError" in caplog.text  # the traceback is kept server-side


async def test_upstream_error_mid_stream_is_an_sse_error_event(openai_fake: Any) -> None:
    openai_fake.script(Reply.stream_error(after=2, message="upstream broke"))
    models = [
        {
            "model_name": "gpt-test",
            "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": openai_fake.url, "api_key": "sk-up"},
        }
    ]
    app = create_app(GatewayConfig(model_list=tuple(models), master_key=KEY), environ={})
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        response = await http.post("/v1/chat/completions", json=body, headers=AUTH)
    assert response.status_code == 200
    events = [line for line in response.text.splitlines() if line]
    assert events[-1].startswith('data: {"error":')
    assert "[DONE]" not in response.text


def test_client_disconnect_mid_stream_closes_upstream_quietly(
    openai_fake: Any, caplog: pytest.LogCaptureFixture
) -> None:
    openai_fake.script(Reply.stream(delay=0.3))
    models = [
        {
            "model_name": "gpt-test",
            "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": openai_fake.url, "api_key": "sk-up"},
        }
    ]
    router = Router(models, environ={})
    closed: list[float] = []
    original = router.acompletion

    async def spy(*args: Any, **kwargs: Any) -> Any:
        result = await original(*args, **kwargs)
        if isinstance(result, AsyncCompletionStream):

            async def record(stream: AsyncCompletionStream) -> None:
                closed.append(time.monotonic())

            result.add_close_callback(record)
        return result

    router.acompletion = spy  # type: ignore[method-assign]
    app = create_app(GatewayConfig(master_key=KEY), router=router, environ={})
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with caplog.at_level(logging.WARNING), running(app) as url:
        with httpx.stream("POST", url + "/v1/chat/completions", json=body, headers=AUTH) as response:
            first = next(line for line in response.iter_lines() if line)
            assert first.startswith("data: ")
            left = time.monotonic()
        deadline = time.monotonic() + 2.5  # the whole stream would take ~3 s more
        while not closed and time.monotonic() < deadline:
            time.sleep(0.02)
        assert closed, "the upstream stream was not closed after the client left"
        assert closed[0] - left < 2.0
        again = httpx.post(
            url + "/v1/chat/completions",
            json={"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]},
            headers=AUTH,
        )
        assert again.status_code == 200  # still serving
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text

"""Health routes, the no-config defaults and start-up refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tollway.proxy.app import create_app
from tollway.proxy.defaults import default_model_list
from tollway.proxy.gateway_config import GatewayConfig
from tollway.proxy.settings import GatewaySettings, StartupError

KEY = "sk-health-master-key-0123456789"


async def client_for(config: GatewayConfig, **kwargs: Any) -> httpx.AsyncClient:
    app = create_app(config, environ={}, **kwargs)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


@pytest.fixture
async def http(openai_fake: Any) -> AsyncIterator[httpx.AsyncClient]:
    models = (
        {"model_name": "mock/*", "litellm_params": {"model": "mock/*"}},
        {"model_name": "good", "litellm_params": {"model": "mock/good"}},
        {
            "model_name": "broken",
            "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": openai_fake.url, "api_key": "sk-wrong"},
        },
    )
    async with await client_for(GatewayConfig(model_list=models, master_key=KEY)) as client:
        yield client


async def test_liveliness_and_readiness_need_no_auth(http: httpx.AsyncClient) -> None:
    assert (await http.get("/health/liveliness")).json() == {"status": "healthy"}
    ready = await http.get("/health/readiness")
    assert ready.status_code == 200
    assert ready.json()["redis"] == "not configured"


async def test_readiness_fails_when_redis_is_down() -> None:
    config = GatewayConfig(master_key=KEY, redis_url="redis://127.0.0.1:1/0")
    async with await client_for(config) as http:
        response = await http.get("/health/readiness")
    assert response.status_code == 503
    assert response.json()["redis"].startswith("error")


async def test_health_probes_each_group(http: httpx.AsyncClient, openai_fake: Any) -> None:
    assert (await http.get("/health")).status_code == 401
    openai_fake.script(*[_auth_error()] * 3)
    body = (await http.get("/health", headers={"authorization": f"Bearer {KEY}"})).json()
    assert [e["model"] for e in body["healthy_endpoints"]] == ["good"]
    assert [e["model"] for e in body["unhealthy_endpoints"]] == ["broken"]
    assert "sk-wrong" not in str(body)
    assert body["skipped"] == ["mock/*"]


def _auth_error() -> Any:
    from fakes import Reply

    return Reply.error(401)


def test_default_model_list_follows_environment() -> None:
    assert default_model_list({}) == [{"model_name": "mock/*", "litellm_params": {"model": "mock/*"}}]
    names = [e["model_name"] for e in default_model_list({"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"})]
    assert names == ["anthropic/*", "openai/*", "mock/*", "*"]


async def test_bare_model_routes_to_openai(openai_fake: Any) -> None:
    env = {"OPENAI_API_KEY": "sk-env", "OPENAI_BASE_URL": openai_fake.url}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(GatewayConfig(master_key=KEY), environ=env)),
        base_url="http://gateway",
    ) as http:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        response = await http.post("/chat/completions", json=body, headers={"authorization": f"Bearer {KEY}"})
    assert response.status_code == 200, response.text
    assert openai_fake.last_request.json["model"] == "gpt-4o-mini"


def test_startup_refuses_missing_or_weak_keys() -> None:
    with pytest.raises(StartupError, match="no master key"):
        GatewaySettings.from_config(GatewayConfig(), environ={})
    with pytest.raises(StartupError, match="too short"):
        GatewaySettings.from_config(GatewayConfig(master_key="sk-1234"), environ={})
    assert GatewaySettings.from_config(GatewayConfig(), dev=True, environ={}).auth_enabled is False
    from_env = GatewaySettings.from_config(GatewayConfig(), environ={"TOLLWAY_MASTER_KEY": KEY})
    assert from_env.master_key == KEY
    limited = GatewaySettings.from_config(GatewayConfig(master_key=KEY, settings={"max_request_size_mb": 1}))
    assert limited.max_body_bytes == 1024 * 1024


async def test_dev_mode_serves_without_key() -> None:
    async with await client_for(GatewayConfig(), dev=True) as http:
        body = {"model": "mock/x", "messages": [{"role": "user", "content": "hi"}]}
        assert (await http.post("/v1/chat/completions", json=body)).status_code == 200

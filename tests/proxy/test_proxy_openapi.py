"""``GET /openapi.json`` (valid OpenAPI 3.1, every registered route) and ``GET /docs`` (HTML, no network)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.routing import Route

from tollway.proxy.app import create_app
from tollway.proxy.gateway_config import GatewayConfig
from tollway.proxy.openapi import openapi_path
from tollway.proxy.serve import banner, upstream_client
from tollway.proxy.settings import GatewaySettings

KEY = "sk-test-master-key-0123456789"


@pytest.fixture
def app() -> Starlette:
    config = GatewayConfig(
        model_list=({"model_name": "mock/*", "litellm_params": {"model": "mock/*"}},), master_key=KEY
    )
    return create_app(config, environ={})


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        yield client
    await app.state.router.aclose()


async def document(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/openapi.json")  # no key: the docs are public, like /health/liveliness
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


async def test_document_is_valid_openapi_3_1(http: httpx.AsyncClient) -> None:
    doc = await document(http)
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # raises on any schema violation
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}


async def test_document_lists_every_registered_route(app: Starlette, http: httpx.AsyncClient) -> None:
    doc = await document(http)
    registered = {
        (openapi_path(route.path), method.lower())
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(path, method) for path, methods in doc["paths"].items() for method in methods}
    assert documented == registered
    assert ("/v1/chat/completions", "post") in documented
    assert ("/metrics", "get") in documented
    assert ("/models/{model_id}", "get") in documented


async def test_request_bodies_and_security(http: httpx.AsyncClient) -> None:
    doc = await document(http)
    chat = doc["paths"]["/v1/chat/completions"]["post"]
    ref = chat["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    name = ref.rsplit("/", 1)[-1]
    assert name == "CreateChatCompletionRequest"
    assert set(doc["components"]["schemas"][name]["required"]) == {"model", "messages"}
    assert "text/event-stream" in chat["responses"]["200"]["content"]
    error = chat["responses"]["default"]["content"]["application/json"]["schema"]["$ref"]
    assert error.endswith("/ErrorEnvelope")
    assert "security" not in chat  # the document-wide bearer requirement applies
    assert doc["paths"]["/health/liveliness"]["get"]["security"] == []
    assert "security" not in doc["paths"]["/metrics"]["get"]  # protected unless metrics_public
    messages = doc["paths"]["/v1/messages"]["post"]["responses"]["default"]["content"]["application/json"]
    assert messages["schema"]["$ref"].endswith("/AnthropicError")


async def test_docs_page_is_self_contained_html(http: httpx.AsyncClient) -> None:
    response = await http.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert page.startswith("<!doctype html>")
    assert "/v1/chat/completions" in page
    assert "CreateChatCompletionRequest" in page
    assert "http://" not in page
    assert "https://" not in page
    assert "<script" not in page


def test_banner_prints_the_docs_url() -> None:
    text = banner("0.0.0.0", 4000, GatewaySettings(master_key=KEY))
    assert "docs: http://127.0.0.1:4000/docs" in text


def test_banner_names_the_upstream_http_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOLLWAY_HTTP_CLIENT", raising=False)
    assert upstream_client(GatewayConfig()).startswith("h1 (TOLLWAY_HTTP_CLIENT=")
    assert upstream_client(GatewayConfig(environment={"TOLLWAY_HTTP_CLIENT": "aiohttp"})).startswith("aiohttp (")
    assert upstream_client(GatewayConfig(environment={"TOLLWAY_HTTP_CLIENT": "reqwest"})).startswith("pyreqwest (")
    text = banner("0.0.0.0", 4000, GatewaySettings(master_key=KEY), "aiohttp")
    assert "upstream HTTP client: aiohttp" in text
    assert "upstream HTTP client" not in banner("0.0.0.0", 4000, GatewaySettings(master_key=KEY))


def test_banner_prints_the_dashboard_url_when_there_is_a_store() -> None:
    assert "/ui" not in banner("0.0.0.0", 4000, GatewaySettings(master_key=KEY))
    text = banner("0.0.0.0", 4000, GatewaySettings(master_key=KEY, database_url="sqlite+aiosqlite:///t.db"))
    assert "dashboard: http://127.0.0.1:4000/ui" in text

"""``GET /metrics`` and the ``x-tollway-overhead-ms`` header, driven in-process over mock and fake-upstream calls."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fakes import Reply
from tollway.proxy.app import create_app
from tollway.proxy.gateway_config import GatewayConfig

KEY = "sk-test-master-key-0123456789"
AUTH = {"authorization": f"Bearer {KEY}"}
HI = [{"role": "user", "content": "hi"}]


def model_list(openai_url: str) -> tuple[dict[str, Any], ...]:
    upstream = {"api_base": openai_url, "api_key": "sk-upstream"}
    return (
        {"model_name": "mock/*", "litellm_params": {"model": "mock/*"}},
        {
            "model_name": "custom",
            "litellm_params": {"model": "mock/x", "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
        },
        {"model_name": "gpt-test", "litellm_params": {"model": "openai/gpt-4o-mini", **upstream}},
        {"model_name": "no-price", "litellm_params": {"model": "openai/house-model-without-price", **upstream}},
        {"model_name": "two", "litellm_params": {"model": "openai/gpt-4o-mini", **upstream}, "model_info": {"id": "a"}},
        {"model_name": "two", "litellm_params": {"model": "openai/gpt-4o-mini", **upstream}, "model_info": {"id": "b"}},
    )


def scrape(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """The sum of ``name`` over the samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(value for (n, have), value in samples.items() if n == name and wanted <= have)


@pytest.fixture
async def client(openai_fake: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(GatewayConfig(model_list=model_list(openai_fake.url), master_key=KEY), environ={})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway", headers=AUTH) as http:
        yield http
    await app.state.router.aclose()


async def chat(http: httpx.AsyncClient, model: str, **extra: Any) -> httpx.Response:
    response = await http.post("/v1/chat/completions", json={"model": model, "messages": HI, **extra})
    assert response.status_code == 200, response.text
    return response


async def test_counts_tokens_and_spend_match_the_answers(client: httpx.AsyncClient) -> None:
    answers = [
        await chat(client, "gpt-test"),
        await chat(client, "gpt-test"),
        await chat(client, "custom", mock_response="pong"),
        await chat(client, "mock/demo", mock_response="pong"),
        await chat(client, "mock/other", mock_response="pong"),
    ]
    embedded = await client.post("/v1/embeddings", json={"model": "mock/e", "input": "hi"})
    assert embedded.status_code == 200
    samples = scrape((await client.get("/metrics")).text)

    assert total(samples, "tollway_requests_total", model_group="gpt-test", status="200", route="chat") == 2
    assert total(samples, "tollway_requests_total", model_group="custom", route="chat") == 1
    # A wildcard group is one series whatever model name the client invented.
    assert total(samples, "tollway_requests_total", model_group="mock/*", route="chat") == 2
    assert total(samples, "tollway_requests_total", model_group="mock/*", route="embeddings") == 1
    assert total(samples, "tollway_requests_total", provider="openai") == 2
    assert total(samples, "tollway_request_duration_seconds_count", route="chat") == 5
    assert total(samples, "tollway_gateway_overhead_seconds_count") == 6
    assert total(samples, "tollway_errors_total") == 0

    usages = [a.json()["usage"] for a in answers]
    assert total(samples, "tollway_input_tokens_total", route="chat") == sum(u["prompt_tokens"] for u in usages)
    assert total(samples, "tollway_output_tokens_total", route="chat") == sum(u["completion_tokens"] for u in usages)
    costs = sum(Decimal(a.headers["x-tollway-cost"]) for a in answers) + Decimal(embedded.headers["x-tollway-cost"])
    assert costs > 0
    assert total(samples, "tollway_spend_usd_total") == pytest.approx(float(costs), rel=1e-9)
    assert total(samples, "tollway_unpriced_requests_total") == 0


async def test_unpriced_calls_have_their_own_counter(client: httpx.AsyncClient) -> None:
    answer = await chat(client, "no-price")
    assert answer.headers["x-tollway-cost"] == "unpriced"
    samples = scrape((await client.get("/metrics")).text)
    assert total(samples, "tollway_unpriced_requests_total", model_group="no-price") == 1
    assert total(samples, "tollway_spend_usd_total", model_group="no-price") == 0
    assert (
        total(samples, "tollway_input_tokens_total", model_group="no-price") == answer.json()["usage"]["prompt_tokens"]
    )


async def test_errors_by_type_and_status(client: httpx.AsyncClient, openai_fake: Any) -> None:
    unknown = await client.post("/v1/chat/completions", json={"model": "nope", "messages": HI})
    assert unknown.status_code == 404
    bad = await client.post("/v1/chat/completions", content=b"{not json")
    assert bad.status_code == 400
    anonymous = await client.post(
        "/v1/embeddings", json={"model": "mock/e", "input": "x"}, headers={"authorization": ""}
    )
    assert anonymous.status_code == 401
    samples = scrape((await client.get("/metrics")).text)
    assert total(samples, "tollway_errors_total", route="chat", type="not_found_error", status="404") == 1
    assert total(samples, "tollway_errors_total", route="chat", type="invalid_request_error", status="400") == 1
    assert total(samples, "tollway_errors_total", route="embeddings", type="authentication_error", status="401") == 1
    assert total(samples, "tollway_requests_total", status="404") == 1
    # The invented model name never becomes a label value.
    assert not any(("model_group", "nope") in labels for _, labels in samples)


async def test_streams_record_first_token_and_settle_at_the_end(client: httpx.AsyncClient) -> None:
    body = {"model": "custom", "messages": HI, "stream": True, "mock_response": "one two three"}
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert "x-tollway-overhead-ms" not in response.headers
        assert (await response.aread()).endswith(b"data: [DONE]\n\n")
    samples = scrape((await client.get("/metrics")).text)
    assert total(samples, "tollway_time_to_first_token_seconds_count", model_group="custom") == 1
    assert total(samples, "tollway_requests_total", model_group="custom", status="200") == 1
    assert total(samples, "tollway_output_tokens_total", model_group="custom") > 0
    assert total(samples, "tollway_spend_usd_total", model_group="custom") > 0


async def test_cooldown_gauge_is_read_at_scrape_time(client: httpx.AsyncClient, openai_fake: Any) -> None:
    before = scrape((await client.get("/metrics")).text)
    assert total(before, "tollway_deployment_cooldown_seconds", deployment="a") == 0
    assert ("tollway_deployment_cooldown_seconds", frozenset({("model_group", "two"), ("deployment", "b")})) in before
    openai_fake.script(Reply.error(401, "bad key"), Reply.error(401, "bad key"))
    await client.post("/v1/chat/completions", json={"model": "two", "messages": HI, "num_retries": 0})
    after = scrape((await client.get("/metrics")).text)
    cooling = total(after, "tollway_deployment_cooldown_seconds", model_group="two")
    assert cooling > 0


async def test_metrics_need_the_master_key(client: httpx.AsyncClient) -> None:
    anonymous = await client.get("/metrics", headers={"authorization": ""})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["type"] == "authentication_error"
    wrong = await client.get("/metrics", headers={"authorization": "Bearer sk-wrong-key-0123456789"})
    assert wrong.status_code == 401
    ok = await client.get("/metrics")
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("text/plain")


async def test_metrics_public_opens_the_route_only() -> None:
    config = GatewayConfig(
        model_list=model_list("http://127.0.0.1:9"), master_key=KEY, settings={"metrics_public": True}
    )
    app = create_app(config, environ={})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        assert (await http.get("/metrics")).status_code == 200
        models = await http.get("/v1/models")
        assert models.status_code == 401
    await app.state.router.aclose()


async def test_each_app_has_its_own_registry(openai_fake: Any) -> None:
    config = GatewayConfig(model_list=model_list(openai_fake.url), master_key=KEY)
    first, second = create_app(config, environ={}), create_app(config, environ={})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://a", headers=AUTH) as a:
        await chat(a, "mock/demo", mock_response="x")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://b", headers=AUTH) as b:
        samples = scrape((await b.get("/metrics")).text)
    assert total(samples, "tollway_requests_total") == 0
    for app in (first, second):
        await app.state.router.aclose()


async def test_overhead_header_is_total_minus_upstream(client: httpx.AsyncClient, openai_fake: Any) -> None:
    # The upstream takes 50 ms: the header must not count them, and must stay below the whole round trip.
    openai_fake.script(Reply.delay(0.05))
    started = time.perf_counter()
    answer = await chat(client, "gpt-test")
    elapsed_ms = (time.perf_counter() - started) * 1000
    value = answer.headers["x-tollway-overhead-ms"]
    assert len(value.split(".")[1]) == 3
    overhead = float(value)
    assert 0 <= overhead < elapsed_ms
    assert overhead < elapsed_ms - 50
    embedded = await client.post("/v1/embeddings", json={"model": "mock/e", "input": "hi"})
    assert float(embedded.headers["x-tollway-overhead-ms"]) >= 0

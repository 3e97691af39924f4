"""Client-set api_base/api_key/...: refused unless a model's config allows them, and then only where it allows them.

Two fake OpenAI upstreams on loopback: ``openai_fake`` is the configured one, ``elsewhere`` the one a client points
``api_base`` at. Models are told apart upstream by the model name in the request body.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from fakes import Reply
from fakes.openai import OpenAIFake
from tollway.errors import ConfigurationError
from tollway.proxy.app import create_app
from tollway.proxy.config import config_from_mapping
from tollway.proxy.gateway_config import GatewayConfig
from tollway.router import Router

KEY = "sk-clientside-master-key-0123456789"
AUTH = {"authorization": f"Bearer {KEY}"}
OPERATOR_KEY = "sk-operator-secret"
CLIENT_KEY = "sk-client-own-key"
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[OpenAIFake]:
    with OpenAIFake() as fake:
        yield fake


def deployment(name: str, model: str, url: str, allowed: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"model": f"openai/{model}", "api_base": url, "api_key": OPERATOR_KEY, **extra}
    if allowed is not None:
        params["configurable_clientside_auth_params"] = allowed
    return {"model_name": name, "litellm_params": params}


def models(url: str, elsewhere_url: str) -> list[dict[str, Any]]:
    byok = ["api_key", {"api_base": re.escape(elsewhere_url)}]
    return [
        deployment("byok", "gpt-byok", url, byok),
        deployment("locked", "gpt-locked", url),
        deployment("half", "gpt-half-a", url, ["api_key"]),
        deployment("half", "gpt-half-b", url),
        deployment("pair", "gpt-pair-a", url, ["api_key"]),
        deployment("pair", "gpt-pair-b", url, ["api_key"]),
        deployment("byok-embed", "text-embedding-3-small", url, ["api_key"]),
    ]


@pytest.fixture
def app(openai_fake: OpenAIFake, elsewhere: OpenAIFake) -> Starlette:
    elsewhere.reset()
    router_settings = {"fallbacks": [{"byok": ["locked"]}], "num_retries": 0, "cache": True}
    config = GatewayConfig(
        model_list=tuple(models(openai_fake.url, elsewhere.url)), router_settings=router_settings, master_key=KEY
    )
    return create_app(config, environ={})


@pytest.fixture
async def gateway(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):  # closes both routers at the end
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


def seen(fake: OpenAIFake) -> list[tuple[str, str]]:
    """(upstream model, bearer key) of every request the fake received."""
    return [(r.body_object.get("model", ""), r.headers.get("authorization", "")[7:]) for r in fake.requests]


def error(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    found: dict[str, Any] = response.json()["error"]
    return found


async def chat(http: httpx.AsyncClient, model: str, **params: Any) -> httpx.Response:
    return await http.post("/v1/chat/completions", json={"model": model, "messages": HI, **params}, headers=AUTH)


# -- allowed ---------------------------------------------------------------------------------------------------------


async def test_an_allowed_api_key_replaces_the_deployments(gateway: httpx.AsyncClient, openai_fake: OpenAIFake) -> None:
    assert (await chat(gateway, "byok", api_key=CLIENT_KEY)).status_code == 200
    assert seen(openai_fake) == [("gpt-byok", CLIENT_KEY)]


async def test_an_allowed_api_base_must_match_its_pattern(
    gateway: httpx.AsyncClient, openai_fake: OpenAIFake, elsewhere: OpenAIFake
) -> None:
    assert (await chat(gateway, "byok", api_base=elsewhere.url)).status_code == 200
    assert (await chat(gateway, "byok", base_url=elsewhere.url, api_key=CLIENT_KEY)).status_code == 200
    assert seen(elsewhere) == [("gpt-byok", OPERATOR_KEY), ("gpt-byok", CLIENT_KEY)]
    for target in ("http://169.254.169.254/v1", elsewhere.url + "/../x", "x" + elsewhere.url):
        message = error(await chat(gateway, "byok", api_base=target))["message"]
        assert "api_base" in message
        assert target not in message  # a refused value is never echoed (it may be a key)
    assert seen(openai_fake) == []


async def test_embeddings_and_messages_take_allowed_params_too(
    gateway: httpx.AsyncClient, openai_fake: OpenAIFake
) -> None:
    body = {"model": "byok-embed", "input": "hi", "api_key": CLIENT_KEY}
    assert (await gateway.post("/v1/embeddings", json=body, headers=AUTH)).status_code == 200
    messages = {"model": "byok", "max_tokens": 5, "messages": HI, "api_key": CLIENT_KEY}
    answer = await gateway.post("/v1/messages", json=messages, headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert seen(openai_fake) == [("text-embedding-3-small", CLIENT_KEY), ("gpt-byok", CLIENT_KEY)]


# -- refused ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["locked", "half", "no-such-model"])
async def test_refused_unless_every_deployment_allows_it(gateway: httpx.AsyncClient, model: str) -> None:
    found = error(await chat(gateway, model, api_key=CLIENT_KEY))
    assert found["param"] == "api_key"
    assert found["code"] == "forbidden_parameter"
    assert "configurable_clientside_auth_params" in found["message"]  # how to allow it
    assert CLIENT_KEY not in found["message"]


async def test_params_the_config_cannot_allow_stay_refused(gateway: httpx.AsyncClient) -> None:
    for name, value in (("input_cost_per_token", 0), ("extra_body", {"model": "x"}), ("custom_llm_provider", "x")):
        found = error(await chat(gateway, "byok", api_key=CLIENT_KEY, **{name: value}))
        assert found["param"] == name
        assert "cannot be allowed" in found["message"]


async def test_a_request_fallback_must_allow_them_too(gateway: httpx.AsyncClient, openai_fake: OpenAIFake) -> None:
    found = error(await chat(gateway, "byok", api_key=CLIENT_KEY, fallbacks=["locked"]))
    assert "'locked'" in found["message"]
    assert (await chat(gateway, "byok", api_key=CLIENT_KEY, fallbacks=["pair"])).status_code == 200
    assert seen(openai_fake) == [("gpt-byok", CLIENT_KEY)]


# -- isolation -------------------------------------------------------------------------------------------------------


async def test_configured_fallbacks_never_get_the_clients_params(
    gateway: httpx.AsyncClient, openai_fake: OpenAIFake
) -> None:
    # Without client params the configured fallback (byok -> locked) takes over: the test can tell.
    openai_fake.script(Reply.error(500))
    assert (await chat(gateway, "byok")).status_code == 200
    assert [model for model, _ in seen(openai_fake)] == ["gpt-byok", "gpt-locked"]
    openai_fake.reset()
    openai_fake.script(Reply.error(500))
    assert (await chat(gateway, "byok", api_key=CLIENT_KEY)).status_code >= 500
    assert seen(openai_fake) == [("gpt-byok", CLIENT_KEY)]  # locked never saw the client's key


async def test_a_clients_bad_key_does_not_cool_deployments_down(
    app: Starlette, gateway: httpx.AsyncClient, openai_fake: OpenAIFake
) -> None:
    router: Router = app.state.router
    openai_fake.script(Reply.error(401))
    assert (await chat(gateway, "pair", api_key="sk-wrong")).status_code == 401
    assert seen(openai_fake)[0][1] == "sk-wrong"
    assert await router.acooldowns() == {}
    # The same failure with the configured key cools the shared deployment down: the test can tell.
    openai_fake.script(Reply.error(401))
    assert (await chat(gateway, "pair")).status_code == 401
    assert len(await router.acooldowns()) == 1


async def test_answers_from_client_params_are_not_cached(
    gateway: httpx.AsyncClient, openai_fake: OpenAIFake, elsewhere: OpenAIFake
) -> None:
    elsewhere.script(Reply.json(_completion("from elsewhere")))
    first = await chat(gateway, "byok", api_base=elsewhere.url)
    assert first.json()["choices"][0]["message"]["content"] == "from elsewhere"
    second = await chat(gateway, "byok")
    assert "x-tollway-cache-hit" not in second.headers
    assert second.json()["choices"][0]["message"]["content"] != "from elsewhere"
    assert "x-tollway-cache-hit" in (await chat(gateway, "byok")).headers  # the cache is on: the test can tell


def _completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-elsewhere",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-byok",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


# -- configuration ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "problem"),
    [
        ("api_key", "expected a list"),
        ([42], r"\[0\]: expected a parameter name"),
        (["input_cost_per_token"], "cannot be allowed client-side"),
        (["model_info"], "cannot be allowed client-side"),
        ([{"api_base": "https://(unclosed"}], r"\[0\]\.api_base: invalid regular expression"),
        ([{"api_base": 7}], "expected a regular expression"),
    ],
)
def test_config_errors_name_the_yaml_path(allowed: Any, problem: str) -> None:
    entry = deployment("m", "gpt-4o", "http://127.0.0.1:1/v1", allowed)
    with pytest.raises(ConfigurationError, match=problem) as raised:
        config_from_mapping({"model_list": [entry]}, {})
    assert raised.value.message.startswith("model_list[0].litellm_params.configurable_clientside_auth_params")


def test_allowances_are_not_sent_upstream_and_request_values_win(openai_fake: OpenAIFake) -> None:
    # The router lifts the setting out of the call parameters, and a request's value replaces the deployment's
    # (it used to collide with it: TypeError).
    entry = deployment("m", "gpt-4o", openai_fake.url, ["api_key"], temperature=0.5)
    router = Router([entry], environ={})
    try:
        router.completion("m", HI, temperature=0.1)
    finally:
        router.close()
    body = openai_fake.last_request.body_object
    assert "configurable_clientside_auth_params" not in body
    assert body["temperature"] == 0.1

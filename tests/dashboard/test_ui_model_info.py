"""``GET /model/info`` (``tollway.proxy.routes_models_info``): every deployment with its provider, cooldown and
catalog facts, never a credential (searched for in the raw answer), filtered to what a key may use."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tollway.governance.records import KeyRecord, Principal
from tollway.proxy.auth import Caller
from tollway.proxy.routes_models_info import model_info_routes
from tollway.router import Router
from tollway.router.state_memory import MemoryState

SECRETS = (
    "sk-openai-secret-value-1234",
    "azure-secret-key-5678",
    "AKIAEXAMPLEACCESSKEY",
    "aws-secret-access-key-value-9999",
    "session-token-value-0000",
    "url-password-4321",
    "query-key-8765",
    "header-bearer-2468",
    "vertex-private-key-1357",
    "env-resolved-secret-1122",
)
MODEL_LIST: list[dict[str, Any]] = [
    {
        "model_name": "gpt",
        "litellm_params": {
            "model": "openai/gpt-4o-mini",
            "api_key": SECRETS[0],
            "api_base": f"https://user:{SECRETS[5]}@proxy.example.com/v1?key={SECRETS[6]}",
            "extra_headers": {"Authorization": f"Bearer {SECRETS[7]}"},
            "rpm": 60,
        },
        "model_info": {"id": "gpt-1", "mode": "chat"},
    },
    {
        "model_name": "gpt",
        "litellm_params": {
            "model": "azure/my-deployment",
            "api_key": SECRETS[1],
            "api_base": "https://acme.openai.azure.com",
            "api_version": "2024-06-01",
        },
        "model_info": {"id": "azure-1", "base_model": "azure/gpt-4o-mini"},
    },
    {
        "model_name": "claude",
        "litellm_params": {
            "model": "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
            "aws_access_key_id": SECRETS[2],
            "aws_secret_access_key": SECRETS[3],
            "aws_session_token": SECRETS[4],
            "aws_region_name": "us-east-1",
        },
        "model_info": {"id": "bedrock-1"},
    },
    {
        "model_name": "gemini",
        "litellm_params": {
            "model": "vertex_ai/gemini-2.5-flash",
            "vertex_project": "acme",
            "vertex_location": "europe-west4",
            "vertex_credentials": {"type": "service_account", "private_key": SECRETS[8]},
            "api_key": "os.environ/SOME_KEY",
        },
        "model_info": {"id": "vertex-1", "note": SECRETS[9]},
    },
    {"model_name": "mock/*", "litellm_params": {"model": "mock/*"}, "model_info": {"id": "mock-any"}},
]


class _Callers:
    """A Checker that makes every request the caller the test sets."""

    def __init__(self) -> None:
        self.caller = Caller()

    async def authenticate(self, headers: Any) -> Caller:
        return self.caller


@pytest.fixture
async def setup() -> AsyncIterator[tuple[httpx.AsyncClient, Router, MemoryState, _Callers]]:
    state = MemoryState()
    router = Router(MODEL_LIST, environ={"SOME_KEY": SECRETS[9]}, state=state)
    callers = _Callers()
    app = Starlette(routes=model_info_routes(router, callers))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        yield client, router, state, callers
    await router.aclose()


async def test_every_deployment_without_a_credential(setup: Any) -> None:
    client, _, _, _ = setup
    for path in ("/model/info", "/v1/model/info"):
        response = await client.get(path)
        assert response.status_code == 200
        for secret in SECRETS:
            assert secret not in response.text, secret
    data = response.json()["data"]
    by_id = {entry["model_id"]: entry for entry in data}
    assert list(by_id) == ["gpt-1", "azure-1", "bedrock-1", "vertex-1", "mock-any"]
    gpt = by_id["gpt-1"]
    assert gpt["model_name"] == "gpt"
    assert gpt["deployment_id"] == "gpt-1"
    assert gpt["provider"] == "openai"
    assert gpt["model"] == "openai/gpt-4o-mini"
    assert gpt["healthy"] is True
    assert gpt["cooldown_seconds"] == 0
    assert gpt["litellm_params"]["api_base"] == "https://proxy.example.com/v1"
    assert gpt["litellm_params"]["rpm"] == 60
    assert "api_key" not in gpt["litellm_params"]
    assert "extra_headers" not in gpt["litellm_params"]
    assert gpt["model_info"]["mode"] == "chat"
    assert isinstance(gpt["model_info"].get("input_cost_per_token"), str | None)  # Decimal prices as strings
    assert by_id["azure-1"]["litellm_params"]["api_version"] == "2024-06-01"
    assert by_id["bedrock-1"]["provider"] == "bedrock"
    assert by_id["bedrock-1"]["litellm_params"]["aws_region_name"] == "us-east-1"
    assert by_id["vertex-1"]["litellm_params"]["vertex_location"] == "europe-west4"
    assert "note" not in by_id["vertex-1"]["model_info"]  # a value equal to a credential is dropped
    assert by_id["mock-any"]["provider"] == "mock"


async def test_a_deployment_cooling_down(setup: Any) -> None:
    client, _, state, _ = setup
    await state.cool_down("bedrock-1", time.time() + 30)
    data = {entry["model_id"]: entry for entry in (await client.get("/model/info")).json()["data"]}
    assert data["bedrock-1"]["healthy"] is False
    assert 25 < data["bedrock-1"]["cooldown_seconds"] <= 30
    assert data["gpt-1"]["healthy"] is True


async def test_a_key_sees_the_groups_it_may_use(setup: Any) -> None:
    client, _, _, callers = setup
    callers.caller = Caller(Principal(KeyRecord(token_hash="h" * 64, key_name="sk-...abcd", models=("claude",))))
    data = (await client.get("/model/info")).json()["data"]
    assert [entry["model_name"] for entry in data] == ["claude"]


async def test_unknown_query_parameters_are_refused(setup: Any) -> None:
    client, _, _, _ = setup
    response = await client.get("/model/info", params={"litellm_model_id": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "litellm_model_id"


async def test_a_deployments_own_prices_win_over_the_catalog() -> None:
    model_list = [
        {
            "model_name": "cheap",
            "litellm_params": {"model": "openai/gpt-4o-mini", "input_cost_per_token": 1e-07, "output_mtok": "0.4"},
            "model_info": {"id": "cheap-1"},
        },
        {"model_name": "listed", "litellm_params": {"model": "openai/gpt-4o-mini"}, "model_info": {"id": "listed-1"}},
    ]
    router = Router(model_list, environ={}, state=MemoryState())
    app = Starlette(routes=model_info_routes(router, _Callers()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        data = {e["model_id"]: e for e in (await client.get("/model/info")).json()["data"]}
    await router.aclose()
    cheap, listed = data["cheap-1"], data["listed-1"]
    assert cheap["model_info"]["input_cost_per_token"] == "0.0000001"
    assert cheap["litellm_params"]["input_cost_per_token"] == "0.0000001"
    assert cheap["litellm_params"]["output_mtok"] == "0.4"
    catalog = listed["model_info"]["input_cost_per_token"]
    assert catalog is not None
    assert catalog != "0.0000001"

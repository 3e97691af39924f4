"""``POST /simulate`` inside the whole gateway (``create_app`` with a database and the dataset's model groups, its
lifespan started), over SQLite and PostgreSQL: the hand-computed simulation of ``simulate_data``; every kind of bad
input is a 400 naming its field (or a 413, 401, 403); 503 without a database; the operation in the OpenAPI
document."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from simulate_data import MODEL_LIST, PERIOD, SWAP_CHAT, SWAP_CHEAP, seed
from starlette.applications import Starlette

from tollway.governance.keys import generate_key, hash_key, key_name
from tollway.governance.records import KeyRecord
from tollway.governance.service import Governance
from tollway.proxy.app import create_app
from tollway.proxy.gateway_config import GatewayConfig

MASTER = "sk-test-master-key-0123456789"
MASTER_HEADERS = {"authorization": f"Bearer {MASTER}"}
MAX_REQUEST_MB = 0.05  # ~52 kB: the oversized body below is over it, every other one far under


@contextlib.asynccontextmanager
async def gateway(database_url: str | None, spool: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Starlette]]:
    config = GatewayConfig(
        model_list=tuple(MODEL_LIST),
        master_key=MASTER,
        database_url=database_url,
        settings={"spend_spool_dir": str(spool), "max_request_size_mb": MAX_REQUEST_MB},
    )
    app: Starlette = create_app(config, environ={})
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client, app


@pytest.fixture
async def client(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Governance]]:
    """A client of the gateway, whose database holds the dataset."""
    async with gateway(database_url, tmp_path / "spool") as (http, app):
        governance: Governance = app.state.governance
        await seed(governance.stores.database)
        yield http, governance


async def post(client: httpx.AsyncClient, body: Any, headers: dict[str, str] = MASTER_HEADERS) -> httpx.Response:
    return await client.post("/simulate", json=body, headers=headers)


async def test_the_hand_computed_simulations_for_admins_only(client: tuple[httpx.AsyncClient, Governance]) -> None:
    http, governance = client
    cheap = await post(http, PERIOD | {"replace": {"smart": "cheap"}})
    assert cheap.status_code == 200, cheap.text
    assert cheap.headers["x-request-id"]
    assert cheap.json() == SWAP_CHEAP
    chat = await post(http, PERIOD | {"replace": {"smart": "claude", "claude": "cheap"}, "features": ["chat"]})
    assert chat.status_code == 200, chat.text
    assert {name: chat.json()[name] for name in SWAP_CHAT} == SWAP_CHAT
    # An admin key may simulate, any other key gets 403, no key 401.
    body = PERIOD | {"replace": {"smart": "cheap"}}
    keys = {}
    for role in ("user", "admin"):
        keys[role] = generate_key()
        record = KeyRecord(token_hash=hash_key(keys[role]), key_name=key_name(keys[role]), role=role)
        await governance.stores.keys.create(record)
    plain = await post(http, body, {"authorization": f"Bearer {keys['user']}"})
    assert (plain.status_code, plain.json()["error"]["code"]) == (403, "admin_only")
    assert (await post(http, body, {"authorization": f"Bearer {keys['admin']}"})).status_code == 200
    assert (await post(http, body, {})).status_code == 401


BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"end": "2025-06-02", "replace": {"smart": "cheap"}}, "start", "invalid_field"),
    (PERIOD | {"start": "2025-6-1", "replace": {"smart": "cheap"}}, "start", "invalid_field"),
    (PERIOD | {"end": "2025-02-30", "replace": {"smart": "cheap"}}, "end", "invalid_field"),
    (PERIOD | {"end": 20250602, "replace": {"smart": "cheap"}}, "end", "invalid_field"),
    (PERIOD | {"end": "2025-05-31", "replace": {"smart": "cheap"}}, "end", "invalid_field"),
    ({"start": "2024-01-01", "end": "2025-06-02", "replace": {"smart": "cheap"}}, "end", "invalid_field"),
    (PERIOD, "replace", "invalid_field"),
    (PERIOD | {"replace": {}}, "replace", "invalid_field"),
    (PERIOD | {"replace": ["smart", "cheap"]}, "replace", "invalid_field"),
    (PERIOD | {"replace": {"smart": "smart"}}, "replace.smart", "invalid_field"),
    (PERIOD | {"replace": {"smart": 3}}, "replace.smart", "invalid_field"),
    (PERIOD | {"replace": {"smart": ""}}, "replace.smart", "invalid_field"),
    (PERIOD | {"replace": {"smart": "x" * 257}}, "replace.smart", "invalid_field"),
    (PERIOD | {"replace": {f"m{index}": "cheap" for index in range(33)}}, "replace", "invalid_field"),
    (PERIOD | {"replace": {"smart": "cheap"}, "customer_ids": "acme"}, "customer_ids", "invalid_field"),
    (PERIOD | {"replace": {"smart": "cheap"}, "customer_ids": []}, "customer_ids", "invalid_field"),
    (PERIOD | {"replace": {"smart": "cheap"}, "customer_ids": ["acme", 7]}, "customer_ids[1]", "invalid_field"),
    (PERIOD | {"replace": {"smart": "cheap"}, "features": [" chat"]}, "features[0]", "invalid_field"),
    (PERIOD | {"replace": {"smart": "cheap"}, "tags": ["x" * 129]}, "tags[0]", "invalid_field"),
    (PERIOD | {"replace": {"smart": "cheap"}, "tags": [f"t{i}" for i in range(1001)]}, "tags", "invalid_field"),
    (PERIOD | {"replace": {"smart": "cheap"}, "currency": "EUR"}, "currency", "unknown_field"),
    (PERIOD | {"replace": {"nothing-like-this": "cheap"}}, "replace", "unknown_model"),
    (PERIOD | {"replace": {"smart": "nothing-like-this"}}, "replace.smart", "unknown_model"),
    (PERIOD | {"replace": {"smart": "local"}}, "replace.smart", "model_not_priced"),
    (PERIOD | {"replace": {"smart": "ollama/llama3"}}, "replace.smart", "model_not_priced"),
]


async def test_bad_input_is_a_400_naming_the_field(tmp_path: Path) -> None:
    # Checked before the store is read (or against it, for the unknown source): SQLite is enough here; the query
    # tests run both databases.
    async with gateway(f"sqlite:///{tmp_path / 'bad.db'}", tmp_path / "spool") as (http, app):
        await seed(app.state.governance.stores.database)
        for body, param, code in BAD:
            response = await post(http, body)
            assert response.status_code == 400, (body, response.text)
            error = response.json()["error"]
            assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error"), body
            assert error["message"]
        await malformed_and_oversized(http)


async def malformed_and_oversized(http: httpx.AsyncClient) -> None:
    for raw in (b"", b"{", b"[1, 2]", b'"replace"', b"\xff\xfe"):
        response = await http.post("/simulate", content=raw, headers=MASTER_HEADERS)
        assert response.status_code == 400, raw
        assert response.json()["error"]["code"] in ("invalid_json", "invalid_encoding")
    huge = PERIOD | {"replace": {"smart": "cheap"}, "customer_ids": ["c" * 100] * 600}
    response = await post(http, huge)
    assert response.status_code == 413


async def test_503_without_a_database_and_the_openapi_document(tmp_path: Path) -> None:
    async with gateway(None, tmp_path / "spool") as (http, _):
        response = await post(http, PERIOD | {"replace": {"smart": "cheap"}})
        document = (await http.get("/openapi.json")).json()
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "no_database"
    validate(document)
    operation = document["paths"]["/simulate"]["post"]
    assert operation["operationId"] == "post_simulate"
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {"start", "end", "replace", "customer_ids", "features", "tags"}
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(answer["required"]) == set(SWAP_CHEAP)
    customer = answer["properties"]["customers"]["items"]
    assert set(customer["required"]) == set(SWAP_CHEAP["customers"][0])
    substitution = answer["properties"]["substitutions"]["items"]
    assert set(substitution["required"]) == set(SWAP_CHEAP["substitutions"][0])

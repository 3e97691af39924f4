"""The management API inside the whole gateway (``create_app`` with a database, its lifespan started): a key made
through ``/key/generate`` calls a model, its live spend shows on ``/key/info`` within a second, and blocking it
through the API refuses its next call."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from tollway.proxy.app import create_app
from tollway.proxy.gateway_config import GatewayConfig

MASTER = "sk-test-master-key-0123456789"
# A priced mock: 0.001 USD per input token, 0.002 per output token.
PRICED = {"model": "mock/x", "input_cost_per_token": 0.001, "output_cost_per_token": 0.002}
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 17}


@contextlib.asynccontextmanager
async def gateway(database_url: str, spool: Path) -> AsyncIterator[httpx.AsyncClient]:
    config = GatewayConfig(
        model_list=({"model_name": "m", "litellm_params": PRICED},),
        master_key=MASTER,
        database_url=database_url,
        settings={"spend_spool_dir": str(spool), "proxy_batch_write_at": 0.05},
    )
    app: Starlette = create_app(config, environ={})
    if not any(isinstance(route, Route) and route.path == "/key/generate" for route in app.routes):
        pytest.skip("the management routes are not in create_app's route table yet (proxy/app.py wiring)")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def test_a_generated_key_calls_a_model_and_its_spend_shows_at_once(database_url: str, tmp_path: Path) -> None:
    async with gateway(database_url, tmp_path / "spool") as client:
        made = await client.post("/key/generate", json={"models": ["m"], "max_budget": 10}, headers=bearer(MASTER))
        assert made.status_code == 200, made.text
        key = made.json()["key"]
        answer = await client.post("/v1/chat/completions", json=CHAT, headers=bearer(key))
        assert answer.status_code == 200, answer.text
        cost = Decimal(answer.headers["x-tollway-cost"])
        assert cost > 0
        deadline = time.monotonic() + 1.0
        while True:  # the promise: a finished request shows in the live spend within one second
            info = await client.get("/key/info", headers=bearer(key))
            assert info.status_code == 200, info.text
            if Decimal(info.json()["info"]["spend"]) == cost or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
        assert Decimal(info.json()["info"]["spend"]) == cost
        blocked = await client.post("/key/block", json={"key": key}, headers=bearer(MASTER))
        assert blocked.status_code == 200, blocked.text
        refused = await client.post("/v1/chat/completions", json=CHAT, headers=bearer(key))
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "key_blocked"

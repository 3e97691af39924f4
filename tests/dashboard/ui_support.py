"""Shared by the dashboard's server-side tests (``test_ui_*.py``): the whole gateway app (``create_app``) on the test
database (SQLite and PostgreSQL through ``database_url``) with its lifespan running, and an httpx client of it that
keeps cookies like a browser."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from tollway.governance.keys import generate_key, hash_key, key_name
from tollway.governance.records import KeyRecord
from tollway.governance.service import Governance
from tollway.proxy.app import create_app
from tollway.proxy.gateway_config import GatewayConfig

__all__ = ["MASTER", "Browser", "error_of", "gateway_app", "running"]

MASTER = "sk-test-master-key-0123456789"
MODELS = (
    {"model_name": "chat", "litellm_params": {"model": "mock/chat"}},
    {"model_name": "mock/*", "litellm_params": {"model": "mock/*"}},
)


def gateway_app(
    database_url: str,
    store: Path,
    *,
    master_key: str | None = MASTER,
    settings: Mapping[str, Any] | None = None,
    dev: bool = False,
) -> Starlette:
    """The gateway with mock models only (nothing can reach the network), its database and its spool in ``store``."""
    config = GatewayConfig(
        model_list=MODELS,
        master_key=master_key,
        database_url=database_url,
        settings={"spend_spool_dir": str(store / "spool"), **(settings or {})},
    )
    return create_app(config, environ={}, dev=dev)


@dataclass
class Browser:
    """An httpx client of the app that keeps its cookies (as a browser would), and the running governance."""

    http: httpx.AsyncClient
    app: Starlette

    @property
    def governance(self) -> Governance:
        """The app's running governance."""
        running: Governance = self.app.state.governance
        return running

    async def sign_in(self, key: str = MASTER) -> str:
        """Sign in with ``key``; the session's CSRF token."""
        response = await self.http.post("/ui/login", json={"key": key})
        assert response.status_code == 200, response.text
        token: str = response.json()["csrf_token"]
        return token

    async def key(self, role: str = "user", **fields: Any) -> str:
        """A virtual key created in the store directly."""
        key = generate_key()
        record = KeyRecord(token_hash=hash_key(key), key_name=key_name(key), role=role, **fields)
        await self.governance.stores.keys.create(record)
        return key


@contextlib.asynccontextmanager
async def running(app: Starlette, base_url: str = "http://gateway") -> AsyncIterator[Browser]:
    """``app`` with its lifespan started, and a cookie-keeping client of it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
            yield Browser(http, app)


def error_of(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The OpenAI envelope's ``error`` of a response that must have ``status`` (and ``code``, when given)."""
    assert response.status_code == status, (status, response.status_code, response.text)
    error: dict[str, Any] = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    if code is not None:
        assert error["code"] == code, error
    return error

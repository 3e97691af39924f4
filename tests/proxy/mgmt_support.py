"""Shared by the management API tests (``test_mgmt_*.py``): a Governance over the test database (SQLite and
PostgreSQL through ``database_url``), an app of just the management routes, and a small client that sends a key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from tollway.governance.factory import open_governance
from tollway.governance.keys import generate_key, hash_key, key_name
from tollway.governance.records import KeyRecord, TeamMember, TeamRecord, UserRecord
from tollway.governance.service import Governance
from tollway.governance.settings import GovernanceSettings
from tollway.governance.spend_event import SpendEvent
from tollway.proxy.auth import Authenticator
from tollway.proxy.management import management_routes
from tollway.proxy.openapi import OpenAPIRoutes

MASTER = "sk-test-master-key-0123456789"
BODY_LIMIT = 64 * 1024


def management_app(governance: Governance, *, docs: bool = False) -> Starlette:
    """The management routes over ``governance``, behind the master key (and ``/openapi.json`` with ``docs``)."""
    routes = management_routes(lambda: governance, Authenticator(MASTER, governance), max_body_bytes=BODY_LIMIT)
    if docs:
        routes.append(Route("/openapi.json", OpenAPIRoutes(public={"/openapi.json"}, version="test").openapi))
    return Starlette(routes=routes)


@dataclass
class Api:
    """A client of the management app: every call sends ``key`` (the master key unless told otherwise)."""

    client: httpx.AsyncClient
    governance: Governance

    async def post(self, path: str, body: Any = None, *, key: str | None = MASTER, **kwargs: Any) -> httpx.Response:
        """POST ``body`` as JSON (or ``content=`` raw bytes)."""
        headers = {"authorization": f"Bearer {key}"} if key is not None else {}
        if "content" in kwargs:
            return await self.client.post(path, headers=headers, **kwargs)
        return await self.client.post(path, json=body, headers=headers, **kwargs)

    async def get(self, path: str, params: Any = None, *, key: str | None = MASTER) -> httpx.Response:
        """GET with query ``params``."""
        headers = {"authorization": f"Bearer {key}"} if key is not None else {}
        return await self.client.get(path, params=params, headers=headers)

    async def ok(self, method: str, path: str, payload: Any = None, *, key: str | None = MASTER) -> Any:
        """The JSON of a call that must answer 200."""
        call = self.post if method == "POST" else self.get
        response = await call(path, payload, key=key)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    async def key(self, **fields: Any) -> str:
        """A key created in the store directly (not through the API under test)."""
        key = generate_key()
        await self.governance.stores.keys.create(KeyRecord(token_hash=hash_key(key), key_name=key_name(key), **fields))
        return key

    async def user(self, user_id: str, **fields: Any) -> None:
        """A user created in the store directly."""
        await self.governance.stores.users.create(UserRecord(user_id=user_id, **fields))

    async def team(self, team_id: str, *members: str, **fields: Any) -> None:
        """A team (with these users as plain members) created in the store directly."""
        people = tuple(TeamMember(user_id=member) for member in members)
        await self.governance.stores.teams.create(TeamRecord(team_id=team_id, members=people, **fields))


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The OpenAI error envelope's ``error`` of a response that must have ``status``."""
    assert response.status_code == status, (status, response.status_code, response.text)
    error: dict[str, Any] = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    return error


def spend_event(when: datetime | None = None, **fields: Any) -> SpendEvent:
    """A spend row (defaults: now, a priced chat call of model group ``m``)."""
    values: dict[str, Any] = {
        "ts": when or datetime.now(UTC),
        "request_id": "r",
        "model_group": "m",
        "cost": Decimal("0.01"),
        "input_tokens": 10,
        "output_tokens": 5,
    }
    return SpendEvent(**(values | fields))


@pytest.fixture
async def governance(database_url: str, tmp_path: Path) -> AsyncIterator[Governance]:
    """A running Governance on its own database (SQLite, then PostgreSQL), memory counters, no Redis."""
    settings = GovernanceSettings(database_url=database_url, spool_dir=tmp_path / "spool", flush_interval=0.05)
    running = await open_governance(settings)
    try:
        yield running
    finally:
        await running.aclose()


@pytest.fixture
async def api(governance: Governance) -> AsyncIterator[Api]:
    """A client of the management routes over ``governance``."""
    transport = httpx.ASGITransport(app=management_app(governance))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield Api(client, governance)

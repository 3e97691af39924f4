"""Shared by the revenue tests (``test_econ_*.py``): a running Governance on the test database (SQLite and
PostgreSQL through ``database_url``) and a client of an app serving the management and revenue routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from tollway.cli import main
from tollway.governance.factory import open_governance
from tollway.governance.keys import generate_key, hash_key, key_name
from tollway.governance.records import KeyRecord
from tollway.governance.service import Governance
from tollway.governance.settings import GovernanceSettings
from tollway.proxy.auth import Authenticator
from tollway.proxy.management import management_routes
from tollway.proxy.openapi import OpenAPIRoutes
from tollway.proxy.routes_revenue import revenue_routes
from tollway.storage.database import Database
from tollway.storage.migrate import upgrade

__all__ = ["MASTER", "Client", "cli", "client", "governance", "seeded_url"]

MASTER = "sk-test-master-key-0123456789"


def app_of(governance: Governance) -> Starlette:
    """The management and revenue routes behind the master key, and ``/openapi.json``."""
    auth = Authenticator(MASTER, governance)
    routes = [
        *management_routes(lambda: governance, auth, max_body_bytes=64 * 1024),
        *revenue_routes(lambda: governance, auth, max_body_bytes=64 * 1024, body_timeout=None, observer=None),
        Route("/openapi.json", OpenAPIRoutes(public={"/openapi.json"}, version="test").openapi),
    ]
    return Starlette(routes=routes)


@dataclass
class Client:
    """Calls with a key (the master key unless told otherwise)."""

    http: httpx.AsyncClient
    governance: Governance

    async def call(self, method: str, path: str, *, key: str | None = MASTER, **kwargs: Any) -> httpx.Response:
        """One request."""
        headers = {"authorization": f"Bearer {key}"} if key is not None else {}
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def key(self, role: str = "user") -> str:
        """A virtual key with ``role``, created in the store directly."""
        key = generate_key()
        record = KeyRecord(token_hash=hash_key(key), key_name=key_name(key), role=role)
        await self.governance.stores.keys.create(record)
        return key


@pytest.fixture
async def governance(database_url: str, tmp_path: Path) -> AsyncIterator[Governance]:
    """A running Governance on its own database, memory counters, no Redis."""
    settings = GovernanceSettings(database_url=database_url, spool_dir=tmp_path / "spool", flush_interval=0.05)
    running = await open_governance(settings)
    try:
        yield running
    finally:
        await running.aclose()


@pytest.fixture
async def client(governance: Governance) -> AsyncIterator[Client]:
    """A client of ``app_of(governance)``."""
    transport = httpx.ASGITransport(app=app_of(governance))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield Client(http, governance)


async def cli(*argv: str) -> int:
    """``tollway`` with ``argv``, in a thread: it runs its own event loop."""
    return await asyncio.to_thread(main, list(argv))


async def seeded_url(database_url: str, seed: Callable[[Database], Awaitable[object]]) -> str:
    """``database_url``, migrated and holding what ``seed`` writes."""
    database = Database(database_url)
    try:
        await upgrade(database)
        await seed(database)
    finally:
        await database.aclose()
    return database_url

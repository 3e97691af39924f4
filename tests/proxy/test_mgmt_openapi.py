"""The management API's OpenAPI description: a valid document with an operation of its own for every management
route, and schemathesis against it: every operation, fuzzed with the master key over a real loopback socket (a
uvicorn server on SQLite), answers without a 5xx and with a body matching its documented schema."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from mgmt_support import MASTER, Api, api, governance, management_app
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.governance.factory import open_governance
from tollway.governance.service import Governance
from tollway.governance.settings import GovernanceSettings
from tollway.proxy.auth import Authenticator
from tollway.proxy.management import management_routes
from tollway.proxy.openapi import OpenAPIRoutes, openapi_document, openapi_path

__all__ = ["api", "governance"]  # fixtures, imported for pytest

CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]


async def test_every_management_route_has_its_own_operation(api: Api) -> None:
    transport = httpx.ASGITransport(app=management_app(api.governance, docs=True))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        document = (await client.get("/openapi.json")).json()
    validate(document)
    routes = management_routes(lambda: api.governance, None, max_body_bytes=1)
    expected = {
        (openapi_path(route.path), method.lower())
        for route in routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(path, method) for path, methods in document["paths"].items() for method in methods}
    assert expected <= documented
    for path, method in expected:
        operation = document["paths"][path][method]
        assert operation["tags"] == ["Management"], path
        assert "401" in operation["responses"]
        assert "403" in operation["responses"]
        if method == "post":
            assert "requestBody" in operation, path
        elif path not in ("/key/list",):
            assert operation.get("parameters"), path


class _Server:
    """The management routes (and ``/openapi.json``) on uvicorn in a thread of its own, with the Governance opened
    in the server's event loop by the app's lifespan."""

    def __init__(self, database_url: str, spool: Path) -> None:
        self.governance: Governance | None = None
        settings = GovernanceSettings(database_url=database_url, spool_dir=spool, flush_interval=0.05)

        def running() -> Governance:
            assert self.governance is not None
            return self.governance

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            self.governance = await open_governance(settings)
            yield
            await self.governance.aclose()

        routes = management_routes(running, Authenticator(MASTER, None), max_body_bytes=64 * 1024)
        docs = OpenAPIRoutes(public={"/openapi.json"}, version="test")

        async def openapi(request: Request) -> Response:
            return await docs.openapi(request)

        routes.append(Route("/openapi.json", openapi))
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(Starlette(routes=routes, lifespan=lifespan), log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[self.socket])))

    def __enter__(self) -> str:
        self.thread.start()
        for _ in range(500):
            if self.server.started:
                return f"http://127.0.0.1:{self.port}"
            threading.Event().wait(0.01)
        raise AssertionError("the test server did not start")

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a live management server over SQLite (PostgreSQL runs the other tests)."""
    directory = tmp_path_factory.mktemp("mgmt-openapi")
    with _Server(f"sqlite+aiosqlite:///{directory / 'tollway.db'}", directory / "spool") as base_url:
        yield base_url


def _document() -> dict[str, Any]:
    """The management routes' document, built from the route table alone (no database needed to describe it)."""

    def absent() -> Governance:
        raise AssertionError("describing the routes runs none")

    return openapi_document(management_routes(absent, None, max_body_bytes=1), version="test")


schema = schemathesis.openapi.from_dict(
    _document(),
    config=schemathesis.Config.from_dict(
        {
            "headers": {"Authorization": f"Bearer {MASTER}"},
            "seed": 7,
            "generation": {"mode": "all", "max-examples": 5, "deterministic": True, "database": "none"},
        }
    ),
)


@schema.parametrize()
def test_every_management_operation_answers_as_documented(case: schemathesis.Case, server: str) -> None:
    case.call_and_validate(base_url=server, checks=CHECKS)

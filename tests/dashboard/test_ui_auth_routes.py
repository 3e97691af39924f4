"""Every route of the gateway, enumerated from its own route table: without a key or a session each non-public one
answers 401 (also with a forged or stale session cookie), and with a valid session every admin read route the
dashboard uses answers (no 401, no 403). A route added later is checked without editing this file."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from starlette.routing import Route
from ui_support import MASTER, error_of, gateway_app, running

# Routes anyone may call: probes, the API description, and the dashboard's page, assets and sign-in.
PUBLIC = {
    ("GET", "/health/liveliness"),
    ("GET", "/health/readiness"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/ui"),
    ("GET", "/ui/{path:path}"),
    ("POST", "/ui/login"),
    ("GET", "/ui/config"),
    ("GET", "/ui/sso/login"),
    ("GET", "/ui/sso/callback"),
}
# Session routes: 401 without a session, but they read the cookie themselves (no key accepted).
SESSION_ONLY = {("GET", "/ui/session"), ("POST", "/ui/logout")}
# Model routes: they never accept the dashboard's cookie.
MODEL_PREFIXES = ("/chat", "/v1/chat", "/completions", "/v1/completions", "/embeddings", "/v1/embeddings", "/rerank")
MODEL_PREFIXES += ("/v1/rerank", "/models", "/v1/models", "/openai/", "/v1/messages")
# Prometheus scrapes /metrics with a key; the dashboard never reads it, so it takes no cookie either.
MODEL_PREFIXES += ("/metrics",)


def operations(app: object) -> list[tuple[str, str]]:
    """(method, path) of every route, HEAD left out (Starlette adds it to every GET)."""
    found = []
    for route in getattr(app, "routes", ()):
        if isinstance(route, Route):
            found.extend((method, route.path) for method in sorted(route.methods or ()) if method != "HEAD")
    return found


def concrete(path: str) -> str:
    """A request path for a route path: every parameter filled in."""
    return re.sub(r"\{[^}]+\}", "x", path)


async def call(http: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    return await http.request(
        method, concrete(path), content=body, headers={"content-type": "application/json", **headers}
    )


async def test_every_non_public_route_refuses_a_caller_without_key_or_session(tmp_path: Path) -> None:
    app = gateway_app(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", tmp_path)
    found = operations(app)
    assert ("GET", "/global/spend/summary") in found
    assert ("GET", "/model/info") in found
    assert ("POST", "/key/generate") in found
    assert ("GET", "/margin") in found
    async with running(app) as browser:
        token = await browser.sign_in()
        stale_id = browser.http.cookies["tollway_session"]
        await browser.http.post("/ui/logout", headers={"x-csrf-token": token})
        forged = "tollway_session=" + "B" * 43
        checked = 0
        for method, path in found:
            if (method, path) in PUBLIC:
                continue
            for cookie in (None, forged, f"tollway_session={stale_id}"):
                headers = {"cookie": cookie} if cookie else {}
                response = await call(browser.http, method, path, headers)
                assert response.status_code == 401, (method, path, cookie, response.status_code, response.text)
                assert response.json()["error"]["type"] == "authentication_error"
                checked += 1
        assert checked >= 3 * 40  # the whole management API is in the table


async def test_a_session_reads_every_admin_route_and_never_the_model_routes(tmp_path: Path) -> None:
    app = gateway_app(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", tmp_path)
    async with running(app) as browser:
        token = await browser.sign_in()
        reads = [
            (method, path)
            for method, path in operations(app)
            if method == "GET" and (method, path) not in PUBLIC and not path.startswith(MODEL_PREFIXES)
        ]
        for method, path in reads:
            response = await call(browser.http, method, path, {"x-csrf-token": token})
            # 400 (a required parameter missing) and 404 (no such "x") are fine: the caller was let in.
            assert response.status_code not in (401, 403), (path, response.status_code, response.text)
        for method, path in operations(app):
            if path.startswith(MODEL_PREFIXES):
                response = await call(browser.http, method, path, {"x-csrf-token": token})
                assert response.status_code == 401, (path, response.status_code, response.text)
        # The same routes with the master key as a bearer key, for comparison: no route lost its key auth.
        bearer = {"authorization": f"Bearer {MASTER}", "cookie": ""}
        for method, path in reads:
            if (method, path) in SESSION_ONLY:
                error_of(await call(browser.http, method, path, bearer), 401, "no_session")
                continue
            response = await call(browser.http, method, path, bearer)
            assert response.status_code not in (401, 403), (path, response.status_code)

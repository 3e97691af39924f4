"""Dashboard sessions (``tollway.dashboard.signin``, ``routes``): sign-in with the master key or an admin key, the
cookie's flags, the session API, CSRF on unsafe methods, sign-out, and every way a session ends. Through the whole
gateway app on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from ui_support import MASTER, error_of, gateway_app, running

from tollway.dashboard.session import csrf_token, session_hash
from tollway.storage.schema import audit_log, ui_sessions


def cookie_header(response_headers: list[str]) -> str:
    (header,) = [value for value in response_headers if value.startswith("tollway_session=")]
    return header


async def test_master_key_sign_in_sets_a_strict_http_only_cookie(database_url: str, tmp_path: Path) -> None:
    async with running(gateway_app(database_url, tmp_path)) as browser:
        response = await browser.http.post("/ui/login", json={"key": MASTER})
        assert response.status_code == 200
        body = response.json()
        assert body["role"] == "admin"
        assert body["name"] == "master"
        assert body["sso"] is False
        assert response.headers["cache-control"] == "no-store"
        header = cookie_header(response.headers.get_list("set-cookie"))
        flags = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
        assert flags == {"httponly", "max-age", "path", "samesite"}  # no Secure over plain http
        assert "Max-Age=43200" in header
        assert "Path=/" in header
        assert "SameSite=strict" in header
        session_id = header.split(";")[0].split("=", 1)[1]
        assert body["csrf_token"] == csrf_token(session_id)
        assert body["csrf_token"] != session_id

        again = await browser.http.get("/ui/session")
        assert again.status_code == 200
        assert again.json() == body

        # The store keeps the id's hash only: no column holds the id (or the CSRF token).
        async with browser.governance.stores.database.read() as connection:
            rows = (await connection.execute(select(ui_sessions))).mappings().all()
            actions = [row[0] for row in await connection.execute(select(audit_log.c.action))]
        assert [row["id_hash"] for row in rows] == [session_hash(session_id)]
        assert not any(session_id in str(value) or body["csrf_token"] in str(value) for value in rows[0].values())
        assert "ui.login" in actions


async def test_the_cookie_is_secure_behind_https(database_url: str, tmp_path: Path) -> None:
    async with running(gateway_app(database_url, tmp_path), base_url="https://gateway") as browser:
        response = await browser.http.post("/ui/login", json={"key": MASTER})
        assert "Secure" in cookie_header(response.headers.get_list("set-cookie"))
    async with running(gateway_app(database_url, tmp_path)) as browser:
        response = await browser.http.post("/ui/login", json={"key": MASTER}, headers={"x-forwarded-proto": "https"})
        assert "Secure" in cookie_header(response.headers.get_list("set-cookie"))


async def test_only_admins_sign_in(database_url: str, tmp_path: Path) -> None:
    async with running(gateway_app(database_url, tmp_path)) as browser:
        admin = await browser.key("admin")
        user = await browser.key("user")
        team_admin = await browser.key("team_admin")
        blocked = await browser.key("admin", blocked=True)
        expired = await browser.key("admin", expires=datetime.now(UTC) - timedelta(minutes=1))
        for key in (user, team_admin, blocked, expired, "sk-not-a-key-at-all", MASTER + "x"):
            response = await browser.http.post("/ui/login", json={"key": key})
            error_of(response, 401, "invalid_credentials")
            assert "set-cookie" not in response.headers
        assert await browser.sign_in(admin)
        session = (await browser.http.get("/ui/session")).json()
        assert session["name"].startswith("sk-...")
        assert session["name"] == f"sk-...{admin[-4:]}"


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b'{"key": "x"}', {"content-type": "text/plain"}, 400, "invalid_content_type"),
        (b'{"key": "x"}', {}, 400, "invalid_content_type"),
        (b"", {"content-type": "application/json"}, 400, "invalid_json"),
        (b"{", {"content-type": "application/json"}, 400, "invalid_json"),
        (b"[]", {"content-type": "application/json"}, 400, None),
        (b'{"key": "x", "user": "y"}', {"content-type": "application/json"}, 400, "unknown_field"),
        (b'{"key": 12}', {"content-type": "application/json"}, 400, "invalid_field"),
        (b'{"key": ""}', {"content-type": "application/json"}, 400, "invalid_field"),
        (b'{"key": "a\\nb"}', {"content-type": "application/json"}, 400, "invalid_field"),
        (b'{"key": "' + b"k" * 600 + b'"}', {"content-type": "application/json"}, 400, "invalid_field"),
        (b'{"key": "' + b"k" * 5000 + b'"}', {"content-type": "application/json"}, 413, None),
        (b'{"key": "sk-wrong"}', {"content-type": "application/json; charset=utf-8"}, 401, "invalid_credentials"),
    ],
)
async def test_malformed_sign_ins_are_refused(
    tmp_path: Path, body: bytes, headers: dict[str, str], status: int, code: str | None
) -> None:
    async with running(gateway_app(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", tmp_path)) as browser:
        response = await browser.http.post("/ui/login", content=body, headers=headers)
        error_of(response, status, code)
        assert "set-cookie" not in response.headers


async def test_csrf_guards_unsafe_methods_of_cookie_requests_only(database_url: str, tmp_path: Path) -> None:
    async with running(gateway_app(database_url, tmp_path)) as browser:
        token = await browser.sign_in()
        # GET with the cookie alone: allowed (a download link cannot send a header).
        assert (await browser.http.get("/key/list")).status_code == 200
        # POST, PUT-like and DELETE-like management calls need the token.
        for headers in ({}, {"x-csrf-token": "wrong"}, {"x-csrf-token": token + "x"}, {"x-csrf-token": ""}):
            error_of(await browser.http.post("/key/generate", json={}, headers=headers), 403, "csrf_failed")
            error_of(await browser.http.post("/customer/new", json={"user_id": "c1"}, headers=headers), 403)
        assert await browser.governance.stores.customers.get("c1") is None
        created = await browser.http.post("/key/generate", json={"key_alias": "k"}, headers={"x-csrf-token": token})
        assert created.status_code == 200, created.text
        # The audit log names the session's caller.
        async with browser.governance.stores.database.read() as connection:
            actors = {tuple(row) for row in await connection.execute(select(audit_log.c.actor, audit_log.c.action))}
        assert ("master", "key.generate") in actors
        # A bearer key needs no token, cookie or not: a page cannot make a browser send one.
        bearer = {"authorization": f"Bearer {MASTER}"}
        assert (await browser.http.post("/key/generate", json={}, headers=bearer)).status_code == 200


async def test_a_cookie_never_authenticates_the_model_routes(tmp_path: Path) -> None:
    async with running(gateway_app(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", tmp_path)) as browser:
        token = await browser.sign_in()
        chat = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
        for path in ("/v1/chat/completions", "/chat/completions"):
            response = await browser.http.post(path, json=chat, headers={"x-csrf-token": token})
            error_of(response, 401, "missing_api_key")
        error_of(await browser.http.get("/v1/models"), 401)
        error_of(await browser.http.get("/metrics"), 401)


async def test_sign_out_revokes_the_session_everywhere(database_url: str, tmp_path: Path) -> None:
    async with running(gateway_app(database_url, tmp_path)) as browser:
        token = await browser.sign_in()
        session_id = browser.http.cookies["tollway_session"]
        error_of(await browser.http.post("/ui/logout"), 403, "csrf_failed")
        error_of(await browser.http.post("/ui/logout", headers={"x-csrf-token": "nope"}), 403, "csrf_failed")
        response = await browser.http.post("/ui/logout", headers={"x-csrf-token": token})
        assert response.status_code == 204
        assert "Max-Age=0" in cookie_header(response.headers.get_list("set-cookie"))
        assert "tollway_session" not in browser.http.cookies
        # Replaying the old cookie does not work: the session is revoked server-side.
        replay = {"cookie": f"tollway_session={session_id}"}
        error_of(await browser.http.get("/ui/session", headers=replay), 401, "invalid_session")
        error_of(await browser.http.get("/key/list", headers=replay), 401, "invalid_session")
        stale = await browser.http.post("/ui/logout", headers={**replay, "x-csrf-token": token})
        error_of(stale, 401, "invalid_session")
        async with browser.governance.stores.database.read() as connection:
            actions = [row[0] for row in await connection.execute(select(audit_log.c.action))]
        assert "ui.logout" in actions


async def test_no_or_bad_cookie_is_a_401(tmp_path: Path) -> None:
    async with running(gateway_app(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", tmp_path)) as browser:
        error_of(await browser.http.get("/ui/session"), 401, "no_session")
        error_of(await browser.http.post("/ui/logout"), 401, "no_session")
        for value in (b"x", b"A" * 43, b"A" * 44, b'"quoted"', b"../../etc", "é".encode() * 43):
            headers = {"cookie": b"tollway_session=" + value}
            error_of(await browser.http.get("/ui/session", headers=headers), 401, "invalid_session")
            error_of(await browser.http.get("/key/list", headers=headers), 401, "invalid_session")
            # A bad cookie on an unsafe method is "sign in again", not a CSRF failure (with a token or without).
            for token in ({}, {"x-csrf-token": "A" * 43}):
                refused = await browser.http.post("/key/generate", json={}, headers={**headers, **token})
                error_of(refused, 401, "invalid_session")
        assert (await browser.http.get("/ui/config")).json() == {"sso": False}


async def test_a_session_ends_when_it_expires(database_url: str, tmp_path: Path) -> None:
    async with running(gateway_app(database_url, tmp_path)) as browser:
        await browser.sign_in()
        async with browser.governance.stores.database.write() as connection:
            past = datetime.now(UTC) - timedelta(seconds=1)
            await connection.execute(update(ui_sessions).values(expires_at=past))
        error_of(await browser.http.get("/key/list"), 401, "invalid_session")
        # The next sign-in prunes it.
        await browser.sign_in()
        async with browser.governance.stores.database.read() as connection:
            count = len((await connection.execute(select(ui_sessions.c.id_hash))).all())
        assert count == 1


@pytest.mark.parametrize("change", ["block", "delete", "regenerate", "demote"])
async def test_a_key_session_ends_with_its_key(tmp_path: Path, change: str) -> None:
    async with running(gateway_app(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", tmp_path)) as browser:
        admin = await browser.key("admin", key_alias="ops")
        await browser.sign_in(admin)
        assert (await browser.http.get("/key/list")).status_code == 200
        master = {"authorization": f"Bearer {MASTER}"}
        path, body = {
            "block": ("/key/block", {"key": admin}),
            "delete": ("/key/delete", {"keys": [admin]}),
            "regenerate": (f"/key/{admin}/regenerate", {}),
            "demote": ("/key/update", {"key": admin, "role": "user"}),
        }[change]
        changed = await browser.http.post(path, json=body, headers=master)
        assert changed.status_code == 200, changed.text
        error_of(await browser.http.get("/key/list"), 401, "invalid_session")


async def test_a_master_key_session_ends_when_the_master_key_changes(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 't.db'}"
    async with running(gateway_app(url, tmp_path)) as browser:
        await browser.sign_in()
        session_id = browser.http.cookies["tollway_session"]
    rotated = "sk-another-master-key-9876543210"
    async with running(gateway_app(url, tmp_path, master_key=rotated)) as browser:
        headers = {"cookie": f"tollway_session={session_id}"}
        error_of(await browser.http.get("/key/list", headers=headers), 401, "invalid_session")


async def test_without_a_database_signing_in_is_a_503(tmp_path: Path) -> None:
    from starlette.applications import Starlette

    from tollway.proxy.app import create_app
    from tollway.proxy.gateway_config import GatewayConfig

    app: Starlette = create_app(GatewayConfig(master_key=MASTER), environ={})
    async with running(app) as browser:
        error_of(await browser.http.post("/ui/login", json={"key": MASTER}), 503, "no_database")
        headers = {"cookie": "tollway_session=" + "A" * 43}
        error_of(await browser.http.get("/ui/session", headers=headers), 401, "invalid_session")


async def test_dev_mode_signs_in_with_any_key(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 't.db'}"
    async with running(gateway_app(url, tmp_path, master_key=None, dev=True)) as browser:
        await browser.sign_in("anything")
        assert (await browser.http.get("/ui/session")).json()["name"] == "master"
        assert (await browser.http.get("/key/list")).status_code == 200

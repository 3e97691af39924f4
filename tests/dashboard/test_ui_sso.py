"""OpenID Connect single sign-on (``tollway.dashboard.oidc``, ``oidc_client``) against a fake provider on loopback
(``fakes.oidc_fake``): the whole authorization-code + PKCE flow, and every way it must fail: bad or missing state,
bad nonce, wrong audience or issuer, expired, unsigned, HMAC-signed or foreign-key tokens, a non-admin, a foreign
domain, a provider that refuses or is down."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from ui_support import Browser, error_of, gateway_app, running

from fakes.oidc_fake import CLIENT_ID, CLIENT_SECRET, OIDCFake
from tollway.dashboard.oidc import PendingLogin, SSOSettings, pack_pending, unpack_pending
from tollway.proxy.settings import StartupError
from tollway.storage.schema import audit_log

ADMINS = ["tollway-admin"]


@pytest.fixture(scope="module")
def provider() -> Iterator[OIDCFake]:
    with OIDCFake() as fake:
        yield fake


@pytest.fixture
def fake(provider: OIDCFake) -> OIDCFake:
    provider.user = {"sub": "user-1", "email": "ann@example.com", "email_verified": True, "roles": ADMINS}
    provider.token_claims = {}
    provider.signing = "rs256"
    provider.down = False
    provider.requests.clear()
    return provider


def sso_settings(fake: OIDCFake, **changes: Any) -> dict[str, Any]:
    return {
        "issuer": fake.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "admin_values": ADMINS,
        **changes,
    }


@pytest.fixture
async def browser(fake: OIDCFake, tmp_path: Path) -> AsyncIterator[Browser]:
    app = gateway_app(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", tmp_path, settings={"ui_sso": sso_settings(fake)})
    async with running(app) as client:
        yield client


async def to_provider_and_back(browser: Browser) -> str:
    """Start a sign-in, let the fake provider sign the user in; the callback URL it sends the browser to."""
    start = await browser.http.get("/ui/sso/login")
    assert start.status_code == 302, start.text
    assert start.headers["cache-control"] == "no-store"
    state_cookie = next(v for v in start.headers.get_list("set-cookie") if v.startswith("tollway_sso="))
    assert "HttpOnly" in state_cookie
    assert "SameSite=lax" in state_cookie
    assert "Path=/ui/sso" in state_cookie
    async with httpx.AsyncClient(trust_env=False) as provider_side:
        answer = await provider_side.get(start.headers["location"])
    assert answer.status_code == 302, answer.text
    callback: str = answer.headers["location"]
    assert callback.startswith("http://gateway/ui/sso/callback?")
    return callback


async def sign_in(browser: Browser) -> httpx.Response:
    return await browser.http.get(await to_provider_and_back(browser))


def assert_refused(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert words in response.text
    assert "<script" not in response.text
    assert not any(v.startswith("tollway_session=") for v in response.headers.get_list("set-cookie"))


async def test_an_admin_signs_in_through_the_provider(fake: OIDCFake, database_url: str, tmp_path: Path) -> None:
    app = gateway_app(database_url, tmp_path, settings={"ui_sso": sso_settings(fake)})
    async with running(app) as browser:
        assert (await browser.http.get("/ui/config")).json() == {"sso": True}
        callback = await to_provider_and_back(browser)
        response = await browser.http.get(callback)
        assert response.status_code == 302, response.text
        assert response.headers["location"] == "/ui#/overview"
        cookies = response.headers.get_list("set-cookie")
        assert any(v.startswith("tollway_session=") and "SameSite=strict" in v and "HttpOnly" in v for v in cookies)
        assert any(v.startswith("tollway_sso=") and "Max-Age=0" in v for v in cookies)  # one use only
        session = (await browser.http.get("/ui/session")).json()
        assert session["sso"] is True
        assert session["role"] == "admin"
        assert session["name"] == "sso:ann@example.com"
        created = await browser.http.post("/key/generate", json={}, headers={"x-csrf-token": session["csrf_token"]})
        assert created.status_code == 200
        async with browser.governance.stores.database.read() as connection:
            actors = {tuple(r) for r in await connection.execute(select(audit_log.c.actor, audit_log.c.action))}
        assert ("sso:ann@example.com", "key.generate") in actors
        # The provider saw discovery, the authorization request, the code exchange (PKCE checked) and the JWKS.
        assert [path for _, path in fake.requests] == [
            "/.well-known/openid-configuration",
            "/authorize",
            "/token",
            "/jwks",
        ]
        # The same answer again: the state cookie is gone and the code was single-use.
        assert_refused(await browser.http.get(callback), 401, "start again")


async def test_a_tampered_or_foreign_state_is_refused(browser: Browser) -> None:
    callback = await to_provider_and_back(browser)
    assert_refused(await browser.http.get(callback.replace("state=", "state=x")), 401, "start again")
    # Started in another browser: this one has no pending sign-in.
    callback = await to_provider_and_back(browser)
    browser.http.cookies.clear()
    assert_refused(await browser.http.get(callback), 401, "start again")
    # A state cookie forged without the gateway's key.
    forged = pack_pending(PendingLogin("http://gateway/ui/sso/callback", state="s"), b"not the key")
    browser.http.cookies.set("tollway_sso", forged, domain="gateway", path="/ui/sso")
    assert_refused(await browser.http.get("/ui/sso/callback?code=c&state=s"), 401, "start again")


@pytest.mark.parametrize(
    ("claims", "words"),
    [
        ({"nonce": "another-sign-in"}, "nonce"),
        ({"aud": "someone-else"}, "another client"),
        ({"aud": [CLIENT_ID, "someone-else"]}, "another client (azp)"),
        ({"azp": "someone-else"}, "another client (azp)"),
        ({"iss": "http://127.0.0.1:1/evil"}, "another issuer"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "expired"),
        ({"nbf": int(time.time()) + 3600}, "invalid"),
    ],
)
async def test_an_id_token_that_fails_a_check_is_refused(
    browser: Browser, fake: OIDCFake, claims: dict[str, Any], words: str
) -> None:
    fake.token_claims = claims
    assert_refused(await sign_in(browser), 401, words)
    assert "tollway_session" not in browser.http.cookies


@pytest.mark.parametrize(
    ("signing", "words"),
    [
        ("none", "not accepted"),  # alg "none": nothing signed
        ("hs256", "not accepted"),  # signed with the client secret as an HMAC key
        ("other_key", "invalid"),  # RS256 by a key the provider does not publish, under its kid
        ("unknown_kid", "does not publish"),
    ],
)
async def test_unsigned_or_wrongly_signed_tokens_are_refused(
    browser: Browser, fake: OIDCFake, signing: str, words: str
) -> None:
    fake.signing = signing
    assert_refused(await sign_in(browser), 401, words)


async def test_someone_who_is_not_an_admin_gets_403(browser: Browser, fake: OIDCFake) -> None:
    fake.user = {**fake.user, "roles": ["viewer"], "groups": ["tollway-admin"]}  # roles win over groups
    assert_refused(await sign_in(browser), 403, "ann@example.com signed in, but is not a Tollway admin")
    fake.user = {"sub": "user-2"}
    assert_refused(await sign_in(browser), 403, "user-2 signed in, but is not a Tollway admin")


async def test_groups_are_read_when_there_are_no_roles(browser: Browser, fake: OIDCFake) -> None:
    fake.user = {"sub": "user-3", "preferred_username": "bob", "groups": ["staff", "tollway-admin"]}
    response = await sign_in(browser)
    assert response.status_code == 302
    assert (await browser.http.get("/ui/session")).json()["name"] == "sso:bob"


@pytest.mark.parametrize(
    ("changes", "user", "status"),
    [
        ({"role_claim": "realm_access.roles"}, {"realm_access": {"roles": ["tollway-admin"]}}, 302),
        ({"role_claim": "realm_access.roles"}, {"roles": ["tollway-admin"]}, 403),
        ({"admin_values": ["*"]}, {"roles": []}, 302),
        ({"allowed_domains": ["example.com"]}, {}, 302),
        ({"allowed_domains": ["example.org"]}, {}, 403),
        ({"allowed_domains": ["example.com"]}, {"email_verified": False}, 403),
        ({"allowed_domains": ["example.com"]}, {"email": None}, 403),
    ],
)
async def test_role_claims_and_domains_from_the_settings(
    fake: OIDCFake, tmp_path: Path, changes: dict[str, Any], user: dict[str, Any], status: int
) -> None:
    fake.user = {k: v for k, v in {**fake.user, **user}.items() if v is not None}
    settings = {"ui_sso": sso_settings(fake, **changes)}
    async with running(gateway_app(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", tmp_path, settings=settings)) as b:
        response = await sign_in(b)
        assert response.status_code == status, response.text


async def test_provider_refusals_and_outages(browser: Browser, fake: OIDCFake) -> None:
    callback = await to_provider_and_back(browser)
    state = httpx.URL(callback).params["state"]
    assert_refused(await browser.http.get(f"/ui/sso/callback?error=access_denied&state={state}"), 401, "access_denied")
    # The code refused at the token endpoint (a code it never issued).
    await to_provider_and_back(browser)
    assert_refused(await browser.http.get(f"/ui/sso/callback?code=forged&state={state}"), 401, "start again")
    callback = await to_provider_and_back(browser)
    state = httpx.URL(callback).params["state"]
    refused = await browser.http.get(f"/ui/sso/callback?code=forged&state={state}")
    assert_refused(refused, 401, "refused the sign-in code (invalid_grant)")
    # The provider down: the discovery document is cached, so the token call is what fails.
    callback = await to_provider_and_back(browser)
    fake.down = True
    assert_refused(await browser.http.get(callback), 502, "HTTP 503")


async def test_an_unreachable_provider_is_a_502_page(tmp_path: Path) -> None:
    settings = {"ui_sso": {"issuer": "http://127.0.0.1:9", "client_id": "c", "admin_values": ["a"]}}
    async with running(gateway_app(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", tmp_path, settings=settings)) as b:
        assert_refused(await b.http.get("/ui/sso/login"), 502, "did not answer")


async def test_without_sso_settings_the_routes_are_404(tmp_path: Path) -> None:
    async with running(gateway_app(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", tmp_path)) as browser:
        assert (await browser.http.get("/ui/config")).json() == {"sso": False}
        error_of(await browser.http.get("/ui/sso/login"), 404, "sso_not_configured")
        error_of(await browser.http.get("/ui/sso/callback?code=a&state=b"), 404, "sso_not_configured")


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ("not a mapping", "expected a mapping"),
        ({"client_id": "c", "admin_values": ["a"]}, "issuer: expected a URL"),
        ({"issuer": "http://idp.example.com", "client_id": "c", "admin_values": ["a"]}, "https URL"),
        ({"issuer": "https://idp.example.com", "admin_values": ["a"]}, "client_id"),
        ({"issuer": "https://idp.example.com", "client_id": "c"}, "admin_values"),
        ({"issuer": "https://idp.example.com", "client_id": "c", "admin_values": []}, "admin_values"),
        ({"issuer": "https://i.example", "client_id": "c", "admin_values": ["a"], "algorithms": ["HS256"]}, "asym"),
        ({"issuer": "https://i.example", "client_id": "c", "admin_values": ["a"], "client_secrt": "x"}, "unknown"),
        ({"issuer": "https://i.example", "client_id": "c", "admin_values": ["a"], "redirect_uri": "ftp://x"}, "https"),
    ],
)
def test_bad_sso_settings_stop_the_gateway_at_start(tmp_path: Path, settings: Any, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        SSOSettings.parse(settings)
    with pytest.raises(StartupError, match=r"general_settings\.ui_sso"):
        gateway_app(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", tmp_path, settings={"ui_sso": settings})


def test_the_config_file_resolves_and_hides_the_client_secret(tmp_path: Path) -> None:
    from tollway.proxy.config import ConfigurationError, load_config, redacted

    path = tmp_path / "config.yaml"
    path.write_text(
        "general_settings:\n  ui_sso:\n    issuer: https://idp.example.com\n    client_id: tollway\n"
        "    client_secret: os.environ/SSO_SECRET\n    admin_values: [ops]\n"
    )
    config = load_config(path, {"SSO_SECRET": "s3cret-value"})
    assert config.unknown == ()
    assert config.settings["ui_sso"]["client_secret"] == "s3cret-value"
    assert SSOSettings.parse(config.settings["ui_sso"]).client_secret == "s3cret-value"
    assert "s3cret-value" not in str(redacted(config))
    with pytest.raises(ConfigurationError, match="SSO_SECRET"):
        load_config(path, {})
    path.write_text("general_settings:\n  ui_sso: [1, 2]\n")
    with pytest.raises(ConfigurationError, match="ui_sso: expected a mapping"):
        load_config(path, {})


def test_pending_sign_ins_cannot_be_forged_or_replayed_late() -> None:
    key = b"k" * 32
    pending = PendingLogin("http://gateway/ui/sso/callback")
    packed = pack_pending(pending, key)
    assert unpack_pending(packed, key, time.time()) == pending
    assert unpack_pending(packed, b"x" * 32, time.time()) is None
    assert unpack_pending(packed, key, pending.expires + 1) is None
    payload, signature = packed.split(".")
    assert unpack_pending(payload[:-2] + "AA." + signature, key, time.time()) is None
    for junk in (None, "", ".", "a.b.c", "é.é", "x" * 5000):
        assert unpack_pending(junk, key, time.time()) is None
    assert 43 <= len(pending.verifier) <= 128


async def test_sso_sessions_end_when_sso_is_turned_off(fake: OIDCFake, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 't.db'}"
    async with running(gateway_app(url, tmp_path, settings={"ui_sso": sso_settings(fake)})) as browser:
        assert (await sign_in(browser)).status_code == 302
        session_id = browser.http.cookies["tollway_session"]
        assert (await browser.http.get("/key/list")).status_code == 200
    async with running(gateway_app(url, tmp_path)) as browser:
        headers = {"cookie": f"tollway_session={session_id}"}
        error_of(await browser.http.get("/key/list", headers=headers), 401, "invalid_session")

"""A fake OpenID Connect provider on loopback, for the dashboard's single sign-on tests.

An aiohttp server on ``127.0.0.1:<free port>`` in a thread and event loop of its own (like the provider fakes in
this folder), speaking the parts of OpenID Connect Core 1.0 and RFC 7636 that an authorization-code client uses:

- ``GET /.well-known/openid-configuration``: the discovery document (``issuer`` = ``fake.issuer``).
- ``GET /authorize``: checks ``response_type=code``, ``client_id``, ``redirect_uri`` (must be registered),
  ``scope`` containing ``openid``, ``state``, ``nonce`` and an S256 ``code_challenge``; "signs in" ``fake.user``
  (no login page) and redirects to ``redirect_uri?code=...&state=...``.
- ``POST /token``: ``grant_type=authorization_code``, the client authenticated with ``client_secret_basic`` (or
  ``client_secret_post``), a code issued for that ``redirect_uri``, used once, whose challenge the
  ``code_verifier`` matches (400 ``invalid_grant`` otherwise); answers an ID token signed RS256 by ``fake.key``
  with ``iss``, ``sub``, ``aud``, ``exp``, ``iat``, ``nonce`` and the user's claims.
- ``GET /jwks``: the public key (``kid`` ``fake.kid``).

Tests bend the ID token with ``fake.token_claims`` (claims merged over the real ones: ``{"aud": "other"}``,
``{"exp": 0}``, ``{"nonce": "x"}``) and ``fake.signing`` (``"rs256"``, ``"none"``, ``"hs256"`` with the client
secret, ``"other_key"``: RS256 by a key not in the JWKS under the same kid, ``"unknown_kid"``); ``fake.down`` makes
every endpoint answer 503; ``fake.requests`` records (method, path) of every request.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import threading
import time
from typing import Any, Self
from urllib.parse import urlencode

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "OIDCFake"]

CLIENT_ID = "tollway-dashboard"
CLIENT_SECRET = "fake-client-secret-0123456789abcdef-0123"  # a test fixture's secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class OIDCFake:
    """The fake provider (a context manager). ``redirect_uris`` are the registered callbacks."""

    def __init__(self, redirect_uris: tuple[str, ...] = ("http://gateway/ui/sso/callback",)) -> None:
        self.redirect_uris = redirect_uris
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "fake-key-1"
        self.user: dict[str, Any] = {"sub": "user-1", "email": "ann@example.com", "email_verified": True}
        self.token_claims: dict[str, Any] = {}
        self.signing = "rs256"
        self.down = False
        self.requests: list[tuple[str, str]] = []
        self._codes: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def issuer(self) -> str:
        """The issuer URL (also the base of every endpoint)."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fake-oidc", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout=10)
        return self

    def __exit__(self, *_: object) -> None:
        loop, thread, runner = self._loop, self._thread, self._runner
        if loop is None or thread is None:
            return
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/token", self._token)
        app.router.add_get("/jwks", self._jwks)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        server = site._server  # aiohttp exposes the bound port only through the asyncio server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]

    def _record(self, request: web.Request) -> web.Response | None:
        with self._lock:
            self.requests.append((request.method, request.path))
        if self.down:
            return web.json_response({"error": "temporarily_unavailable"}, status=503)
        return None

    async def _discovery(self, request: web.Request) -> web.Response:
        down = self._record(request)
        if down is not None:
            return down
        base = self.issuer
        return web.json_response(
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "jwks_uri": f"{base}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            }
        )

    async def _authorize(self, request: web.Request) -> web.Response:
        down = self._record(request)
        if down is not None:
            return down
        query = request.query
        problems = [
            name
            for name, ok in (
                ("response_type", query.get("response_type") == "code"),
                ("client_id", query.get("client_id") == CLIENT_ID),
                ("redirect_uri", query.get("redirect_uri") in self.redirect_uris),
                ("scope", "openid" in query.get("scope", "").split()),
                ("state", bool(query.get("state"))),
                ("nonce", bool(query.get("nonce"))),
                ("code_challenge", len(query.get("code_challenge", "")) == 43),
                ("code_challenge_method", query.get("code_challenge_method") == "S256"),
            )
            if not ok
        ]
        if problems:
            return web.json_response({"error": "invalid_request", "error_description": problems}, status=400)
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = {
                "redirect_uri": query["redirect_uri"],
                "challenge": query["code_challenge"],
                "nonce": query["nonce"],
            }
        target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        raise web.HTTPFound(target)

    def _client_ok(self, request: web.Request, form: Any) -> bool:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return user == CLIENT_ID and password == CLIENT_SECRET
        return form.get("client_id") == CLIENT_ID and form.get("client_secret") == CLIENT_SECRET

    async def _token(self, request: web.Request) -> web.Response:
        down = self._record(request)
        if down is not None:
            return down
        form = await request.post()
        if not self._client_ok(request, form):
            return web.json_response({"error": "invalid_client"}, status=401)
        with self._lock:
            grant = self._codes.pop(str(form.get("code", "")), None)
        verifier = str(form.get("code_verifier", ""))
        challenge = _b64(hashlib.sha256(verifier.encode()).digest())
        if (
            form.get("grant_type") != "authorization_code"
            or grant is None
            or grant["redirect_uri"] != form.get("redirect_uri")
            or grant["challenge"] != challenge
        ):
            return web.json_response({"error": "invalid_grant"}, status=400)
        return web.json_response({"access_token": "at", "token_type": "Bearer", "id_token": self.id_token(grant)})

    def id_token(self, grant: dict[str, Any]) -> str:
        """The ID token for a grant, as ``signing`` and ``token_claims`` say."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
            **self.user,
            **self.token_claims,
        }
        headers = {"kid": self.kid}
        if self.signing == "none":
            return jwt.encode(claims, None, algorithm="none", headers=headers)
        if self.signing == "hs256":
            return jwt.encode(claims, CLIENT_SECRET, algorithm="HS256", headers=headers)
        key = self.key
        if self.signing == "other_key":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif self.signing == "unknown_kid":
            headers = {"kid": "not-published"}
        return jwt.encode(claims, key, algorithm="RS256", headers=headers)

    async def _jwks(self, request: web.Request) -> web.Response:
        down = self._record(request)
        if down is not None:
            return down
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return web.json_response({"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]})

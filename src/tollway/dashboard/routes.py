"""The dashboard's routes: its page and assets under ``/ui``, and its session API.

- ``POST /ui/login`` ``{"key": "<master key or admin key>"}`` → 200 ``{"role", "name", "csrf_token", "sso",
  "expires_at"}`` and the ``tollway_session`` cookie; any other key → 401 ``invalid_credentials``. The body must be
  JSON (``content-type: application/json``: a cross-site form cannot send that without a CORS preflight, which the
  gateway never grants), at most 4 KiB.
- ``GET /ui/session`` → the same body for the session the cookie names, else 401.
- ``POST /ui/logout`` (with ``x-csrf-token``) → 204, the session revoked on every instance, the cookie cleared.
- ``GET /ui/config`` → ``{"sso": bool}`` (public: whether to offer single sign-on).
- ``GET /ui/sso/login`` → 302 to the identity provider; ``GET /ui/sso/callback`` → 302 to ``/ui#/overview`` with the
  session cookie, or an HTML page saying why not (401, 403, 502). Both are 404 when SSO is not configured.
- ``GET /ui``, ``GET /ui/{path}``: ``tollway.dashboard.serve``.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from tollway.dashboard.oidc import (
    PendingLogin,
    SSOError,
    SSOSettings,
    admin_person,
    authorization_url,
    pack_pending,
    unpack_pending,
)
from tollway.dashboard.serve import SECURITY_HEADERS, STATIC_DIR, StaticUI, html_page
from tollway.dashboard.session import (
    CSRF_HEADER,
    LIFETIME,
    clear_cookie,
    csrf_matches,
    csrf_token,
    is_https,
    session_cookie,
    set_cookie,
)
from tollway.errors import AuthenticationError, BadRequestError, NotFoundError, TollwayError
from tollway.proxy.body import parse_json, read_body
from tollway.proxy.responses import Observer, guard, json_response

if TYPE_CHECKING:
    from tollway.dashboard.oidc_client import OIDCClient
    from tollway.dashboard.sessions_store import SessionRecord
    from tollway.dashboard.signin import SessionAuth

__all__ = ["DashboardRoutes", "dashboard_routes"]

logger = logging.getLogger("tollway.dashboard")

LOGIN_BODY_LIMIT = 4096
MAX_KEY_LENGTH = 512
SSO_COOKIE = "tollway_sso"
SSO_PATH = "/ui/sso"
LANDING = "/ui#/overview"
_NO_STORE = {"cache-control": "no-store", "x-content-type-options": "nosniff"}
_PAGE_TITLES = {401: "Sign-in failed", 403: "Not allowed", 502: "Identity provider unavailable"}


def _session_body(session_id: str, record: SessionRecord) -> dict[str, Any]:
    return {
        "role": record.role,
        "name": record.name,
        "csrf_token": csrf_token(session_id),
        "sso": record.method == "sso",
        "expires_at": record.expires_at.isoformat(),
    }


def _no_session() -> AuthenticationError:
    return AuthenticationError("no dashboard session: sign in at /ui", code="no_session")


class DashboardRoutes:
    """The session API and the SSO flow over ``sessions``; ``sso`` is None when single sign-on is not configured;
    ``state_secret`` signs the pending-login cookie (``tollway.dashboard.oidc.state_secret``)."""

    def __init__(
        self,
        sessions: SessionAuth,
        *,
        sso: OIDCClient | None = None,
        state_secret: bytes = b"",
        body_timeout: float | None = None,
    ) -> None:
        self.sessions = sessions
        self.sso = sso
        self._secret = state_secret
        self._body_timeout = body_timeout

    async def login(self, request: Request, request_id: str) -> Response:
        """``POST /ui/login``."""
        media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media != "application/json":
            raise BadRequestError("send the key as JSON (content-type: application/json)", code="invalid_content_type")
        body = parse_json(await read_body(request, LOGIN_BODY_LIMIT, self._body_timeout))
        unknown = sorted(set(body) - {"key"})
        if unknown:
            raise BadRequestError(f"unknown field {unknown[0]!r}", param=unknown[0], code="unknown_field")
        key = body.get("key")
        if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise BadRequestError(
                f"key: expected the master key or an admin key (1 to {MAX_KEY_LENGTH} characters)",
                param="key",
                code="invalid_field",
            )
        session_id, record = await self.sessions.sign_in_with_key(key)
        response = json_response(_session_body(session_id, record), 200, {"x-request-id": request_id, **_NO_STORE})
        set_cookie(response, session_id, secure=is_https(request), max_age=int(LIFETIME.total_seconds()))
        return response

    async def session(self, request: Request, request_id: str) -> Response:
        """``GET /ui/session``."""
        session_id = session_cookie(request.headers)
        if session_id is None:
            raise _no_session()
        record, _ = await self.sessions.resolve(session_id)
        return json_response(_session_body(session_id, record), 200, {"x-request-id": request_id, **_NO_STORE})

    async def logout(self, request: Request, request_id: str) -> Response:
        """``POST /ui/logout``."""
        session_id = session_cookie(request.headers)
        if session_id is None:
            raise _no_session()
        if not csrf_matches(session_id, request.headers.get(CSRF_HEADER)):
            return await self.sessions.refusal(request, session_id, request_id)
        await self.sessions.sign_out(session_id)
        response = Response(status_code=204, headers={"x-request-id": request_id, **_NO_STORE})
        clear_cookie(response, secure=is_https(request))
        return response

    async def config(self, request: Request, request_id: str) -> Response:
        """``GET /ui/config``: what the sign-in page needs to know before anyone signs in."""
        return json_response({"sso": self.sso is not None}, 200, {"x-request-id": request_id})

    def _client(self) -> OIDCClient:
        if self.sso is None:
            raise NotFoundError("single sign-on is not configured (general_settings.ui_sso)", code="sso_not_configured")
        return self.sso

    async def sso_login(self, request: Request, request_id: str) -> Response:
        """``GET /ui/sso/login``: off to the identity provider."""
        client = self._client()
        redirect = client.settings.redirect_uri or str(request.base_url).rstrip("/") + "/ui/sso/callback"
        pending = PendingLogin(redirect_uri=redirect)
        try:
            metadata = await client.metadata()
        except SSOError as error:
            return self._failed(request, error)
        target = authorization_url(metadata.authorization_endpoint, client.settings, pending)
        response = RedirectResponse(target, 302, headers={**SECURITY_HEADERS, **_NO_STORE})
        # SameSite=Lax: the provider's redirect back is a cross-site navigation, which Strict cookies would miss.
        response.set_cookie(
            SSO_COOKIE,
            pack_pending(pending, self._secret),
            max_age=600,
            path=SSO_PATH,
            secure=is_https(request),
            httponly=True,
            samesite="lax",
        )
        return response

    async def sso_callback(self, request: Request, request_id: str) -> Response:
        """``GET /ui/sso/callback``: the provider's answer; a session for an admin."""
        client = self._client()
        try:
            person = await self._verified_person(request, client)
            session_id, _ = await self.sessions.sign_in_sso(person)
        except SSOError as error:
            logger.info("dashboard single sign-on refused (%s): %s", error.code, error)
            return self._failed(request, error)
        except TollwayError as error:  # the session store: 503
            return self._failed(request, SSOError(error.status_code, error.code or "error", str(error)))
        response = RedirectResponse(LANDING, 302, headers={**SECURITY_HEADERS, **_NO_STORE})
        set_cookie(response, session_id, secure=is_https(request), max_age=int(LIFETIME.total_seconds()))
        response.delete_cookie(SSO_COOKIE, path=SSO_PATH, secure=is_https(request), httponly=True, samesite="lax")
        return response

    async def _verified_person(self, request: Request, client: OIDCClient) -> str:
        params = request.query_params
        if params.get("error"):
            error = params["error"][:64]
            raise SSOError(401, "provider_refused", f"the identity provider did not sign you in ({error})")
        pending = unpack_pending(request.cookies.get(SSO_COOKIE), self._secret, time.time())
        state = params.get("state") or ""
        if pending is None or not hmac.compare_digest(state.encode(), pending.state.encode()):
            raise SSOError(401, "bad_state", "this sign-in expired or was not started here: start again from /ui")
        code = params.get("code")
        if not code or len(code) > 4096:
            raise SSOError(401, "bad_state", "the identity provider sent no sign-in code")
        claims = await client.verify(await client.exchange(code, pending), pending.nonce)
        return admin_person(claims, client.settings)

    def _failed(self, request: Request, error: SSOError) -> Response:
        title = _PAGE_TITLES.get(error.status, "Sign-in failed")
        response = html_page(title, str(error), error.status)
        response.delete_cookie(SSO_COOKIE, path=SSO_PATH, secure=is_https(request), httponly=True, samesite="lax")
        return response


def dashboard_routes(
    sessions: SessionAuth,
    *,
    settings: Mapping[str, Any],
    master_key: str | None,
    static_dir: Path = STATIC_DIR,
    body_timeout: float | None = None,
    observer: Callable[[str], Observer] | None = None,
) -> list[BaseRoute]:
    """Every ``/ui`` route. ``settings`` is the gateway's ``general_settings`` (``ui_sso`` turns SSO on);
    ``StartupError`` naming the field when ``ui_sso`` is invalid."""
    from tollway.dashboard.oidc import state_secret
    from tollway.dashboard.oidc_client import OIDCClient
    from tollway.proxy.settings import StartupError

    sso = settings.get("ui_sso")
    try:
        client = OIDCClient(SSOSettings.parse(sso)) if sso is not None else None
    except ValueError as error:
        raise StartupError(f"general_settings.{error}") from None
    handlers = DashboardRoutes(sessions, sso=client, state_secret=state_secret(master_key), body_timeout=body_timeout)
    static = StaticUI(static_dir)
    watch = observer("dashboard") if observer is not None else None

    def api(work: Callable[[Request, str], Any]) -> Callable[[Request], Any]:
        return guard(work, None, observer=watch)

    return [
        Route("/ui/login", api(handlers.login), methods=["POST"]),
        Route("/ui/logout", api(handlers.logout), methods=["POST"]),
        Route("/ui/session", api(handlers.session), methods=["GET"]),
        Route("/ui/config", api(handlers.config), methods=["GET"]),
        Route("/ui/sso/login", api(handlers.sso_login), methods=["GET"]),
        Route("/ui/sso/callback", api(handlers.sso_callback), methods=["GET"]),
        Route("/ui", static.index, methods=["GET"]),
        Route("/ui/{path:path}", static.asset, methods=["GET"]),
    ]

"""Dashboard sign-in: ``SessionAuth`` makes, resolves and ends sessions, and is the ``Checker`` of every route the
dashboard calls; ``csrf_checked`` puts the CSRF check in front of those routes' unsafe methods.

Who may sign in: the master key or an admin virtual key (``sign_in_with_key``), or an admin found by single sign-on
(``sign_in_sso``, called by ``tollway.dashboard.routes`` after ``tollway.dashboard.oidc`` verified the ID token).

How a request is authenticated (``authenticate``): a request that presents a key (``Authorization: Bearer``,
``x-api-key``, ``api-key``) is checked exactly as the gateway's ``Authenticator`` checks it, cookies ignored; only a
request without a key and with the ``tollway_session`` cookie is looked up as a session. The model routes (chat,
embeddings...) keep the plain ``Authenticator`` and never look at cookies, so the bearer hot path is unchanged.

A session is re-checked on every request: not revoked, not expired, and the key it was made with still valid (an
admin key still admin, not blocked, deleted, expired or regenerated; the master key unchanged). Anything else is 401
``invalid_session``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tollway.dashboard.session import (
    CSRF_HEADER,
    LIFETIME,
    SAFE_METHODS,
    SessionCaller,
    csrf_matches,
    new_session_id,
    session_cookie,
    session_hash,
    well_formed,
)
from tollway.dashboard.sessions_store import SessionRecord, SessionStore
from tollway.errors import AuthenticationError, PermissionDeniedError, ServiceUnavailableError
from tollway.governance.keys import hash_key
from tollway.proxy.auth import MASTER, Authenticator, Caller, presented_key
from tollway.proxy.responses import Endpoint, RequestIds, error_response
from tollway.storage.database import database_errors

if TYPE_CHECKING:
    from tollway.governance.service import Governance

__all__ = ["SessionAuth", "csrf_checked", "csrf_checked_routes"]

logger = logging.getLogger("tollway.dashboard")

_NAME_LENGTH = 128  # ui_sessions.name and audit_log.actor


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _invalid() -> AuthenticationError:
    return AuthenticationError(
        "the dashboard session has expired or was signed out: sign in again", code="invalid_session"
    )


def _unavailable(error: BaseException) -> ServiceUnavailableError:
    logger.warning("dashboard session store unavailable (%s)", type(error).__name__)
    return ServiceUnavailableError("the database is unreachable", code="database_unavailable")


class SessionAuth:
    """Sessions over the running governance's database (``governance()`` is None while the gateway has none: then
    signing in is a 503 and a cookie is a 401). ``auth`` checks keys; ``master_key`` is the gateway's (None in dev
    mode); ``sso`` whether single sign-on is configured (without it, sessions it made end)."""

    def __init__(
        self,
        auth: Authenticator,
        governance: Callable[[], Governance | None],
        master_key: str | None,
        *,
        sso: bool = False,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._auth = auth
        self._governance = governance
        self._master_hash = hash_key(master_key) if master_key is not None else None
        self._sso = sso
        self._clock = clock

    # -- the Checker of the dashboard's routes -------------------------------------------------------------------

    async def authenticate(self, headers: Mapping[str, str]) -> Caller:
        """A key if one is presented, else the session cookie, else the ``Authenticator``'s answer (401)."""
        if "cookie" in headers and presented_key(headers) is None:
            session_id = session_cookie(headers)
            if session_id is not None:
                return (await self.resolve(session_id))[1]
        return await self._auth.authenticate(headers)

    # -- sessions ------------------------------------------------------------------------------------------------

    async def resolve(self, session_id: str) -> tuple[SessionRecord, Caller]:
        """The live session of this id and its caller; 401 ``invalid_session`` otherwise, 503 without a database."""
        if not well_formed(session_id):
            raise _invalid()
        governance = self._governance()
        if governance is None:
            raise _invalid()
        try:
            record = await SessionStore(governance.stores.database).get(session_hash(session_id))
            if record is None or not record.live(self._clock()):
                raise _invalid()
            return record, await self._caller(governance, record)
        except (AuthenticationError, PermissionDeniedError):
            raise _invalid() from None
        except database_errors() as error:
            raise _unavailable(error) from None

    async def _caller(self, governance: Governance, record: SessionRecord) -> Caller:
        if record.method == "sso":
            if not self._sso:  # single sign-on was turned off since
                raise _invalid()
            return SessionCaller(person=record.name)
        if record.key_id is None:  # the master key: still the same one? (no hash: dev mode, no master key)
            if record.key_hash is None or self._master_hash is None:
                same = record.key_hash is None and self._master_hash is None
            else:
                same = hmac.compare_digest(record.key_hash, self._master_hash)
            if not same:
                raise _invalid()
            return MASTER
        from tollway.governance.admission import check_access

        principal = None if record.key_hash is None else await governance.stores.keys.principal_rows(record.key_hash)
        if principal is None or principal.key.key_id != record.key_id or principal.key.role != "admin":
            raise _invalid()
        check_access(principal, self._clock())
        return Caller(principal)

    async def sign_in_with_key(self, key: str) -> tuple[str, SessionRecord]:
        """A new session for the master key or an admin key: (session id, record); 401 ``invalid_credentials`` for
        any other key (unknown, blocked, expired or not an admin's), 503 without a database."""
        try:
            caller = await self._auth.authenticate({"authorization": f"Bearer {key}"})
        except (AuthenticationError, PermissionDeniedError):
            caller = None
        if caller is None or not caller.admin:
            raise AuthenticationError(
                "wrong key, or not an admin key: sign in with the master key or an admin key",
                code="invalid_credentials",
            )
        principal = caller.principal
        if principal is None:
            return await self._create("key", "master", None, self._master_hash)
        return await self._create("key", principal.key.key_name, principal.key.key_id, principal.key.token_hash)

    async def sign_in_sso(self, person: str) -> tuple[str, SessionRecord]:
        """A new admin session for a person single sign-on vouched for (``person``: an email or a subject)."""
        return await self._create("sso", f"sso:{person}"[:_NAME_LENGTH], None, None)

    async def _create(
        self, method: str, name: str, key_id: str | None, key_hash: str | None
    ) -> tuple[str, SessionRecord]:
        governance = self._running()
        now = self._clock()
        session_id = new_session_id()
        record = SessionRecord(
            id_hash=session_hash(session_id),
            role="admin",
            name=name[:_NAME_LENGTH],
            method=method,
            created_at=now,
            expires_at=now + LIFETIME,
            key_id=key_id,
            key_hash=key_hash,
        )
        store = SessionStore(governance.stores.database)
        try:
            await store.prune(now)
            await store.create(record)
            await governance.stores.audit.append(
                record.name, "ui.login", "ui_session", record.id_hash[:16], after=_audited(record)
            )
        except database_errors() as error:
            raise _unavailable(error) from None
        return session_id, record

    async def sign_out(self, session_id: str) -> SessionRecord:
        """End a live session (401 when it is not one)."""
        record, _ = await self.resolve(session_id)
        governance = self._running()
        try:
            await SessionStore(governance.stores.database).revoke(record.id_hash, self._clock())
            await governance.stores.audit.append(record.name, "ui.logout", "ui_session", record.id_hash[:16])
        except database_errors() as error:
            raise _unavailable(error) from None
        return record

    def _running(self) -> Governance:
        governance = self._governance()
        if governance is None:
            raise ServiceUnavailableError(
                "dashboard sessions need the gateway's database: set DATABASE_URL (tollway serve defaults to SQLite)",
                code="no_database",
            )
        return governance

    async def refusal(self, request: Request, session_id: str, request_id: str) -> Response:
        """The answer to an unsafe request whose CSRF token is wrong: 403 ``csrf_failed`` for a live session, 401
        for anything else (so a stale cookie reads as "sign in again", not as an attack)."""
        try:
            await self.resolve(session_id)
        except Exception as error:  # 401 or 503, in the error envelope
            return error_response(error, request_id)
        refused = PermissionDeniedError(
            f"missing or wrong {CSRF_HEADER} header: send the token /ui/session gives", code="csrf_failed"
        )
        return error_response(refused, request_id)


def _audited(record: SessionRecord) -> dict[str, str | None]:
    return {"method": record.method, "role": record.role, "expires_at": record.expires_at.isoformat()}


def csrf_checked(endpoint: Endpoint, sessions: SessionAuth) -> Endpoint:
    """``endpoint`` behind the CSRF check: a request of an unsafe method (anything but GET, HEAD, OPTIONS) that
    authenticates with the session cookie (no key presented) must carry ``x-csrf-token``; else 403 ``csrf_failed``.
    Requests with a key pass straight through (a page cannot make a browser send a bearer key)."""
    ids = RequestIds()

    async def checked(request: Request) -> Response:
        if request.method not in SAFE_METHODS:
            headers = request.headers
            session_id = session_cookie(headers) if "cookie" in headers else None
            if (
                session_id is not None
                and presented_key(headers) is None
                and not csrf_matches(session_id, headers.get(CSRF_HEADER))
            ):
                return await sessions.refusal(request, session_id, ids.of(request))
        return await endpoint(request)

    return checked


def csrf_checked_routes(routes: list[BaseRoute], sessions: SessionAuth) -> list[BaseRoute]:
    """``routes`` with ``csrf_checked`` in front of every route that takes an unsafe method (others unchanged)."""
    checked: list[BaseRoute] = []
    for route in routes:
        methods = set(route.methods or ()) if isinstance(route, Route) else set()
        if isinstance(route, Route) and methods - SAFE_METHODS:
            endpoint = csrf_checked(route.endpoint, sessions)
            checked.append(Route(route.path, endpoint, methods=sorted(methods), name=route.name))
        else:
            checked.append(route)
    return checked

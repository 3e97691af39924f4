"""Google Cloud credentials for Vertex AI: project, location and an OAuth2 access token (does I/O).

Vertex AI authenticates with ``Authorization: Bearer <OAuth2 access token>`` (../shared/PROVIDERS.md §7.1). The
token comes, in this order, from:

1. ``api_key=`` given to the call: an access token the caller obtained (``gcloud auth print-access-token``);
2. ``vertex_credentials=``: a service-account JSON file path, the JSON text itself, or its parsed dict;
3. the ``GOOGLE_APPLICATION_CREDENTIALS`` environment variable (a file path, Google's convention).

A ``service_account`` file is exchanged for a token with the JWT-bearer grant (RFC 7523, Google's "Using OAuth 2.0
for server to server applications"): a JWT signed with the account's RSA key (built by google-auth, imported only
here, when a file is actually used) is posted to the file's ``token_uri`` over tollway's own transport. An
``authorized_user`` file (what ``gcloud auth application-default login`` writes) is exchanged with its refresh
token. Tokens are cached per account until five minutes before they expire; concurrent calls share one refresh.

Project: ``vertex_project=``, else ``VERTEXAI_PROJECT`` / ``GOOGLE_CLOUD_PROJECT``, else the file's
``project_id``. Location: ``vertex_location=``, else ``VERTEXAI_LOCATION`` / ``GOOGLE_CLOUD_LOCATION``, else
``us-central1``. Both go into ``Endpoint.params`` as ``vertex_project`` / ``vertex_location`` for the adapter.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import urllib.parse
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from tollway.errors import (
    AuthenticationError,
    BadRequestError,
    MissingCredentialsError,
    TollwayError,
    error_for_status,
)
from tollway.http import HttpRequest
from tollway.transport import Timeouts

if TYPE_CHECKING:
    from tollway.adapters.base import Endpoint
    from tollway.transport import Transport

__all__ = [
    "CLOUD_PLATFORM_SCOPE",
    "DEFAULT_LOCATION",
    "GOOGLE_TOKEN_URI",
    "REFRESH_MARGIN",
    "GoogleAccount",
    "VertexCredentials",
    "load_account",
]

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# google-auth signs every service-account assertion for this audience, whatever the file's token_uri says
# (google/oauth2/service_account.py ``_make_authorization_grant_assertion``); so does tollway.
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105  # a URL, not a password
DEFAULT_LOCATION = "us-central1"
# Refresh this many seconds before expiry, as google-auth does (``_helpers.REFRESH_THRESHOLD``, 3 min 45 s) with
# a little more room for a slow upstream call that starts just before the token expires.
REFRESH_MARGIN = 300.0
_ASSERTION_LIFETIME = 3600  # seconds; Google's maximum for a JWT-bearer assertion
_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_TOKEN_TIMEOUTS = Timeouts(connect=10.0, read=60.0, total=60.0)
_PROVIDER = "vertex_ai"
_PROJECT_ENV = ("VERTEXAI_PROJECT", "GOOGLE_CLOUD_PROJECT")
_LOCATION_ENV = ("VERTEXAI_LOCATION", "GOOGLE_CLOUD_LOCATION")
_CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
_REQUIRED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "service_account": ("client_email", "private_key"),
    "authorized_user": ("client_id", "client_secret", "refresh_token"),
}


@dataclass(frozen=True, slots=True)
class GoogleAccount:
    """A parsed Google credentials file (``service_account`` or ``authorized_user``), checked for its fields."""

    kind: str
    info: Mapping[str, Any]
    origin: str  # where it came from, for error messages (never the key itself)

    @property
    def token_uri(self) -> str:
        """Where tokens are requested (the file's ``token_uri``, else Google's)."""
        return str(self.info.get("token_uri") or GOOGLE_TOKEN_URI)

    @property
    def project_id(self) -> str | None:
        """The project the file belongs to (service accounts; ``quota_project_id`` for user credentials)."""
        value = self.info.get("project_id") or self.info.get("quota_project_id")
        return str(value) if value else None

    @property
    def cache_key(self) -> tuple[str, ...]:
        """Identifies the account (and key) whose token may be reused."""
        fields: tuple[str, ...] = ("client_email", "private_key_id", "private_key")
        if self.kind == "authorized_user":
            fields = ("client_id", "refresh_token")
        return (self.kind, self.token_uri, *(str(self.info.get(name) or "") for name in fields))

    def grant(self, now: float) -> dict[str, str]:
        """The form fields of the token request (signs a fresh JWT assertion for a service account)."""
        if self.kind == "authorized_user":
            return {
                "grant_type": "refresh_token",
                "client_id": str(self.info["client_id"]),
                "client_secret": str(self.info["client_secret"]),
                "refresh_token": str(self.info["refresh_token"]),
            }
        return {"grant_type": _JWT_BEARER, "assertion": self._assertion(now)}

    def _assertion(self, now: float) -> str:
        from google.auth import crypt, jwt  # google-auth is needed only by service-account users

        try:
            signer = crypt.RSASigner.from_service_account_info(self.info)  # type: ignore[no-untyped-call]
        except ValueError as exc:  # google-auth and cryptography report bad keys as ValueError subclasses
            raise _bad_file(self.origin, f"its private_key cannot be loaded ({exc})") from None
        issued = int(now)
        payload = {
            "iss": str(self.info["client_email"]),
            "scope": CLOUD_PLATFORM_SCOPE,
            "aud": GOOGLE_TOKEN_URI,
            "iat": issued,
            "exp": issued + _ASSERTION_LIFETIME,
        }
        token: bytes = jwt.encode(signer, payload)  # type: ignore[no-untyped-call]
        return token.decode("ascii")


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    refresh_at: float


def load_account(source: Any, origin: str) -> GoogleAccount:
    """Parse credentials given as a dict, a JSON string or a file path; ``BadRequestError`` when malformed."""
    if isinstance(source, Mapping):
        info: Any = dict(source)
    elif isinstance(source, str | Path):
        text = str(source)
        if not text.lstrip().startswith(("{", "[")):  # JSON text, else a path
            try:
                text = Path(text).expanduser().read_text(encoding="utf-8")
            except OSError as exc:
                raise _bad_file(origin, f"the file cannot be read ({exc.strerror or exc})") from None
        try:
            info = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise _bad_file(origin, "it is not valid JSON") from None
    else:
        raise _bad_file(origin, f"expected a path, a JSON string or a dict, got {type(source).__name__}")
    if not isinstance(info, dict):
        raise _bad_file(origin, "it is not a JSON object")
    kind = info.get("type")
    if not isinstance(kind, str) or kind not in _REQUIRED_FIELDS:
        raise _bad_file(
            origin, f"its type is {kind!r}; tollway supports {' and '.join(map(repr, _REQUIRED_FIELDS))} files"
        )
    missing = [name for name in _REQUIRED_FIELDS[kind] if not isinstance(info.get(name), str) or not info[name]]
    if missing:
        raise _bad_file(origin, f"it has no {', '.join(missing)}")
    return GoogleAccount(kind=kind, info=info, origin=origin)


def _bad_file(origin: str, why: str) -> BadRequestError:
    return BadRequestError(
        f"{_PROVIDER}: the Google credentials in {origin} are malformed: {why}",
        provider=_PROVIDER,
        param="vertex_credentials",
    )


def _first(environ: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((environ[name] for name in names if environ.get(name)), None)


class VertexCredentials:
    """``CredentialResolver`` for ``vertex_ai``: fills project, location and the bearer token.

    ``clock`` (seconds, like ``time.time``) decides token expiry; tests inject their own. One instance lives per
    client, so its token cache is shared by every call of that client.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tokens: dict[tuple[str, ...], _Token] = {}
        # asyncio locks belong to one event loop; a client is used from its own loop thread and callers' loops.
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, ...], asyncio.Lock]] = (
            weakref.WeakKeyDictionary()
        )

    async def resolve(self, endpoint: Endpoint, environ: Mapping[str, str], transport: Transport) -> Endpoint:
        """The endpoint with ``api_key`` (an access token), ``vertex_project`` and ``vertex_location`` set."""
        params = dict(endpoint.params)
        source = params.pop("vertex_credentials", None)
        origin = "vertex_credentials"
        if source is None and environ.get(_CREDENTIALS_ENV):
            source, origin = environ[_CREDENTIALS_ENV], f"{_CREDENTIALS_ENV} ({environ[_CREDENTIALS_ENV]})"
        account = load_account(source, origin) if source is not None else None
        if account is None and not endpoint.api_key:
            raise MissingCredentialsError(
                f"no credentials for {_PROVIDER}: set {_CREDENTIALS_ENV} to a service-account JSON file, pass "
                "vertex_credentials= (a path, JSON text or dict), or pass api_key= with an OAuth access token",
                provider=_PROVIDER,
                model=endpoint.model,
            )
        project = params.get("vertex_project") or _first(environ, _PROJECT_ENV) or (account and account.project_id)
        if not project:
            raise MissingCredentialsError(
                f"no Google Cloud project for {_PROVIDER}: set VERTEXAI_PROJECT (or GOOGLE_CLOUD_PROJECT) "
                "or pass vertex_project=",
                provider=_PROVIDER,
                model=endpoint.model,
            )
        params["vertex_project"] = project
        params["vertex_location"] = params.get("vertex_location") or _first(environ, _LOCATION_ENV) or DEFAULT_LOCATION
        token = endpoint.api_key
        if not token:
            assert account is not None  # checked above: no account and no api_key raised
            token = await self.access_token(account, transport)
        return dataclasses.replace(endpoint, api_key=token, params=params)

    async def access_token(self, account: GoogleAccount, transport: Transport) -> str:
        """A valid access token for ``account``: cached, or fetched once for all concurrent callers."""
        key = account.cache_key
        cached = self._tokens.get(key)
        if cached is not None and self._clock() < cached.refresh_at:
            return cached.value
        async with self._lock(key):
            cached = self._tokens.get(key)  # another caller may have refreshed while this one waited
            if cached is not None and self._clock() < cached.refresh_at:
                return cached.value
            token = await self._fetch(account, transport)
            self._tokens[key] = token
            return token.value

    def _lock(self, key: tuple[str, ...]) -> asyncio.Lock:
        locks = self._locks.setdefault(asyncio.get_running_loop(), {})
        return locks.setdefault(key, asyncio.Lock())

    async def _fetch(self, account: GoogleAccount, transport: Transport) -> _Token:
        now = self._clock()
        request = HttpRequest(
            method="POST",
            url=account.token_uri,
            headers={"content-type": "application/x-www-form-urlencoded", "accept": "application/json"},
            body=urllib.parse.urlencode(account.grant(now)).encode("ascii"),
        )
        response = await transport.send(request, _TOKEN_TIMEOUTS)
        try:
            body = await response.read()
        finally:
            await response.aclose()
        try:
            data: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if not 200 <= response.status < 300:
            raise _token_error(response.status, data, body, account)
        value = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(value, str) or not value:
            raise _token_error(502, data, body, account, detail="the answer has no access_token")
        lifetime = data.get("expires_in")
        lifetime = float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else 3600.0
        return _Token(value, now + lifetime - min(REFRESH_MARGIN, lifetime / 2))


def _token_error(status: int, data: Any, body: bytes, account: GoogleAccount, detail: str = "") -> TollwayError:
    """The error for a failed token request (OAuth 2.0 error envelope, RFC 6749 §5.2)."""
    if not detail and isinstance(data, dict):
        detail = ": ".join(str(data[k]) for k in ("error", "error_description") if data.get(k))
    if not detail:
        detail = body[:200].decode("utf-8", errors="replace").strip() or f"HTTP {status}"
    who = account.info.get("client_email") or account.info.get("client_id") or account.origin
    message = f"{_PROVIDER}: the OAuth token request for {who} at {account.token_uri} failed: {detail}"
    if status in (400, 401, 403):
        # invalid_grant / invalid_client / unauthorized_client: the credentials are wrong; retrying cannot help.
        return AuthenticationError(message, provider=_PROVIDER, upstream_status=status, body=body)
    return error_for_status(status, message, provider=_PROVIDER, body=body)

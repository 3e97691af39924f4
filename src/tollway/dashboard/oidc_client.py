"""The OpenID provider over HTTP: its discovery document, the code-for-token exchange, and its JWKS (aiohttp; each
call opens its own short-lived session, as sign-ins are rare).

The discovery document and the JWKS are kept for an hour; a token signed by a key not in the kept JWKS makes one
refetch (at most once a minute), so a provider's key rotation needs no restart. Every failure is an ``SSOError``:
502 when the provider cannot be reached or answers nonsense, 401 when it refuses the code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from tollway.dashboard.oidc import PendingLogin, SSOError, SSOSettings, UnknownKeyError, check_endpoint, verify_id_token

__all__ = ["OIDCClient", "ProviderMetadata"]

CACHE_SECONDS = 3600.0
JWKS_REFETCH_SECONDS = 60.0
_MAX_BODY = 1024 * 1024  # a discovery document, a JWKS or a token answer is a few kilobytes


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """What the client uses of the provider's discovery document."""

    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    auth_methods: tuple[str, ...]

    @classmethod
    def parse(cls, document: Any, issuer: str) -> ProviderMetadata:
        """The metadata of a discovery document, checked against the configured ``issuer``; SSOError 502 when
        it is not a usable document for that issuer."""
        if not isinstance(document, Mapping):
            raise SSOError(502, "provider_error", "the provider's discovery document is not a JSON object")
        if str(document.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
            raise SSOError(502, "provider_error", "the provider's discovery document names another issuer")
        try:
            endpoints = [
                check_endpoint(document.get(name), name)
                for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")
            ]
        except ValueError as error:
            raise SSOError(502, "provider_error", f"the provider's discovery document: {error}") from None
        methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        authorize, token, jwks = endpoints
        return cls(authorize, token, jwks, tuple(str(method) for method in methods))


class OIDCClient:
    """Calls to the provider ``settings.issuer`` names; ``clock`` (monotonic seconds) times the caches."""

    def __init__(
        self, settings: SSOSettings, *, timeout: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self._timeout = timeout
        self._clock = clock
        self._metadata: tuple[float, ProviderMetadata] | None = None
        self._jwks: tuple[float, Mapping[str, Any]] | None = None

    async def metadata(self) -> ProviderMetadata:
        """The provider's endpoints (from ``<issuer>/.well-known/openid-configuration``)."""
        now = self._clock()
        if self._metadata is not None and now - self._metadata[0] < CACHE_SECONDS:
            return self._metadata[1]
        url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
        metadata = ProviderMetadata.parse(await self._json("GET", url), self.settings.issuer)
        self._metadata = (now, metadata)
        return metadata

    async def exchange(self, code: str, pending: PendingLogin) -> str:
        """The ID token the token endpoint gives for ``code`` (with the PKCE verifier of ``pending``)."""
        metadata = await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": pending.redirect_uri,
            "code_verifier": pending.verifier,
            "client_id": self.settings.client_id,
        }
        basic = None
        secret = self.settings.client_secret
        if secret is not None:
            if "client_secret_basic" in metadata.auth_methods or "client_secret_post" not in metadata.auth_methods:
                basic = (self.settings.client_id, secret)
            else:
                form["client_secret"] = secret
        answer = await self._json("POST", metadata.token_endpoint, form=form, basic=basic)
        token = answer.get("id_token") if isinstance(answer, Mapping) else None
        if not isinstance(token, str) or not token:
            raise SSOError(502, "provider_error", "the provider's token answer has no id_token")
        return token

    async def verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims (``tollway.dashboard.oidc.verify_id_token``), against the provider's JWKS."""
        metadata = await self.metadata()
        fetched, jwks = await self._keys(metadata, refresh=False)
        try:
            return verify_id_token(id_token, jwks, self.settings, nonce)
        except UnknownKeyError:
            if self._clock() - fetched < JWKS_REFETCH_SECONDS:
                raise
            _, jwks = await self._keys(metadata, refresh=True)
            return verify_id_token(id_token, jwks, self.settings, nonce)

    async def _keys(self, metadata: ProviderMetadata, *, refresh: bool) -> tuple[float, Mapping[str, Any]]:
        now = self._clock()
        if not refresh and self._jwks is not None and now - self._jwks[0] < CACHE_SECONDS:
            return self._jwks
        jwks = await self._json("GET", metadata.jwks_uri)
        if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
            raise SSOError(502, "provider_error", "the provider's JWKS is not a key set")
        self._jwks = (now, jwks)
        return self._jwks

    async def _json(
        self,
        method: str,
        url: str,
        *,
        form: Mapping[str, str] | None = None,
        basic: tuple[str, str] | None = None,
    ) -> Any:
        """One call's JSON answer; SSOError 502 (unreachable, an error status, not JSON), 401 for a token error."""
        import aiohttp

        headers = {"accept": "application/json"}
        if basic is not None:
            headers["authorization"] = _basic_auth(*basic)
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.request(method, url, data=form, headers=headers, allow_redirects=False) as response,
            ):
                body = await response.content.read(_MAX_BODY + 1)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            reason = type(error).__name__
            raise SSOError(502, "provider_unavailable", f"the identity provider did not answer ({reason})") from None
        if len(body) > _MAX_BODY:
            raise SSOError(502, "provider_error", "the identity provider's answer is too large")
        if status >= 400:
            raise _refusal(status, body, token=form is not None)
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise SSOError(502, "provider_error", "the identity provider answered something that is not JSON") from None


def _basic_auth(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: both parts form-encoded, then Basic."""
    import base64
    from urllib.parse import quote_plus

    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _refusal(status: int, body: bytes, *, token: bool) -> SSOError:
    """The error of an error answer: a token endpoint's 4xx is the code refused (401, with its OAuth ``error``
    code when it is a plain word), anything else the provider failing (502)."""
    if not token or status >= 500:
        return SSOError(502, "provider_error", f"the identity provider answered HTTP {status}")
    code = ""
    try:
        answer = orjson.loads(body)
        value = answer.get("error") if isinstance(answer, dict) else None
        if isinstance(value, str) and len(value) <= 64 and value.replace("_", "").isalnum():
            code = f" ({value})"
    except orjson.JSONDecodeError:
        pass
    return SSOError(401, "code_refused", f"the identity provider refused the sign-in code{code}")

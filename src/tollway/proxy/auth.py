"""Who may call the gateway: the master key, compared in constant time.

Virtual keys (issue 7) plug into the same seam: ``Authenticator.check`` takes the request headers and either
returns or raises ``AuthenticationError``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from tollway.errors import AuthenticationError

__all__ = ["Authenticator", "presented_key"]


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a client sent: ``Authorization: Bearer``, else ``x-api-key`` (Anthropic SDKs), else ``api-key``
    (Azure OpenAI SDKs)."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return headers.get("x-api-key") or headers.get("api-key") or None


class Authenticator:
    """Checks the master key; with ``master_key=None`` (dev mode) every request passes."""

    __slots__ = ("_key",)

    def __init__(self, master_key: str | None) -> None:
        self._key = master_key.encode() if master_key is not None else None

    def check(self, headers: Mapping[str, str]) -> None:
        """Return when the request may proceed; raise ``AuthenticationError`` (401) otherwise."""
        if self._key is None:
            return
        key = presented_key(headers)
        if key is None:
            raise AuthenticationError("missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key")
        # compare_digest on bytes: timing does not reveal how much of the key matched.
        if not hmac.compare_digest(key.encode(), self._key):
            raise AuthenticationError("invalid API key", code="invalid_api_key")

"""Who calls the gateway: the master key (compared in constant time) or a virtual key (through governance).

``Authenticator.authenticate`` takes the request headers and returns the ``Caller`` or raises
``AuthenticationError`` (401) / ``PermissionDeniedError`` (403, a blocked key). The handlers find the caller in the
request scope (``caller_of``).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request

from tollway.errors import AuthenticationError, PermissionDeniedError

if TYPE_CHECKING:
    from tollway.governance.records import Principal
    from tollway.governance.service import Governance

__all__ = ["MASTER", "Authenticator", "Caller", "caller_of", "presented_key", "require_admin"]

SCOPE_KEY = "tollway.caller"


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller: ``principal`` is the virtual key's, None for the master key (or dev mode)."""

    principal: Principal | None = None

    @property
    def role(self) -> str:
        """``admin`` (the master key or an admin key), ``team_admin`` or ``user``."""
        return "admin" if self.principal is None else self.principal.key.role

    @property
    def admin(self) -> bool:
        """Whether the caller may use every management route."""
        return self.role == "admin"

    @property
    def name(self) -> str:
        """How the audit log names the caller: ``master`` or the key's display name (``sk-...abcd``)."""
        return "master" if self.principal is None else self.principal.key.key_name


MASTER = Caller()


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a client sent: ``Authorization: Bearer``, else ``x-api-key`` (Anthropic SDKs), else ``api-key``
    (Azure OpenAI SDKs)."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return headers.get("x-api-key") or headers.get("api-key") or None


def caller_of(request: Request) -> Caller:
    """The caller ``guard`` authenticated for this request (the master caller on routes without auth)."""
    caller = request.scope.get(SCOPE_KEY)
    return caller if isinstance(caller, Caller) else MASTER


def require_admin(request: Request) -> Caller:
    """The caller, or 403 unless it is an admin (the master key or an admin key)."""
    caller = caller_of(request)
    if not caller.admin:
        raise PermissionDeniedError("this route needs an admin key", code="admin_only")
    return caller


class Authenticator:
    """Checks the master key, then virtual keys when ``governance`` is set; with ``master_key=None`` (dev mode)
    requests without a key act as the master."""

    __slots__ = ("_governance", "_key")

    def __init__(self, master_key: str | None, governance: Governance | None = None) -> None:
        self._key = master_key.encode() if master_key is not None else None
        self._governance = governance

    def attach(self, governance: Governance | None) -> None:
        """Start (or stop) accepting virtual keys: the governance services open after the app is built."""
        self._governance = governance

    async def authenticate(self, headers: Mapping[str, str]) -> Caller:
        """The caller of a request with these headers; 401 (or 403 for a blocked key) otherwise."""
        key = presented_key(headers)
        if key is None:
            if self._key is None:
                return MASTER
            raise AuthenticationError("missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key")
        # compare_digest on bytes: timing does not reveal how much of the key matched.
        if self._key is not None and hmac.compare_digest(key.encode(), self._key):
            return MASTER
        if self._governance is None:
            if self._key is None:
                return MASTER
            raise AuthenticationError("invalid API key", code="invalid_api_key")
        try:
            return Caller(await self._governance.principal(key))
        except AuthenticationError:
            if self._key is None:  # dev mode: a key that is not a virtual key acts as the master
                return MASTER
            raise

"""The dashboard session's pure parts: ids, their hashes, the CSRF token, the cookie, and the session's caller.

- A session id is 256 random bits (``secrets.token_urlsafe(32)``: 43 URL-safe characters), sent only in the
  ``tollway_session`` cookie (HttpOnly, SameSite=Strict, Path=/, Secure over https, 12 hours). The server stores its
  SHA-256 (``session_hash``).
- The CSRF token is an HMAC of a fixed label keyed by the session id (``csrf_token``): the page learns it from
  ``/ui/login`` or ``/ui/session`` and sends it as ``x-csrf-token``; the server recomputes it from the cookie, so the
  check needs no database read, and neither the token nor the stored hash reveals the id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from tollway.proxy.auth import Caller

__all__ = [
    "COOKIE",
    "CSRF_HEADER",
    "LIFETIME",
    "SAFE_METHODS",
    "SessionCaller",
    "clear_cookie",
    "csrf_matches",
    "csrf_token",
    "is_https",
    "new_session_id",
    "session_cookie",
    "session_hash",
    "set_cookie",
    "well_formed",
]

COOKIE = "tollway_session"
CSRF_HEADER = "x-csrf-token"
LIFETIME = timedelta(hours=12)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ID = re.compile(r"[A-Za-z0-9_-]{43}")
_CSRF_LABEL = b"tollway dashboard csrf v1"
_MAX_COOKIE_HEADER = 8192  # a larger Cookie header is not a browser's: not parsed


def new_session_id() -> str:
    """A fresh session id."""
    return secrets.token_urlsafe(32)


def well_formed(session_id: str) -> bool:
    """Whether ``session_id`` has the shape ``new_session_id`` gives (anything else is refused unread)."""
    return _ID.fullmatch(session_id) is not None


def session_hash(session_id: str) -> str:
    """What the store keeps of a session id: its SHA-256 in hex."""
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


def csrf_token(session_id: str) -> str:
    """The session's CSRF token (URL-safe base64 of an HMAC-SHA256 keyed by the session id)."""
    digest = hmac.new(session_id.encode("ascii"), _CSRF_LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def csrf_matches(session_id: str, presented: str | None) -> bool:
    """Whether ``presented`` is the session's CSRF token (compared in constant time)."""
    if not presented or len(presented) > 128 or not presented.isascii() or not well_formed(session_id):
        return False
    return hmac.compare_digest(presented.encode("ascii"), csrf_token(session_id).encode("ascii"))


def session_cookie(headers: Mapping[str, str]) -> str | None:
    """The ``tollway_session`` cookie's value as sent (None when there is none; unchecked: see ``well_formed``)."""
    raw = headers.get("cookie")
    if not raw or len(raw) > _MAX_COOKIE_HEADER:
        return None
    for part in raw.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name == COOKIE:
            return value.strip().strip('"')
    return None


def is_https(request: Request) -> bool:
    """Whether the browser reached the gateway over https (directly, or through a proxy that says so)."""
    if request.url.scheme == "https":
        return True
    forwarded = request.headers.get("x-forwarded-proto", "")
    return forwarded.split(",", 1)[0].strip().lower() == "https"


def set_cookie(response: Response, session_id: str, *, secure: bool, max_age: int) -> None:
    """Set the session cookie on ``response``."""
    response.set_cookie(COOKIE, session_id, max_age=max_age, path="/", secure=secure, httponly=True, samesite="strict")


def clear_cookie(response: Response, *, secure: bool) -> None:
    """Tell the browser to drop the session cookie."""
    response.delete_cookie(COOKIE, path="/", secure=secure, httponly=True, samesite="strict")


@dataclass(frozen=True, slots=True)
class SessionCaller(Caller):
    """The caller of a single-sign-on session: an admin without a key, named in the audit log as ``person``
    (``sso:<email or subject>``)."""

    person: str = "sso"

    @property
    def name(self) -> str:
        """How the audit log names the caller."""
        return self.person

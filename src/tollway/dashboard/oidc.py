"""OpenID Connect single sign-on for the dashboard: its settings and its pure parts (no I/O here; the HTTP calls
are in ``tollway.dashboard.oidc_client``).

The flow (OpenID Connect Core 1.0 §3.1, authorization code, with PKCE per RFC 7636):

1. ``/ui/sso/login`` makes a ``PendingLogin`` (random ``state``, ``nonce`` and PKCE verifier), keeps it in a short
   HMAC-signed cookie (``tollway_sso``: HttpOnly, SameSite=Lax so it survives the provider's redirect back, path
   ``/ui/sso``, ten minutes) and redirects the browser to the provider's ``authorization_endpoint``.
2. ``/ui/sso/callback`` checks ``state`` against the cookie, exchanges the code (with the verifier) at the
   ``token_endpoint``, and verifies the ID token (``verify_id_token``): signature by a key of the provider's JWKS with
   an asymmetric algorithm (RS256 by default; ``none`` and HMAC algorithms are never accepted), ``iss``, ``aud`` (and
   ``azp``), ``exp``/``iat``/``nbf`` with a minute of leeway, and the ``nonce``.
3. ``admin_person`` maps the claims to a role: a value of ``role_claim`` (a claim name or a dotted path such as
   ``realm_access.roles``; by default ``roles``, else ``groups``) listed in ``admin_values`` makes an admin (``"*"``
   admits anyone the provider signs in); with ``allowed_domains`` the verified ``email`` must be of one of them.
   Anyone else gets 403. There is no cap on how many people may sign in.

Settings, ``general_settings.ui_sso`` (``os.environ/NAME`` values are resolved by the config loader)::

    ui_sso:
      issuer: https://login.example.com/realms/acme     # its /.well-known/openid-configuration is read
      client_id: tollway
      client_secret: os.environ/TOLLWAY_SSO_SECRET        # omit for a public client (PKCE only)
      scopes: [openid, email, profile]                     # default; "openid" is always sent
      role_claim: roles                                    # default: roles, else groups
      admin_values: [tollway-admin]                        # required
      allowed_domains: [example.com]                       # optional
      redirect_uri: https://gateway.example.com/ui/sso/callback  # default: this gateway's URL as the browser sees it
      algorithms: [RS256]                                  # default
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

__all__ = [
    "ALGORITHMS",
    "PendingLogin",
    "SSOError",
    "SSOSettings",
    "UnknownKeyError",
    "admin_person",
    "authorization_url",
    "check_endpoint",
    "pack_pending",
    "state_secret",
    "unpack_pending",
    "verify_id_token",
]

# Asymmetric algorithms only: with HMAC ("HS256") the client secret would be the signing key, and "none" signs nothing.
ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})
PENDING_SECONDS = 600
LEEWAY_SECONDS = 60
_KEYS = frozenset(
    {
        "issuer",
        "client_id",
        "client_secret",
        "scopes",
        "role_claim",
        "admin_values",
        "allowed_domains",
        "redirect_uri",
        "algorithms",
    }
)
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class SSOError(Exception):
    """Single sign-on failed: ``status`` (401 not signed in, 403 signed in but not allowed, 502 the provider failed)
    and ``code`` name why; the message is safe to show (no token, no secret)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class UnknownKeyError(SSOError):
    """The ID token names a signing key the JWKS at hand does not have (refetch the JWKS once, then fail)."""

    def __init__(self) -> None:
        super().__init__(401, "bad_token", "the ID token is signed with a key the provider does not publish")


def check_endpoint(url: Any, name: str) -> str:
    """``url`` when it is an https URL (or http on loopback, for local providers and tests); ValueError otherwise."""
    if not isinstance(url, str) or not url:
        raise ValueError(f"{name}: expected a URL")
    parts = urlsplit(url)
    loopback = parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK
    if not (parts.scheme == "https" or loopback) or not parts.hostname:
        raise ValueError(f"{name}: expected an https URL (http only on 127.0.0.1 or localhost), got {url!r}")
    return url


def _strings(value: Any, name: str, *, split: bool = False) -> tuple[str, ...]:
    if isinstance(value, str) and split:
        value = value.split()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) and item for item in value):
        raise ValueError(f"{name}: expected a list of non-empty strings")
    return tuple(value)


@dataclass(frozen=True, slots=True)
class SSOSettings:
    """``general_settings.ui_sso`` checked (see the module docstring)."""

    issuer: str
    client_id: str
    admin_values: frozenset[str]
    client_secret: str | None = None
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    role_claim: str | None = None  # None: "roles", else "groups"
    allowed_domains: frozenset[str] = frozenset()
    redirect_uri: str | None = None
    algorithms: tuple[str, ...] = ("RS256",)

    @classmethod
    def parse(cls, value: Any) -> SSOSettings:
        """The settings from the config mapping; ValueError naming the first bad field (``ui_sso.<field>: ...``)."""
        if not isinstance(value, Mapping):
            raise ValueError("ui_sso: expected a mapping")
        unknown = sorted(str(key) for key in value if key not in _KEYS)
        if unknown:
            raise ValueError(f"ui_sso: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
        issuer = check_endpoint(value.get("issuer"), "ui_sso.issuer")
        client_id, secret = value.get("client_id"), value.get("client_secret")
        if not isinstance(client_id, str) or not client_id:
            raise ValueError("ui_sso.client_id: expected a non-empty string")
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise ValueError("ui_sso.client_secret: expected a non-empty string (or leave it out)")
        admins = _strings(value.get("admin_values"), "ui_sso.admin_values")
        if not admins:
            raise ValueError('ui_sso.admin_values: list the role values that make an admin ("*": anyone)')
        scopes = _strings(value.get("scopes", ["openid", "email", "profile"]), "ui_sso.scopes", split=True)
        algorithms = _strings(value.get("algorithms", ["RS256"]), "ui_sso.algorithms")
        if not set(algorithms) <= ALGORITHMS:
            raise ValueError(f"ui_sso.algorithms: only asymmetric ones ({', '.join(sorted(ALGORITHMS))})")
        role_claim = value.get("role_claim")
        if role_claim is not None and (not isinstance(role_claim, str) or not role_claim):
            raise ValueError("ui_sso.role_claim: expected a claim name such as roles or groups")
        redirect = value.get("redirect_uri")
        domains = value.get("allowed_domains")
        domains = () if domains is None else _strings(domains, "ui_sso.allowed_domains")
        return cls(
            issuer=issuer,
            client_id=client_id,
            admin_values=frozenset(admins),
            client_secret=secret,
            scopes=scopes if "openid" in scopes else ("openid", *scopes),
            role_claim=role_claim,
            allowed_domains=frozenset(domain.lower().lstrip("@") for domain in domains),
            redirect_uri=None if redirect is None else check_endpoint(redirect, "ui_sso.redirect_uri"),
            algorithms=algorithms,
        )


# -- the pending login (state cookie) -----------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """A sign-in between the redirect to the provider and its answer."""

    redirect_uri: str
    state: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))  # RFC 7636: 43 to 128 characters
    expires: int = field(default_factory=lambda: int(time.time()) + PENDING_SECONDS)

    @property
    def challenge(self) -> str:
        """The PKCE S256 code challenge of the verifier."""
        return _b64(hashlib.sha256(self.verifier.encode("ascii")).digest())


def state_secret(master_key: str | None) -> bytes:
    """The key that signs pending-login cookies: derived from the master key, so every instance of a gateway agrees
    (a random one per process in dev mode, where there is no master key)."""
    if master_key is None:
        return secrets.token_bytes(32)
    return hashlib.sha256(b"tollway dashboard sso state\x00" + master_key.encode("utf-8")).digest()


def pack_pending(pending: PendingLogin, secret: bytes) -> str:
    """The cookie value: the login as URL-safe base64 JSON, a dot, its HMAC-SHA256."""
    payload = _b64(
        orjson.dumps(
            {
                "r": pending.redirect_uri,
                "s": pending.state,
                "n": pending.nonce,
                "v": pending.verifier,
                "e": pending.expires,
            }
        )
    )
    return f"{payload}.{_b64(hmac.new(secret, payload.encode('ascii'), hashlib.sha256).digest())}"


def unpack_pending(value: str | None, secret: bytes, now: float) -> PendingLogin | None:
    """The login a cookie holds, or None when it is missing, forged, malformed or expired."""
    if not value or len(value) > 4096 or value.count(".") != 1:
        return None
    payload, signature = value.split(".")
    expected = _b64(hmac.new(secret, payload.encode("ascii", "replace"), hashlib.sha256).digest())
    if not hmac.compare_digest(signature.encode("ascii", "replace"), expected.encode("ascii")):
        return None
    try:
        data = orjson.loads(_unb64(payload))
        pending = PendingLogin(
            redirect_uri=str(data["r"]),
            state=str(data["s"]),
            nonce=str(data["n"]),
            verifier=str(data["v"]),
            expires=int(data["e"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
    return pending if now < pending.expires else None


def authorization_url(endpoint: str, settings: SSOSettings, pending: PendingLogin) -> str:
    """Where to send the browser: the provider's authorization endpoint with the request's parameters."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.client_id,
            "redirect_uri": pending.redirect_uri,
            "scope": " ".join(settings.scopes),
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": pending.challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


# -- the ID token -------------------------------------------------------------------------------------------------


def _signing_key(jwks: Mapping[str, Any], kid: Any, algorithm: str) -> Any:
    """The public key of ``kid`` in the JWKS (the only signing key when the token names none)."""
    import jwt

    keys = [key for key in jwks.get("keys", ()) if isinstance(key, Mapping) and key.get("use", "sig") == "sig"]
    matching = [key for key in keys if key.get("kid") == kid] if kid is not None else keys
    if len(matching) != 1:
        raise UnknownKeyError()
    try:
        return jwt.PyJWK(dict(matching[0]), algorithm=algorithm).key
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
        raise SSOError(401, "bad_token", "the provider's signing key is unusable for the ID token") from None


def verify_id_token(
    token: str,
    jwks: Mapping[str, Any],
    settings: SSOSettings,
    nonce: str,
) -> dict[str, Any]:
    """The ID token's claims once every check of the module docstring passed; SSOError (401 ``bad_token``) naming
    the first that failed, ``UnknownKeyError`` when its key is not in ``jwks``."""
    import jwt

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise SSOError(401, "bad_token", "the provider's ID token is not a signed JWT") from None
    algorithm = header.get("alg")
    if algorithm not in settings.algorithms:
        raise SSOError(401, "bad_token", f"the ID token's algorithm {str(algorithm)[:16]!r} is not accepted")
    key = _signing_key(jwks, header.get("kid"), algorithm)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=list(settings.algorithms),
            audience=settings.client_id,
            issuer=settings.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise SSOError(401, "bad_token", "the ID token has expired") from None
    except jwt.InvalidAudienceError:
        raise SSOError(401, "bad_token", "the ID token is for another client (aud)") from None
    except jwt.InvalidIssuerError:
        raise SSOError(401, "bad_token", "the ID token is from another issuer (iss)") from None
    except jwt.PyJWTError as error:
        raise SSOError(401, "bad_token", f"the ID token is invalid ({type(error).__name__})") from None
    audience = claims.get("aud")
    several = isinstance(audience, list) and len(audience) > 1
    if (several or "azp" in claims) and claims.get("azp") != settings.client_id:
        raise SSOError(401, "bad_token", "the ID token was issued to another client (azp)")
    if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"], nonce):
        raise SSOError(401, "bad_token", "the ID token's nonce does not match this sign-in")
    return claims


# -- who the person is ----------------------------------------------------------------------------------------------


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _values(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, Sequence):
        return {item for item in value if isinstance(item, str)}
    return set()


def admin_person(claims: Mapping[str, Any], settings: SSOSettings) -> str:
    """Who signed in (their email, else username, else subject) when the claims make them an admin; SSOError 403
    ``domain_not_allowed`` or ``not_admin`` otherwise."""
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    username = claims.get("preferred_username") if isinstance(claims.get("preferred_username"), str) else None
    person = email or username or str(claims.get("sub"))
    if settings.allowed_domains:
        domain = email.rpartition("@")[2].lower() if email and "@" in email else None
        if domain is None or claims.get("email_verified") is False or domain not in settings.allowed_domains:
            raise SSOError(403, "domain_not_allowed", f"{person} is not in a domain allowed to sign in")
    if settings.role_claim is not None:
        values = _values(_claim(claims, settings.role_claim))
    else:
        values = _values(claims.get("roles")) or _values(claims.get("groups"))
    if "*" not in settings.admin_values and not values & settings.admin_values:
        raise SSOError(403, "not_admin", f"{person} signed in, but is not a Tollway admin")
    return person

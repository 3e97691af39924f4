"""AWS Signature Version 4 for one request (pure: credentials, region, service and time come in as arguments).

Algorithm (../shared/PROVIDERS.md §8.2; AWS "Create a signed AWS API request"; botocore ``auth.SigV4Auth``):

* canonical request = ``METHOD \\n CanonicalURI \\n CanonicalQuery \\n CanonicalHeaders \\n\\n SignedHeaders \\n
  hex(sha256(body))``. For every service but S3 the CanonicalURI is the request path URI-encoded *again*
  (a model id sent as ``...v1%3A0`` is signed as ``...v1%253A0``), which is what botocore does and what
  Bedrock verifies.
* every header is signed except the hop-by-hop and tracing ones botocore leaves out (``SIGNED_HEADERS_SKIPPED``),
  with ``host`` added from the URL (default ports dropped); values are trimmed and inner whitespace collapsed.
* ``x-amz-date`` (and ``x-amz-security-token`` for temporary credentials) are set *before* signing, so they are
  signed too. ``x-amz-content-sha256`` is not sent: botocore adds it only for S3 (``S3SigV4Auth``), and
  Bedrock does not ask for it.
* key = HMAC chain over ``"AWS4" + secret``, date, region, service, ``"aws4_request"``.
"""

from __future__ import annotations

import hashlib
import hmac
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

__all__ = ["SIGNED_HEADERS_SKIPPED", "AwsCredentials", "sign_request"]

ALGORITHM = "AWS4-HMAC-SHA256"
# botocore auth.SIGNED_HEADERS_BLACKLIST: headers proxies and clients may change or add in flight.
SIGNED_HEADERS_SKIPPED = frozenset(
    {
        "authorization",
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    """An access key pair, with the session token of temporary (STS) credentials."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never print the secret
        return f"AwsCredentials(access_key_id={self.access_key_id!r}, secret_access_key='***')"


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    credentials: AwsCredentials,
    region: str,
    service: str,
    now: datetime,
) -> dict[str, str]:
    """``headers`` (names lower-cased) plus ``x-amz-date``, ``x-amz-security-token`` and ``authorization``."""
    signed = {name.lower(): value for name, value in headers.items() if name.lower() != "authorization"}
    moment = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
    signed["x-amz-date"] = amz_date
    signed.pop("x-amz-security-token", None)
    if credentials.session_token:
        signed["x-amz-security-token"] = credentials.session_token
    parts = urlsplit(url)
    to_sign = {name: value for name, value in signed.items() if name not in SIGNED_HEADERS_SKIPPED}
    to_sign.setdefault("host", _host(parts.scheme, parts.hostname or "", parts.port))
    names = sorted(to_sign)
    canonical_headers = "".join(f"{name}:{' '.join(to_sign[name].split())}\n" for name in names)
    signed_headers = ";".join(names)
    canonical_request = "\n".join(
        [
            method.upper(),
            _canonical_path(parts.path),
            _canonical_query(parts.query),
            canonical_headers,
            signed_headers,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()]
    )
    key = _signing_key(credentials.secret_access_key, amz_date[:8], region, service)
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    signed["authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return signed


def _host(scheme: str, hostname: str, port: int | None) -> str:
    if port is None or _DEFAULT_PORTS.get(scheme) == port:
        return hostname.lower()
    return f"{hostname.lower()}:{port}"


def _canonical_path(path: str) -> str:
    # botocore utils.normalize_url_path: remove dot segments, keep a trailing slash; then encode again.
    if not path:
        return "/"
    normalized = posixpath.normpath(path)
    if path.endswith("/") and normalized != "/":
        normalized += "/"
    if normalized.startswith("//"):
        normalized = "/" + normalized.lstrip("/")
    return quote(normalized, safe="/~")


def _canonical_query(query: str) -> str:
    # The URL's query is already encoded; botocore sorts its pairs as they are.
    if not query:
        return ""
    pairs = sorted(pair.partition("=")[::2] for pair in query.split("&"))
    return "&".join(f"{key}={value}" for key, value in pairs)


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key

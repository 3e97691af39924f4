"""Webhook signatures of alert deliveries, Stripe-style. Pure.

Every webhook request carries ``x-tollway-signature: t=<unix seconds>,v1=<hex>``, where ``<hex>`` is the
HMAC-SHA256, keyed with the channel's secret, of the bytes ``"<t>." + body`` (the exact request body). A receiver
recomputes it over the body it received, compares in constant time, and refuses a ``t`` too far from its clock
(``verify``'s ``tolerance``, 300 s by default) so a captured request cannot be replayed later. Retries of one alert
are signed afresh (new ``t``) and carry the same ``x-tollway-event-id``: a receiver deduplicates on that id.

Receiving in Python::

    from tollway.economics.alerts_signing import verify
    verify(secret, request_body_bytes, request.headers["x-tollway-signature"])  # raises SignatureError
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["SIGNATURE_HEADER", "SignatureError", "sign", "signature_header", "verify"]

SIGNATURE_HEADER = "x-tollway-signature"


class SignatureError(ValueError):
    """A signature header is missing, malformed, stale, or does not match the body."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>." + body`` keyed with ``secret``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``x-tollway-signature`` value for ``body`` (now, unless ``timestamp`` is given)."""
    moment = int(time.time()) if timestamp is None else timestamp
    return f"t={moment},v1={sign(secret, moment, body)}"


def verify(secret: str, body: bytes, header: str | None, *, tolerance: float = 300, now: float | None = None) -> int:
    """Check a signature header against ``body``; the signed timestamp, or ``SignatureError`` saying why not."""
    if not header:
        raise SignatureError("no signature header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    stamps = parts.get("t", [])
    if len(stamps) != 1 or not stamps[0].isdigit():
        raise SignatureError("the header has no timestamp t=<unix seconds>")
    timestamp = int(stamps[0])
    clock = time.time() if now is None else now
    if abs(clock - timestamp) > tolerance:
        raise SignatureError(f"the signature is {abs(clock - timestamp):.0f} s old (tolerance {tolerance:.0f} s)")
    expected = sign(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise SignatureError("no v1 signature matches the body")
    return timestamp

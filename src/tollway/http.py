"""Plain HTTP values passed between the pure adapters and the transport, and header helpers.

Adapters build an ``HttpRequest`` and read status, headers and bytes; they never see a socket. Header names in
``headers`` mappings handed to adapters are lower-case.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["HttpRequest", "HttpResponse", "lower_headers", "parse_retry_after"]


# Not frozen, read-only by convention (hashable by value as before): one is built on every request, and a frozen
# dataclass's __init__ sets each field through object.__setattr__ (~1.3k instructions a field, callgrind).
@dataclass(slots=True, unsafe_hash=True)
class HttpRequest:
    """One upstream HTTP request, fully built (URL, headers, body bytes)."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = b""


# Not frozen, read-only by convention (hashable by value as before): one is built on every request, and a frozen
# dataclass's __init__ sets each field through object.__setattr__ (~1.3k instructions a field, callgrind).
@dataclass(slots=True, unsafe_hash=True)
class HttpResponse:
    """A whole (non-streamed) upstream answer. Header names are lower-case."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Copy a header mapping (or an aiohttp multidict) with lower-case names; the last value of a name wins."""
    return {k.lower(): v for k, v in headers.items()}


# Retry-after values above this are ignored (treated as unknown): an upstream asking for an hour is
# better served by a fallback than by a sleeping request.
_MAX_RETRY_AFTER = 3600.0


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date), or None.

    OpenAI and Azure send ``retry-after-ms`` (float milliseconds) beside ``retry-after``; the finer one wins
    (openai-python ``_base_client.py`` does the same). Negative, unparsable or absurd values give None.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000.0
        except ValueError:
            value = -1.0
        if 0 <= value <= _MAX_RETRY_AFTER:
            return value
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        import email.utils  # only for the rare HTTP-date form; keeps first use of the client lighter

        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        value = when.timestamp() - (time.time() if now is None else now)
        value = max(value, 0.0)
    if math.isnan(value) or not 0 <= value <= _MAX_RETRY_AFTER:
        return None
    return value

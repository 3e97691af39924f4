"""HTTP/1.1 requests as bytes, and the pieces of an answer the ``h1`` transport decodes: no I/O here.

``Origin.of(url)`` splits a URL once into where to connect and what to put on the request line; ``encode_request``
writes the request's head and body as one buffer. Header names and values are sent as given (adapters lower-case
theirs), after a check that none holds a line break: a value carrying ``\\r\\n`` would otherwise add a header, or a
second request, of its sender's choosing (header injection). ``Host`` and ``Content-Length`` are always this module's
own. ``decoder_for`` unpacks the ``gzip`` and ``deflate`` bodies the transport asks for (RFC 9110 §8.4.1).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from tollway._version import __version__
from tollway.errors import APIConnectionError

__all__ = ["ACCEPTED_ENCODINGS", "Origin", "decoder_for", "encode_request"]

_USER_AGENT = f"tollway/{__version__}"
# Sent unless the request names its own: the same encodings aiohttp's and reqwest's clients ask for and unpack.
ACCEPTED_ENCODINGS = "gzip, deflate"
_DEFAULT_AGENT = f"user-agent: {_USER_AGENT}\r\n"
_DEFAULT_ENCODINGS = f"accept-encoding: {ACCEPTED_ENCODINGS}\r\n"
# Header names this module writes itself; a request's own (any case) are dropped, never sent twice.
_OWN = frozenset(("host", "content-length", "transfer-encoding", "connection"))
# Characters a request target may carry as they are (RFC 3986 reserved and unreserved, and '%' of an escape): an
# adapter's URL is already encoded (a signed Bedrock path keeps its %3A), only anything else is escaped.
_TARGET_SAFE = "/?[]@!$&'()*+,;=:%-._~"
# Methods whose requests carry no body by design: no Content-Length either when theirs is empty (RFC 9110 §8.6).
_BODILESS = frozenset(("GET", "HEAD", "DELETE", "OPTIONS"))


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a URL's request goes: ``host``/``port`` to connect to, ``tls``, the request ``target`` (path and
    query) and the ``authority`` for the Host header (the port only when it is not the scheme's default)."""

    tls: bool
    host: str
    port: int
    target: str
    authority: str

    @property
    def key(self) -> tuple[bool, str, int]:
        """The pool this URL's connections belong to."""
        return (self.tls, self.host, self.port)

    @classmethod
    def of(cls, url: str) -> Origin:
        """Split ``url``; ``APIConnectionError`` for one that cannot be requested (not http(s), no host, bad port)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise APIConnectionError(f"cannot request {url!r}: {exc}") from None
        scheme, host = parts.scheme.lower(), parts.hostname
        if scheme not in ("http", "https") or not host:
            raise APIConnectionError(f"cannot request {url!r}: only http:// and https:// URLs with a host are")
        tls = scheme == "https"
        shown = f"[{host}]" if ":" in host else host
        authority = shown if port is None or port == (443 if tls else 80) else f"{shown}:{port}"
        target = parts.path or "/"
        if parts.query:
            target = f"{target}?{parts.query}"
        if not target.isascii() or " " in target:
            target = quote(target, safe=_TARGET_SAFE)
        return cls(tls, host, port or (443 if tls else 80), target, authority)


def encode_request(method: str, origin: Origin, headers: Mapping[str, str], body: bytes) -> bytes:
    """The request's bytes: request line, headers, ``Content-Length`` (also 0 on an empty POST, which must say so;
    not on a GET without a body), body.

    ``APIConnectionError`` when a header's name or value holds a line break (nothing is sent then).
    """
    lines = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    low = lines.lower()
    # Rare (and "x-forwarded-host:" matches too): then filter by name. Spelled out: a generator costs more.
    if "host:" in low or "content-length:" in low or "transfer-encoding:" in low or "connection:" in low:
        headers = {name: value for name, value in headers.items() if name.lower() not in _OWN}
        lines = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
        low = lines.lower()
    extra = "" if "user-agent:" in low else _DEFAULT_AGENT
    if "accept-encoding:" not in low:
        extra += _DEFAULT_ENCODINGS
    head = f"{method} {origin.target} HTTP/1.1\r\nhost: {origin.authority}\r\n{lines}{extra}"
    # One CRLF ends each line written above, and none may be anywhere else: a name or value (or the method) with a
    # CR or LF of its own would add lines of its sender's choosing.
    lines_written = len(headers) + 2 + extra.count("\n")
    if head.count("\n") != lines_written or head.count("\r") != lines_written:
        raise APIConnectionError("refused to send a request whose method, header names or values hold line breaks")
    if not body and method in _BODILESS:
        return b"%s\r\n" % head.encode()
    return b"%scontent-length: %d\r\n\r\n%s" % (head.encode(), len(body), body)


def decoder_for(encoding: str | None) -> zlib._Decompress | None:
    """A streaming decompressor for a ``content-encoding`` the transport unpacks, else None (the body is kept as
    it came: an encoding nobody asked for is the caller's to see, in the header)."""
    if encoding is None:
        return None
    encoding = encoding.strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj(32 + zlib.MAX_WBITS)  # zlib-wrapped, as RFC 9110 defines it (or gzip, detected)
    return None

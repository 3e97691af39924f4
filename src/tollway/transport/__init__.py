"""The transport seam: send one ``HttpRequest``, get status, headers and a byte stream back.

A transport has one method, ``send``. Three ship, behind one contract (tests/integration/test_transport_contract.py):
tollway's own HTTP/1.1 client on the event loop (``tollway.transport.h1``, the default: the least CPU per
proxied call, bench/RESULTS.md), pyreqwest's (``tollway.transport.reqwest``, ``TOLLWAY_HTTP_CLIENT=reqwest``)
and aiohttp's (``tollway.transport.aiohttp``, ``TOLLWAY_HTTP_CLIENT=aiohttp``). Tests and the mock provider plug
in their own. Transports raise only ``APIConnectionError`` / ``Timeout`` (the
client maps statuses through the adapter).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from tollway.errors import BadRequestError
from tollway.http import HttpRequest, HttpResponse

__all__ = [
    "HTTP_CLIENTS",
    "HTTP_CLIENT_ENV",
    "Fetch",
    "Timeouts",
    "Transport",
    "TransportResponse",
    "chosen_client",
    "default_transport",
    "http_client",
]

# Environment variable choosing the upstream HTTP client: "h1" (the default), "reqwest" or "aiohttp".
HTTP_CLIENT_ENV = "TOLLWAY_HTTP_CLIENT"
HTTP_CLIENTS = ("h1", "reqwest", "aiohttp")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds allowed to connect, between two reads of the answer, and for the whole call (None = no limit).

    For a stream, ``total`` covers the time to the first byte of the body; after that only ``read`` applies, so
    a long generation is not cut while tokens keep arriving.
    """

    connect: float | None = 10.0
    read: float | None = 600.0
    total: float | None = 600.0

    @classmethod
    def of(cls, timeout: float | Timeouts | None) -> Timeouts:
        """A ``Timeouts`` from a number of seconds (a total, also capping connect and read) or as given."""
        if isinstance(timeout, Timeouts):
            return timeout
        if timeout is None:
            return cls()
        try:
            seconds = float(timeout)
        except (TypeError, ValueError):
            # A caller's value (a gateway client's body): a bad request, not a crash.
            raise BadRequestError("'timeout' must be a number of seconds", param="timeout") from None
        return cls(connect=min(seconds, 10.0), read=seconds, total=seconds)

    def for_whole_answer(self) -> Timeouts:
        """These timeouts, to send a non-streamed call with. When the total (it spans the whole exchange) is no
        longer than the read timeout, no gap between reads can outlast it: then there is no read timeout, which
        aiohttp would re-arm on every packet received."""
        return _for_whole_answer(self)

    def for_stream(self) -> Timeouts:
        """These timeouts, to open a stream with: no total for the transport (the client bounds the wait for the
        first chunk itself; after it a long generation runs as long as chunks keep arriving)."""
        return _for_stream(self)


# Derived once per distinct Timeouts (a client sends nearly all its calls with the same few): dataclasses.replace
# on every request would cost more than the lookup.
@functools.lru_cache(maxsize=64)
def _for_whole_answer(timeouts: Timeouts) -> Timeouts:
    redundant = timeouts.total is not None and (timeouts.read is None or timeouts.total <= timeouts.read)
    return dataclasses.replace(timeouts, read=None) if redundant else timeouts


@functools.lru_cache(maxsize=64)
def _for_stream(timeouts: Timeouts) -> Timeouts:
    return timeouts if timeouts.total is None else dataclasses.replace(timeouts, total=None)


class TransportResponse(Protocol):
    """An answer whose headers have arrived; the body is read or streamed, then the response is closed."""

    status: int
    headers: dict[str, str]

    async def read(self) -> bytes:
        """The whole body (then the connection returns to the pool)."""
        ...

    def iter_bytes(self) -> AsyncIterator[bytes]:
        """The body as it arrives."""
        ...

    async def aclose(self) -> None:
        """Release the connection; an unfinished body closes it instead of returning it to the pool."""
        ...


class Transport(Protocol):
    """Sends requests. Implementations are bound to the event loop they are first used in.

    ``timeouts.total``: ``send`` need not honour it. The client times an answer it reads through ``send`` itself,
    and passes no total when it opens a stream.

    Optionally, ``fetch(request, timeouts) -> HttpResponse`` (``Fetch``): the whole answer of any status in one
    exchange, bounded by ``timeouts.total`` in the transport itself, with ``send``'s errors (a body cut short:
    "closed the connection before the answer was complete"). The client takes non-streamed answers through it when
    a transport has it (h1's, which then keeps the body in one piece; pyreqwest's, where it saves a wait on the
    runtime thread per call).
    """

    async def send(self, request: HttpRequest, timeouts: Timeouts) -> TransportResponse:
        """Send ``request`` and return once the status and headers have arrived."""
        ...

    async def aclose(self) -> None:
        """Close pooled connections."""
        ...


Fetch = Callable[[HttpRequest, Timeouts], Awaitable[HttpResponse]]


def http_client(environ: Mapping[str, str]) -> str:
    """The HTTP client ``environ`` asks for; ValueError for an unknown name (``tollway serve`` checks at start)."""
    choice = (environ.get(HTTP_CLIENT_ENV) or "h1").strip().lower()
    if choice not in HTTP_CLIENTS:
        raise ValueError(f"{HTTP_CLIENT_ENV} must be one of {', '.join(HTTP_CLIENTS)}, not {choice!r}")
    return choice


def chosen_client(environ: Mapping[str, str]) -> str:
    """The HTTP client a client built here will use: what ``environ[TOLLWAY_HTTP_CLIENT]`` names (h1 by default),
    except "reqwest" where pyreqwest cannot be used from here (not installed, or first needed on a thread other than
    the main one: see ``tollway.transport.reqwest.available``), which falls back to "aiohttp"."""
    choice = http_client(environ)
    if choice == "reqwest":
        from tollway.transport.reqwest import available

        return choice if available() else "aiohttp"
    return choice


def default_transport(environ: Mapping[str, str]) -> Callable[[], Transport]:
    """The transport class of ``chosen_client(environ)``. Decided when a client is built, in the caller's thread."""
    choice = chosen_client(environ)
    if choice == "h1":
        from tollway.transport.h1 import H1Transport

        return H1Transport
    if choice == "reqwest":
        from tollway.transport.reqwest import ReqwestTransport

        return ReqwestTransport
    from tollway.transport.aiohttp import AiohttpTransport

    return AiohttpTransport

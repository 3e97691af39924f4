"""aiohttp's transport (``TOLLWAY_HTTP_CLIENT=aiohttp``): one pooled ``aiohttp.ClientSession`` per event loop.

aiohttp was measured at a tenth of httpx's CPU per proxied request (../shared/PERF.md), and at about three times h1's
(``bench/http_clients.py``). It is imported only when the first request is sent, so ``import tollway`` stays cheap.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from tollway.errors import APIConnectionError, Timeout
from tollway.http import HttpRequest, lower_headers
from tollway.transport import Timeouts

if TYPE_CHECKING:
    import aiohttp
    import yarl

__all__ = ["AiohttpTransport"]

# Connections kept per upstream host; enough for a busy gateway worker, bounded so a stuck upstream cannot take
# every file descriptor.
_POOL_LIMIT_PER_HOST = 256
# Distinct Timeouts values whose aiohttp.ClientTimeout is kept (see AiohttpTransport.send).
_MAX_CACHED_TIMEOUTS = 64
# Distinct request URLs whose parsed yarl.URL is kept: a gateway calls the same few endpoints over and over.
_MAX_CACHED_URLS = 256


def _connection_error(exc: BaseException, request: HttpRequest) -> APIConnectionError:
    import aiohttp

    host = request.url.split("/")[2] if "://" in request.url else request.url
    if isinstance(exc, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
        return Timeout(f"no answer from {host} in time ({type(exc).__name__})")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return APIConnectionError(f"{host} closed the connection before the answer was complete: {exc}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return APIConnectionError(f"cannot connect to {host}: {exc.os_error or exc}")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return APIConnectionError(f"{host} closed the connection without answering")
    return APIConnectionError(f"connection to {host} failed: {type(exc).__name__}: {exc}")


class _Response:
    __slots__ = ("_request", "_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse, request: HttpRequest) -> None:
        self._response = response
        self._request = request
        self.status = response.status
        self.headers = lower_headers(response.headers)

    async def read(self) -> bytes:
        import aiohttp

        try:
            return await self._response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _connection_error(exc, self._request) from exc

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        import aiohttp

        try:
            async for data in self._response.content.iter_any():
                yield data
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _connection_error(exc, self._request) from exc

    async def aclose(self) -> None:
        # release() returns a fully read connection to the pool; close() drops one whose body was not read to the
        # end (a cancelled stream), so the upstream stops generating tokens nobody will read.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class AiohttpTransport:
    """Sends requests through a pooled aiohttp session created on first use in the running loop."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        # One aiohttp.ClientTimeout per distinct Timeouts: building one (an attrs class) cost ~1.2 µs on every
        # request, and a client sends nearly all of its calls with the same few Timeouts values.
        self._timeouts: dict[Timeouts, aiohttp.ClientTimeout] = {}
        self._urls: dict[str, yarl.URL] = {}

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=0, limit_per_host=_POOL_LIMIT_PER_HOST, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector,
            # No cookie store: a cookie one upstream answer sets must not ride along on the next caller's request
            # (the calls of every tenant of the gateway share this session).
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None),
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
        )
        return self._session

    async def send(self, request: HttpRequest, timeouts: Timeouts) -> _Response:
        """Send ``request``; return when status and headers are in. Failures raise ``APIConnectionError``."""
        import aiohttp
        import yarl

        session = self._session or self._open()
        timeout = self._timeouts.get(timeouts)
        if timeout is None:
            if len(self._timeouts) >= _MAX_CACHED_TIMEOUTS:
                self._timeouts.clear()  # callers varying timeouts per call: keep the cache bounded
            # total is enforced by the client (it spans the header phase, and the body for non-streamed calls).
            timeout = aiohttp.ClientTimeout(total=None, connect=timeouts.connect, sock_read=timeouts.read)
            self._timeouts[timeouts] = timeout
        url = self._urls.get(request.url)
        if url is None:
            if len(self._urls) >= _MAX_CACHED_URLS:
                self._urls.clear()  # URLs varying per call (e.g. signed query strings): keep the cache bounded
            # encoded=True: the adapter built the URL exactly (a signed Bedrock path keeps %3A); yarl must not
            # re-quote it, or the request would go to a different path than the one signed.
            url = self._urls[request.url] = yarl.URL(request.url, encoded=True)
        try:
            # The headers go as they are: aiohttp copies them into its own multidict, so no copy here.
            # allow_redirects=False: a 3xx is the upstream's answer; following it would let an upstream send the
            # call, and its credentials, to a host the configuration never named.
            response = await session.request(
                request.method, url, data=request.body, headers=request.headers, timeout=timeout, allow_redirects=False
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _connection_error(exc, request) from exc
        return _Response(response, request)

    async def aclose(self) -> None:
        """Close the session and its pooled connections."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

"""The default transport: tollway's own HTTP/1.1 client on the running event loop, pooled per origin.

Why not a library's client. A pass-through gateway spends most of its time in its upstream client
(../shared/PERF.md), and both libraries cost more than the HTTP they carry: aiohttp's client is many Python layers
per call; pyreqwest runs reqwest on a thread of its own, so every call hands its request to that thread and its
answer back, waking each side through the kernel (4.6 context switches and about 20 µs more system time per proxied
call on one core, ``bench/RESULTS.md``). This client is the part of HTTP/1.1 an API client needs and nothing more,
on the loop's own thread: requests written in one ``write`` (``h1_wire``), answers parsed by httptools' llhttp
(``h1_connection``), connections kept alive and reused most-recent first.

Behaviour is that of the other transports (tests/integration/test_transport_contract.py runs all three): no proxy
from the environment, no cookies, ``gzip``/``deflate`` asked for and unpacked, redirects answered not followed,
TLS verified against the system's CAs (``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured, as OpenSSL reads them), an
unfinished answer closes its connection instead of returning it to the pool. A request that finds its reused
connection closed by the server before any byte of an answer (the server's idle timeout racing the request) is sent
once more on a new connection: the server never answered it. At most ``_MAX_CONNECTIONS`` connections per origin;
callers beyond that wait for one to be free, within the call's total timeout.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import AsyncIterator
from typing import Any

from tollway.errors import APIConnectionError, Timeout
from tollway.http import HttpRequest, HttpResponse
from tollway.transport import Timeouts
from tollway.transport.h1_connection import Connection
from tollway.transport.h1_wire import Origin, encode_request
from tollway.transport.tick_writes import TickWrites

__all__ = ["H1Transport"]

# Connections per origin, open at once (as reqwest's transport): a stuck upstream cannot take every descriptor.
_MAX_CONNECTIONS = 1024
# Idle connections kept per origin, and for how long one is trusted after its last answer (hyper's default
# pool_idle_timeout is 90 s; servers often close sooner, which the pool sees as the connection closing).
_MAX_IDLE = 256
_IDLE_SECONDS = 60.0
# Distinct URLs whose parsed Origin is kept: a gateway calls the same few endpoints over and over.
_MAX_CACHED_URLS = 256


class _Pool:
    """The connections of one origin: idle ones (most recently used last), how many are open, who waits."""

    __slots__ = ("closed", "idle", "open", "waiters")

    def __init__(self) -> None:
        self.idle: list[Connection] = []
        self.open = 0
        self.waiters: collections.deque[asyncio.Future[Connection | None]] = collections.deque()
        self.closed = False

    def release(self, connection: Connection) -> None:
        """An answer is complete: the connection goes to a waiting caller, or to the idle list."""
        if self.closed:
            connection.abort()
            return
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        if len(self.idle) >= _MAX_IDLE:
            connection.abort()
        else:
            self.idle.append(connection)

    def forget(self, connection: Connection) -> None:
        """The connection closed: one fewer open, and a waiting caller may open another."""
        if connection in self.idle:
            self.idle.remove(connection)
        self.forget_unopened()

    def forget_unopened(self) -> None:
        """A connection counted as open never opened (or closed): a waiting caller may open another."""
        self.open -= 1
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class _Response:
    """An answer whose headers are in; its body is read from the connection."""

    __slots__ = ("_connection", "headers", "status")

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.status = connection.status
        self.headers = connection.headers

    async def read(self) -> bytes:
        chunks = [chunk async for chunk in self.iter_bytes()]
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        next_chunk = self._connection.next_chunk
        while (chunk := await next_chunk()) is not None:
            yield chunk

    async def aclose(self) -> None:
        self._connection.finish()


class H1Transport:
    """Sends requests over pooled HTTP/1.1 connections of the event loop it is first used in."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pools: dict[tuple[bool, str, int], _Pool] = {}
        self._origins: dict[str, Origin] = {}
        self._tls: ssl.SSLContext | None = None
        self._closed = False
        self._ticks = TickWrites()  # the requests of one loop turn leave together (tick_writes)

    async def fetch(self, request: HttpRequest, timeouts: Timeouts) -> HttpResponse:
        """The whole answer, whatever its status, within ``timeouts.total`` (connecting included)."""
        response: HttpResponse = await self._exchange(request, timeouts, whole=True)
        return response

    async def send(self, request: HttpRequest, timeouts: Timeouts) -> _Response:
        """Send ``request``; return when status and headers are in. Failures raise ``APIConnectionError``."""
        connection: Connection = await self._exchange(request, timeouts, whole=False)
        return _Response(connection)

    async def _exchange(self, request: HttpRequest, timeouts: Timeouts, *, whole: bool) -> Any:
        origin = self._origins.get(request.url) or self._origin(request.url)
        payload = encode_request(request.method, origin, request.headers, request.body)
        loop = self._loop or self._bind()
        started = loop.time()
        total = timeouts.total
        retried = False
        deadline = None if total is None else started + total
        while True:
            connection = await self._connection(origin, timeouts, deadline)
            left = None if total is None else max(total - (loop.time() - started), 0.0)
            waiter = connection.start(
                payload, whole=whole, total=left, read=timeouts.read, head_only=request.method == "HEAD"
            )
            try:
                return await waiter
            except Timeout:
                raise
            except APIConnectionError:
                if retried or connection.uses < 2 or connection.received:
                    raise
                retried = True  # a reused connection the server had closed: it never saw this request
            except BaseException:  # cancelled: the answer will not be read, so the connection cannot be reused
                connection.abort()
                raise

    def _bind(self) -> asyncio.AbstractEventLoop:
        self._loop = asyncio.get_running_loop()
        return self._loop

    def _origin(self, url: str) -> Origin:
        origin = Origin.of(url)
        if len(self._origins) >= _MAX_CACHED_URLS:
            self._origins.clear()  # URLs varying per call (signed query strings): keep the cache bounded
        self._origins[url] = origin
        return origin

    async def _connection(self, origin: Origin, timeouts: Timeouts, deadline: float | None = None) -> Connection:
        """An idle connection to ``origin``, else a new one, else (at the limit) the next one freed before the
        ``deadline`` (loop time)."""
        if self._closed:
            raise APIConnectionError("the transport is closed")
        pool = self._pools.get(origin.key)
        if pool is None:
            pool = self._pools[origin.key] = _Pool()
        idle = pool.idle
        while idle:
            connection = idle.pop()
            assert connection.transport is not None
            if connection.closed or connection.transport.is_closing():
                continue
            if self._loop is not None and self._loop.time() - connection.idle_since > _IDLE_SECONDS:
                connection.abort()
                continue
            return connection
        if pool.open >= _MAX_CONNECTIONS:
            try:
                async with asyncio.timeout_at(deadline):
                    freed = await self._freed(pool)
            except TimeoutError:
                raise Timeout(f"no connection to {origin.authority} was free in time") from None
            if freed is not None:
                return freed
        return await self._connect(pool, origin, timeouts)

    @staticmethod
    async def _freed(pool: _Pool) -> Connection | None:
        """The next connection released to a caller waiting at the limit, or None when one closed (a caller may
        open another)."""
        while pool.open >= _MAX_CONNECTIONS:
            waiter: asyncio.Future[Connection | None] = asyncio.get_running_loop().create_future()
            pool.waiters.append(waiter)
            try:
                freed = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and (handed := waiter.result()) is not None:
                    pool.release(handed)  # handed over just as this caller was cancelled: to the next one
                raise
            if freed is not None:
                return freed
        return None

    async def _connect(self, pool: _Pool, origin: Origin, timeouts: Timeouts) -> Connection:
        loop = self._loop or self._bind()
        host = origin.authority
        pool.open += 1
        try:
            async with asyncio.timeout(timeouts.connect):
                _, connection = await loop.create_connection(
                    lambda: Connection(loop, host, pool, self._ticks),
                    origin.host,
                    origin.port,
                    ssl=self._tls_context() if origin.tls else None,
                    server_hostname=origin.host if origin.tls else None,
                )
        except TimeoutError:
            pool.forget_unopened()
            raise Timeout(f"cannot connect to {host} in time") from None
        except ssl.SSLError as exc:
            pool.forget_unopened()
            raise APIConnectionError(f"cannot connect to {host}: {exc}") from exc
        except OSError as exc:
            pool.forget_unopened()
            raise APIConnectionError(f"cannot connect to {host}: {exc.strerror or exc}") from exc
        except BaseException:
            pool.forget_unopened()
            raise
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            # The system's CAs, or those SSL_CERT_FILE / SSL_CERT_DIR name (read by OpenSSL when this is made).
            context = ssl.create_default_context()
            context.set_alpn_protocols(["http/1.1"])
            self._tls = context
        return self._tls

    async def aclose(self) -> None:
        """Close every idle connection; busy ones close when their answer is done."""
        self._closed = True
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.closed = True
            idle, pool.idle = pool.idle, []
            for connection in idle:
                connection.abort()

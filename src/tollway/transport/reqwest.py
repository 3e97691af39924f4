"""pyreqwest's transport (Python bindings of Rust's ``reqwest``/``hyper``), pooled per timeout setting:
``TOLLWAY_HTTP_CLIENT=reqwest`` with the ``reqwest`` extra installed.

It was the default until the h1 transport: it costs less CPU per call than aiohttp's client, but more than h1,
because every call crosses to reqwest's runtime thread and back (``bench/http_clients.py``, bench/RESULTS.md).
HTTP parsing, pooling, TLS and decompression run in Rust; this module only maps tollway's ``HttpRequest``/``Timeouts``
onto it and its errors onto ``APIConnectionError``/``Timeout``.

Behaviour kept identical to the other transports (all pass tests/integration/test_transport_contract.py): no proxy
from the environment, no cookie store, bodies decompressed, redirects not followed (an upstream cannot send a
request, or its credentials, elsewhere), a response closed before its body ended drops its connection instead of
returning it to the pool. reqwest sets connect and read timeouts per client, not per request, so there is one client
per distinct (connect, read) pair; a gateway uses one or two.
"""

from __future__ import annotations

import atexit
import functools
import sys
import threading
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from tollway._version import __version__
from tollway.errors import APIConnectionError, Timeout
from tollway.http import HttpRequest, HttpResponse
from tollway.transport import Timeouts

if TYPE_CHECKING:
    from pyreqwest.client import Client
    from pyreqwest.request import StreamRequest
    from pyreqwest.response import Response

__all__ = ["ReqwestTransport", "available"]

# Clients (each with its pool) kept per transport: one per distinct (connect, read) timeout pair.
_MAX_CLIENTS = 8
# In-flight requests per client; bounded so a stuck upstream cannot take every file descriptor (as aiohttp's pool).
_MAX_CONNECTIONS = 1024
_USER_AGENT = f"tollway/{__version__}"
# How long the interpreter waits at exit, GIL released, for pyreqwest's runtime thread to finish its calls into Python.
_EXIT_SETTLE_SECONDS = 0.05


def available() -> bool:
    """Whether pyreqwest can be used: installed, and imported (now or before) on the main thread.

    pyreqwest 0.15 imported on a thread that later ends crashes the process (SIGSEGV) the next time a client is
    built: the SDK's sync API runs its event loop on such a thread, and ends it on ``Client.close()``
    (tests/integration/test_transport_contract.py::test_clients_on_loops_that_come_and_go). So it is imported only
    from the main thread, which lives as long as the process; a client first built elsewhere uses aiohttp.
    """
    if "pyreqwest.client" not in sys.modules and threading.current_thread() is not threading.main_thread():
        return False
    try:
        import pyreqwest.client
        import pyreqwest.exceptions  # noqa: F401
    except ImportError:
        return False
    return True


def _host(request: HttpRequest) -> str:
    return request.url.split("/")[2] if "://" in request.url else request.url


def _causes(exc: BaseException) -> list[str]:
    """reqwest's chain of causes, outermost first (pyreqwest puts it in ``details``)."""
    details = getattr(exc, "details", None)
    causes = details.get("causes") if isinstance(details, dict) else None
    return [str(cause.get("message", "")) for cause in causes or () if isinstance(cause, dict)]


def _connection_error(exc: BaseException, request: HttpRequest, *, body: bool) -> APIConnectionError:
    """The typed error for a failure of pyreqwest (the same messages as the aiohttp transport's)."""
    from pyreqwest import exceptions as errors

    host = _host(request)
    if isinstance(exc, errors.RequestTimeoutError | TimeoutError):
        return Timeout(f"no answer from {host} in time ({type(exc).__name__})")
    causes = _causes(exc)
    reason = causes[-1] if causes else str(exc)
    # hyper's client error kinds: "Connect" (no connection was made), "SendRequest" (it closed before answering).
    if "client error (Connect)" in causes:
        return APIConnectionError(f"cannot connect to {host}: {reason}")
    if body:
        return APIConnectionError(f"{host} closed the connection before the answer was complete: {reason}")
    if isinstance(exc, errors.RequestError):
        return APIConnectionError(f"{host} closed the connection without answering ({reason})")
    return APIConnectionError(f"connection to {host} failed: {type(exc).__name__}: {reason}")


def _in_body(exc: BaseException) -> bool:
    """Whether a failure of a whole-answer request came after the headers, while the body was read (a truncated
    answer raises ``BodyDecodeError``, "error reading a body from connection" among its causes)."""
    from pyreqwest import exceptions as errors

    return isinstance(exc, errors.DecodeError) or any("body" in cause for cause in _causes(exc))


class _Response:
    __slots__ = ("_request", "_response", "_sent", "headers", "status")

    def __init__(self, sent: StreamRequest, response: Response, request: HttpRequest) -> None:
        self._sent = sent
        self._response = response
        self._request = request
        self.status = response.status
        # hyper gives header names in lower case; the last value of a repeated name wins, as in lower_headers.
        self.headers = dict(response.headers.items())

    async def read(self) -> bytes:
        from pyreqwest.exceptions import PyreqwestError

        try:
            return bytes(await self._response.bytes())
        except (PyreqwestError, TimeoutError) as exc:
            raise _connection_error(exc, self._request, body=True) from exc

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        from pyreqwest.exceptions import PyreqwestError

        reader = self._response.body_reader
        try:
            while (chunk := await reader.read_chunk()) is not None:
                yield bytes(chunk)
        except (PyreqwestError, TimeoutError) as exc:
            raise _connection_error(exc, self._request, body=True) from exc

    async def aclose(self) -> None:
        # Leaving the request's context drops the response: a body read to its end leaves the connection in the
        # pool; an unfinished one (a cancelled stream) closes it, so the upstream stops generating tokens.
        await self._sent.__aexit__(None, None, None)


class ReqwestTransport:
    """Sends requests through pyreqwest clients created on first use in the running loop."""

    def __init__(self) -> None:
        self._clients: dict[tuple[float | None, float | None], Client] = {}

    def _client(self, timeouts: Timeouts) -> Client:
        key = (timeouts.connect, timeouts.read)
        client = self._clients.get(key)
        if client is None:
            if len(self._clients) >= _MAX_CLIENTS:
                # Callers varying timeouts per call: drop the oldest client (its in-flight requests finish).
                self._clients.pop(next(iter(self._clients)))
            client = self._clients[key] = _build(timeouts)
        return client

    async def send(self, request: HttpRequest, timeouts: Timeouts) -> _Response:
        """Send ``request``; return when status and headers are in. Failures raise ``APIConnectionError``."""
        from pyreqwest.exceptions import PyreqwestError

        # A buffer limit of 0: the response is returned as soon as its headers are in (the default, 64 KiB, would
        # hold a stream back until that much of it had arrived); the body is then read in whatever pieces arrive.
        sent = self._builder(request, timeouts).streamed_read_buffer_limit(0).build_streamed()
        try:
            response = await sent.__aenter__()
        except (PyreqwestError, TimeoutError) as exc:
            raise _connection_error(exc, request, body=False) from exc
        return _Response(sent, response, request)

    async def fetch(self, request: HttpRequest, timeouts: Timeouts) -> HttpResponse:
        """The whole answer, whatever its status, in one exchange with the runtime thread.

        ``send`` then ``read`` wait twice on reqwest's thread (headers, then body), and each wait is a round of
        GIL hand-overs, thread-state set-up and event-loop wake-ups; here reqwest reads the body before answering,
        once. Measured against the fake upstream with 32 calls in flight: 13.7 system calls per call instead of
        20.3 (strace -c), 4-6 µs less CPU per call with 16-32 in flight (bench/http_clients.py, bench/RESULTS.md).
        """
        from pyreqwest.exceptions import PyreqwestError

        try:
            response = await self._builder(request, timeouts).build().send()
            body = bytes(await response.bytes())
        except (PyreqwestError, TimeoutError) as exc:
            raise _connection_error(exc, request, body=_in_body(exc)) from exc
        return HttpResponse(response.status, dict(response.headers.items()), body)

    def _builder(self, request: HttpRequest, timeouts: Timeouts) -> Any:
        builder = self._client(timeouts).request(request.method, request.url).headers(request.headers)
        if request.body is not None:
            builder = builder.body_bytes(request.body)
        if timeouts.total is not None:
            builder = builder.timeout(_duration(timeouts.total))
        return builder

    async def aclose(self) -> None:
        """Close every client and its pooled connections."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()


@functools.lru_cache(maxsize=64)
def _duration(seconds: float) -> timedelta:
    """``seconds`` as reqwest takes it (a total is set on every request, nearly always the same few values)."""
    return timedelta(seconds=seconds)


@functools.cache
def _settle_at_exit() -> None:
    """Register, once per process, a short wait at interpreter exit (see ``_settle``)."""
    atexit.register(_settle)


def _settle() -> None:
    """Let pyreqwest's runtime thread finish what it still does with Python objects before the interpreter ends.

    That thread (tokio) takes the GIL to complete futures and to drop the Python objects it held, also just after
    the clients are closed. A thread that asks for the GIL once ``Py_FinalizeEx`` has begun is ended by CPython
    mid-call, and the process aborts ("Fatal Python error: PyGILState_Release: thread state ... must be current",
    exit code -6): about one process in sixteen measured here, a script that made one call and closed its client
    (tests/integration/test_transport_contract.py::test_processes_that_used_reqwest_exit_cleanly). pyreqwest has no
    runtime shutdown to call (other PyO3 libraries fixed the same race by shutting their runtime down at exit,
    e.g. lancedb/lancedb#4175); atexit functions run before finalization begins, so sleeping there, GIL released,
    gives the thread the time it needs: 0 aborts in 80 such runs with 20 ms, against 5 in 80 without.
    """
    time.sleep(_EXIT_SETTLE_SECONDS)


def _build(timeouts: Timeouts) -> Client:
    from pyreqwest.client import ClientBuilder

    _settle_at_exit()
    builder: Any = (
        ClientBuilder()
        .no_proxy()
        .follow_redirects(False)
        .default_cookie_store(False)
        .user_agent(_USER_AGENT)
        .max_connections(_MAX_CONNECTIONS)
    )
    if timeouts.connect is not None:
        builder = builder.connect_timeout(_duration(timeouts.connect))
    if timeouts.read is not None:
        builder = builder.read_timeout(_duration(timeouts.read))
    client: Client = builder.build()
    return client

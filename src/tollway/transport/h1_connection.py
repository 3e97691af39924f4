"""One HTTP/1.1 connection of the ``h1`` transport: an asyncio protocol that sends a request and parses its answer.

The answer is parsed by httptools (the bindings of Node's llhttp that uvicorn also uses) as bytes arrive, on the
event loop's own thread: no second thread to hand the answer over from, which is what a pass-through call otherwise
spends most of its system time on (``bench/RESULTS.md``). One exchange at a time per connection (no pipelining).

An exchange is either *whole* (``fetch``: the waiter gets the ``HttpResponse`` once the body has ended) or
*streamed* (``send``: the waiter gets the connection once the headers are in, and ``next_chunk`` hands the body
over as it arrives, reading paused while more than ``_HIGH_WATER`` bytes wait for the reader). A request is written
at the end of the loop's turn it was started in, with the others started in that turn (``tick_writes`` says why).
One loop timer per exchange bounds the whole answer (``total``) and the silence between two reads (``read``); it is
re-armed only when it fires early. Failures become ``APIConnectionError``/``Timeout`` with the other transports'
messages.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, Protocol

import httptools

from tollway.errors import APIConnectionError, Timeout
from tollway.http import HttpResponse
from tollway.transport.h1_wire import decoder_for
from tollway.transport.tick_writes import TickWrites

__all__ = ["Connection", "Owner"]

# Bytes of a streamed body kept for a slow reader before the socket stops being read (and below which it resumes).
_HIGH_WATER = 256 * 1024
_LOW_WATER = 64 * 1024


class _UnsolicitedError(Exception):
    """Bytes of an answer nobody asked for (raised in a parser callback, it stops the parsing)."""


class Owner(Protocol):
    """The pool a connection belongs to."""

    def release(self, connection: Connection) -> None:
        """An answer is complete and the connection may carry another request."""

    def forget(self, connection: Connection) -> None:
        """The connection closed."""


class Connection(asyncio.Protocol):
    """A pooled connection to one origin (``host`` names it in error messages); ``closed`` once it cannot carry
    another request."""

    def __init__(self, loop: asyncio.AbstractEventLoop, host: str, owner: Owner, ticks: TickWrites) -> None:
        self._loop = loop
        self._host = host
        self._owner = owner
        self._ticks = ticks
        self._outgoing: bytes | None = None  # the request, until the end of the loop's turn (send_queued)
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.uses = 0  # exchanges started on this connection
        self.idle_since = 0.0
        self._active = False  # an exchange is in progress
        self._reset()

    def _reset(self) -> None:
        self._whole = True
        self._waiter: asyncio.Future[Any] | None = None
        self.received = False  # any byte of the current answer
        self.status = 0
        self.headers: dict[str, str] = {}
        self._body: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._paused = False
        self._wakeup: asyncio.Future[None] | None = None
        self._decoder: Any = None
        self._interim = False  # a 1xx answer before the real one
        self._headers_in = False
        self._to_eof = False  # the body ends when the connection does (no length, not chunked)
        self._head_only = False
        self.complete = False
        self._keep_alive = False
        self._error: APIConnectionError | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None
        self._read: float | None = None
        self._last_read = 0.0

    # -- the exchange ----------------------------------------------------------------------------------------

    def start(
        self, payload: bytes, *, whole: bool, total: float | None, read: float | None, head_only: bool = False
    ) -> asyncio.Future[Any]:
        """Send a request; the future resolves to the ``HttpResponse`` (``whole``) or to this connection once the
        headers are in, or raises ``APIConnectionError``."""
        if self.uses:
            self._reset()
        self._active = True
        self.uses += 1
        self._whole = whole
        self._head_only = head_only
        loop = self._loop
        self._waiter = waiter = loop.create_future()
        if total is not None or read is not None:
            now = self._last_read = loop.time()
            self._deadline = None if total is None else now + total
            self._read = read
            self._timer = loop.call_at(self._next_check(now), self._check_time)
        # Written at the end of this turn of the loop, with the other requests started in it (TickWrites).
        self._outgoing = payload
        self._ticks.add(self, loop)
        return waiter

    def send_queued(self) -> None:
        """Write the request started in this turn (``TickWrites``). Nothing if the connection was aborted since;
        if it is closing, ``connection_lost`` fails the exchange (the server never saw the request)."""
        payload, self._outgoing = self._outgoing, None
        transport = self.transport
        if payload is not None and not self.closed and transport is not None and not transport.is_closing():
            transport.write(payload)

    async def next_chunk(self) -> bytes | None:
        """The next piece of a streamed body, or None at its end."""
        while True:
            body = self._body
            if body:
                chunk = body.popleft()
                self._buffered -= len(chunk)
                if self._paused and self._buffered <= _LOW_WATER and self.transport is not None:
                    self._paused = False
                    self.transport.resume_reading()
                return chunk
            if self._error is not None:
                raise self._error
            if self.complete:
                return None
            self._wakeup = self._loop.create_future()
            await self._wakeup

    def finish(self) -> None:
        """The caller is done with the answer: a complete one frees the connection for the next request; an
        unfinished one (an abandoned stream, a cancelled call) closes it, so the upstream stops sending."""
        if self.complete and self._active and not self.closed:
            self._done()
        elif not self.closed:
            self.abort()

    def abort(self) -> None:
        """Close the connection now (a request not written yet never will be)."""
        self.closed = True
        self._outgoing = None
        self._stop_timer()
        if self.transport is not None:
            self.transport.abort()

    def _done(self) -> None:
        self._active = False
        self._stop_timer()
        if self._keep_alive and not self._head_only and not self.closed:
            self.idle_since = self._loop.time()
            self._owner.release(self)
        else:
            self.closed = True
            assert self.transport is not None
            self.transport.close()

    # -- asyncio.Protocol ------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        """Parse what arrived."""
        if not self._active:  # an idle connection the server talks on (a late 408, garbage): not reusable
            self.abort()
            return
        self.received = True
        if self._read is not None:
            self._last_read = self._loop.time()
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:  # (an upgrade nobody asked for)
            self._fail(APIConnectionError(f"{self._host} sent an answer that is not valid HTTP/1.1: {exc}"))
            self.abort()

    def eof_received(self) -> bool:
        """The server is done sending: close (``connection_lost`` decides what that means for the answer)."""
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection ended: an answer delimited by its end is complete, any other unfinished one failed."""
        self.closed = True
        self._stop_timer()
        self._owner.forget(self)
        if not self._active or self.complete:
            return
        if self._headers_in and self._to_eof:
            self.on_message_complete()
        elif self._headers_in:
            self._fail(APIConnectionError(f"{self._host} closed the connection before the answer was complete"))
        else:
            self._fail(APIConnectionError(f"{self._host} closed the connection without answering"))

    # -- httptools callbacks ---------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        """An answer starts: one with no request waiting for it (bytes after the answer) spoils the connection.
        Raising stops the parser, so none of it reaches the answer; ``data_received`` then closes the connection."""
        if self.complete or not self._active:
            raise _UnsolicitedError(f"{self._host} sent more than one answer")

    def on_header(self, name: bytes, value: bytes) -> None:
        """One header (names in lower case; the last value of a repeated name wins, as with the other clients)."""
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        """Status and headers are in: a streamed exchange's waiter gets the connection."""
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (103 Early Hints, a 100 nobody asked for): the real one follows
            self._interim = True
            self.headers = {}
            return
        self.status = status
        self._headers_in = True
        headers = self.headers
        self._to_eof = (
            "content-length" not in headers and "chunked" not in headers.get("transfer-encoding", "").lower()
        ) and status not in (204, 304)
        if "content-encoding" in headers:
            self._decoder = decoder_for(headers["content-encoding"])
            if self._decoder is not None:  # the caller sees the body unpacked, as the other clients give it
                del headers["content-encoding"]
                headers.pop("content-length", None)
        if self._head_only:
            self.on_message_complete()
        elif not self._whole and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(self)

    def on_body(self, body: bytes) -> None:
        """A piece of the body: unpacked, kept, handed to a waiting reader."""
        if self._decoder is not None:
            try:
                body = self._decoder.decompress(body)
            except Exception as exc:  # zlib.error: a body that does not unpack as its encoding says
                self._fail(APIConnectionError(f"{self._host} sent a body that does not decode: {exc}"))
                self.abort()
                return
            if not body:
                return
        self._body.append(body)
        if not self._whole:
            self._buffered += len(body)
            self._wake()
            if self._buffered > _HIGH_WATER and not self._paused and self.transport is not None:
                self._paused = True
                self.transport.pause_reading()

    def on_message_complete(self) -> None:
        """The answer is complete: a whole exchange's waiter gets it, and the connection goes back to the pool."""
        if self._interim:
            self._interim = False
            return
        if self.complete or not self._active:
            return
        if self._decoder is not None and (rest := self._decoder.flush()):
            self._body.append(rest)
        self.complete = True
        # Read now: the parser forgets the answer's keep-alive once this callback returns.
        self._keep_alive = self._parser.should_keep_alive()
        self._stop_timer()
        if not self._whole:
            self._wake()
            return
        waiter = self._waiter
        body = self._body
        content = body[0] if len(body) == 1 else b"".join(body)
        self._done()
        if waiter is not None and not waiter.done():
            waiter.set_result(HttpResponse(self.status, self.headers, content))

    # -- failures and time -----------------------------------------------------------------------------------

    def _fail(self, error: APIConnectionError) -> None:
        if self._error is not None or self.complete:
            return
        self._error = error
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self._wake()

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            if not wakeup.done():
                wakeup.set_result(None)

    def _next_check(self, now: float) -> float:
        deadline = self._deadline
        if self._read is not None:
            by_read = self._last_read + self._read
            return by_read if deadline is None or by_read < deadline else deadline
        assert deadline is not None
        return deadline

    def _check_time(self) -> None:
        self._timer = None
        if not self._active or self.complete or self._error is not None:
            return
        now = self._loop.time()
        if self._paused:  # the reader is behind, not the upstream: its silence is ours
            self._last_read = now
        at = self._next_check(now)
        if now < at:
            self._timer = self._loop.call_at(at, self._check_time)
            return
        late = "in time" if self._deadline is not None and now >= self._deadline else "between two reads in time"
        self._fail(Timeout(f"no answer from {self._host} {late}"))
        self.abort()

    def _stop_timer(self) -> None:
        timer = self._timer
        if timer is not None:
            self._timer = None
            timer.cancel()

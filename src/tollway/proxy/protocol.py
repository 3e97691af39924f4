"""uvicorn's HTTP protocols with a deadline on each request's headers and on its body (slow-loris clients).

uvicorn closes idle keep-alive connections, but nothing bounds a client that trickles its request: a header line
every few seconds holds a connection, and its buffers, forever. tollway's subclasses watch the request being
received:

- headers: from the connection's start, or from the first byte of the next request on a kept-alive connection, to
  the end of the headers. Past ``header_timeout`` the connection is closed: there is no request yet to answer.
- body: from the end of the headers to the end of the body. Past ``body_timeout`` the request's scope is marked
  (``BODY_TIMEOUT``) and its reader woken; ``read_body`` then raises the 408 that the route answers in its own
  envelope (OpenAI's, or Anthropic's on ``/v1/messages``), and the connection closes after that answer.

One loop timer per connection, re-armed only when it fires (at most once per deadline), so a request costs two
``loop.time()`` reads and no timer or task of its own. ``protocol_class`` gives the class for uvicorn's ``http``
option; ``TimedH11Protocol`` is here, the httptools one in ``protocol_httptools`` (httptools is optional to uvicorn).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, cast

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from tollway.proxy.body import BODY_TIMEOUT
from tollway.proxy.protocol_writes import CorkedTransport
from tollway.proxy.settings import DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT
from tollway.transport.tick_writes import TickWrites

__all__ = ["BODY", "HEADERS", "IDLE", "Deadlines", "Timed", "TimedH11Protocol", "expire", "protocol_class"]

IDLE, HEADERS, BODY = 0, 1, 2


class Deadlines:
    """The phase of the request a connection is receiving, and one timer that checks it against its deadline.

    ``enter(phase)`` on each change; ``expired(phase)`` is called (once) when the headers or the body take too long.
    """

    __slots__ = ("_at", "_expired", "_limits", "_loop", "_phase", "_since", "_timer")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        header_timeout: float,
        body_timeout: float,
        expired: Callable[[int], None],
    ) -> None:
        self._loop = loop
        self._limits = (0.0, header_timeout, body_timeout)
        self._expired = expired
        self._phase = IDLE
        self._since = 0.0
        self._at = 0.0
        self._timer: asyncio.TimerHandle | None = None

    @property
    def phase(self) -> int:
        """``IDLE``, ``HEADERS`` or ``BODY``."""
        return self._phase

    def enter(self, phase: int) -> None:
        """The connection starts receiving the headers or the body of a request, or (``IDLE``) is done with it."""
        self._phase = phase
        if phase == IDLE:
            return  # the pending timer, if any, finds the connection idle and lapses
        self._since = now = self._loop.time()
        deadline = now + self._limits[phase]
        if self._timer is None:
            self._arm(deadline)
        elif self._at > deadline:  # armed for a longer deadline (a body's) than this phase allows
            self._timer.cancel()
            self._arm(deadline)

    def idle(self) -> None:
        """``enter(IDLE)``, for the end of every request."""
        self._phase = IDLE

    def stop(self) -> None:
        """The connection is gone: no more checks."""
        self._phase = IDLE
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, at: float) -> None:
        self._at = at
        self._timer = self._loop.call_at(at, self._fire)

    def _fire(self) -> None:
        self._timer = None
        phase = self._phase
        if phase == IDLE:
            return
        deadline = self._since + self._limits[phase]
        if self._loop.time() < deadline:  # a later request (or its body) started since the timer was armed
            self._arm(deadline)
            return
        self._phase = IDLE
        self._expired(phase)


def expire(protocol: Any, phase: int) -> None:
    """What a protocol does when a deadline passes (shared by the h11 and httptools subclasses): close the
    connection for headers; for a body, mark the request, wake its reader and close after the answer."""
    cycle = protocol.cycle
    if phase == HEADERS or cycle is None or cycle.response_complete:
        protocol.transport.close()
        return
    cycle.scope[BODY_TIMEOUT] = True
    cycle.keep_alive = False  # the rest of the body may still come; the connection cannot be reused
    protocol.close_after_response = True
    cycle.message_event.set()


class _UvicornHttp(asyncio.Protocol):
    """What ``Timed`` uses of the uvicorn protocol it is mixed into (``H11Protocol`` or ``HttpToolsProtocol``, which
    share these members but no base class of uvicorn's), declared for the type checker."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    if TYPE_CHECKING:

        def __init__(self, *args: Any) -> None: ...  # (config, server_state, app_state, _loop)

        def on_response_complete(self) -> None: ...


class Timed(_UvicornHttp):
    """The deadlines' part that does not depend on the parser, mixed in before a uvicorn protocol: start the header
    deadline when the connection opens, stop watching when it closes, close after an answer past a body deadline.
    The subclass calls ``self.deadlines.enter`` as its parser reports the request's phases."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        ticks: TickWrites | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.deadlines = Deadlines(self.loop, header_timeout, body_timeout, functools.partial(expire, self))
        self.close_after_response = False
        # Shared by every connection of the server (protocol_class); a protocol made alone writes on its own turns.
        self.ticks = ticks if ticks is not None else TickWrites()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Queue the connection's writes to the end of each loop turn; start the header deadline of the first
        request."""
        super().connection_made(transport)
        # After uvicorn's own set-up (addresses, TLS, flow control: the transport's); every write and close of the
        # protocol and of its request cycles then goes through the wrapper (tollway.proxy.protocol_writes).
        self.transport = cast("asyncio.Transport", CorkedTransport(transport, self.ticks, self.loop))
        self.deadlines.enter(HEADERS)

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop watching."""
        self.deadlines.stop()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        """Close instead of keeping alive when the body deadline passed (the client may still be sending it)."""
        if self.close_after_response:
            self.transport.close()
            return
        super().on_response_complete()


class TimedH11Protocol(Timed, H11Protocol):
    """uvicorn's h11 protocol with the header and body deadlines of this module."""

    def handle_events(self) -> None:
        """Process what arrived, then note which part of a request the connection is now waiting for."""
        super().handle_events()
        scope: Any = self.scope
        if scope is not None and BODY_TIMEOUT not in scope:
            scope[BODY_TIMEOUT] = False  # tells read_body that this protocol times the body
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            phase = BODY
        elif state is h11.IDLE and self.conn.trailing_data[0]:
            phase = HEADERS  # part of the next request's head is buffered
        else:
            phase = IDLE
        if phase != self.deadlines.phase:
            self.deadlines.enter(phase)


def protocol_class(
    kind: Literal["httptools", "h11"],
    *,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
) -> type[asyncio.Protocol]:
    """The value for uvicorn's ``http`` option: tollway's ``kind`` protocol with these deadlines (seconds)."""
    if kind == "httptools":
        from tollway.proxy.protocol_httptools import TimedHttpToolsProtocol

        cls: Callable[..., asyncio.Protocol] = TimedHttpToolsProtocol
    else:
        cls = TimedH11Protocol
    # uvicorn calls its ``http`` option with (config, server_state, app_state, _loop). A partial carries the
    # deadlines and the connections' shared TickWrites (an empty one: each ``--workers`` process unpickles its
    # own), and, unlike a class made here, pickles by reference into the worker processes.
    ticks = TickWrites()
    return cast(
        "type[asyncio.Protocol]",
        functools.partial(cls, header_timeout=header_timeout, body_timeout=body_timeout, ticks=ticks),
    )

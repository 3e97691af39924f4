"""One socket write for a whole answer: the status line and headers go out with the body when its length is known.

uvicorn's httptools cycle writes a response's head as soon as the application sends ``http.response.start`` and its
body on ``http.response.body``: two ``send()`` system calls, and two TCP segments on a connection with Nagle off,
for every answer of known length. Most of the gateway's answers (JSON of a ``Content-Length``) arrive as exactly
those two messages back to back, so the head is held until the body's first write and both go out in one call.

Only heads that declare a ``Content-Length`` are held (a ``HEAD`` request's never: it has no body write to join).
A chunked answer (a stream) writes its head at once, so a client waiting for the first token still sees the
status and headers straight away. ``CorkedTransport.close`` writes a held head first, so nothing is reordered or
lost when the cycle closes the connection after the answer.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

__all__ = ["CoalescingCycle", "CorkedTransport"]


class CorkedTransport:
    """A connection's transport as its request cycles see it: ``hold_next`` keeps the next write back and sends it
    with the write after it. Everything else is the transport's own behaviour."""

    __slots__ = ("_held", "_holding", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self._holding = False
        self._held: bytes | None = None

    def hold_next(self) -> None:
        """Keep the next write (a response head) until the one after it (its body)."""
        self._holding = True

    def write(self, data: bytes) -> None:
        """Write ``data``, joined to a held head; or hold it, when asked to."""
        if self._holding:
            self._holding = False
            self._held = data
            return
        held = self._held
        if held is not None:
            self._held = None
            data = held + data
        self.transport.write(data)

    def flush(self) -> None:
        """Write a held head now (its answer turned out to be a stream, or has no body)."""
        self._holding = False
        held, self._held = self._held, None
        if held is not None:
            self.transport.write(held)

    def close(self) -> None:
        """Close after writing anything held."""
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        """Whether the connection is closing or closed."""
        return self.transport.is_closing()


class CoalescingCycle(RequestResponseCycle):
    """uvicorn's request cycle writing a head of known length together with its body (see the module docstring).

    A protocol turns its new cycle into one of these (``adopt``) right after uvicorn created it: the cycle's class
    and transport change before its task first runs, so every message it sends goes through ``send`` here.
    """

    transport: Any  # a CorkedTransport

    @classmethod
    def adopt(cls, cycle: RequestResponseCycle, transport: CorkedTransport) -> None:
        """Make ``cycle`` (just created by uvicorn, not yet running) coalesce its writes through ``transport``."""
        cycle.__class__ = cls
        cast(Any, cycle).transport = transport  # stands in for the asyncio transport: write, close, is_closing

    async def send(self, message: Any) -> None:
        """Send an ASGI message; a head declaring a ``Content-Length`` waits for the body's first write."""
        if message["type"] != "http.response.start" or self.response_started or self.scope["method"] == "HEAD":
            await super().send(message)
            if not self.response_complete:
                return
            # uvicorn writes a body of known length even when it is empty, which sends a held head with it; this
            # keeps the head from being lost should a version ever skip that write.
            self.transport.flush()
            return
        transport: CorkedTransport = self.transport
        transport.hold_next()
        try:
            await super().send(message)
        finally:
            if self.chunked_encoding is not False:  # a stream, or no head was written (refused start): no hold
                transport.flush()

"""uvicorn's httptools protocol with the header and body deadlines of ``tollway.proxy.protocol``.

httptools reports each phase as a parser callback (message begin, headers complete, message complete), so the
deadlines follow them exactly; pipelined requests are received one after another and timed the same way. Each
connection's writes of one loop turn leave in one system call (``Timed``, ``tollway.proxy.protocol_writes``).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tollway.proxy.body import BODY_TIMEOUT
from tollway.proxy.protocol import BODY, HEADERS, Timed

__all__ = ["TimedHttpToolsProtocol"]


class TimedHttpToolsProtocol(Timed, HttpToolsProtocol):
    """uvicorn's httptools protocol that closes connections slow to send their headers and answers 408 to bodies
    that take too long; its writes of one loop turn leave in one write."""

    def on_message_begin(self) -> None:
        """The first byte of a request: its headers are due (the first request's since the connection opened)."""
        super().on_message_begin()
        if self.deadlines.phase != HEADERS:
            self.deadlines.enter(HEADERS)

    def on_headers_complete(self) -> None:
        """Headers in: the body is due."""
        super().on_headers_complete()
        scope: Any = self.scope
        scope[BODY_TIMEOUT] = False  # tells read_body that this protocol times the body
        self.deadlines.enter(BODY)

    def on_message_complete(self) -> None:
        """The whole request is in."""
        super().on_message_complete()
        self.deadlines.idle()

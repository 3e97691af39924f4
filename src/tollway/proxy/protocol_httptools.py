"""uvicorn's httptools protocol with the header and body deadlines of ``tollway.proxy.protocol``.

httptools reports each phase as a parser callback (message begin, headers complete, message complete), so the
deadlines follow them exactly; pipelined requests are received one after another and timed the same way.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from tollway.proxy.body import BODY_TIMEOUT
from tollway.proxy.protocol import BODY, HEADERS, Deadlines, expire
from tollway.proxy.settings import DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT

__all__ = ["TimedHttpToolsProtocol"]


class TimedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol that closes connections slow to send their headers and answers 408 to bodies
    that take too long."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.deadlines = Deadlines(self.loop, header_timeout, body_timeout, functools.partial(expire, self))
        self.close_after_response = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the header deadline of the first request."""
        super().connection_made(transport)
        self.deadlines.enter(HEADERS)

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop watching."""
        self.deadlines.stop()
        super().connection_lost(exc)

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

    def on_response_complete(self) -> None:
        """Close instead of keeping alive when the body deadline passed (the client may still be sending it)."""
        if self.close_after_response:
            self.transport.close()
            return
        super().on_response_complete()

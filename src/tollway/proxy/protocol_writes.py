"""``CorkedTransport``: what a client connection's protocol and request cycles write in one turn of the event loop
leaves in one socket write, at the end of that turn.

uvicorn writes an answer's head as soon as the application sends ``http.response.start`` and its body on
``http.response.body``: two ``send()`` system calls (and two TCP segments, Nagle being off) per answer, each one
waking the client. Queued instead, the head and the body of an answer (and the chunks of a stream that arrived
together) go out joined, and the answers of every connection that finished in the same turn go out back to back
(``tollway.transport.tick_writes`` says why that matters more).

The protocol's own transport is replaced by this wrapper as the connection opens, so every write of uvicorn's, its
protocol's included (an error answer, a ``100 Continue``), is queued in the same order, and every ``close`` sends
the queue first: nothing is reordered or lost. ``abort`` drops the queue, as it drops the transport's buffer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tollway.transport.tick_writes import TickWrites

__all__ = ["CorkedTransport"]

# Bytes queued on one connection beyond which they are written at once: a large streamed answer produced within one
# turn reaches the transport, and its flow control, instead of being joined in memory.
_MAX_QUEUED = 256 * 1024


class CorkedTransport:
    """A connection's transport as its protocol and request cycles see it: writes wait for the end of the loop's
    turn (``ticks``); anything else is the transport's own behaviour."""

    __slots__ = ("_chunks", "_loop", "_size", "_ticks", "transport")

    def __init__(self, transport: asyncio.Transport, ticks: TickWrites, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._ticks = ticks
        self._loop = loop
        self._chunks: list[bytes] | None = None
        self._size = 0

    def write(self, data: bytes) -> None:
        """Queue ``data`` for the end of this turn."""
        chunks = self._chunks
        if chunks is None:
            self._chunks = [data]
            self._size = len(data)
            self._ticks.add(self, self._loop)
            return
        chunks.append(data)
        self._size += len(data)
        if self._size >= _MAX_QUEUED:
            self.send_queued()

    def send_queued(self) -> None:
        """Write the queue now (dropped if the connection is closing: the client is gone)."""
        chunks = self._chunks
        if chunks is None:
            return
        self._chunks = None
        if not self.transport.is_closing():
            self.transport.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))

    def close(self) -> None:
        """Close after writing the queue."""
        self.send_queued()
        self.transport.close()

    def abort(self) -> None:
        """Close now, dropping the queue."""
        self._chunks = None
        self.transport.abort()

    def is_closing(self) -> bool:
        """Whether the connection is closing or closed."""
        return self.transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        # get_extra_info, pause_reading, resume_reading...: the transport's own (only names not defined here).
        if name == "transport":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.transport, name)

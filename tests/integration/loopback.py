"""Loopback HTTP servers' helpers for the transport tests (the ``serve`` fixture is in conftest.py)."""

import asyncio
import socket
from collections.abc import Awaitable, Callable

from tollway.http import HttpRequest

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


def post(url: str) -> HttpRequest:
    return HttpRequest("POST", url, {"content-type": "application/json"}, b"{}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def truncated(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A handler: headers promising 100 bytes, six of them, then the connection closes."""
    await read_request(reader)
    writer.write(b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"id":')
    await writer.drain()
    writer.close()


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A handler: reads the request and closes without answering."""
    await read_request(reader)
    writer.close()


async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A handler: a 40-byte answer, one byte every 50 ms (2 s in all, each byte well within a read timeout)."""
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 40\r\n\r\n")
    for _ in range(40):
        writer.write(b" ")
        await writer.drain()
        await asyncio.sleep(0.05)


def answering(raw: bytes, *, connections: list[int] | None = None) -> Handler:
    """A handler answering every request on its connection with ``raw``; ``connections`` (when given) gets an entry
    per connection made."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if connections is not None:
            connections.append(1)
        try:
            while True:
                await read_request(reader)
                writer.write(raw)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return handler

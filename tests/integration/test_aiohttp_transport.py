"""The aiohttp transport over real loopback sockets: failures become typed errors, streams release sockets."""

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

import tollway
from tollway.http import HttpRequest
from tollway.transport import Timeouts
from tollway.transport.aiohttp import AiohttpTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    servers: list[asyncio.Server] = []
    tasks: set[asyncio.Task[None]] = set()

    async def start(handler: Handler) -> str:
        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            try:
                await handler(reader, writer)
            finally:
                writer.close()  # Python 3.11's Server.close() leaves accepted connections open

        server = await asyncio.start_server(tracked, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1/chat/completions"

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for server in servers:
        server.close()
        await server.wait_closed()


def post(url: str) -> HttpRequest:
    return HttpRequest("POST", url, {"content-type": "application/json"}, b"{}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_connection_refused() -> None:
    transport = AiohttpTransport()
    with pytest.raises(tollway.APIConnectionError, match=r"cannot connect to 127\.0\.0\.1"):
        await transport.send(post(f"http://127.0.0.1:{free_port()}/v1"), Timeouts())
    await transport.aclose()


async def test_server_closes_without_answering(serve) -> None:  # type: ignore[no-untyped-def]
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()

    transport = AiohttpTransport()
    with pytest.raises(tollway.APIConnectionError, match="closed the connection"):
        await transport.send(post(await serve(handler)), Timeouts())
    await transport.aclose()


async def test_read_timeout_while_waiting_for_headers(serve) -> None:  # type: ignore[no-untyped-def]
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(2)
        writer.close()

    transport = AiohttpTransport()
    with pytest.raises(tollway.Timeout):
        await transport.send(post(await serve(handler)), Timeouts(connect=1, read=0.1, total=None))
    await transport.aclose()


async def test_truncated_body(serve) -> None:  # type: ignore[no-untyped-def]
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"id":')
        await writer.drain()
        writer.close()

    transport = AiohttpTransport()
    response = await transport.send(post(await serve(handler)), Timeouts())
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(tollway.APIConnectionError, match="before the answer was complete"):
        await response.read()
    await response.aclose()
    await transport.aclose()


async def test_abandoned_stream_closes_the_upstream_socket(serve) -> None:  # type: ignore[no-untyped-def]
    disconnected = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        try:
            for _ in range(200):
                data = b"data: {}\n\n"
                writer.write(b"%x\r\n%s\r\n" % (len(data), data))
                await writer.drain()
                await asyncio.sleep(0.02)
        except (ConnectionError, OSError):
            disconnected.set()
        writer.close()

    transport = AiohttpTransport()
    response = await transport.send(post(await serve(handler)), Timeouts())
    chunks = response.iter_bytes()
    assert await anext(chunks)
    await response.aclose()
    await asyncio.wait_for(disconnected.wait(), 3)
    await transport.aclose()


async def test_connection_is_reused_for_sequential_calls(serve) -> None:  # type: ignore[no-untyped-def]
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            while True:
                await read_request(reader)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
                await writer.drain()
        except asyncio.IncompleteReadError:
            writer.close()

    transport = AiohttpTransport()
    url = await serve(handler)
    for _ in range(5):
        response = await transport.send(post(url), Timeouts())
        assert await response.read() == b"{}"
        await response.aclose()
    assert connections == 1
    await transport.aclose()

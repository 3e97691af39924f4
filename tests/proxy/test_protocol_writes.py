"""Answers of known length leave in one socket write; streams, HEAD answers and closes keep their order and timing.

Drives tollway's httptools protocol directly with a transport that records every ``write`` and ``close``, as
uvicorn's own protocol tests do, so the number of writes per answer is observed, not inferred from timing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from tollway.proxy.app import create_app
from tollway.proxy.gateway_config import GatewayConfig
from tollway.proxy.protocol_httptools import TimedHttpToolsProtocol

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
KEY = "sk-protocol-writes-master-key-0123"


class RecordingTransport(asyncio.Transport):
    """What the protocol writes, in order: ``("write", bytes)`` and ``("close", b"")`` events."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closing, "written after close"
        self.events.append(("write", bytes(data)))

    def close(self) -> None:
        self.events.append(("close", b""))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    @property
    def writes(self) -> list[bytes]:
        return [data for kind, data in self.events if kind == "write"]


def connect(app: App) -> tuple[TimedHttpToolsProtocol, RecordingTransport]:
    config = Config(app=app, http="httptools", lifespan="off", log_level="warning")
    config.load()
    protocol = TimedHttpToolsProtocol(config, ServerState(), {}, asyncio.get_running_loop())
    transport = RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def answer(headers: list[tuple[bytes, bytes]], body: bytes, *, status: int = 200) -> App:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


async def test_an_answer_of_known_length_is_one_write() -> None:
    protocol, transport = connect(answer([(b"content-length", b"5")], b"hello"))
    protocol.data_received(GET)
    await settle()
    assert len(transport.writes) == 1
    head, _, body = transport.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"content-length: 5" in head
    assert body == b"hello"
    assert not transport.closing  # kept alive


async def test_a_stream_writes_its_head_before_its_first_chunk() -> None:
    release = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await release.wait()
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    protocol, transport = connect(app)
    protocol.data_received(GET)
    await settle()
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK")
    assert b"transfer-encoding: chunked" in transport.writes[0]
    release.set()
    await settle()
    assert transport.writes[1:] == [b"9\r\ndata: 1\n\n\r\n", b"0\r\n\r\n"]


async def test_a_head_request_gets_its_head_although_no_body_is_written() -> None:
    protocol, transport = connect(answer([(b"content-length", b"5")], b"hello"))
    protocol.data_received(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
    await settle()
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK")
    assert transport.writes[0].endswith(b"\r\n\r\n")


async def test_an_empty_answer_is_written() -> None:
    protocol, transport = connect(answer([(b"content-length", b"0")], b"", status=204))
    protocol.data_received(GET)
    await settle()
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 204 No Content")


async def test_connection_close_writes_the_answer_before_closing() -> None:
    protocol, transport = connect(answer([(b"content-length", b"2"), (b"connection", b"close")], b"ok"))
    protocol.data_received(GET)
    await settle()
    assert [kind for kind, _ in transport.events] == ["write", "close"]
    assert transport.writes[0].endswith(b"\r\n\r\nok")


async def test_an_application_failing_after_its_head_closes_without_a_partial_answer() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
        raise RuntimeError("boom")

    protocol, transport = connect(app)
    protocol.data_received(GET)
    await settle()
    # uvicorn closes a connection whose answer was started and not finished; the held head goes out first, so
    # the client sees the same bytes it would have seen without the hold, then the close.
    assert [kind for kind, _ in transport.events] == ["write", "close"]
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK")


async def test_pipelined_requests_are_answered_in_order_one_write_each() -> None:
    count = 0

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal count
        count += 1
        body = f"answer {count}".encode()
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})

    protocol, transport = connect(app)
    protocol.data_received(GET + GET)
    await settle()
    assert [w.rpartition(b"\r\n\r\n")[2] for w in transport.writes] == [b"answer 1", b"answer 2"]


async def test_a_body_in_parts_of_known_length_joins_the_head_to_the_first_part() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"6")]})
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"def"})

    protocol, transport = connect(app)
    protocol.data_received(GET)
    await settle()
    assert len(transport.writes) == 2
    assert transport.writes[0].endswith(b"\r\n\r\nabc")
    assert transport.writes[1] == b"def"


@pytest.mark.parametrize("stream", [False, True])
async def test_the_gateways_chat_answer(stream: bool) -> None:
    models = ({"model_name": "mock/*", "litellm_params": {"model": "mock/*"}},)
    app = create_app(GatewayConfig(model_list=models, master_key=KEY), environ={})
    body = json.dumps({"model": "mock/x", "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    ).encode()
    async with app.router.lifespan_context(app):
        protocol, transport = connect(app)
        protocol.data_received(request)
        for _ in range(100):
            await asyncio.sleep(0.01)
            if transport.writes and (transport.writes[-1].endswith(b"0\r\n\r\n") or not stream):
                break
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK")
    if stream:
        assert b"data: [DONE]" in b"".join(transport.writes)
    else:
        assert len(transport.writes) == 1
        assert json.loads(transport.writes[0].partition(b"\r\n\r\n")[2])["object"] == "chat.completion"

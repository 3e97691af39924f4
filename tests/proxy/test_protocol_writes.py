"""What a connection writes in one turn of the event loop leaves in one socket write at the end of that turn; the
answers of several connections finishing in one turn leave together; streams, HEAD answers, error answers and
closes keep their order, and nothing queued is lost.

Drives tollway's httptools protocol directly with a transport that records every ``write`` and ``close``, as
uvicorn's own protocol tests do, so the number and the moment of the writes are observed, not inferred from timing.
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
from tollway.transport.tick_writes import TickWrites

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


def connect(app: App, ticks: TickWrites | None = None) -> tuple[TimedHttpToolsProtocol, RecordingTransport]:
    config = Config(app=app, http="httptools", lifespan="off", log_level="warning")
    config.load()
    protocol = TimedHttpToolsProtocol(config, ServerState(), {}, asyncio.get_running_loop(), ticks=ticks)
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
    # The chunk and the end of the stream were sent in one turn: one write.
    assert transport.writes[1:] == [b"9\r\ndata: 1\n\n\r\n0\r\n\r\n"]


async def test_stream_chunks_of_different_turns_are_not_held_for_each_other() -> None:
    turns = [asyncio.Event(), asyncio.Event()]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        for turn, data in zip(turns, (b"data: 1\n\n", b"data: 2\n\n"), strict=True):
            await turn.wait()
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    protocol, transport = connect(app)
    protocol.data_received(GET)
    await settle()
    turns[0].set()
    await settle()
    assert transport.writes[1:] == [b"9\r\ndata: 1\n\n\r\n"]  # out although the stream goes on
    turns[1].set()
    await settle()
    assert transport.writes[2:] == [b"9\r\ndata: 2\n\n\r\n0\r\n\r\n"]


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
    sent = b"".join(transport.writes)
    assert sent.count(b"HTTP/1.1 200 OK") == 2
    assert sent.index(b"answer 1") < sent.index(b"HTTP/1.1 200 OK", sent.index(b"answer 1")) < sent.index(b"answer 2")


async def test_an_error_answer_of_the_protocol_follows_the_answer_queued_before_it() -> None:
    # The second pipelined request is not HTTP: uvicorn's protocol answers 400 and closes, by writing to its
    # transport itself; the first request's answer, queued in the same turn, must leave first and not be lost.
    protocol, transport = connect(answer([(b"content-length", b"5")], b"hello"))
    protocol.data_received(GET)
    await asyncio.sleep(0)  # the answer's task runs and queues the answer; its turn is not over
    protocol.data_received(b"\x00\x01 not http\r\n\r\n")
    await settle()
    assert [kind for kind, _ in transport.events] == ["write", "close"]
    sent = transport.writes[0]
    assert sent.startswith(b"HTTP/1.1 200 OK")
    assert b"\r\n\r\nhello" in sent
    assert sent.index(b"hello") < sent.index(b"HTTP/1.1 400 Bad Request")


async def test_a_body_sent_in_parts_in_one_turn_leaves_with_its_head_in_one_write() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"6")]})
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"def"})

    protocol, transport = connect(app)
    protocol.data_received(GET)
    await settle()
    assert len(transport.writes) == 1
    assert transport.writes[0].endswith(b"\r\n\r\nabcdef")


async def test_the_answers_of_connections_finishing_in_one_turn_leave_at_its_end() -> None:
    ticks = TickWrites()
    seen_when_answered: list[int] = []
    transports: list[RecordingTransport] = []

    def app_of(body: bytes) -> App:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": body})
            seen_when_answered.append(sum(len(t.writes) for t in transports))

        return app

    for body in (b"A1", b"B2"):
        protocol, transport = connect(app_of(body), ticks)
        transports.append(transport)
        protocol.data_received(GET)
    await settle()
    # Both answers were complete before either was written; then each left in one write.
    assert seen_when_answered == [0, 0]
    assert [t.writes[0][-2:] for t in transports] == [b"A1", b"B2"]
    assert [len(t.writes) for t in transports] == [1, 1]


async def test_a_large_answer_made_in_one_turn_is_written_as_it_grows() -> None:
    part = b"x" * (100 * 1024)
    written_during: list[int] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        length = b"%d" % (4 * len(part))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", length)]})
        for index in range(4):
            await send({"type": "http.response.body", "body": part, "more_body": index < 3})
            written_during.append(len(transport.writes))

    protocol, transport = connect(app)
    protocol.data_received(GET)
    await settle()
    # 256 KiB queued: written at once (the transport's own flow control then applies), the rest at the turn's end.
    assert written_during == [0, 0, 1, 1]
    assert len(b"".join(transport.writes).partition(b"\r\n\r\n")[2]) == 4 * len(part)
    assert len(transport.writes) == 2


async def test_a_write_queued_on_a_connection_that_closes_meanwhile_is_dropped() -> None:
    closed_by_peer = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})
        transport.closing = True  # the connection went away before the end of the turn
        closed_by_peer.set()

    protocol, transport = connect(app)
    protocol.data_received(GET)
    await settle()
    assert closed_by_peer.is_set()
    assert transport.writes == []  # RecordingTransport would have failed a write after close


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

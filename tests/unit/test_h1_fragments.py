"""The h1 connection parses an answer the same however the network cuts it: every answer below, split at random
points (hypothesis), gives the same status, headers and body, whole (``fetch``) or streamed (``send``)."""

from __future__ import annotations

import asyncio
import gzip
import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tollway.http import HttpResponse
from tollway.transport.h1_connection import Connection
from tollway.transport.tick_writes import TickWrites

BODY = b'{"id": "chatcmpl-1", "choices": [{"message": {"content": "' + b"x" * 300 + b'"}}]}'
PACKED = gzip.compress(BODY)


def _chunked(data: bytes, size: int, extension: bytes = b"") -> bytes:
    parts = [
        b"%x%s\r\n%s\r\n" % (len(data[i : i + size]), extension, data[i : i + size]) for i in range(0, len(data), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


ANSWERS: dict[str, tuple[bytes, int, dict[str, str], bytes]] = {
    "length": (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: r1\r\nContent-Length: %d\r\n\r\n%s"
        % (len(BODY), BODY),
        200,
        {"content-type": "application/json", "x-request-id": "r1", "content-length": str(len(BODY))},
        BODY,
    ),
    "chunked, extensions, interim answer first": (
        b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        + _chunked(BODY, 37, b";name=value"),
        429,
        {"retry-after": "3", "transfer-encoding": "chunked"},
        BODY,
    ),
    "gzip in chunks, a repeated header": (
        b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Encoding: gzip\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(PACKED, 50),
        200,
        {"set-cookie": "b=2", "transfer-encoding": "chunked"},
        BODY,
    ),
}


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    abort = close

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class _Pool:
    def __init__(self) -> None:
        self.released: list[Connection] = []

    def release(self, connection: Connection) -> None:
        self.released.append(connection)

    def forget(self, connection: Connection) -> None:
        pass


def _pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


def _connection(loop: asyncio.AbstractEventLoop) -> tuple[Connection, _Transport, _Pool]:
    pool, transport = _Pool(), _Transport()
    connection = Connection(loop, "upstream", pool, TickWrites())
    connection.connection_made(transport)  # type: ignore[arg-type]
    return connection, transport, pool


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(ANSWERS)), cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_a_whole_answer_however_it_is_cut(name: str, cuts: list[int]) -> None:
    raw, status, headers, body = ANSWERS[name]
    loop = asyncio.new_event_loop()
    try:
        connection, transport, pool = _connection(loop)
        waiter = connection.start(b"POST / HTTP/1.1\r\n\r\n", whole=True, total=None, read=None)
        for piece in _pieces(raw, cuts):
            connection.data_received(piece)
        assert waiter.done()
        answer: HttpResponse = waiter.result()
        assert (answer.status, dict(answer.headers), answer.body) == (status, headers, body)
        assert pool.released == [connection]  # complete and kept alive: back to the pool
        assert not transport.closed
    finally:
        loop.close()


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(ANSWERS)), cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_a_streamed_answer_however_it_is_cut(name: str, cuts: list[int]) -> None:
    raw, status, headers, body = ANSWERS[name]

    async def run() -> tuple[Any, ...]:
        connection, _, pool = _connection(asyncio.get_running_loop())
        waiter = connection.start(b"POST / HTTP/1.1\r\n\r\n", whole=False, total=None, read=None)
        pieces = _pieces(raw, cuts)

        async def feed() -> None:
            for piece in pieces:
                connection.data_received(piece)
                await asyncio.sleep(0)

        feeding = asyncio.ensure_future(feed())
        await waiter
        received = []
        while (chunk := await connection.next_chunk()) is not None:
            received.append(chunk)
        await feeding
        connection.finish()
        return connection.status, dict(connection.headers), b"".join(received), pool.released == [connection]

    assert asyncio.run(run()) == (status, headers, body, True)

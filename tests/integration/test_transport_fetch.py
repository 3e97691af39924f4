"""``fetch``, the whole-answer path of transports that have one (h1's and pyreqwest's), over real sockets.

The client takes every non-streamed answer through ``fetch`` when its transport has it, so it keeps ``send`` plus
``read``'s contract (tests/integration/test_transport_contract.py): statuses returned not raised, typed errors with
the same messages, redirects answered not followed, bodies decompressed, connections pooled, the total enforced.
"""

from __future__ import annotations

import gzip
import time

import pytest
from loopback import answering, free_port, hang_up, post, trickle, truncated

import tollway
from tollway.transport import Timeouts
from tollway.transport.h1 import H1Transport
from tollway.transport.reqwest import ReqwestTransport


@pytest.fixture(params=["h1", "reqwest"])
def make_transport(request: pytest.FixtureRequest) -> type[H1Transport] | type[ReqwestTransport]:
    return {"h1": H1Transport, "reqwest": ReqwestTransport}[request.param]


async def test_the_whole_answer_of_any_status(serve, make_transport) -> None:  # type: ignore[no-untyped-def]
    transport = make_transport()
    ok = await transport.fetch(
        post(await serve(answering(b"HTTP/1.1 200 OK\r\nx-one: 1\r\ncontent-length: 2\r\n\r\n{}"))), Timeouts()
    )
    assert (ok.status, ok.headers["x-one"], ok.body) == (200, "1", b"{}")
    limited = b'HTTP/1.1 429 Too Many Requests\r\nretry-after: 3\r\ncontent-length: 13\r\n\r\n{"error": {}}'
    refused = await transport.fetch(post(await serve(answering(limited))), Timeouts())
    assert (refused.status, refused.headers["retry-after"], refused.body) == (429, "3", b'{"error": {}}')
    await transport.aclose()


async def test_a_truncated_body_is_an_incomplete_answer(serve, make_transport) -> None:  # type: ignore[no-untyped-def]
    transport = make_transport()
    with pytest.raises(tollway.APIConnectionError, match="before the answer was complete"):
        await transport.fetch(post(await serve(truncated)), Timeouts())
    await transport.aclose()


async def test_no_answer_and_no_connection(serve, make_transport) -> None:  # type: ignore[no-untyped-def]
    transport = make_transport()
    with pytest.raises(tollway.APIConnectionError, match="closed the connection without answering"):
        await transport.fetch(post(await serve(hang_up)), Timeouts())
    with pytest.raises(tollway.APIConnectionError, match=r"cannot connect to 127\.0\.0\.1"):
        await transport.fetch(post(f"http://127.0.0.1:{free_port()}/v1"), Timeouts())
    await transport.aclose()


async def test_the_total_bounds_a_trickling_answer(serve, make_transport) -> None:  # type: ignore[no-untyped-def]
    transport = make_transport()
    started = time.monotonic()
    with pytest.raises(tollway.Timeout):
        await transport.fetch(post(await serve(trickle)), Timeouts(connect=1, read=1, total=0.3))
    assert time.monotonic() - started < 1.5
    await transport.aclose()


async def test_redirects_answered_bodies_unpacked_connections_reused(serve, make_transport) -> None:  # type: ignore[no-untyped-def]
    connections: list[int] = []
    packed = gzip.compress(b'{"answer": "unpacked"}')
    raw = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n%s" % (len(packed), packed)
    transport = make_transport()
    url = await serve(answering(raw, connections=connections))
    for _ in range(5):
        assert (await transport.fetch(post(url), Timeouts())).body == b'{"answer": "unpacked"}'
    assert len(connections) == 1
    moved = b"HTTP/1.1 307 Temporary Redirect\r\nlocation: %s\r\ncontent-length: 0\r\n\r\n" % url.encode()
    answer = await transport.fetch(post(await serve(answering(moved))), Timeouts())
    assert (answer.status, answer.headers["location"]) == (307, url)
    assert len(connections) == 1  # the redirect was not followed to ``url``
    await transport.aclose()

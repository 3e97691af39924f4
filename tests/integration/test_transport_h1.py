"""The h1 transport's own behaviour over real loopback sockets, on asyncio's loop and on uvloop (the gateway's):
what the shared contract (test_transport_contract.py) does not reach. Streams flow as they arrive and stop being
read for a slow reader; connections are reused only when that is safe; each kind of bad answer is a typed error."""

import asyncio
import gzip

import pytest
from loopback import answering, post, read_request

import tollway
from tollway.http import HttpRequest
from tollway.transport import Timeouts, h1
from tollway.transport.h1 import H1Transport

# conftest.py runs every test here on both loops.
ON_BOTH_LOOPS = True


OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"


async def test_a_streamed_body_is_handed_over_as_it_arrives(serve) -> None:  # type: ignore[no-untyped-def]
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await release.wait()  # the second piece only once the client has the first
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
        await writer.drain()
        await reader.read()

    transport = H1Transport()
    response = await transport.send(post(await serve(handler)), Timeouts())
    chunks = response.iter_bytes()
    assert await anext(chunks) == b"first"
    release.set()
    assert [chunk async for chunk in chunks] == [b"second"]
    await response.aclose()
    await transport.aclose()


async def test_a_body_that_ends_with_the_connection(serve) -> None:  # type: ignore[no-untyped-def]
    connections: list[int] = []
    until_close = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n" + b"x" * 5000

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await read_request(reader)
        writer.write(until_close)
        await writer.drain()
        writer.close()

    transport = H1Transport()
    url = await serve(handler)
    assert (await transport.fetch(post(url), Timeouts())).body == b"x" * 5000
    response = await transport.send(post(url), Timeouts())
    assert await response.read() == b"x" * 5000
    await response.aclose()
    assert len(connections) == 2  # such a connection cannot carry another request
    await transport.aclose()


async def test_connection_close_is_honoured_and_interim_answers_skipped(serve) -> None:  # type: ignore[no-untyped-def]
    connections: list[int] = []
    early = b"HTTP/1.1 103 Early Hints\r\nlink: </a>; rel=preload\r\n\r\n"
    closing = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n[]"
    transport = H1Transport()
    url = await serve(answering(early + closing, connections=connections))
    for _ in range(3):
        answer = await transport.fetch(post(url), Timeouts())
        assert (answer.status, answer.body) == (200, b"[]")
        assert "link" not in answer.headers
    assert len(connections) == 3
    await transport.aclose()


async def test_a_reused_connection_the_server_closed_is_retried_once(serve) -> None:  # type: ignore[no-untyped-def]
    # The server's idle timeout races the next request: it reads it and closes without a byte of answer. The
    # request never reached the application, so it is sent again on a new connection.
    connections: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await read_request(reader)
        writer.write(OK)
        await writer.drain()
        await read_request(reader)  # the second request on this connection: dropped unanswered
        writer.close()

    transport = H1Transport()
    url = await serve(handler)
    for _ in range(3):
        assert (await transport.fetch(post(url), Timeouts())).body == b"{}"
    assert len(connections) == 3  # 1st, then a retry for the 2nd, then a retry for the 3rd
    await transport.aclose()


async def test_a_new_connection_closed_without_an_answer_is_not_retried(serve) -> None:  # type: ignore[no-untyped-def]
    connections: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await read_request(reader)
        writer.close()

    transport = H1Transport()
    with pytest.raises(tollway.APIConnectionError, match="closed the connection without answering"):
        await transport.fetch(post(await serve(handler)), Timeouts())
    assert len(connections) == 1  # the upstream's own failure: the request may have reached it
    await transport.aclose()


async def test_headers_are_sent_once_and_never_with_line_breaks(serve) -> None:  # type: ignore[no-untyped-def]
    heads: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                heads.append(await read_request(reader))
                writer.write(OK)
                await writer.drain()
        except asyncio.IncompleteReadError:
            writer.close()

    transport = H1Transport()
    url = await serve(handler)
    headers = {"Host": "elsewhere.example", "Content-Length": "99", "x-key": "k"}
    await transport.fetch(HttpRequest("POST", url, headers, b"{}"), Timeouts())
    head = heads[0].lower()
    port = url.split(":")[2].split("/")[0]
    assert head.count(b"host:") == 1
    assert f"host: 127.0.0.1:{port}\r\n".encode() in head
    assert head.count(b"content-length:") == 1
    assert b"content-length: 2\r\n" in head
    assert b"x-key: k\r\n" in head
    assert b"user-agent: tollway/" in head
    assert b"accept-encoding: gzip" in head
    for bad in ({"x-a": "1\r\nx-injected: 1"}, {"x-a\r\nx-injected": "1"}, {"x-a": "1\nx-b: 2"}, {"x-a": "1\r"}):
        with pytest.raises(tollway.APIConnectionError, match="line breaks"):
            await transport.fetch(HttpRequest("POST", url, bad, b"{}"), Timeouts())
    await transport.fetch(HttpRequest("GET", url.replace("/v1/chat/completions", "/v1/models"), {}, b""), Timeouts())
    assert len(heads) == 2
    assert b"content-length" not in heads[1].lower()
    await transport.aclose()


async def test_answers_that_are_not_http_or_do_not_unpack(serve) -> None:  # type: ignore[no-untyped-def]
    transport = H1Transport()
    garbage = await serve(answering(b"SMTP ready\r\n\r\n"))
    with pytest.raises(tollway.APIConnectionError, match=r"not valid HTTP/1\.1"):
        await transport.fetch(post(garbage), Timeouts())
    packed = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: 9\r\n\r\nnot gzip!"
    with pytest.raises(tollway.APIConnectionError, match="does not decode"):
        await transport.fetch(post(await serve(answering(packed))), Timeouts())
    body = gzip.compress(b"data: {}\n\n" * 100)
    chunked = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n"
    chunked += b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + 50]), body[i : i + 50]) for i in range(0, len(body), 50))
    response = await transport.send(post(await serve(answering(chunked + b"0\r\n\r\n"))), Timeouts())
    assert "content-encoding" not in response.headers  # what the caller gets is unpacked
    assert await response.read() == b"data: {}\n\n" * 100
    await response.aclose()
    await transport.aclose()


async def test_an_idle_connection_the_server_talks_on_is_dropped(serve) -> None:  # type: ignore[no-untyped-def]
    connections: list[int] = []
    one_too_many = OK + b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n"
    transport = H1Transport()
    url = await serve(answering(one_too_many, connections=connections))
    for _ in range(3):
        answer = await transport.fetch(post(url), Timeouts())
        assert (answer.status, answer.body) == (200, b"{}")
        await asyncio.sleep(0.05)
    assert len(connections) == 3
    await transport.aclose()


async def test_bytes_after_a_streamed_answer_do_not_reach_it(serve) -> None:  # type: ignore[no-untyped-def]
    connections: list[int] = []
    answer = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\nmine\r\n0\r\n\r\n"
    extra = b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nforged"
    transport = H1Transport()
    url = await serve(answering(answer + extra, connections=connections))
    for _ in range(2):
        response = await transport.send(post(url), Timeouts())
        assert await response.read() == b"mine"
        await response.aclose()
    assert len(connections) == 2  # the spoiled connection was not reused
    upgrade = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n"
    with pytest.raises(tollway.APIConnectionError, match="not valid HTTP"):
        await transport.fetch(post(await serve(answering(upgrade))), Timeouts(total=2))
    await transport.aclose()


async def test_a_slow_reader_stops_the_upstream_and_loses_nothing(serve) -> None:  # type: ignore[no-untyped-def]
    piece, pieces = b"y" * 65536, 512  # 32 MiB: the kernel's loopback buffers take several MiB of it
    sent = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % (len(piece) * pieces))
        for _ in range(pieces):
            writer.write(piece)
            await writer.drain()
            sent += len(piece)
        await reader.read()

    transport = H1Transport()
    response = await transport.send(post(await serve(handler)), Timeouts())
    chunks = response.iter_bytes()
    received = len(await anext(chunks))
    await asyncio.sleep(0.5)  # the reader takes nothing: the socket is no longer read, so the server must wait
    assert sent < len(piece) * pieces // 2, sent
    async for chunk in chunks:
        received += len(chunk)
    assert received == len(piece) * pieces
    await response.aclose()
    await transport.aclose()


async def test_silence_between_reads_is_a_timeout(serve) -> None:  # type: ignore[no-untyped-def]
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await asyncio.sleep(3)

    transport = H1Transport()
    url = await serve(handler)
    response = await transport.send(post(url), Timeouts(connect=1, read=0.2, total=None))
    chunks = response.iter_bytes()
    assert await anext(chunks) == b"first"
    with pytest.raises(tollway.Timeout, match="between two reads"):
        await anext(chunks)
    await response.aclose()
    with pytest.raises(tollway.Timeout):  # a whole answer with a read timeout and no total
        await transport.fetch(post(url), Timeouts(connect=1, read=0.2, total=None))
    await transport.aclose()


async def test_connections_per_origin_are_capped(serve, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(h1, "_MAX_CONNECTIONS", 2)
    open_now, most = 0, 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_now, most
        open_now += 1
        most = max(most, open_now)
        try:
            while True:
                body = (await read_request(reader)).split(b"\r\n\r\n", 1)[1]
                await asyncio.sleep(0.02)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
        finally:
            open_now -= 1

    transport = H1Transport()
    url = await serve(handler)

    async def one(n: int) -> bytes:
        return (await transport.fetch(HttpRequest("POST", url, {}, b"%d" % n), Timeouts())).body

    assert await asyncio.gather(*(one(n) for n in range(12))) == [b"%d" % n for n in range(12)]
    assert most == 2
    await transport.aclose()


async def test_a_cancelled_call_closes_its_connection(serve) -> None:  # type: ignore[no-untyped-def]
    connections: list[int] = []
    gone = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await read_request(reader)
        if len(connections) == 1:
            await reader.read()  # never answers the first call; sees its connection close
            gone.set()
            return
        writer.write(OK)
        await writer.drain()

    transport = H1Transport()
    url = await serve(handler)
    call = asyncio.ensure_future(transport.fetch(post(url), Timeouts()))
    await asyncio.sleep(0.1)
    call.cancel()
    await asyncio.wait_for(gone.wait(), 3)
    assert (await transport.fetch(post(url), Timeouts())).body == b"{}"
    assert len(connections) == 2
    await transport.aclose()


async def test_idle_connections_are_trusted_for_a_while(serve, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(h1, "_IDLE_SECONDS", 0.1)
    connections: list[int] = []
    transport = H1Transport()
    url = await serve(answering(OK, connections=connections))
    await transport.fetch(post(url), Timeouts())
    await transport.fetch(post(url), Timeouts())
    assert len(connections) == 1
    await asyncio.sleep(0.2)
    await transport.fetch(post(url), Timeouts())
    assert len(connections) == 2
    await transport.aclose()


async def test_head_requests_and_a_closed_transport(serve) -> None:  # type: ignore[no-untyped-def]
    transport = H1Transport()
    url = await serve(answering(b"HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n"))
    answer = await transport.fetch(HttpRequest("HEAD", url, {}, b""), Timeouts(total=2))
    assert (answer.status, answer.headers["content-length"], answer.body) == (200, "1234", b"")
    await transport.aclose()
    with pytest.raises(tollway.APIConnectionError, match="transport is closed"):
        await transport.fetch(post(url), Timeouts())


async def test_a_connection_handed_to_a_caller_cancelled_meanwhile_goes_to_the_next(serve, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(h1, "_MAX_CONNECTIONS", 1)
    connections: list[int] = []
    transport = H1Transport()
    url = await serve(answering(OK, connections=connections))
    origin = transport._origin(url)
    held = await transport._connection(origin, Timeouts())  # the one connection allowed, taken
    waiting = asyncio.ensure_future(transport._connection(origin, Timeouts()))
    await asyncio.sleep(0.01)  # waits for a connection to be freed
    held.idle_since = asyncio.get_running_loop().time()  # as an answer's end sets it
    transport._pools[origin.key].release(held)  # handed to the waiting caller...
    waiting.cancel()  # ...which is cancelled before it runs again
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert (await transport.fetch(post(url), Timeouts(total=2))).body == b"{}"  # not lost: the next caller has it
    assert len(connections) == 1
    await transport.aclose()


async def test_waiting_for_a_free_connection_counts_in_the_total(serve, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(h1, "_MAX_CONNECTIONS", 1)

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(1)
        writer.write(OK)
        await writer.drain()

    transport = H1Transport()
    url = await serve(slow)
    holding = asyncio.ensure_future(transport.fetch(post(url), Timeouts()))
    await asyncio.sleep(0.05)
    with pytest.raises(tollway.Timeout, match=r"no connection to 127\.0\.0\.1:[0-9]+ was free in time"):
        await transport.fetch(post(url), Timeouts(total=0.2))
    assert (await holding).body == b"{}"
    await transport.aclose()


async def test_tls_connections_are_kept_alive_and_a_closed_one_is_replaced(tls_files, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The upstreams that matter are HTTPS: reuse across calls, and a server closing an idle TLS connection
    # (close_notify, then FIN) between calls costs the next call nothing but a new handshake.
    import ssl

    monkeypatch.setenv("SSL_CERT_FILE", tls_files["ca"])
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files["cert"], tls_files["key"])
    connections: list[int] = []
    writers: list[asyncio.StreamWriter] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        writers.append(writer)
        try:
            while True:
                await read_request(reader)
                writer.write(OK)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=context)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/chat/completions"
    transport = H1Transport()
    try:
        for _ in range(3):
            assert (await transport.fetch(post(url), Timeouts(total=5))).body == b"{}"
        assert len(connections) == 1
        writers[0].close()  # the server's idle timeout
        await asyncio.sleep(0.1)
        response = await transport.send(post(url), Timeouts(total=5))
        assert await response.read() == b"{}"
        await response.aclose()
        assert len(connections) == 2
    finally:
        await transport.aclose()
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()

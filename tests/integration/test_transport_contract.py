"""Both transports (aiohttp, pyreqwest) over real loopback sockets: one contract. Failures become typed errors,
streams release sockets, connections are pooled, nothing from the environment or the upstream redirects a call."""

import asyncio
import gzip
import os
import sys
from collections.abc import Callable

import pytest
from loopback import free_port, hang_up, post, read_request, trickle, truncated

import tollway
from tollway.http import HttpRequest
from tollway.transport import Timeouts, Transport
from tollway.transport.aiohttp import AiohttpTransport
from tollway.transport.h1 import H1Transport
from tollway.transport.reqwest import ReqwestTransport

# conftest.py runs every test here on both loops.
ON_BOTH_LOOPS = True

TRANSPORTS: dict[str, Callable[[], Transport]] = {
    "h1": H1Transport,
    "aiohttp": AiohttpTransport,
    "reqwest": ReqwestTransport,
}


@pytest.fixture(params=list(TRANSPORTS))
def make_transport(request: pytest.FixtureRequest) -> Callable[[], Transport]:
    return TRANSPORTS[request.param]


async def test_connection_refused(make_transport) -> None:  # type: ignore[no-untyped-def]
    transport = make_transport()
    with pytest.raises(tollway.APIConnectionError, match=r"cannot connect to 127\.0\.0\.1"):
        await transport.send(post(f"http://127.0.0.1:{free_port()}/v1"), Timeouts())
    await transport.aclose()


async def test_server_closes_without_answering(serve, make_transport) -> None:  # type: ignore[no-untyped-def]
    transport = make_transport()
    with pytest.raises(tollway.APIConnectionError, match="closed the connection"):
        await transport.send(post(await serve(hang_up)), Timeouts())
    await transport.aclose()


async def test_read_timeout_while_waiting_for_headers(serve, make_transport) -> None:  # type: ignore[no-untyped-def]
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(2)
        writer.close()

    transport = make_transport()
    with pytest.raises(tollway.Timeout):
        await transport.send(post(await serve(handler)), Timeouts(connect=1, read=0.1, total=None))
    await transport.aclose()


async def test_truncated_body(serve, make_transport) -> None:  # type: ignore[no-untyped-def]
    transport = make_transport()
    response = await transport.send(post(await serve(truncated)), Timeouts())
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(tollway.APIConnectionError, match="before the answer was complete"):
        await response.read()
    await response.aclose()
    await transport.aclose()


async def test_abandoned_stream_closes_the_upstream_socket(serve, make_transport) -> None:  # type: ignore[no-untyped-def]
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

    transport = make_transport()
    response = await transport.send(post(await serve(handler)), Timeouts())
    chunks = response.iter_bytes()
    assert await anext(chunks)
    await response.aclose()
    await asyncio.wait_for(disconnected.wait(), 3)
    await transport.aclose()


async def test_connection_is_reused_for_sequential_calls(serve, make_transport) -> None:  # type: ignore[no-untyped-def]
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

    transport = make_transport()
    url = await serve(handler)
    for _ in range(5):
        response = await transport.send(post(url), Timeouts())
        assert await response.read() == b"{}"
        await response.aclose()
    assert connections == 1
    await transport.aclose()


async def test_redirects_are_answered_not_followed(serve, make_transport) -> None:  # type: ignore[no-untyped-def]
    # An upstream must not be able to send the call (and its credentials) elsewhere: a 3xx is the answer.
    followed = asyncio.Event()

    async def elsewhere(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        followed.set()
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
        await writer.drain()

    target = await serve(elsewhere)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 307 Temporary Redirect\r\nlocation: %s\r\ncontent-length: 0\r\n\r\n" % target.encode())
        await writer.drain()

    transport = make_transport()
    response = await transport.send(post(await serve(handler)), Timeouts())
    assert response.status == 307
    assert response.headers["location"] == target
    await response.read()
    await response.aclose()
    assert not followed.is_set()
    await transport.aclose()


async def test_gzip_body_is_decompressed(serve, make_transport) -> None:  # type: ignore[no-untyped-def]
    packed = gzip.compress(b'{"answer": "unpacked"}')

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        head = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(packed)
        writer.write(head + packed)
        await writer.drain()

    transport = make_transport()
    response = await transport.send(post(await serve(handler)), Timeouts())
    assert await response.read() == b'{"answer": "unpacked"}'
    await response.aclose()
    await transport.aclose()


async def test_proxy_settings_in_the_environment_are_ignored(serve, make_transport, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Where upstream calls go is the configuration's decision, not whatever HTTP_PROXY a host happens to export.
    dead = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, dead)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
        await writer.drain()

    transport = make_transport()
    response = await transport.send(post(await serve(handler)), Timeouts())
    assert await response.read() == b"{}"
    await response.aclose()
    await transport.aclose()


async def test_concurrent_calls_each_get_their_own_answer(serve, make_transport) -> None:  # type: ignore[no-untyped-def]
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await read_request(reader)
                body = request.split(b"\r\n\r\n", 1)[1]
                await asyncio.sleep(0.01)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except asyncio.IncompleteReadError:
            writer.close()

    transport = make_transport()
    url = await serve(handler)

    async def one(n: int) -> bytes:
        request = HttpRequest("POST", url, {"content-type": "application/json"}, b'{"n": %d}' % n)
        response = await transport.send(request, Timeouts())
        try:
            return await response.read()
        finally:
            await response.aclose()

    answers = await asyncio.gather(*(one(n) for n in range(40)))
    expected = [b'{"n": %d}' % n for n in range(40)]
    assert answers == expected
    await transport.aclose()


async def test_get_without_a_body_and_headers_as_sent(serve, make_transport) -> None:  # type: ignore[no-untyped-def]
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\nx-one: 1\r\ncontent-length: 2\r\n\r\n[]")
        await writer.drain()

    transport = make_transport()
    url = (await serve(handler)).replace("/v1/chat/completions", "/v1/models?limit=2")
    response = await transport.send(HttpRequest("GET", url, {"X-Api-Key": "k"}, b""), Timeouts())
    assert response.status == 200
    assert response.headers["x-one"] == "1"
    assert await response.read() == b"[]"
    await response.aclose()
    head = seen[0].lower()
    assert head.startswith(b"get /v1/models?limit=2 http/1.1")
    assert b"x-api-key: k" in head
    assert b"cookie" not in head
    await transport.aclose()


async def test_total_timeout_bounds_a_trickling_answer(serve, make_transport) -> None:  # type: ignore[no-untyped-def]
    # Each byte arrives well within the read timeout, but the whole answer would take 2 s: the call's total (0.3 s)
    # ends it, whether the client times it (aiohttp) or the transport does (pyreqwest's fetch).
    url = await serve(trickle)
    client = tollway.Client(
        timeout=Timeouts(connect=1, read=1, total=0.3), environ={}, transport_factory=make_transport
    )
    started = asyncio.get_running_loop().time()
    with pytest.raises(tollway.Timeout):
        await client.acompletion(
            "openai/gpt-4o-mini",
            [{"role": "user", "content": "hi"}],
            api_base=url.removesuffix("/chat/completions"),
            api_key="k",
            num_retries=0,
        )
    assert asyncio.get_running_loop().time() - started < 1.5
    await client.aclose()


CLIENTS_COME_AND_GO = """
import asyncio, sys, threading
import tollway
from tollway.transport.__MODULE__ import __NAME__

async def handler(reader, writer):
    try:
        while True:
            head = (await reader.readuntil(b"\\r\\n\\r\\n")).lower()
            await reader.readexactly(int(head.split(b"content-length:")[1].split(b"\\r\\n")[0]))
            body = (
                b'{"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}],'
                b' "model": "m", "usage": {"prompt_tokens": 1, "total_tokens": 1}}'
            )
            head = b"HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\ncontent-length: %d\\r\\n\\r\\n"
            writer.write(head % len(body) + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()

loop = asyncio.new_event_loop()
threading.Thread(target=loop.run_forever, daemon=True).start()
server = asyncio.run_coroutine_threadsafe(asyncio.start_server(handler, "127.0.0.1", 0), loop).result()
base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
for round in range(4):
    # Each sync client runs its own event loop on a thread of its own and ends that thread on close().
    environ = {"OPENAI_API_KEY": "k", "OPENAI_API_BASE": base, "TOLLWAY_HTTP_CLIENT": "__CHOICE__"}
    client = tollway.Client(environ=environ, num_retries=0)
    assert client._transport_factory is __NAME__, client._transport_factory
    assert client.embedding("openai/text-embedding-3-small", "hi").to_dict()["data"][0]["embedding"] == [0.5]
    client.close()
    del client
print("four clients came and went")
"""


@pytest.mark.parametrize(
    ("choice", "module", "name"), [("reqwest", "reqwest", "ReqwestTransport"), ("h1", "h1", "H1Transport")]
)
def test_clients_on_loops_that_come_and_go(choice: str, module: str, name: str) -> None:
    # pyreqwest imported on a thread that then ended crashed the process on the next client (SIGSEGV): the SDK's
    # sync API does exactly that. A subprocess, so that a crash fails this test rather than the whole run.
    import subprocess
    import sys

    script = CLIENTS_COME_AND_GO.replace("__CHOICE__", choice).replace("__MODULE__", module).replace("__NAME__", name)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "four clients came and went" in done.stdout


ONE_CALL_THEN_EXIT = """
import asyncio, sys
from tollway.http import HttpRequest
from tollway.transport import Timeouts
from tollway.transport.reqwest import ReqwestTransport

async def main():
    transport = ReqwestTransport()
    response = await transport.send(HttpRequest("POST", sys.argv[1], {}, b"{}"), Timeouts())
    await response.read()
    await response.aclose()
    await transport.aclose()

asyncio.run(main())
"""


async def test_processes_that_used_reqwest_exit_cleanly(serve) -> None:  # type: ignore[no-untyped-def]
    # pyreqwest's runtime thread calling into Python while the interpreter finalises aborted about one such process
    # in sixteen ("Fatal Python error: PyGILState_Release", exit code -6); the transport now lets it settle at exit
    # (reqwest._settle). Forty processes, four at a time: with the old behaviour some abort nearly every run.
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
        await writer.drain()
        await reader.read()  # kept alive, as an upstream does, until the client's pool lets go

    url = await serve(handler)
    slots = asyncio.Semaphore(4)

    async def one() -> tuple[int | None, bytes]:
        async with slots:
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-c", ONE_CALL_THEN_EXIT, url, stderr=asyncio.subprocess.PIPE
            )
            _, err = await asyncio.wait_for(child.communicate(), 60)
            return child.returncode, err

    outcomes = await asyncio.gather(*(one() for _ in range(40)))
    failed = [(code, err.decode()[-500:]) for code, err in outcomes if code != 0]
    assert not failed, failed


def test_pyreqwest_is_not_first_imported_off_the_main_thread() -> None:
    # Off the main thread, with pyreqwest not yet imported, a client falls back to aiohttp (see available()).
    import subprocess
    import sys

    script = (
        "import threading, sys\n"
        "from tollway.transport import default_transport\n"
        "seen = []\n"
        "env = {'TOLLWAY_HTTP_CLIENT': 'reqwest'}\n"
        "t = threading.Thread(target=lambda: seen.append(default_transport(env).__name__)); t.start(); t.join()\n"
        "seen.append('pyreqwest.client' in sys.modules)\n"
        "seen.append(default_transport(env).__name__)\n"
        "print(seen)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "['AiohttpTransport', False, 'ReqwestTransport']"


async def test_cookies_an_upstream_sets_are_not_sent_back(serve, make_transport) -> None:  # type: ignore[no-untyped-def]
    # Every caller's requests share one pool: a cookie from one answer must not travel with the next request.
    heads: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                heads.append((await read_request(reader)).lower())
                writer.write(b"HTTP/1.1 200 OK\r\nset-cookie: session=abc; Path=/\r\ncontent-length: 2\r\n\r\n{}")
                await writer.drain()
        except asyncio.IncompleteReadError:
            writer.close()

    transport = make_transport()
    # A host name: aiohttp's default jar never stores cookies of a bare IP address, so only this shows a jar.
    url = (await serve(handler)).replace("127.0.0.1", "localhost")
    for _ in range(2):
        response = await transport.send(post(url), Timeouts())
        await response.read()
        await response.aclose()
    assert len(heads) == 2
    assert b"cookie" not in heads[1]
    await transport.aclose()


TLS_CLIENT = """
import asyncio
from tollway.http import HttpRequest
from tollway.transport import Timeouts
from tollway.transport.{module} import {name}

async def main():
    transport = {name}()
    request = HttpRequest("POST", "{url}", {{"content-type": "application/json"}}, b"{{}}")
    response = await transport.send(request, Timeouts())
    print(await response.read())
    await response.aclose()
    await transport.aclose()

asyncio.run(main())
"""


async def test_tls_is_verified_and_ssl_cert_file_is_honoured(make_transport, tls_files, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # An upstream whose certificate no trusted CA signed is refused; a CA named by SSL_CERT_FILE (how a company CA
    # or a TLS-inspecting proxy's CA is usually given) is trusted, by both clients alike.
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files["cert"], tls_files["key"])

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client refused the certificate
        writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=context)
    # The address, not "localhost": a client trying ::1 first would fail on a refused connection, not on the cert.
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/chat/completions"
    try:
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        transport = make_transport()
        refused = r"(?i)cannot connect to 127\.0\.0\.1.*(certificate|issuer)"
        with pytest.raises(tollway.APIConnectionError, match=refused):
            await transport.send(post(url), Timeouts())
        await transport.aclose()
        # The trusted half in a fresh interpreter: aiohttp reads the CA store once, when it is imported.
        name = make_transport().__class__.__name__
        module = {"AiohttpTransport": "aiohttp", "ReqwestTransport": "reqwest", "H1Transport": "h1"}[name]
        script = TLS_CLIENT.format(module=module, name=name, url=url)
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            script,
            env={**os.environ, "SSL_CERT_FILE": tls_files["ca"]},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(child.communicate(), 30)
        assert child.returncode == 0, err.decode()[-2000:]
        assert out.decode().strip() == "b'{}'"
    finally:
        server.close()
        await server.wait_closed()

"""Slow clients over real sockets: a request's headers and body each have a deadline, and others keep being served.

Every socket test runs over both of tollway's protocols (httptools and h11), as uvicorn runs its own suite.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import uvicorn
from test_proxy_serve import free_port

from tollway.proxy.app import create_app
from tollway.proxy.gateway_config import GatewayConfig
from tollway.proxy.protocol import BODY, HEADERS, IDLE, Deadlines, protocol_class
from tollway.proxy.settings import GatewaySettings, StartupError

KEY = "sk-slowloris-master-key-0123456789"
AUTH = {"authorization": f"Bearer {KEY}"}
MODELS = ({"model_name": "mock/*", "litellm_params": {"model": "mock/*"}},)
CHAT = json.dumps({"model": "mock/x", "messages": [{"role": "user", "content": "hi"}]}).encode()
ANTHROPIC = json.dumps({"model": "mock/x", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}).encode()
HEADER_TIMEOUT = 0.5
BODY_TIMEOUT = 0.5

Kind = Literal["httptools", "h11"]


@contextmanager
def gateway(kind: Kind, *, header_timeout: float = HEADER_TIMEOUT, body_timeout: float = BODY_TIMEOUT) -> Iterator[int]:
    """The gateway on uvicorn with tollway's ``kind`` protocol, in a thread; yields its port."""
    settings = {"request_header_timeout": header_timeout, "request_body_timeout": body_timeout}
    app = create_app(GatewayConfig(model_list=MODELS, master_key=KEY, settings=settings), environ={})
    http = protocol_class(kind, header_timeout=header_timeout, body_timeout=body_timeout)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", http=http, ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(params=["httptools", "h11"])
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    with gateway(request.param) as bound:
        yield bound


def head(path: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def until_closed(sock: socket.socket, limit: float = 10.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed (monotonic)."""
    sock.settimeout(limit)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data, time.monotonic()
        data += chunk


def parse(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head_part, _, body = raw.partition(b"\r\n\r\n")
    lines = head_part.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, json.loads(body)


def served(port: int) -> int:
    """A normal request on its own connection."""
    response = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", content=CHAT, headers=AUTH, timeout=5)
    return response.status_code


# -- headers ---------------------------------------------------------------------------------------------------------


def test_half_headers_are_cut_off_while_others_are_served(port: int) -> None:
    with connect(port) as stalled:
        started = time.monotonic()
        stalled.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nContent-Type: appl")
        assert served(port) == 200  # meanwhile, on another connection
        data, closed = until_closed(stalled)
    assert data == b""  # no request yet, nothing to answer
    assert HEADER_TIMEOUT - 0.05 <= closed - started < HEADER_TIMEOUT + 1.5


def test_trickled_headers_do_not_extend_the_deadline(port: int) -> None:
    with connect(port) as sock:
        started = time.monotonic()
        line = b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n" + b"X-Pad: a\r\n" * 100
        try:
            for byte in line:  # one byte every 20 ms: each arrives well within the deadline, the whole never does
                sock.sendall(bytes([byte]))
                time.sleep(0.02)
        except OSError:
            pass  # closed under us: what the test expects
        _, closed = until_closed(sock)
    assert HEADER_TIMEOUT - 0.05 <= closed - started < HEADER_TIMEOUT + 1.5


def test_a_silent_connection_is_closed(port: int) -> None:
    with connect(port) as sock:
        started = time.monotonic()
        _, closed = until_closed(sock)
    assert HEADER_TIMEOUT - 0.05 <= closed - started < HEADER_TIMEOUT + 1.5


def test_kept_alive_connection_times_each_request_from_its_first_byte(port: int) -> None:
    with connect(port) as sock:
        for pause in (HEADER_TIMEOUT + 0.3, 0):
            sock.sendall(head("/v1/chat/completions", len(CHAT)) + CHAT)
            status, headers, _ = _read_response(sock)
            assert status == 200
            assert headers.get("connection") != "close"
            time.sleep(pause)  # idle between requests is the keep-alive timeout's business (5 s), not the headers'


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    """One whole response (with a Content-Length) from a connection that stays open."""
    sock.settimeout(5)
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += sock.recv(65536)
    head_part, _, body = raw.partition(b"\r\n\r\n")
    lines = head_part.decode().lower().split("\r\n")
    length = int(next(line.split(": ", 1)[1] for line in lines if line.startswith("content-length:")))
    while len(body) < length:
        body += sock.recv(65536)
    return parse(head_part + b"\r\n\r\n" + body)


# -- bodies ----------------------------------------------------------------------------------------------------------


def test_half_a_body_gets_408_in_the_openai_envelope(port: int) -> None:
    with connect(port) as stalled:
        started = time.monotonic()
        stalled.sendall(head("/v1/chat/completions", len(CHAT)) + CHAT[: len(CHAT) // 2])
        assert served(port) == 200
        raw, closed = until_closed(stalled)
    status, headers, body = parse(raw)
    assert status == 408
    assert body["error"]["code"] == "request_timeout"
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert headers["x-request-id"]
    assert BODY_TIMEOUT - 0.05 <= closed - started < BODY_TIMEOUT + 1.5  # and the connection is not kept


def test_no_body_at_all_gets_408(port: int) -> None:
    with connect(port) as stalled:
        started = time.monotonic()
        stalled.sendall(head("/v1/embeddings", 40))
        raw, closed = until_closed(stalled)
    assert parse(raw)[0] == 408
    assert closed - started < BODY_TIMEOUT + 1.5


def test_half_a_body_on_messages_gets_anthropics_envelope(port: int) -> None:
    with connect(port) as stalled:
        started = time.monotonic()
        stalled.sendall(head("/v1/messages", len(ANTHROPIC)) + ANTHROPIC[:10])
        raw, closed = until_closed(stalled)
    status, _, body = parse(raw)
    assert status == 408
    assert body["type"] == "error"
    assert body["error"]["type"] == "timeout_error"
    assert closed - started < BODY_TIMEOUT + 1.5


def test_a_body_sent_in_parts_within_the_deadline_is_served() -> None:
    with gateway("httptools", body_timeout=2.0) as bound, connect(bound) as sock:
        sock.sendall(head("/v1/chat/completions", len(CHAT)) + CHAT[:10])
        time.sleep(0.2)
        sock.sendall(CHAT[10:])
        assert _read_response(sock)[0] == 200


# -- the deadline bookkeeping, and read_body under other servers ------------------------------------------------------


async def test_a_short_header_deadline_is_not_delayed_by_a_body_timer() -> None:
    loop = asyncio.get_running_loop()
    expired: list[tuple[int, float]] = []
    deadlines = Deadlines(loop, 0.1, 5.0, lambda phase: expired.append((phase, loop.time())))
    deadlines.enter(BODY)  # arms the timer for the body's 5 s
    deadlines.enter(IDLE)
    started = loop.time()
    deadlines.enter(HEADERS)  # must not wait for that 5 s timer
    await asyncio.sleep(0.4)
    deadlines.stop()
    assert [phase for phase, _ in expired] == [HEADERS]
    assert expired[0][1] - started < 0.3


async def test_read_body_times_itself_without_tollways_protocol() -> None:
    config = GatewayConfig(model_list=MODELS, master_key=KEY, settings={"request_body_timeout": 0.3})
    app = create_app(config, environ={})

    async def stalled() -> AsyncIterator[bytes]:
        yield CHAT[:10]
        await asyncio.sleep(5)
        yield CHAT[10:]

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        started = time.monotonic()
        response = await http.post("/v1/chat/completions", content=stalled(), headers=AUTH)
    assert response.status_code == 408
    assert response.json()["error"]["code"] == "request_timeout"
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("value", [0, -1, "soon", True])
def test_timeouts_must_be_positive_seconds(value: object) -> None:
    for name in ("request_header_timeout", "request_body_timeout"):
        with pytest.raises(StartupError, match=name):
            GatewaySettings.from_config(GatewayConfig(master_key=KEY, settings={name: value}))


def test_timeouts_default_and_configured() -> None:
    default = GatewaySettings.from_config(GatewayConfig(master_key=KEY))
    assert (default.header_timeout, default.body_timeout) == (10.0, 30.0)
    config = GatewayConfig(master_key=KEY, settings={"request_header_timeout": 2, "request_body_timeout": "4.5"})
    configured = GatewaySettings.from_config(config)
    assert (configured.header_timeout, configured.body_timeout) == (2.0, 4.5)


# -- tollway serve, configured from a file ---------------------------------------------------------------------------


def test_tollway_serve_applies_the_configured_deadlines(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("general_settings:\n  request_header_timeout: 0.5\n  request_body_timeout: 0.5\n")
    bound = free_port()
    command = [sys.executable, "-m", "tollway.cli", "serve", "--dev", "--config", str(config), "--port", str(bound)]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=dict(os.environ), cwd=tmp_path) as process:
        try:
            _wait_ready(bound, process)
            with connect(bound) as half_head, connect(bound) as half_body:
                started = time.monotonic()
                half_head.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: g")
                half_body.sendall(head("/v1/chat/completions", len(CHAT)) + CHAT[:5])
                assert served(bound) == 200
                assert until_closed(half_head)[0] == b""
                assert parse(until_closed(half_body)[0])[0] == 408
                assert time.monotonic() - started < 3
        finally:
            process.terminate()
            process.communicate(timeout=15)


def _wait_ready(bound: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while True:
        assert process.poll() is None, "the gateway exited"
        try:
            if httpx.get(f"http://127.0.0.1:{bound}/health/liveliness", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the gateway did not become ready"
        time.sleep(0.05)

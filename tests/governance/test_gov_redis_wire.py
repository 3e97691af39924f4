"""``RedisWire``: the counters' pipelined Redis connection — replies matched in order under concurrency, partial
reads, error replies, AUTH and SELECT from the URL, unix sockets, and every way a connection can fail."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tollway.governance.counters import CounterUnavailable, RateClaim, Ticket
from tollway.governance.counters_redis import RedisCounter
from tollway.governance.redis_wire import RedisReplyError, RedisWire, encode_command, parse_reply


def test_commands_are_resp_arrays_of_bulk_strings() -> None:
    assert encode_command(("SET", "k", 12, 1.5, b"\x00")) == (
        b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n$3\r\n1.5\r\n$1\r\n\x00\r\n"
    )
    with pytest.raises(TypeError):
        encode_command(("SET", None))  # type: ignore[arg-type]


def test_replies_parse_whole_or_not_at_all() -> None:
    reply = b"*4\r\n:1\r\n$6\r\nh\xc3\xa9llo\r\n$-1\r\n*2\r\n+OK\r\n:-7\r\n"
    assert parse_reply(reply, 0) == ([1, "héllo", None, ["OK", -7]], len(reply))
    for cut in range(len(reply)):  # any prefix is "not yet"
        assert parse_reply(reply[:cut], 0) is None
    error, end = parse_reply(b"-NOSCRIPT No matching script\r\n", 0)  # type: ignore[misc]
    assert isinstance(error, RedisReplyError)
    assert (error.kind, end) == ("NOSCRIPT", 30)
    assert parse_reply(b"*-1\r\n", 0) == (None, 5)
    with pytest.raises(ConnectionError):
        parse_reply(b"?what\r\n", 0)


async def test_concurrent_callers_get_their_own_replies(redis_url: str, redis_prefix: str) -> None:
    wire = RedisWire(redis_url)
    try:
        key = f"{redis_prefix}n"
        replies = await asyncio.gather(*(wire.call("INCRBY", key, 1) for _ in range(500)))
        assert sorted(replies) == list(range(1, 501))
        values = await asyncio.gather(*(wire.call("ECHO", f"v{i}" * (i % 50)) for i in range(300)))
        assert values == [f"v{i}" * (i % 50) for i in range(300)]  # big and small replies, in order
        with pytest.raises(RedisReplyError, match=r"WRONGTYPE|ERR"):
            await wire.call("HGET", key, "field")
        assert await wire.call("GET", key) == "500"  # the connection goes on after an error reply
    finally:
        await wire.aclose()


async def test_commands_of_one_turn_of_the_loop_leave_in_one_write(redis_url: str, redis_prefix: str) -> None:
    # On loopback a write also runs Redis's side of TCP in the writer's thread: one per turn, not one per command
    # (bench/RESULTS.md: 51-57 -> 31-35 µs of system time per request with PostgreSQL + Redis).
    wire = RedisWire(redis_url)
    try:
        assert await wire.call("PING") == "PONG"
        protocol: Any = wire._protocol
        real = protocol._transport
        writes: list[bytes] = []

        class Recording:
            def write(self, data: bytes) -> None:
                writes.append(data)
                real.write(data)

            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

        protocol._transport = Recording()
        key = f"{redis_prefix}turn"
        replies = await asyncio.gather(*(wire.call("INCRBY", key, 1) for _ in range(20)))
        assert sorted(replies) == list(range(1, 21))
        assert len(writes) == 1
        assert writes[0].count(b"INCRBY") == 20
        assert await wire.call("GET", key) == "20"  # and a command alone still goes
        assert len(writes) == 2
    finally:
        await wire.aclose()


def test_the_wire_runs_on_uvloop(redis_url: str) -> None:
    uvloop = pytest.importorskip("uvloop")

    async def calls() -> list[Any]:
        wire = RedisWire(redis_url)
        try:
            return await asyncio.gather(*(wire.call("ECHO", str(i)) for i in range(50)))
        finally:
            await wire.aclose()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(calls()) == [str(i) for i in range(50)]


async def test_a_cancelled_caller_does_not_shift_the_replies(redis_url: str) -> None:
    wire = RedisWire(redis_url)
    try:
        await wire.call("PING")
        slow = asyncio.ensure_future(wire.call("ECHO", "first"))
        second = asyncio.ensure_future(wire.call("ECHO", "second"))
        await asyncio.sleep(0)
        slow.cancel()
        assert await second == "second"
        assert await wire.call("ECHO", "third") == "third"
    finally:
        await wire.aclose()


class _Server:
    """A loopback TCP server running ``handle`` per connection, every connection closed at the end."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> _Server:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._writers.append(writer)
            await self._handle(reader, writer)

        self._server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        await self._server.wait_closed()


@pytest.fixture
async def silent_server() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A TCP server that reads everything and never answers (a hung Redis)."""
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            received.append(data)

    async with _Server(handle) as server:
        yield server.port, received


async def test_a_reply_too_late_fails_every_command_in_flight(silent_server: tuple[int, list[bytes]]) -> None:
    port, received = silent_server
    wire = RedisWire(f"redis://127.0.0.1:{port}/0", timeout=0.1)
    try:
        results = await asyncio.gather(*(wire.call("PING") for _ in range(3)), return_exceptions=True)
        assert all(isinstance(result, TimeoutError) for result in results)
        assert b"".join(received).count(b"PING") == 3
        with pytest.raises(TimeoutError):  # a new connection, silent again
            await wire.call("PING")
    finally:
        await wire.aclose()


async def test_the_counter_maps_a_hung_redis_to_unavailable(silent_server: tuple[int, list[bytes]]) -> None:
    port, _ = silent_server
    counter = RedisCounter.from_url(f"redis://u:secret@127.0.0.1:{port}/0", socket_timeout=0.1)
    try:
        with pytest.raises(CounterUnavailable, match=r"TimeoutError") as caught:
            await counter.admit([RateClaim("key:a", rpm=1, tpm=None)])
        assert "secret" not in str(caught.value)
    finally:
        await counter.aclose()


async def test_an_unexpected_reply_drops_the_connection() -> None:
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while await reader.read(65536):
            writer.write(b"+OK\r\n+OK\r\n")  # two replies to one command: the second is nobody's

    async with _Server(handle) as server:
        wire = RedisWire(f"redis://127.0.0.1:{server.port}", timeout=1.0)
        try:
            assert await wire.call("PING") == "OK"
            await asyncio.sleep(0.05)
            assert await wire.call("PING") == "OK"
            assert len(connections) == 2  # replies could no longer be matched: a new connection
        finally:
            await wire.aclose()


async def test_refused_connections_and_bad_urls(closed_port: int) -> None:
    wire = RedisWire(f"redis://127.0.0.1:{closed_port}")
    with pytest.raises(ConnectionError):
        await wire.call("PING")
    await wire.aclose()
    with pytest.raises(ValueError, match="not a Redis URL"):
        RedisWire("http://127.0.0.1:6379")


async def test_concurrent_first_calls_share_one_connect(redis_url: str) -> None:
    wire = RedisWire(redis_url)
    try:
        await asyncio.gather(*(wire.call("PING") for _ in range(20)))
        assert await wire.call("CLIENT", "ID") == await wire.call("CLIENT", "ID")
    finally:
        await wire.aclose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _PasswordRedis:
    """A private redis-server with a password and a unix socket."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.socket = str(directory / "redis.sock")
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
                *("--requirepass", "p@ss word", "--unixsocket", self.socket),
            ],
            cwd=directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def ready(self) -> None:
        socket_file = Path(self.socket)
        for _ in range(250):
            if socket_file.exists():  # noqa: ASYNC240 - a stat while polling for a test server
                return
            await asyncio.sleep(0.02)
        raise RuntimeError("redis-server did not start")


@pytest.fixture
async def password_redis(tmp_path: Path) -> AsyncIterator[_PasswordRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = _PasswordRedis(tmp_path)
    await server.ready()
    yield server
    server.process.terminate()
    server.process.wait(timeout=10)


async def test_auth_and_database_come_from_the_url(password_redis: _PasswordRedis) -> None:
    port = password_redis.port
    wire = RedisWire(f"redis://:p%40ss%20word@127.0.0.1:{port}/3")
    other = RedisWire(f"redis://default:p%40ss%20word@127.0.0.1:{port}?db=0")
    unix = RedisWire(f"unix://{password_redis.socket}?db=3")
    try:
        await wire.call("SET", "k", "in-3")
        assert await other.call("GET", "k") is None
        with pytest.raises(ConnectionError, match="NOAUTH"):
            await unix.call("GET", "k")  # no password in that URL: SELECT is refused
        unix = RedisWire(f"unix://:p%40ss%20word@{password_redis.socket}?db=3")
        assert await unix.call("GET", "k") == "in-3"
        wrong = RedisWire(f"redis://:nope@127.0.0.1:{port}/0")
        with pytest.raises(ConnectionError, match="refused the connection"):
            await wrong.call("PING")
        counter = RedisCounter.from_url(f"redis://:nope@127.0.0.1:{port}/0")
        with pytest.raises(CounterUnavailable):
            await counter.admit([RateClaim("key:a", rpm=1, tpm=None)])
        counter = RedisCounter.from_url(f"redis://:p%40ss%20word@127.0.0.1:{port}/3")
        assert isinstance(await counter.admit([RateClaim("key:a", rpm=1, tpm=None)]), Ticket)
        await counter.aclose()
    finally:
        for each in (wire, other, unix):
            await each.aclose()


async def test_a_restarted_redis_is_reconnected(private_redis: Any) -> None:
    wire = RedisWire(private_redis.url, timeout=1.0)
    try:
        assert await wire.call("PING") == "PONG"
        private_redis.command("CLIENT", "KILL", "TYPE", "normal")
        failed = None
        for _ in range(50):  # the kill reaches us as a closed connection
            try:
                await wire.call("PING")
            except ConnectionError as error:
                failed = error
                break
            await asyncio.sleep(0.01)
        assert isinstance(failed, ConnectionError)
        assert await wire.call("PING") == "PONG"
    finally:
        await wire.aclose()

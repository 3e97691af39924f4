"""``RedisWire``: one pipelined Redis connection for the counters' hot path (an EVALSHA or two per request).

redis-py costs 65-130 µs of CPU per command (connection pool, retry wrapper, timeout context managers, a
pure-Python reply parser), more than the whole request it guards. The counters need a handful of commands only, all
small, so this speaks RESP2 itself over one asyncio connection: the commands of concurrent callers leave together, in
one write at the end of the loop's turn, and Redis answers in order, so the replies are matched first in, first out
(auto-pipelining, as ioredis does). A command then costs 8-50 µs of CPU (less the busier the gateway: replies to
many callers arrive in one read). One write per turn rather than per command matters on loopback, where writing
also runs Redis's side of TCP in the writer's thread: 51-57 -> 31-35 µs of system time per request with a virtual
key on PostgreSQL + Redis (bench/RESULTS.md).

Failure model, what the counters need and no more:

- Not connected: the first call connects (``connect_timeout``), authenticates (``AUTH``) and selects the database
  of the URL; concurrent first callers share that connect. A failed connect raises ``ConnectionError``.
- A reply later than ``timeout`` seconds, or a connection lost with commands in flight: every command in flight fails
  (``TimeoutError`` / ``ConnectionError``) and the connection is dropped; the next call reconnects. Nothing is
  retried here: a command that was sent may have run, and only the caller knows whether running it twice is safe.
- An error reply (``-NOSCRIPT ...``, ``-READONLY ...``) raises ``RedisReplyError`` for that command alone.

URLs: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` (TLS, verified against the system's CAs) and
``unix:///path/to/socket[?db=N]``, with ``?db=N`` accepted on any of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["RedisReplyError", "RedisWire", "encode_command", "parse_reply"]

_CRLF = b"\r\n"
# The header of a bulk string of each usual size ("$12\r\n"): a lookup instead of a formatting per argument, a fifth
# of encode_command's instructions (callgrind, an admit's 23 arguments: 63k -> 51k).
_HEADED = 1024
_BULK_HEADERS = tuple(b"$%d\r\n" % size for size in range(_HEADED))


class RedisReplyError(Exception):
    """Redis answered a command with an error (``-KIND message``); ``kind`` is its first word (``NOSCRIPT``...)."""

    @property
    def kind(self) -> str:
        """The error's code: the first word of the reply."""
        return str(self).split(" ", 1)[0]


def encode_command(args: tuple[str | int | float | bytes, ...]) -> bytes:
    """One command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if type(arg) is str:
            data = arg.encode()
        elif type(arg) is int:
            data = b"%d" % arg
        elif type(arg) is float:
            data = repr(arg).encode()
        elif isinstance(arg, bytes):
            data = arg
        else:
            raise TypeError(f"cannot send {type(arg).__name__} to Redis")
        size = len(data)
        parts += (_BULK_HEADERS[size] if size < _HEADED else b"$%d\r\n" % size, data, _CRLF)
    return b"".join(parts)


def parse_reply(buffer: bytes, pos: int) -> tuple[Any, int] | None:  # noqa: PLR0911 - one return per reply type
    """The reply starting at ``buffer[pos]`` and the position after it, or None when it has not all arrived yet.
    Bulk and status strings come back as ``str``, integers as ``int``, nil as None, errors as ``RedisReplyError``
    (returned, not raised: it belongs to one caller)."""
    end = buffer.find(_CRLF, pos)
    if end < 0:
        return None
    kind = buffer[pos]
    start = pos + 1
    pos = end + 2
    if kind == 36:  # $ bulk string
        size = int(buffer[start:end])
        if size < 0:
            return None, pos
        if len(buffer) < pos + size + 2:
            return None
        return buffer[pos : pos + size].decode(), pos + size + 2
    if kind == 58:  # : integer
        return int(buffer[start:end]), pos
    if kind == 42:  # * array
        count = int(buffer[start:end])
        if count < 0:
            return None, pos
        items = []
        for _ in range(count):
            item = parse_reply(buffer, pos)
            if item is None:
                return None
            items.append(item[0])
            pos = item[1]
        return items, pos
    if kind == 43:  # + status
        return buffer[start:end].decode(), pos
    if kind == 45:  # - error
        return RedisReplyError(buffer[start:end].decode("utf-8", "replace")), pos
    raise ConnectionError(f"not a RESP2 reply from Redis (type byte {bytes([kind])!r})")


class _Protocol(asyncio.Protocol):
    """The connection: commands out, replies matched to their callers in order, one timer for all deadlines."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self._loop = loop
        self._timeout = timeout
        self._transport: asyncio.Transport | None = None
        self._waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._buffer = b""
        self._timer: asyncio.TimerHandle | None = None
        self._out: list[bytes] = []
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have the same methods.
        self._transport = cast("asyncio.Transport", transport)

    def send(self, payload: bytes) -> asyncio.Future[Any]:
        """Write one command; the future gets its reply."""
        transport = self._transport
        if self.lost or transport is None or transport.is_closing():
            raise ConnectionError("the Redis connection is closed")
        future: asyncio.Future[Any] = self._loop.create_future()
        deadline = self._loop.time() + self._timeout
        self._waiting.append((future, deadline))
        if self._timer is None:
            self._timer = self._loop.call_at(deadline, self._check_deadline)
        out = self._out
        out.append(payload)
        if len(out) == 1:
            self._loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        """Write the commands of this turn of the loop at once (one system call for the concurrent callers')."""
        out, self._out = self._out, []
        transport = self._transport
        if transport is not None and not self.lost:
            transport.write(out[0] if len(out) == 1 else b"".join(out))

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        pos, waiting = 0, self._waiting
        try:
            while pos < len(buffer):
                parsed = parse_reply(buffer, pos)
                if parsed is None:
                    break
                reply, pos = parsed
                if not waiting:
                    raise ConnectionError("Redis sent a reply nobody asked for")
                future = waiting.popleft()[0]
                if future.done():  # its caller was cancelled; the reply is dropped, the order kept
                    continue
                if type(reply) is RedisReplyError:
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except (ConnectionError, ValueError) as error:
            self._fail(ConnectionError(f"bad reply from Redis: {error}"))
            return
        self._buffer = buffer[pos:] if pos < len(buffer) else b""

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError(f"the Redis connection was lost ({exc or 'closed'})"))

    def close(self) -> None:
        """Close the connection; commands in flight fail."""
        self._fail(ConnectionError("the Redis connection was closed"))

    def _check_deadline(self) -> None:
        self._timer = None
        if not self._waiting:
            return
        deadline = self._waiting[0][1]
        if self._loop.time() >= deadline:
            self._fail(TimeoutError(f"Redis did not answer within {self._timeout:g} s"))
        else:
            self._timer = self._loop.call_at(deadline, self._check_deadline)

    def _fail(self, error: Exception) -> None:
        """Fail every command in flight and drop the connection (replies could no longer be matched)."""
        self.lost = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._waiting:
            future = self._waiting.popleft()[0]
            if not future.done():
                future.set_exception(error)
                future.exception()  # retrieved: a caller cancelled meanwhile must not log "never retrieved"
        if self._transport is not None:
            self._transport.abort()


class RedisWire:
    """A lazily connected, pipelined Redis connection for ``url`` (see the module docstring)."""

    def __init__(self, url: str, *, timeout: float = 2.0, connect_timeout: float | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"not a Redis URL (redis://, rediss:// or unix://): {parts.scheme}://...")
        query = parse_qs(parts.query)
        database = query.get("db", [""])[0] or (parts.path.strip("/") if parts.scheme != "unix" else "")
        self._scheme = parts.scheme
        self._host = parts.hostname or "localhost"
        self._port = parts.port or 6379
        self._path = parts.path
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password is not None else None
        self._database = int(database) if database else 0
        where = parts.path if parts.scheme == "unix" else f"{self._host}:{self._port}"
        self.address = f"{parts.scheme}://{where}"
        """Where this connects, without credentials (for messages)."""
        self._timeout = timeout
        self._connect_timeout = timeout if connect_timeout is None else connect_timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    async def call(self, *args: str | int | float | bytes) -> Any:
        """Send one command and return its reply (``RedisReplyError`` for an error reply; ``ConnectionError`` or
        ``TimeoutError`` when Redis cannot be reached or does not answer in time)."""
        protocol = self._protocol
        if protocol is None or protocol.lost:
            protocol = await self._connected()
        return await protocol.send(encode_command(args))

    async def _connected(self) -> _Protocol:
        connecting = self._connecting
        if connecting is None:
            connecting = self._connecting = asyncio.ensure_future(self._connect())
            connecting.add_done_callback(self._connect_done)
        return await asyncio.shield(connecting)

    def _connect_done(self, connecting: asyncio.Future[_Protocol]) -> None:
        self._connecting = None
        if not connecting.cancelled() and connecting.exception() is None:
            self._protocol = connecting.result()

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        timeout = self._timeout

        def factory() -> _Protocol:
            return _Protocol(loop, timeout)

        async with asyncio.timeout(self._connect_timeout):
            if self._scheme == "unix":
                _, protocol = await loop.create_unix_connection(factory, self._path)
            else:
                context = ssl.create_default_context() if self._scheme == "rediss" else None
                _, protocol = await loop.create_connection(factory, self._host, self._port, ssl=context)
            try:
                if self._password is not None:
                    credentials = (self._username, self._password) if self._username else (self._password,)
                    await protocol.send(encode_command(("AUTH", *credentials)))
                if self._database:
                    await protocol.send(encode_command(("SELECT", self._database)))
            except RedisReplyError as error:
                protocol.close()
                # Wrong password, unknown database: to the counters that is Redis being out of reach.
                raise ConnectionError(f"Redis refused the connection: {error}") from None
            except BaseException:
                protocol.close()
                raise
        return protocol

    async def aclose(self) -> None:
        """Close the connection (a later call would open a new one)."""
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(BaseException):
                await self._connecting
        if self._protocol is not None:
            self._protocol.close()
            self._protocol = None

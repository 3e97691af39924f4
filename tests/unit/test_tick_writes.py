"""``TickWrites`` sends the writes queued in one turn of the event loop at its end, once per turn, whatever one
writer does; the h1 connection's request waits for the end of the turn it was started in, and an aborted one is
never written."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tollway.transport.h1_connection import Connection
from tollway.transport.tick_writes import TickWrites


class Writer:
    """A connection that records when its queue was sent."""

    def __init__(self, log: list[str], name: str, *, fails: bool = False) -> None:
        self.log, self.name, self.fails = log, name, fails

    def send_queued(self) -> None:
        if self.fails:
            raise OSError("the socket is gone")
        self.log.append(self.name)


class CountingLoop:
    """The running loop, counting what is scheduled on it."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.scheduled = 0

    def call_soon(self, callback: Any, *args: Any) -> asyncio.Handle:
        self.scheduled += 1
        return self.loop.call_soon(callback, *args)


async def test_writers_of_one_turn_are_sent_together_at_its_end_in_order() -> None:
    ticks, log = TickWrites(), []
    loop = CountingLoop()
    ticks.add(Writer(log, "a"), loop)  # type: ignore[arg-type]
    ticks.add(Writer(log, "b"), loop)  # type: ignore[arg-type]
    assert loop.scheduled == 1  # one callback for the turn
    assert log == []  # nothing before the turn ends
    await asyncio.sleep(0)
    assert log == ["a", "b"]
    ticks.add(Writer(log, "c"), loop)  # type: ignore[arg-type]  # a new turn: a new callback
    assert loop.scheduled == 2
    await asyncio.sleep(0)
    assert log == ["a", "b", "c"]


async def test_a_writer_that_fails_does_not_hold_back_the_others(caplog: pytest.LogCaptureFixture) -> None:
    ticks, log = TickWrites(), []
    loop = asyncio.get_running_loop()
    for writer in (Writer(log, "a"), Writer(log, "broken", fails=True), Writer(log, "c")):
        ticks.add(writer, loop)
    with caplog.at_level(logging.ERROR, logger="tollway.transport"):
        await asyncio.sleep(0)
    assert log == ["a", "c"]
    assert "a queued socket write failed" in caplog.text


async def test_a_write_queued_while_the_turn_is_sent_goes_in_the_next_turn() -> None:
    ticks, log = TickWrites(), []
    loop = asyncio.get_running_loop()

    class Requeuing(Writer):
        def send_queued(self) -> None:
            super().send_queued()
            ticks.add(Writer(log, "later"), loop)

    ticks.add(Requeuing(log, "first"), loop)
    await asyncio.sleep(0)
    assert log == ["first"]
    await asyncio.sleep(0)
    assert log == ["first", "later"]


def test_a_turn_left_on_a_loop_that_never_ran_again_does_not_stop_the_next_loop() -> None:
    ticks, log = TickWrites(), []
    dead = asyncio.new_event_loop()
    ticks.add(Writer(log, "lost with its loop"), dead)  # scheduled, but that loop never runs
    dead.close()

    async def on_a_new_loop() -> None:
        ticks.add(Writer(log, "sent"), asyncio.get_running_loop())
        await asyncio.sleep(0)

    asyncio.run(on_a_new_loop())
    assert log == ["sent"]


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.written.append(data)

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class _Pool:
    def release(self, connection: Connection) -> None:
        pass

    def forget(self, connection: Connection) -> None:
        pass


def _connections(count: int) -> tuple[list[Connection], list[_Transport]]:
    loop, ticks = asyncio.get_running_loop(), TickWrites()
    connections, transports = [], []
    for _ in range(count):
        connection, transport = Connection(loop, "upstream", _Pool(), ticks), _Transport()
        connection.connection_made(transport)  # type: ignore[arg-type]
        connections.append(connection)
        transports.append(transport)
    return connections, transports


async def test_requests_started_in_one_turn_are_written_at_its_end() -> None:
    connections, transports = _connections(2)
    for index, connection in enumerate(connections):
        connection.start(b"GET /%d HTTP/1.1\r\n\r\n" % index, whole=True, total=None, read=None)
    assert [t.written for t in transports] == [[], []]
    await asyncio.sleep(0)
    assert [t.written for t in transports] == [[b"GET /0 HTTP/1.1\r\n\r\n"], [b"GET /1 HTTP/1.1\r\n\r\n"]]


async def test_a_request_aborted_before_the_end_of_its_turn_is_never_written() -> None:
    (connection,), (transport,) = _connections(1)
    connection.start(b"GET / HTTP/1.1\r\n\r\n", whole=True, total=None, read=None)
    connection.abort()  # the call was cancelled in the same turn
    await asyncio.sleep(0)
    assert transport.written == []


async def test_a_request_on_a_connection_closing_before_the_end_of_its_turn_fails_as_unanswered() -> None:
    (connection,), (transport,) = _connections(1)
    waiter = connection.start(b"GET / HTTP/1.1\r\n\r\n", whole=True, total=None, read=None)
    transport.closed = True  # the server closed the idle connection just now
    await asyncio.sleep(0)
    assert transport.written == []
    connection.connection_lost(None)
    with pytest.raises(Exception, match="closed the connection without answering"):
        await waiter

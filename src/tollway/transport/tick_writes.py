"""``TickWrites``: socket writes held until the end of the event loop's current turn, then sent one after another.

Why. A write to a socket whose reader sleeps wakes that reader, and on loopback the writer pays for it: the kernel
delivers the bytes in the writer's system call and sends the reader's CPU an interrupt to wake it (an exit to the
hypervisor in a VM). Written as each answer is ready, every write of a busy gateway found its reader (the client,
the upstream) asleep again: 1.9 such interrupts per proxied request, against 0.8 for the floor pass-through. Held to
the end of the loop's turn, the writes of every request that finished in that turn leave back to back, and one
wake-up serves them all: 0.14 interrupts per request, system time 50-55 -> 23-26 µs and CPU 243 -> 187 µs per
request with a virtual key on SQLite (``bench/RESULTS.md``, 2026-11-28). What a write waits for is the rest of the
turn it was made in (the other callbacks that were ready with it) and one poll of the loop that does not wait
(something is ready): at one connection, p50 377 -> 386 µs (``bench/ab_gateway.py --conns 1``).

How. A writer (a connection) queues its bytes and calls ``add`` when its queue goes from empty to not; ``add``
schedules one ``call_soon`` per turn, which runs after the callbacks already scheduled in that turn and calls each
writer's ``send_queued``. A writer's own close sends its queue first, so nothing is reordered or lost.

One ``TickWrites`` serves one event loop at a time (the gateway's server protocol, one upstream transport): a
writer of another loop starts a new turn's list on that loop, and a list left on a loop that never runs again is
simply never sent (its connections are dead with it).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

__all__ = ["Queued", "TickWrites"]

logger = logging.getLogger("tollway.transport")


class Queued(Protocol):
    """A connection whose writes wait for the end of the turn."""

    def send_queued(self) -> None:
        """Write what is queued now (nothing if it was sent or dropped already). Must not raise for a closed
        connection: it drops its queue instead."""


class TickWrites:
    """The writers with bytes queued in the current turn of one event loop."""

    __slots__ = ("_loop", "_queued")

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queued: list[Queued] | None = None

    def add(self, writer: Queued, loop: asyncio.AbstractEventLoop) -> None:
        """Call ``writer.send_queued()`` at the end of ``loop``'s current turn (``loop`` is the running one).
        Call once per turn and writer: when its queue goes from empty to not."""
        queued = self._queued
        if queued is not None and self._loop is loop:
            queued.append(writer)
            return
        queued = self._queued = [writer]
        self._loop = loop
        loop.call_soon(self._send, queued)

    def _send(self, queued: list[Queued]) -> None:
        if self._queued is queued:
            self._queued = None  # writes made while these are sent belong to the next turn
        for writer in queued:
            try:
                writer.send_queued()
            except Exception:  # one connection's failure must not hold back the others' answers
                logger.exception("a queued socket write failed")

"""CPU per upstream call of tollway's three transports (h1, aiohttp, pyreqwest) against the fake upstream, in one run.

Usage: python bench/http_clients.py [--calls 4000] [--concurrency 16]

Starts ``fake_upstream.py`` pinned to core 1, pins itself to core 0, then for each transport sends the same chat
request (a ~1 KB answer), reads and parses the whole answer, and prints CPU µs per call (``time.process_time``:
every thread of this process, so pyreqwest's Rust threads are counted), sequentially and with ``--concurrency``
calls in flight. h1 and pyreqwest are measured twice: ``send`` then ``read`` (how streams start) and ``fetch`` (the
whole answer in one exchange, how the client takes non-streamed answers). The upstream client is most of what a
pass-through gateway spends (../shared/PERF.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from tollway.http import HttpRequest
from tollway.transport import Timeouts, Transport
from tollway.transport.aiohttp import AiohttpTransport
from tollway.transport.h1 import H1Transport
from tollway.transport.reqwest import ReqwestTransport

HERE = Path(__file__).resolve().parent
BODY = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
HEADERS = {"content-type": "application/json", "authorization": "Bearer upstream-key"}


async def by_send(transport: Any, request: HttpRequest, timeouts: Timeouts) -> None:
    response = await transport.send(request, timeouts)
    try:
        orjson.loads(await response.read())
    finally:
        await response.aclose()


async def by_fetch(transport: Any, request: HttpRequest, timeouts: Timeouts) -> None:
    orjson.loads((await transport.fetch(request, timeouts)).body)


One = Callable[[Any, HttpRequest, Timeouts], Awaitable[None]]


async def measure(
    make: Callable[[], Transport], one: One, url: str, calls: int, concurrency: int
) -> tuple[float, float]:
    transport, request, timeouts = make(), HttpRequest("POST", url, HEADERS, BODY), Timeouts()
    for _ in range(300):
        await one(transport, request, timeouts)
    started = time.process_time()
    for _ in range(calls):
        await one(transport, request, timeouts)
    sequential = (time.process_time() - started) / calls * 1e6
    rounds = calls // concurrency
    started = time.process_time()
    for _ in range(rounds):
        await asyncio.gather(*(one(transport, request, timeouts) for _ in range(concurrency)))
    concurrent = (time.process_time() - started) / (rounds * concurrency) * 1e6
    await transport.aclose()
    return sequential, concurrent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    pin = shutil.which("taskset") is not None and (os.cpu_count() or 1) > 1
    command = [*(["taskset", "-c", "1"] if pin else []), sys.executable, str(HERE / "fake_upstream.py"), "0"]
    upstream = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert upstream.stdout is not None
    port = int(upstream.stdout.readline().rsplit(":", 1)[1])
    if pin:
        os.sched_setaffinity(0, {0})
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    try:
        import uvloop

        print(f"{args.calls} calls, CPU µs per call; load average {os.getloadavg()[0]:.2f}")
        ways: list[tuple[str, Callable[[], Transport], One]] = [
            ("h1", H1Transport, by_send),
            ("h1 fetch", H1Transport, by_fetch),  # how the client takes non-streamed answers
            ("aiohttp", AiohttpTransport, by_send),
            ("pyreqwest", ReqwestTransport, by_send),
            ("pyreqwest fetch", ReqwestTransport, by_fetch),  # how the client takes non-streamed answers
        ]
        for name, make, one in ways:
            sequential, concurrent = uvloop.run(measure(make, one, url, args.calls, args.concurrency))
            print(f"{name:16} sequential {sequential:7.1f}   {args.concurrency} in flight {concurrent:7.1f}")
    finally:
        upstream.kill()


if __name__ == "__main__":
    main()

"""Where the gateway's CPU goes: cProfile (or plain timing) of in-process requests through ``create_app``.

Usage: python bench/profile_gateway.py [--which chat|stream] [--requests 3000] [--top 30] [--time | --callgrind]
       [--store none|sqlite|postgres] [--virtual-key] [--redis-url URL] [--database-url URL]

Starts ``fake_upstream.py`` in a subprocess (pinned to core 1 when possible; this process pins itself to core 0),
builds the app exactly as ``bench/gateway.py`` does (one ``openai/gpt-4o-mini`` deployment, a master key) and
calls it as an ASGI application directly: no HTTP server, no client, so what is profiled is Starlette, the
gateway's handlers, the router, the SDK and aiohttp's client. Requests are sequential. ``--time`` skips cProfile
and prints CPU µs per request instead (profiling inflates absolute figures; shares are what to read).

``--callgrind`` counts instructions instead: it runs this script twice under ``valgrind --tool=callgrind`` (warm-up
plus ``--requests`` / 6 requests, then plus ``--requests`` requests, each followed by writing the spend rows) and
prints the difference divided by the extra requests, i.e. the instructions of one request (its spend row included)
without start-up. Key cache reloads and timed flushes are turned off there, so the count does not depend on time.
Instruction counts do not depend on what else the machine runs, so they are the figure for an A/B of one change on
a busy machine (they do not count the kernel's work, nor Redis's or the database's).

``--store postgres`` uses ``--database-url`` (default: a scratch database on the local server, created and dropped)
and ``--redis-url`` (default ``redis://127.0.0.1:6379/0``; the counters then live in Redis under a fresh prefix).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib.util
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tollway.proxy.body import BODY_TIMEOUT as BODY_TIMEOUT_KEY
from tollway.proxy.gc_tuning import tuned_after_start

HERE = Path(__file__).resolve().parent
KEY = "sk-bench-master-key-0123456789"
CHAT = b'{"model": "fake", "messages": [{"role": "user", "content": "hi"}]}'
STREAM = b'{"model": "fake", "messages": [{"role": "user", "content": "hi"}], "stream": true}'


def start_upstream() -> tuple[subprocess.Popen[str], int]:
    pin = ["taskset", "-c", "1"] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
    command = [*pin, sys.executable, str(HERE / "fake_upstream.py"), "0"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, int(line.rsplit(":", 1)[1].strip())


def build_app(
    port: int,
    database_url: str | None = None,
    spool: str = ".tollway/spool",
    redis_url: str | None = None,
    *,
    timeless: bool = False,
) -> Any:
    from tollway.proxy.app import create_app
    from tollway.proxy.gateway_config import GatewayConfig

    model = {
        "model_name": "fake",
        "litellm_params": {
            "model": "openai/gpt-4o-mini",
            "api_base": f"http://127.0.0.1:{port}/v1",
            "api_key": "upstream-key",
        },
    }
    settings: dict[str, Any] = {"spend_spool_dir": spool, "redis_prefix": f"tollway-profile:{os.getpid()}:"}
    if timeless:
        # Under callgrind a request takes ~100x longer: with the usual 1 s key cache and 0.5 s flushes, reloads and
        # small flushes would grow with the wall time and swamp the count. Nothing here then depends on time.
        settings |= {"user_api_key_cache_ttl": 3600, "proxy_batch_write_at": 3600}
    config = GatewayConfig(
        model_list=(model,), master_key=KEY, database_url=database_url, redis_url=redis_url, settings=settings
    )
    return create_app(config)


async def virtual_key(app: Any) -> str:
    """A virtual key with limits and a budget that every request checks but never reaches."""
    from decimal import Decimal

    from tollway.governance.keys import generate_key, hash_key, key_name
    from tollway.governance.records import KeyRecord, Limits

    key = generate_key()
    limits = Limits(max_budget=Decimal(10**6), rpm_limit=10**8, tpm_limit=10**11)
    record = KeyRecord(token_hash=hash_key(key), key_name=key_name(key), limits=limits)
    await app.state.governance.stores.keys.create(record)
    return key


async def call(app: Any, body: bytes, key: str = KEY) -> int:
    """One POST /v1/chat/completions through the ASGI app; returns the status, checks a body came back."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"authorization", b"Bearer " + key.encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        # What tollway's own protocol (tollway serve) puts in every scope: it times request bodies with one timer
        # per connection, so read_body sets none of its own (an asyncio.timeout, ~21k instructions per request) as
        # it would under another ASGI server.
        BODY_TIMEOUT_KEY: False,
    }
    sent = False
    status = 0
    size = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # a client that stays connected
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, size
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            size += len(message.get("body", b""))

    await app(scope, receive, send)
    if status != 200 or not size:
        raise SystemExit(f"unexpected answer: status {status}, {size} bytes")
    return status


async def run(port: int, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        database, redis_url = f"sqlite:///{scratch}/tollway.db", None
        if args.store == "none":
            database = None
        elif args.store == "postgres":
            database, redis_url = await scratch_database(args.database_url), args.redis_url
        try:
            # As ``tollway serve`` runs it: the garbage collector tuned once started (tollway.proxy.gc_tuning).
            app = tuned_after_start(build_app(port, database, f"{scratch}/spool", redis_url, timeless=args.raw))
            async with app.router.lifespan_context(app):
                key = await virtual_key(app) if args.virtual_key else KEY
                await measure(app, key, args)
        finally:
            if args.store == "postgres":
                await drop_scratch(args.database_url)
                await drop_redis_keys(args.redis_url, f"tollway-profile:{os.getpid()}:")


SCRATCH_DB = f"tollway_profile_{os.getpid()}"


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def scratch_database(url: str) -> str:
    """A new, empty database on the server of ``url`` (the gateway migrates it at start)."""
    await _admin(url, f"CREATE DATABASE {SCRATCH_DB}")
    return url.rsplit("/", 1)[0] + f"/{SCRATCH_DB}"


async def drop_scratch(url: str) -> None:
    await _admin(url, f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)")


async def drop_redis_keys(url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def measure(app: Any, key: str, args: argparse.Namespace) -> None:
    which, requests = args.which, args.requests
    body = STREAM if which == "stream" else CHAT
    for _ in range(args.warmup):
        await call(app, body, key)
    if args.raw:  # under callgrind: the requests, then their spend rows written, nothing to print
        for _ in range(requests):
            await call(app, body, key)
        if app.state.governance is not None:
            await app.state.governance.writer.flush()
        return
    if args.time:
        for _ in range(3):
            started = time.process_time()
            for _ in range(requests):
                await call(app, body, key)
            print(f"{which}: {(time.process_time() - started) / requests * 1e6:.1f} CPU µs per request")
        return
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        await call(app, body, key)
    profiler.disable()
    report(profiler, which, requests, args.top)


def instructions(args: argparse.Namespace) -> None:
    """Instructions per request: two runs under callgrind that differ only in their number of requests."""
    few, many = max(args.requests // 6, 1), args.requests
    counts = []
    for requests in (few, many):
        with tempfile.TemporaryDirectory() as scratch:
            out = f"{scratch}/callgrind.out"
            command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__]
            command += ["--raw", "--requests", str(requests), "--warmup", str(args.warmup), "--which", args.which]
            command += ["--store", args.store, "--database-url", args.database_url, "--redis-url", args.redis_url]
            command += ["--virtual-key"] if args.virtual_key else []
            subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
            totals = [line for line in Path(out).read_text().splitlines() if line.startswith(("totals:", "summary:"))]
            counts.append(int(totals[0].split()[1]))
    per_request = (counts[1] - counts[0]) / (many - few)
    print(f"{args.which}: {per_request:,.0f} instructions per request (callgrind, {many - few} requests)")


def report(profiler: cProfile.Profile, which: str, requests: int, top: int) -> None:
    stats = pstats.Stats(profiler)
    entries = stats.stats  # type: ignore[attr-defined]  # {(file, line, func): (cc, nc, tt, ct, callers)}
    total = sum(tt for _cc, _nc, tt, _ct, _callers in entries.values())
    src = str(Path(importlib.util.find_spec("tollway").origin).parent)  # type: ignore[arg-type,union-attr]

    def show(title: str, rows: list[tuple[tuple[str, int, str], tuple[Any, ...]]], col: int) -> None:
        print(title)
        print(f"  {'share':>6} {'µs/req':>8} {'calls/req':>10}  function")
        for (file, line, func), data in rows[:top]:
            where = f"{file.removeprefix(src + '/')}:{line}" if file.startswith(src) else file
            share = data[col] / total
            print(f"  {share:6.1%} {data[col] / requests * 1e6:8.1f} {data[1] / requests:10.1f}  {func} ({where})")
        print()

    items = list(entries.items())
    print(f"cProfile of {requests} in-process gateway {which} requests ({total / requests * 1e6:.0f} µs per request)")
    show("Top functions by self time (all code)", sorted(items, key=lambda kv: kv[1][2], reverse=True), 2)
    mine = [kv for kv in items if kv[0][0].startswith(src)]
    show("tollway functions by self time", sorted(mine, key=lambda kv: kv[1][2], reverse=True), 2)
    show("tollway functions by cumulative time", sorted(mine, key=lambda kv: kv[1][3], reverse=True), 3)


def main() -> int:
    """Profile (or time) the in-process gateway."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--which", choices=("chat", "stream"), default="chat")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--time", action="store_true", help="CPU µs per request instead of a profile")
    parser.add_argument("--callgrind", action="store_true", help="instructions per request (valgrind)")
    parser.add_argument("--warmup", type=int, default=300, help="requests before measuring")
    parser.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store", choices=("none", "sqlite", "postgres"), default="none", help="the store")
    parser.add_argument("--virtual-key", action="store_true", help="call with a virtual key (needs --store)")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    if args.virtual_key and args.store == "none":
        parser.error("--virtual-key needs a store (--store sqlite or postgres)")
    if args.callgrind:
        instructions(args)
        return 0
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    proc, port = start_upstream()
    try:
        try:
            import uvloop

            runner: Any = uvloop.run
        except ImportError:
            runner = asyncio.run
        runner(run(port, args))
    finally:
        proc.terminate()
        proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())

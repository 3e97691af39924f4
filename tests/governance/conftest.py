"""Governance test fixtures: the real Redis (127.0.0.1:6379 on development and CI machines) with per-test key
prefixes, a private throw-away redis-server for fault tests, a movable clock, and every ``Counter`` implementation."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tollway.governance.counters import Counter, Loader
from tollway.governance.counters_memory import MemoryCounter
from tollway.governance.counters_redis import RedisCounter

T0 = 60.0 * 28_333_334
"""1_700_000_040.0 = 2023-11-14T22:14:00Z, the first second of a minute: where every test clock starts."""


def _skip_or_fail(message: str) -> None:
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"CI is set, so the Redis tests must run: {message}", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    """A loopback port nothing listens on (free when asked; tests use it at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()


class PrivateRedis:
    """A redis-server of this test alone, for what the shared one must not see: SCRIPT FLUSH, FLUSHALL, shutdown."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.command("PING")

    def command(self, *args: str) -> Any:
        """One command, waiting up to 5 s for the server to accept connections."""
        import redis

        deadline = time.monotonic() + 5.0
        while True:
            client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=2.0)
            try:
                return client.execute_command(*args)
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise
                time.sleep(0.02)
            finally:
                client.close()

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A fresh redis-server on a free loopback port, stopped after the test."""
    if shutil.which("redis-server") is None:
        _skip_or_fail("redis-server is not installed (apt-get install redis-server), needed for the Redis fault tests")
    server = PrivateRedis(tmp_path)
    yield server
    server.stop()


class Clock:
    """A clock the test moves: ``clock()`` is the current epoch second."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    """A clock at ``T0``."""
    return Clock()


MakeCounter = Callable[..., Counter]


@pytest.fixture(params=["memory", "redis"])
async def make_counter(request: pytest.FixtureRequest, clock: Clock) -> AsyncIterator[MakeCounter]:
    """A factory of counters of one implementation, on the test's clock: ``make_counter(loader=..., ...)``. For
    Redis every counter it makes is a separate client (a separate gateway instance) on the same prefix."""
    made: list[Counter] = []
    redis_args: dict[str, str] = {}
    if request.param == "redis":
        redis_args = {"url": request.getfixturevalue("redis_url"), "prefix": request.getfixturevalue("redis_prefix")}

    def make(*, loader: Loader | None = None, **options: Any) -> Counter:
        options.setdefault("clock", clock)
        counter: Counter
        if redis_args:
            counter = RedisCounter.from_url(redis_args["url"], prefix=redis_args["prefix"], loader=loader, **options)
        else:
            counter = MemoryCounter(loader=loader, **options)
        made.append(counter)
        return counter

    make.kind = request.param  # type: ignore[attr-defined]
    yield make
    for counter in made:
        await counter.aclose()


@pytest.fixture
def recording_loader() -> type[RecordingLoader]:
    """``RecordingLoader``, for tests to build loaders (test modules do not import conftest)."""
    return RecordingLoader


class RecordingLoader:
    """A loader answering from ``spent`` (default 0), recording each call; ``delay`` makes concurrent calls overlap."""

    def __init__(self, spent: dict[tuple[str, str], int] | None = None, delay: float = 0.0) -> None:
        self.spent = spent or {}
        self.delay = delay
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, scope: str, period: str) -> int:
        import asyncio

        self.calls.append((scope, period))
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.spent.get((scope, period), 0)

"""``RedisState`` only: instances sharing one Redis act as one state; races; key expiry; unreachable Redis."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable

import pytest

from tollway.errors import APIConnectionError, ConfigurationError
from tollway.router.state_redis import DEFAULT_PREFIX, RedisState

T0 = 60.0 * 28_333_334


@pytest.fixture
def make_state(redis_url: str, redis_prefix: str) -> Callable[..., RedisState]:
    """Build RedisStates on the test's prefix (each with its own connection pool, like separate gateways)."""

    def make(**options: float) -> RedisState:
        return RedisState.from_url(redis_url, prefix=redis_prefix, **options)

    return make


@pytest.fixture
async def pair(make_state: Callable[..., RedisState]) -> AsyncIterator[tuple[RedisState, RedisState]]:
    first, second = make_state(), make_state()
    yield first, second
    await first.aclose()
    await second.aclose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_two_instances_share_counters_and_cooldowns(pair: tuple[RedisState, RedisState]) -> None:
    first, second = pair
    assert await first.acquire("a", T0, rpm_limit=2, max_parallel=None)
    assert await second.acquire("a", T0, rpm_limit=2, max_parallel=None)
    assert not await first.acquire("a", T0, rpm_limit=2, max_parallel=None)
    await first.release("a", T0 + 1, tokens=30, latency=2.0, success=True)
    await second.release("a", T0 + 1, tokens=12, latency=1.0, success=False)
    await second.cool_down("a", T0 + 40)
    await first.cool_down("a", T0 + 20)  # another instance cannot shorten it
    stats = (await first.stats(["a"], T0 + 2))["a"]
    assert (stats.rpm_used, stats.tpm_used, stats.in_flight, stats.failures) == (2, 42, 0, 1)
    assert (stats.latency, stats.cooldown_until) == (2.0, T0 + 40)
    assert await first.cooldowns(T0 + 2) == await second.cooldowns(T0 + 2) == {"a": T0 + 40}


async def test_different_prefixes_are_separate(make_state: Callable[..., RedisState], redis_url: str) -> None:
    mine = make_state()
    other = RedisState.from_url(redis_url, prefix=mine.prefix + "other:")
    try:
        assert await mine.acquire("a", T0, rpm_limit=1, max_parallel=None)
        assert await other.acquire("a", T0, rpm_limit=1, max_parallel=None)
    finally:
        await mine.aclose()
        await other.aclose()


async def test_200_racing_acquires_on_two_instances_let_exactly_the_rpm_limit_through(
    pair: tuple[RedisState, RedisState],
) -> None:
    first, second = pair
    calls = [(first if i % 2 else second).acquire("a", T0 + 5, rpm_limit=50, max_parallel=None) for i in range(200)]
    results = await asyncio.gather(*calls)
    assert sum(results) == 50
    assert (await first.stats(["a"], T0 + 5))["a"].rpm_used == 50


async def test_racing_acquires_respect_max_parallel(pair: tuple[RedisState, RedisState]) -> None:
    first, second = pair
    calls = [(first if i % 2 else second).acquire("a", T0, rpm_limit=None, max_parallel=7) for i in range(200)]
    assert sum(await asyncio.gather(*calls)) == 7
    await asyncio.gather(*(first.release("a", T0 + 1, tokens=1, latency=None, success=True) for _ in range(7)))
    stats = (await second.stats(["a"], T0 + 1))["a"]
    assert (stats.in_flight, stats.tpm_used) == (0, 7)


def test_two_event_loops_in_two_threads_share_the_rpm_limit(redis_url: str, redis_prefix: str) -> None:
    """Two routers with their own event loop and connection pool (as two gateway processes would be)."""
    granted: list[int] = []
    start = threading.Barrier(2)

    async def gateway() -> int:
        state = RedisState.from_url(redis_url, prefix=redis_prefix)
        try:
            await state.ping()
            start.wait(timeout=10)  # both loops race from the same moment
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(state.acquire("a", T0, rpm_limit=50, max_parallel=None)) for _ in range(100)]
            return sum(task.result() for task in tasks)
        finally:
            await state.aclose()

    threads = [threading.Thread(target=lambda: granted.append(asyncio.run(gateway()))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(granted) == 2
    assert sum(granted) == 50


async def test_every_key_expires_except_the_cooldowns_hash(
    make_state: Callable[..., RedisState], redis_url: str, redis_prefix: str
) -> None:
    import redis.asyncio

    state = make_state(lease_seconds=30.0, latency_ttl=600.0)
    raw = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert await state.acquire("a", T0, rpm_limit=10, max_parallel=10)
        assert await state.acquire("a", T0, rpm_limit=10, max_parallel=10)
        await state.release("a", T0 + 1, tokens=5, latency=1.0, success=True)
        await state.release("b", T0 + 1, tokens=0, latency=None, success=False)
        await state.cool_down("a", T0 + 5)
        keys = sorted([key async for key in raw.scan_iter(match=f"{redis_prefix}*")])
        ttls = {key.removeprefix(redis_prefix): await raw.ttl(key) for key in keys}
        assert ttls.pop("cooldowns") == -1
        expected = {
            "rpm:{a}:28333334": 120,
            "tpm:{a}:28333334": 120,
            "fail:{b}:28333334": 120,
            "inflight:{a}": 31,
            "latency:{a}": 1200,
        }
        assert set(ttls) == set(expected)
        assert all(0 < ttls[key] <= limit for key, limit in expected.items())
        await state.release("a", T0 + 2, tokens=0, latency=None, success=True)
        assert not await raw.exists(redis_prefix + "inflight:{a}")  # the last lease freed: the zset is gone
        await state.cooldowns(T0 + 6)
        assert not await raw.exists(redis_prefix + "cooldowns")  # ended cooldowns are removed
    finally:
        await raw.aclose()
        await state.aclose()


async def test_stats_of_many_deployments_take_one_round_trip(
    make_state: Callable[..., RedisState], monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.asyncio.connection import AbstractConnection

    state = make_state()
    sent: list[object] = []
    original = AbstractConnection.send_packed_command

    async def counting(self: AbstractConnection, command: object, check_health: bool = True) -> None:
        sent.append(command)
        await original(self, command, check_health)  # type: ignore[arg-type]

    try:
        await state.ping()
        monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
        stats = await state.stats([f"d{i}" for i in range(50)], T0)
        assert len(stats) == 50
        assert len(sent) == 1
    finally:
        await state.aclose()


async def test_unreachable_redis_is_a_configuration_error_naming_it() -> None:
    port = free_port()
    state = RedisState.from_url(f"redis://user:s3cret@127.0.0.1:{port}/0")
    started = time.monotonic()
    try:
        with pytest.raises(
            ConfigurationError, match=f"cannot reach Redis at redis://user:\\*\\*\\*@127.0.0.1:{port}/0"
        ):
            await state.ping()
        with pytest.raises(ConfigurationError) as caught:
            await state.acquire("a", T0, rpm_limit=1, max_parallel=None)
        assert "s3cret" not in str(caught.value)
        assert "start Redis" in str(caught.value)
    finally:
        await state.aclose()
    assert time.monotonic() - started < 5  # fails fast, not after redis-py's default 10 retries


class Proxy:
    """A TCP proxy in front of the real Redis that can cut every connection, as a Redis outage would."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, upstream_writer]
        await asyncio.gather(self.pipe(reader, upstream_writer), self.pipe(upstream_reader, writer))

    @staticmethod
    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()


async def test_lost_redis_is_a_connection_error(redis_url: str, redis_prefix: str) -> None:
    from urllib.parse import urlsplit

    proxy = Proxy(urlsplit(redis_url).port or 6379)
    port = await proxy.start()
    state = RedisState.from_url(f"redis://127.0.0.1:{port}/0", prefix=redis_prefix)
    try:
        assert await state.acquire("a", T0, rpm_limit=1, max_parallel=None)
        await proxy.cut()
        with pytest.raises(APIConnectionError, match="lost the connection to Redis") as caught:
            await state.acquire("a", T0, rpm_limit=1, max_parallel=None)
        assert caught.value.provider == "redis"
        assert not isinstance(caught.value, ConfigurationError)
    finally:
        await state.aclose()


async def test_a_given_client_stays_open_after_aclose(redis_url: str, redis_prefix: str) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    state = RedisState(client, prefix=redis_prefix)
    assert state.prefix == redis_prefix
    assert await state.acquire("a", T0, rpm_limit=1, max_parallel=None)
    await state.aclose()
    try:
        assert await client.ping()
    finally:
        await client.aclose()


def test_defaults_and_lazy_import() -> None:
    assert DEFAULT_PREFIX == "tollway:router:"
    code = (
        "import sys, tollway, tollway.router.state_redis, tollway.router.state_memory; "
        "assert not [m for m in sys.modules if m == 'redis' or m.startswith('redis.')], 'redis imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

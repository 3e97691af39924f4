"""``RedisState``: the router's shared state in Redis, so every router sharing one Redis routes as one.

LiteLLM's deployment tpm/rpm pre-call checks read local memory only, so with N gateway replicas a deployment's limit
is multiplied by N (#27736, #40291), and its least-busy counter is a non-atomic read-modify-write. Here each
operation is one Lua script (or one pipeline, for reads), so checking a limit and counting against it is a single
atomic step on the server that every instance shares.

Keys (``P`` is the prefix, ``D`` a deployment id, ``W`` the minute window ``floor(now / 60)``):

```
P rpm:{D}:W        string   requests counted in window W           EXPIRE 120 s
P tpm:{D}:W        string   tokens released in window W            EXPIRE 120 s
P fail:{D}:W       string   failed calls released in window W      EXPIRE 120 s
P inflight:{D}     zset     one member per in-flight lease, scored by lease expiry; EXPIRE lease + 1 s
P latency:{D}      hash     v = latency EWMA, t = when last updated; EXPIRE 2 x latency_ttl
P cooldowns        hash     deployment id -> cooldown end (UNIX s); ended entries removed by ``cooldowns()``
```

``{D}`` is a Redis Cluster hash tag: one deployment's keys share a slot, so its scripts are cluster-safe. Every time
in the logic is the caller's ``now`` (the injected clock), never the Redis server's; key TTLs are only garbage
collection, so nothing grows without bound. Instances should keep their clocks in sync (NTP), as the minute windows
depend on it. The cooldowns hash has no TTL: it holds at most one field per deployment id ever cooled down.

Errors: when Redis has never answered (wrong URL, Redis not started, bad password) an operation raises
``ConfigurationError`` naming the address; call ``ping()`` when the router is built to get it at start-up. When a
Redis that answered before becomes unreachable, operations raise ``APIConnectionError`` (provider ``"redis"``): the
router must not mistake it for a deployment failure (no cooldown); it fails the request clearly instead of silently
routing on stale local counts.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from tollway.errors import APIConnectionError, ConfigurationError
from tollway.router.deployment import DeploymentStats
from tollway.router.state_memory import (
    DEFAULT_LATENCY_TTL,
    DEFAULT_LEASE_SECONDS,
    LATENCY_ALPHA,
    WINDOW_SECONDS,
    check_limits,
    window_of,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["DEFAULT_PREFIX", "RedisState"]

DEFAULT_PREFIX = "tollway:router:"

_T = TypeVar("_T")

# Two windows: a window's counters stay readable for the whole of it however late they were first written.
_WINDOW_TTL = 2 * WINDOW_SECONDS

# ARGV: rpm_limit, max_parallel (-1: none), now, lease expiry, lease member, window ttl, lease ttl.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
local rpm_limit = tonumber(ARGV[1])
if rpm_limit >= 0 and tonumber(redis.call('GET', KEYS[1]) or '0') >= rpm_limit then return 0 end
local max_parallel = tonumber(ARGV[2])
if max_parallel >= 0 and redis.call('ZCARD', KEYS[2]) >= max_parallel then return 0 end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[7])
return 1
"""

# ARGV: now, tokens, success (1/0), latency sample ('' for none), window ttl, latency ttl, alpha, latency key ttl.
# Same rules as MemoryState.release: expired leases go first, then the earliest-expiring lease is freed.
_RELEASE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZPOPMIN', KEYS[1])
local tokens = tonumber(ARGV[2])
if tokens > 0 then
  redis.call('INCRBY', KEYS[2], tokens)
  redis.call('EXPIRE', KEYS[2], ARGV[5])
end
if ARGV[3] == '0' then
  redis.call('INCR', KEYS[3])
  redis.call('EXPIRE', KEYS[3], ARGV[5])
elseif ARGV[4] ~= '' then
  local now = tonumber(ARGV[1])
  local value = tonumber(ARGV[4])
  local old = redis.call('HMGET', KEYS[4], 'v', 't')
  if old[1] and now - tonumber(old[2]) < tonumber(ARGV[6]) then
    local alpha = tonumber(ARGV[7])
    value = alpha * value + (1 - alpha) * tonumber(old[1])
  end
  redis.call('HSET', KEYS[4], 'v', string.format('%.17g', value), 't', ARGV[1])
  redis.call('EXPIRE', KEYS[4], ARGV[8])
end
return 1
"""

# ARGV: deployment id, until. Never shortens a cooldown.
_COOL_DOWN = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old or tonumber(old) < tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
"""

# ARGV: now. Returns the live cooldowns as a flat list and deletes the ended ones.
_COOLDOWNS = """
local all = redis.call('HGETALL', KEYS[1])
local now = tonumber(ARGV[1])
local live = {}
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) <= now then
    redis.call('HDEL', KEYS[1], all[i])
  else
    live[#live + 1] = all[i]
    live[#live + 1] = all[i + 1]
  end
end
return live
"""

# KEYS: one deployment's rpm, tpm, fail, inflight, latency keys (one hash slot); ARGV: '(now'. One reply per
# deployment instead of five: redis-py spends ~20 µs of CPU per reply, more than the server does.
_STATS = """
local latency = redis.call('HMGET', KEYS[5], 'v', 't')
return {redis.call('GET', KEYS[1]) or '', redis.call('GET', KEYS[2]) or '', redis.call('GET', KEYS[3]) or '',
  redis.call('ZCOUNT', KEYS[4], ARGV[1], '+inf'), latency[1] or '', latency[2] or ''}
"""


def _redact(url: str) -> str:
    """``url`` without its password, for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


def _number(value: Any) -> float:
    """A float from what Redis answered ('' or None: nothing stored)."""
    return float(value) if value not in ("", None) else 0.0


class RedisState:
    """The ``RouterState`` port in Redis: atomic across every router instance using the same Redis and ``prefix``.

    Build it with ``RedisState.from_url("redis://127.0.0.1:6379/0", prefix=...)``, or pass a ``redis.asyncio.Redis``
    created with ``decode_responses=True`` (then ``aclose`` leaves that client open: its creator owns it).
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        latency_ttl: float = DEFAULT_LATENCY_TTL,
        latency_alpha: float = LATENCY_ALPHA,
        address: str | None = None,
        owns_client: bool = False,
    ) -> None:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        if lease_seconds <= 0 or latency_ttl <= 0 or not 0.0 < latency_alpha <= 1.0:
            raise ValueError("lease_seconds and latency_ttl must be > 0 and latency_alpha in (0, 1]")
        self._redis = client
        self._prefix = prefix
        self._lease_seconds = lease_seconds
        self._latency_ttl = latency_ttl
        self._alpha = latency_alpha
        self._owns_client = owns_client
        self._address = address or self._describe(client)
        self._unreachable = (RedisConnectionError, RedisTimeoutError, OSError)
        self._answered = False
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._cool_down = client.register_script(_COOL_DOWN)
        self._cooldowns = client.register_script(_COOLDOWNS)
        self._stats = client.register_script(_STATS)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        latency_ttl: float = DEFAULT_LATENCY_TTL,
        latency_alpha: float = LATENCY_ALPHA,
        socket_timeout: float = 2.0,
        **redis_options: Any,
    ) -> RedisState:
        """A state on a new connection pool for ``url``. Nothing connects until the first operation (or ``ping``).

        Redis-py's default retries a refused connection 10 times; here 2 quick retries ride out a blip and a Redis
        that is down fails the request within about ``socket_timeout`` (pass ``retry=...`` to change it).
        """
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialWithJitterBackoff

        redis_options.setdefault("retry", Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.2), 2))
        redis_options.setdefault("socket_connect_timeout", socket_timeout)
        client = Redis.from_url(url, decode_responses=True, socket_timeout=socket_timeout, **redis_options)
        return cls(
            client,
            prefix=prefix,
            lease_seconds=lease_seconds,
            latency_ttl=latency_ttl,
            latency_alpha=latency_alpha,
            address=_redact(url),
            owns_client=True,
        )

    @staticmethod
    def _describe(client: Redis) -> str:
        kwargs = client.connection_pool.connection_kwargs
        if "path" in kwargs:
            return f"unix://{kwargs['path']}"
        return f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"

    @property
    def prefix(self) -> str:
        """The prefix of every key this state writes."""
        return self._prefix

    def _key(self, kind: str, deployment_id: str, window: int | None = None) -> str:
        key = f"{self._prefix}{kind}:{{{deployment_id}}}"
        return key if window is None else f"{key}:{window}"

    async def _call(self, operation: Callable[[], Awaitable[_T]]) -> _T:
        """Run one Redis operation, turning "cannot reach Redis" into a tollway error that says what to do."""
        try:
            result = await operation()
        except self._unreachable as exc:
            if not self._answered:
                raise ConfigurationError(
                    f"router state: cannot reach Redis at {self._address} ({type(exc).__name__}: {exc}); "
                    "start Redis there, fix the URL, or use MemoryState"
                ) from exc
            raise APIConnectionError(
                f"router state: lost the connection to Redis at {self._address} ({type(exc).__name__}: {exc})",
                provider="redis",
            ) from exc
        self._answered = True
        return result

    async def ping(self) -> None:
        """Check that Redis answers and load the stats script (call it when the router is built):
        ``ConfigurationError`` if Redis never answered."""
        await self._call(self._redis.ping)
        await self._call(lambda: self._redis.script_load(_STATS))

    async def stats(self, deployment_ids: Sequence[str], now: float) -> dict[str, DeploymentStats]:
        """Current stats of each deployment (missing ids get zero stats), read in one round trip."""
        from redis.exceptions import NoScriptError

        ids = list(dict.fromkeys(deployment_ids))
        if not ids:
            return {}
        window = window_of(now)

        async def read() -> list[Any]:
            # EVALSHA in a plain pipeline: redis-py's script-in-pipeline support adds a SCRIPT EXISTS round trip.
            pipe = self._redis.pipeline(transaction=False)
            for deployment_id in ids:
                keys = [self._key(kind, deployment_id, window) for kind in ("rpm", "tpm", "fail")]
                keys += [self._key("inflight", deployment_id), self._key("latency", deployment_id)]
                pipe.evalsha(self._stats.sha, len(keys), *keys, f"({now!r}")
            pipe.hmget(self._prefix + "cooldowns", ids)
            return list(await pipe.execute())

        try:
            replies = await self._call(read)
        except NoScriptError:  # Redis restarted or SCRIPT FLUSH: load it once more
            await self._call(lambda: self._redis.script_load(_STATS))
            replies = await self._call(read)
        cooldowns = replies[-1]
        return {deployment_id: self._stats_from(replies[i], cooldowns[i], now) for i, deployment_id in enumerate(ids)}

    def _stats_from(self, reply: list[Any], cooldown: Any, now: float) -> DeploymentStats:
        rpm, tpm, failures, in_flight, latency, latency_at = reply
        fresh = latency != "" and now - float(latency_at) < self._latency_ttl
        until = float(cooldown) if cooldown is not None else None
        return DeploymentStats(
            rpm_used=int(_number(rpm)),
            tpm_used=int(_number(tpm)),
            in_flight=int(in_flight),
            latency=float(latency) if fresh else None,
            cooldown_until=until if until is not None and until > now else None,
            failures=int(_number(failures)),
        )

    async def acquire(self, deployment_id: str, now: float, *, rpm_limit: int | None, max_parallel: int | None) -> bool:
        """Count one request in the current minute and take an in-flight lease, unless that would exceed
        ``rpm_limit`` requests this minute or ``max_parallel`` in flight; False (and nothing counted) then.
        The check and the count are one Lua script, so concurrent routers never overshoot together."""
        check_limits(rpm_limit, max_parallel)
        keys = [self._key("rpm", deployment_id, window_of(now)), self._key("inflight", deployment_id)]
        args: list[str | int] = [
            -1 if rpm_limit is None else rpm_limit,
            -1 if max_parallel is None else max_parallel,
            repr(now),
            repr(now + self._lease_seconds),
            uuid.uuid4().hex,
            _WINDOW_TTL,
            math.ceil(self._lease_seconds) + 1,
        ]
        taken = await self._call(lambda: self._acquire(keys=keys, args=args))
        return bool(int(taken))

    async def release(
        self, deployment_id: str, now: float, *, tokens: int, latency: float | None, success: bool
    ) -> None:
        """Free the earliest-expiring lease; add ``tokens`` to the minute's tpm; fold ``latency`` into the EWMA
        (when given and ``success``); count a failure in the current minute when not ``success``."""
        window = window_of(now)
        keys = [
            self._key("inflight", deployment_id),
            self._key("tpm", deployment_id, window),
            self._key("fail", deployment_id, window),
            self._key("latency", deployment_id),
        ]
        args: list[str | int] = [
            repr(now),
            max(int(tokens), 0),
            1 if success else 0,
            "" if latency is None else repr(float(latency)),
            _WINDOW_TTL,
            repr(self._latency_ttl),
            repr(self._alpha),
            math.ceil(2 * self._latency_ttl),
        ]
        await self._call(lambda: self._release(keys=keys, args=args))

    async def cool_down(self, deployment_id: str, until: float) -> None:
        """Skip the deployment until ``until`` (a later call with an earlier ``until`` does not shorten it)."""
        keys = [self._prefix + "cooldowns"]
        await self._call(lambda: self._cool_down(keys=keys, args=[deployment_id, repr(float(until))]))

    async def cooldowns(self, now: float) -> dict[str, float]:
        """Every deployment cooling down at ``now``, with the time it recovers; forgets cooldowns that are over."""
        keys = [self._prefix + "cooldowns"]
        flat = await self._call(lambda: self._cooldowns(keys=keys, args=[repr(now)]))
        return {str(flat[i]): float(flat[i + 1]) for i in range(0, len(flat), 2)}

    async def aclose(self) -> None:
        """Close the connection pool (only when this state created it)."""
        if self._owns_client:
            await self._redis.aclose()

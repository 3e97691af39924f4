"""``RedisCounter``: the ``Counter`` port in Redis, one set of limits for every gateway instance sharing it.

``admit`` is one Lua script that checks every claim of the request and applies all of them or none; ``settle`` and
``release`` are one script each, so admit + settle is two round trips (EVALSHA; a NOSCRIPT after a Redis restart
or SCRIPT FLUSH reloads the script and retries once). ``from_url`` sends them over one pipelined connection of its
own (``redis_wire``: a tenth of redis-py's CPU per command); a ``redis.asyncio.Redis`` passed in is used as it is.
Every time in the logic is the caller's clock, passed to the scripts as an argument (never Redis ``TIME``), so
instances must keep their clocks in sync (NTP); key TTLs are only garbage collection.

Keys (``P`` is the prefix, ``S`` a scope, ``L`` a period label, ``n`` the length of ``L``):

```
P rpm:S          zset   admitted tickets scored by admission time (sliding 60 s log)    EXPIRE 61 s
P tpm:S          hash   second -> tokens settled in that second (last 60 buckets)       EXPIRE 61 s
P par:S          zset   in-flight tickets scored by lease expiry                        EXPIRE lease + 1 s
P bud:n:L:S      hash   spent, reserved (integer nano-dollars)        EXPIRE until period end + 1 day (never: "all")
P res:n:L:S      zset   "ticket:estimate" scored by lease expiry      EXPIRE until period end + 1 day
```

A missing ``bud`` hash means "not loaded": the admit script says so, the counter reads the persisted spend through
its ``loader`` (concurrent admits share one read), stores it unless another instance already did (set-if-absent),
and admits again. A settle whose budget hash is gone (flushed) adds nothing to it: the spend row carries the cost to
the persisted counter, which the next load reads. Lua numbers are doubles, so budgets are exact up to 2**53
nano-dollars (about $9 million) per scope and period. The scripts touch keys of many scopes; on Redis Cluster put a
hash tag in the prefix (``"tollway:{gov}:"``) so they all live in one slot.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from tollway.governance.counters import (
    BUDGET_KEEP_SECONDS,
    DEFAULT_LEASE_SECONDS,
    WINDOW_SECONDS,
    BudgetClaim,
    Claim,
    CounterUnavailable,
    Loader,
    ParallelClaim,
    RateClaim,
    RateState,
    Reason,
    Refused,
    SharedLoads,
    Ticket,
    check_claims,
    new_ticket_id,
    nothing_spent,
    read_spent,
)
from tollway.governance.redis_wire import RedisReplyError, RedisWire

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["DEFAULT_PREFIX", "RedisCounter"]

DEFAULT_PREFIX = "tollway:gov:"

_LOAD_ATTEMPTS = 3
_MAX_NAMES = 10_000  # scopes and budgets whose key names a counter keeps

# ARGV: now, ticket, lease seconds, lease ttl, oldest live token second, then 5 per claim:
#   'r', rpm (-1: none), tpm (-1: none), '', ''          KEYS: rpm zset, tpm hash
#   'p', limit, '', '', ''                                 KEYS: par zset
#   'b', limit, estimate, ttl ('' never), end ('')         KEYS: bud hash, res zset
# Replies: {1, requests, tokens, ...per rate claim} admitted; {0, claim index, reason, retry_after ('' none),
# current} refused; {2, claim index, ...} budgets not loaded (nothing changed). Integers go to redis.call through
# %d and times as the caller's strings: Lua's own number formatting keeps only 14 digits. The lease expiry and the
# rpm window's start are computed here (double arithmetic, as the caller's would be; redis.call sends a Lua number
# with every digit it needs), which spares the caller formatting two more floats per request.
_ADMIT = """
local function int(x) return string.format('%d', x) end
local now = tonumber(ARGV[1])
local expiry, cutoff = now + tonumber(ARGV[3]), now - 60
local n = (#ARGV - 5) / 5
local missing, k = {2}, 1
for i = 1, n do
  local kind = ARGV[1 + i * 5]
  if kind == 'b' and redis.call('EXISTS', KEYS[k]) == 0 then missing[#missing + 1] = i - 1 end
  if kind == 'p' then k = k + 1 else k = k + 2 end
end
if #missing > 1 then return missing end
local seen = {}
k = 1
for i = 1, n do
  local a = 1 + i * 5
  local kind = ARGV[a]
  if kind == 'r' then
    local rpm, tpm, requests, tokens = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), 0, 0
    if rpm >= 0 then
      redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', cutoff)
      requests = redis.call('ZCARD', KEYS[k])
      if requests >= rpm then
        local oldest = redis.call('ZRANGE', KEYS[k], 0, 0, 'WITHSCORES')
        local retry = ''
        if oldest[2] then retry = string.format('%.17g', tonumber(oldest[2]) + 60 - now) end
        return {0, i - 1, 'rpm', retry, requests}
      end
    end
    if tpm >= 0 then
      local flat, live, first = redis.call('HGETALL', KEYS[k + 1]), {}, tonumber(ARGV[5])
      for j = 1, #flat, 2 do
        local second = tonumber(flat[j])
        if second < first then redis.call('HDEL', KEYS[k + 1], flat[j])
        else
          tokens = tokens + tonumber(flat[j + 1])
          live[#live + 1] = {second, tonumber(flat[j + 1])}
        end
      end
      if tokens >= tpm then
        local retry, left = '', tokens
        if tpm > 0 then
          table.sort(live, function(x, y) return x[1] < y[1] end)
          for _, bucket in ipairs(live) do
            left = left - bucket[2]
            if left < tpm then retry = string.format('%.17g', math.max(bucket[1] + 60 - now, 0)); break end
          end
        end
        return {0, i - 1, 'tpm', retry, tokens}
      end
    end
    seen[i] = {requests, tokens}
    k = k + 2
  elseif kind == 'p' then
    redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', ARGV[1])
    local in_flight = redis.call('ZCARD', KEYS[k])
    if in_flight >= tonumber(ARGV[a + 1]) then return {0, i - 1, 'parallel', '', in_flight} end
    k = k + 1
  else
    local gone = redis.call('ZRANGEBYSCORE', KEYS[k + 1], '-inf', ARGV[1])
    if #gone > 0 then
      local freed = 0
      for _, member in ipairs(gone) do freed = freed + tonumber(string.match(member, ':(%d+)$')) end
      redis.call('HINCRBY', KEYS[k], 'reserved', int(-freed))
      redis.call('ZREMRANGEBYSCORE', KEYS[k + 1], '-inf', ARGV[1])
    end
    local v = redis.call('HMGET', KEYS[k], 'spent', 'reserved')
    local used, limit = tonumber(v[1] or '0') + tonumber(v[2] or '0'), tonumber(ARGV[a + 1])
    if used >= limit or used + tonumber(ARGV[a + 2]) > limit then
      local retry = ''
      if ARGV[a + 4] ~= '' then retry = string.format('%.17g', math.max(tonumber(ARGV[a + 4]) - now, 0)) end
      return {0, i - 1, 'budget', retry, int(used)}
    end
    k = k + 2
  end
end
local reply = {1}
k = 1
for i = 1, n do
  local a = 1 + i * 5
  local kind = ARGV[a]
  if kind == 'r' then
    local requests = seen[i][1]
    if tonumber(ARGV[a + 1]) >= 0 then
      redis.call('ZADD', KEYS[k], ARGV[1], ARGV[2])
      redis.call('EXPIRE', KEYS[k], 61)
      requests = requests + 1
    end
    reply[#reply + 1] = requests
    reply[#reply + 1] = seen[i][2]
    k = k + 2
  elseif kind == 'p' then
    redis.call('ZADD', KEYS[k], expiry, ARGV[2])
    redis.call('EXPIRE', KEYS[k], ARGV[4])
    k = k + 1
  else
    redis.call('ZADD', KEYS[k + 1], expiry, ARGV[2] .. ':' .. ARGV[a + 2])
    if ARGV[a + 3] ~= '' then redis.call('EXPIRE', KEYS[k + 1], ARGV[a + 3]) end
    redis.call('HINCRBY', KEYS[k], 'reserved', ARGV[a + 2])
    k = k + 2
  end
end
return reply
"""

# ARGV: ticket, second, tokens, cost, then 2 per claim: 't', '' (KEYS: tpm hash) | 'p', '' (KEYS: par zset) |
# 'b' settle or 'x' release, estimate (KEYS: bud hash, res zset). A reservation already expired is not subtracted
# twice; a budget hash that vanished is not recreated (it would look loaded with the wrong spend).
_FINISH = """
local k = 1
for a = 5, #ARGV, 2 do
  local kind = ARGV[a]
  if kind == 't' then
    redis.call('HINCRBY', KEYS[k], ARGV[2], ARGV[3])
    redis.call('EXPIRE', KEYS[k], 61)
    k = k + 1
  elseif kind == 'p' then
    redis.call('ZREM', KEYS[k], ARGV[1])
    k = k + 1
  else
    local held = redis.call('ZREM', KEYS[k + 1], ARGV[1] .. ':' .. ARGV[a + 1])
    if redis.call('EXISTS', KEYS[k]) == 1 then
      -- Redis refuses the integer "-0": a zero reservation has nothing to give back.
      if held == 1 and ARGV[a + 1] ~= '0' then redis.call('HINCRBY', KEYS[k], 'reserved', '-' .. ARGV[a + 1]) end
      if kind == 'b' then redis.call('HINCRBY', KEYS[k], 'spent', ARGV[4]) end
    end
    k = k + 2
  end
end
return 1
"""

# KEYS: bud hashes; ARGV: 2 per key: spent, ttl ('' never). Set-if-absent: the first instance to load wins.
_LOAD = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'spent', ARGV[2 * i - 1], 'reserved', '0')
    if ARGV[2 * i] ~= '' then redis.call('EXPIRE', key, ARGV[2 * i]) end
  end
end
return 1
"""

# KEYS: rpm zset, tpm hash; ARGV: '(' .. (now - 60), oldest live token second.
_WINDOW = """
local requests, tokens = redis.call('ZCOUNT', KEYS[1], ARGV[1], '+inf'), 0
local flat, first = redis.call('HGETALL', KEYS[2]), tonumber(ARGV[2])
for j = 1, #flat, 2 do
  if tonumber(flat[j]) >= first then tokens = tokens + tonumber(flat[j + 1]) end
end
return {requests, tokens}
"""


def _redact(url: str) -> str:
    """``url`` without its password, for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + parts.netloc.rsplit("@", 1)[1]))


def _budget_ttl(period_end: float | None, now: float) -> int | str:
    """Seconds a budget's keys live: until a day after its period ends, judged by the caller's clock like every other
    time here (an absolute EXPIREAT would be judged by the Redis server's clock); '' for a period without end."""
    if period_end is None:
        return ""
    return max(math.ceil(period_end + BUDGET_KEEP_SECONDS - now), WINDOW_SECONDS)


class _Script:
    """A Lua script run by EVALSHA; loaded on first use and again after NOSCRIPT (Redis restarted or flushed)."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        import hashlib

        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


class RedisCounter:
    """The ``Counter`` port in Redis: exact across every instance using the same Redis and ``prefix``.

    Build it with ``RedisCounter.from_url(url, prefix=..., loader=...)``, or pass a ``redis.asyncio.Redis`` created
    with ``decode_responses=True``, or a ``RedisWire`` (``aclose`` then leaves it open: its creator owns it).
    ``clock`` gives epoch seconds. ``load_grace``: a budget loaded this many seconds ago is stored again from the same
    read instead of a new one (see ``SharedLoads``). Any failure to reach Redis raises ``CounterUnavailable``.
    """

    def __init__(
        self,
        client: Redis | RedisWire,
        *,
        prefix: str = DEFAULT_PREFIX,
        loader: Loader | None = None,
        clock: Callable[[], float] = time.time,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        load_grace: float = 2.0,
        address: str | None = None,
        owns_client: bool = False,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be > 0, got {lease_seconds}")
        self._redis = client
        self._prefix = prefix
        self._loader = loader or nothing_spent
        self._clock = clock
        self._lease = lease_seconds
        self._lease_ttl = str(math.ceil(lease_seconds) + 1)
        self._lease_text = repr(float(lease_seconds))
        self._names: dict[str | tuple[str, str], tuple[str, str]] = {}
        self._loads = SharedLoads(keep_for=load_grace)
        self._owns_client = owns_client
        if isinstance(client, RedisWire):
            self._address = address or client.address
            # ConnectionError and TimeoutError are OSErrors: Redis down, restarting or too slow.
            self._unreachable: tuple[type[BaseException], ...] = (OSError,)
        else:
            from redis.exceptions import ConnectionError as RedisConnectionError
            from redis.exceptions import ReadOnlyError
            from redis.exceptions import TimeoutError as RedisTimeoutError

            kwargs = client.connection_pool.connection_kwargs
            self._address = address or f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
            # ReadOnlyError: a replica promoted away under us; the others: Redis down, restarting or too slow.
            self._unreachable = (RedisConnectionError, RedisTimeoutError, ReadOnlyError, OSError)
        self._admit = _Script(_ADMIT)
        self._finish = _Script(_FINISH)
        self._store = _Script(_LOAD)
        self._window = _Script(_WINDOW)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        loader: Loader | None = None,
        clock: Callable[[], float] = time.time,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        load_grace: float = 2.0,
        socket_timeout: float = 2.0,
    ) -> RedisCounter:
        """A counter on a pipelined connection of its own to ``url`` (``redis://``, ``rediss://`` or ``unix://``);
        nothing connects before the first operation. A Redis that is down, or answers no command within
        ``socket_timeout`` seconds, raises ``CounterUnavailable``; the next operation connects again.

        One connection carries every concurrent request's commands (Redis answers them in order), so a burst of
        requests needs no pool and no waiting for a free connection."""
        return cls(
            RedisWire(url, timeout=socket_timeout),
            prefix=prefix,
            loader=loader,
            clock=clock,
            lease_seconds=lease_seconds,
            load_grace=load_grace,
            address=_redact(url),
            owns_client=True,
        )

    @property
    def prefix(self) -> str:
        """The prefix of every key this counter writes."""
        return self._prefix

    def _budget_keys(self, scope: str, period: str) -> tuple[str, str]:
        """The budget hash and reservation zset of ``(scope, period)``."""
        names = self._names.get((scope, period))
        if names is None:
            # The label's length makes the key unambiguous whatever characters the scope and the label hold.
            tail = f"{len(period)}:{period}:{scope}"
            names = self._remember((scope, period), f"{self._prefix}bud:{tail}", f"{self._prefix}res:{tail}")
        return names

    def _rate_keys(self, scope: str) -> tuple[str, str]:
        """The rpm zset and tpm hash of ``scope``."""
        names = self._names.get(scope)
        if names is None:
            names = self._remember(scope, f"{self._prefix}rpm:{scope}", f"{self._prefix}tpm:{scope}")
        return names

    def _remember(self, what: str | tuple[str, str], first: str, second: str) -> tuple[str, str]:
        """Keep the key names of a scope (a ``str``: its rate keys) or of a budget (a pair): every admit and settle
        names them again (callgrind: a budget's two names made 4.1k instructions, looked up 1.8k)."""
        if len(self._names) >= _MAX_NAMES:
            self._names.clear()  # scopes come and go; the live ones are named again on their next request
        names = self._names[what] = (first, second)
        return names

    def _unavailable(self, exc: BaseException) -> CounterUnavailable:
        return CounterUnavailable(
            f"governance counters: cannot reach Redis at {self._address} ({type(exc).__name__}: {exc})"
        )

    async def _run(self, script: _Script, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        """EVALSHA ``script`` (loading it after NOSCRIPT), mapping "cannot reach Redis" to ``CounterUnavailable``."""
        client = self._redis
        if not isinstance(client, RedisWire):
            return await self._run_redis_py(client, script, keys, args)
        try:
            try:
                return await client.call("EVALSHA", script.sha, len(keys), *keys, *args)
            except RedisReplyError as error:
                if error.kind != "NOSCRIPT":
                    raise
                await client.call("SCRIPT", "LOAD", script.source)
                return await client.call("EVALSHA", script.sha, len(keys), *keys, *args)
        except RedisReplyError as error:
            # READONLY (a replica promoted away under us), LOADING, NOAUTH, OOM...: Redis cannot serve us now.
            # ERR is a real error (a script bug): it propagates.
            if error.kind == "ERR":
                raise
            raise self._unavailable(error) from error
        except self._unreachable as exc:
            raise self._unavailable(exc) from exc

    async def _run_redis_py(
        self, client: Redis, script: _Script, keys: Sequence[str], args: Sequence[str | int]
    ) -> Any:
        from redis.exceptions import NoScriptError

        try:
            try:
                return await client.evalsha(script.sha, len(keys), *keys, *args)
            except NoScriptError:
                await client.script_load(script.source)
                return await client.evalsha(script.sha, len(keys), *keys, *args)
        except self._unreachable as exc:
            raise self._unavailable(exc) from exc

    async def _command(self, *args: str) -> Any:
        """One plain command (not on the request path), through whichever client this counter has."""
        try:
            if isinstance(self._redis, RedisWire):
                return await self._redis.call(*args)
            client: Any = self._redis  # redis-py's execute_command is untyped
            return await client.execute_command(*args)
        except RedisReplyError as error:
            raise self._unavailable(error) from error
        except self._unreachable as exc:
            raise self._unavailable(exc) from exc

    async def ping(self) -> None:
        """Check that Redis answers (``CounterUnavailable`` otherwise) and load the scripts."""
        for script in (self._admit, self._finish, self._store, self._window):
            await self._command("SCRIPT", "LOAD", script.source)

    async def admit(self, claims: Sequence[Claim], *, ticket_id: str | None = None) -> Ticket | Refused:
        """Check every claim, then apply them all or none, in one script run by Redis."""
        claims = check_claims(claims)
        ticket = ticket_id or new_ticket_id()
        for _ in range(_LOAD_ATTEMPTS):
            now = self._clock()
            keys, args = self._admit_call(claims, ticket, now)
            reply = await self._run(self._admit, keys, args)
            status = reply[0]
            if status == 1:
                return Ticket(ticket, claims, now, self._remaining(claims, reply))
            if status == 0:
                return self._refused(claims, reply)
            await self._load([claims[int(i)] for i in reply[1:]], now)
        raise CounterUnavailable(f"budget counters of {claims!r} vanished from Redis {_LOAD_ATTEMPTS} times in a row")

    def _admit_call(self, claims: tuple[Claim, ...], ticket: str, now: float) -> tuple[list[str], list[str | int]]:
        prefix = self._prefix
        keys: list[str] = []
        args: list[str | int] = [
            repr(now),
            ticket,
            self._lease_text,
            self._lease_ttl,
            math.floor(now) - WINDOW_SECONDS + 1,
        ]
        for claim in claims:
            if type(claim) is RateClaim:
                keys += self._rate_keys(claim.scope)
                rpm, tpm = claim.rpm, claim.tpm
                args += ("r", -1 if rpm is None else rpm, -1 if tpm is None else tpm, "", "")
            elif type(claim) is ParallelClaim:
                keys.append(f"{prefix}par:{claim.scope}")
                args += ("p", claim.limit, "", "", "")
            else:
                assert isinstance(claim, BudgetClaim)
                keys += self._budget_keys(claim.scope, claim.period)
                end = claim.period_end
                ttl = _budget_ttl(end, now)
                args += ("b", claim.limit_nano, claim.estimate_nano, ttl, "" if end is None else repr(end))
        return keys, args

    @staticmethod
    def _remaining(claims: tuple[Claim, ...], reply: list[Any]) -> dict[str, RateState]:
        """Each rate claim's use after the admission: the script's reply holds (requests, tokens) per rate claim."""
        rates = [claim.scope for claim in claims if type(claim) is RateClaim]
        return {scope: RateState(int(reply[1 + 2 * i]), int(reply[2 + 2 * i])) for i, scope in enumerate(rates)}

    @staticmethod
    def _refused(claims: tuple[Claim, ...], reply: list[Any]) -> Refused:
        claim = claims[int(reply[1])]
        reason: Reason = reply[2]
        retry_after = float(reply[3]) if reply[3] != "" else None
        if type(claim) is RateClaim:
            limit = claim.rpm if reason == "rpm" else claim.tpm
            assert limit is not None
        elif type(claim) is ParallelClaim:
            limit = claim.limit
        else:
            assert isinstance(claim, BudgetClaim)
            limit = claim.limit_nano
        return Refused(claim, reason, retry_after, limit, int(reply[4]))

    async def _load(self, claims: list[Claim], now: float) -> None:
        """Read the missing budgets through the loader, concurrently (each read shared by concurrent admits), and
        store each one unless another instance already did."""

        async def load(claim: BudgetClaim) -> int:
            spent = await read_spent(self._loader, claim.scope, claim.period)
            ttl = _budget_ttl(claim.period_end, now)
            await self._run(self._store, [self._budget_keys(claim.scope, claim.period)[0]], [spent, ttl])
            return spent

        budgets = [claim for claim in claims if isinstance(claim, BudgetClaim)]
        await asyncio.gather(*(self._loads.get((c.scope, c.period), functools.partial(load, c)) for c in budgets))

    async def _finish_call(self, ticket: Ticket, *, cost_nano: int, tokens: int, settle: bool) -> None:
        keys: list[str] = []
        args: list[str | int] = [ticket.id, math.floor(self._clock()), tokens, cost_nano]
        for claim in ticket.claims:
            if type(claim) is RateClaim:
                if settle and claim.tpm is not None and tokens > 0:
                    keys.append(self._rate_keys(claim.scope)[1])
                    args += ("t", "")
            elif type(claim) is ParallelClaim:
                keys.append(f"{self._prefix}par:{claim.scope}")
                args += ("p", "")
            else:
                assert isinstance(claim, BudgetClaim)
                keys += self._budget_keys(claim.scope, claim.period)
                args += ("b" if settle else "x", claim.estimate_nano)
        if keys:
            await self._run(self._finish, keys, args)

    async def settle(self, ticket: Ticket, *, cost_nano: int, tokens: int) -> None:
        """Free the ticket's slots, replace its reservations by ``cost_nano`` spent, count its ``tokens``."""
        await self._finish_call(ticket, cost_nano=cost_nano, tokens=tokens, settle=True)

    async def release(self, ticket: Ticket) -> None:
        """Free the ticket's slots and drop its reservations (its rpm entries stay: the request was admitted)."""
        await self._finish_call(ticket, cost_nano=0, tokens=0, settle=False)

    async def spent(self, scope: str, period: str) -> int:
        """Settled nano-dollars of ``(scope, period)``; the loader's value when Redis holds no counter for it."""
        value = await self._command("HGET", self._budget_keys(scope, period)[0], "spent")
        return int(value) if value is not None else await read_spent(self._loader, scope, period)

    async def window(self, scope: str) -> RateState:
        """Requests admitted (under an rpm limit) and tokens settled (under a tpm limit) in the last 60 s."""
        now = self._clock()
        keys = list(self._rate_keys(scope))
        requests, tokens = await self._run(
            self._window, keys, [f"({now - WINDOW_SECONDS!r}", math.floor(now) - WINDOW_SECONDS + 1]
        )
        return RateState(int(requests), int(tokens))

    async def aclose(self) -> None:
        """Close the connection pool (only when this counter created it)."""
        if not self._owns_client:
            return
        if isinstance(self._redis, RedisWire):
            await self._redis.aclose()
        else:
            await self._redis.aclose(close_connection_pool=True)

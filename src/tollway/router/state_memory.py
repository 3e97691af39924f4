"""``MemoryState``: the router's shared state for one process (counters, in-flight leases, latency, cooldowns).

Also holds the arithmetic both state implementations share (minute windows, the latency EWMA, lease bookkeeping
rules), so ``RedisState`` computes exactly what this class computes; the shared test suite runs over both.

In-flight slots are **leases**: ``acquire`` records an expiry (``now + lease_seconds``) and ``release`` removes the
earliest-expiring lease. A caller that never releases (a cancelled task, a crashed gateway sharing Redis) holds its
slot only until the lease runs out, so a stuck slot cannot block a deployment for ever. LiteLLM's least-busy
strategy keeps a plain counter updated by read-modify-write, which leaks on every missed decrement. A lease must
outlast the longest request: pick ``lease_seconds`` above the router's largest deployment timeout.
"""

from __future__ import annotations

import heapq
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from tollway.router.deployment import DeploymentStats

__all__ = [
    "DEFAULT_LATENCY_TTL",
    "DEFAULT_LEASE_SECONDS",
    "LATENCY_ALPHA",
    "WINDOW_SECONDS",
    "MemoryState",
    "check_limits",
    "next_latency",
    "window_of",
]

WINDOW_SECONDS = 60
"""Length of a usage window; windows are aligned to ``floor(now / 60)`` on every instance."""

LATENCY_ALPHA = 0.3
"""Weight of the newest sample in the latency EWMA: ``new = 0.3 * sample + 0.7 * old``. About the last 6 calls
carry 90 % of the weight, close to LiteLLM's mean of the last 10 samples but in O(1) space and one atomic update."""

DEFAULT_LEASE_SECONDS = 600.0
"""How long an unreleased in-flight slot is held: LiteLLM's SDK default timeout (600 s)."""

DEFAULT_LATENCY_TTL = 3600.0
"""A latency not refreshed for this long is forgotten (None), so a deployment once measured slow is measured again
instead of being avoided for ever by lowest-latency routing. LiteLLM keeps latency samples with a 1 h TTL too."""


def window_of(now: float) -> int:
    """The number of the minute window containing ``now``."""
    return math.floor(now / WINDOW_SECONDS)


def next_latency(previous: float | None, sample: float, alpha: float = LATENCY_ALPHA) -> float:
    """Fold ``sample`` into the EWMA ``previous`` (the first sample is taken as is)."""
    if previous is None:
        return sample
    return alpha * sample + (1.0 - alpha) * previous


def check_limits(rpm_limit: int | None, max_parallel: int | None) -> None:
    """Reject negative limits (None means no limit; 0 refuses every request)."""
    for name, value in (("rpm_limit", rpm_limit), ("max_parallel", max_parallel)):
        if value is not None and value < 0:
            raise ValueError(f"{name} must be >= 0 or None, got {value}")


@dataclass(slots=True)
class _Counts:
    """One deployment's counts in one minute window."""

    requests: int = 0
    tokens: int = 0
    failures: int = 0


@dataclass(slots=True)
class _Usage:
    """One deployment's counters by window, its leases, and its latency."""

    windows: dict[int, _Counts] = field(default_factory=dict)
    leases: list[float] = field(default_factory=list)  # a min-heap of lease expiry times
    latency: float | None = None
    latency_at: float = 0.0

    def counts(self, now: float) -> _Counts:
        """The counts of the window of ``now``. Like Redis's per-window keys (which expire after two minutes), the
        previous window is kept too: a task that read the clock just before a minute boundary and counts just after
        another task rolled over must not wipe the newer window."""
        current = window_of(now)
        counts = self.windows.get(current)
        if counts is None:
            counts = self.windows[current] = _Counts()
            newest = max(self.windows)
            for old in [w for w in self.windows if w < newest - 1]:
                del self.windows[old]
        return counts

    def expire_leases(self, now: float) -> None:
        """Drop leases whose time ran out (their holders never released)."""
        while self.leases and self.leases[0] <= now:
            heapq.heappop(self.leases)


class MemoryState:
    """The ``RouterState`` port in one process's memory.

    Atomic for every task and thread of the process: each method runs under one lock and never awaits while holding
    it. Memory is bounded by the number of deployment ids used: one small record each, counters reset by window.
    """

    def __init__(
        self,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        latency_ttl: float = DEFAULT_LATENCY_TTL,
        latency_alpha: float = LATENCY_ALPHA,
    ) -> None:
        if lease_seconds <= 0 or latency_ttl <= 0 or not 0.0 < latency_alpha <= 1.0:
            raise ValueError("lease_seconds and latency_ttl must be > 0 and latency_alpha in (0, 1]")
        self._lease_seconds = lease_seconds
        self._latency_ttl = latency_ttl
        self._alpha = latency_alpha
        self._usage: dict[str, _Usage] = {}
        self._cooldowns: dict[str, float] = {}
        self._lock = threading.Lock()

    async def stats(self, deployment_ids: Sequence[str], now: float) -> dict[str, DeploymentStats]:
        """Current stats of each deployment (missing ids get zero stats)."""
        with self._lock:
            return {deployment_id: self._stats_of(deployment_id, now) for deployment_id in deployment_ids}

    def _stats_of(self, deployment_id: str, now: float) -> DeploymentStats:
        until = self._cooldowns.get(deployment_id)
        cooldown_until = until if until is not None and until > now else None
        usage = self._usage.get(deployment_id)
        if usage is None:
            return DeploymentStats(0, 0, 0, None, cooldown_until, 0)
        counts = usage.windows.get(window_of(now))
        fresh = usage.latency is not None and now - usage.latency_at < self._latency_ttl
        leases = usage.leases
        # Positional, in field order (rpm_used, tpm_used, in_flight, latency, cooldown_until, failures): one per
        # deployment per request.
        return DeploymentStats(
            counts.requests if counts is not None else 0,
            counts.tokens if counts is not None else 0,
            # leases is a min-heap: when its earliest expiry is in the future, every lease is live.
            len(leases) if not leases or leases[0] > now else sum(1 for e in leases if e > now),
            usage.latency if fresh else None,
            cooldown_until,
            counts.failures if counts is not None else 0,
        )

    async def acquire(self, deployment_id: str, now: float, *, rpm_limit: int | None, max_parallel: int | None) -> bool:
        """Count one request in the current minute and take an in-flight lease, unless that would exceed
        ``rpm_limit`` requests this minute or ``max_parallel`` in flight; False (and nothing counted) then."""
        if rpm_limit is not None or max_parallel is not None:
            check_limits(rpm_limit, max_parallel)
        with self._lock:
            usage = self._usage.get(deployment_id)
            if usage is None:
                usage = self._usage[deployment_id] = _Usage()
            usage.expire_leases(now)
            counts = usage.counts(now)
            if rpm_limit is not None and counts.requests >= rpm_limit:
                return False
            if max_parallel is not None and len(usage.leases) >= max_parallel:
                return False
            counts.requests += 1
            heapq.heappush(usage.leases, now + self._lease_seconds)
            return True

    async def release(
        self, deployment_id: str, now: float, *, tokens: int, latency: float | None, success: bool
    ) -> None:
        """Free the earliest-expiring lease; add ``tokens`` to the minute's tpm; fold ``latency`` into the EWMA
        (when given and ``success``); count a failure in the current minute when not ``success``."""
        with self._lock:
            usage = self._usage.get(deployment_id)
            if usage is None:
                usage = self._usage[deployment_id] = _Usage()
            usage.expire_leases(now)
            if usage.leases:
                heapq.heappop(usage.leases)
            counts = usage.counts(now)
            counts.tokens += max(tokens, 0)
            if not success:
                counts.failures += 1
            elif latency is not None:
                fresh = usage.latency is not None and now - usage.latency_at < self._latency_ttl
                usage.latency = next_latency(usage.latency if fresh else None, latency, self._alpha)
                usage.latency_at = now

    async def cool_down(self, deployment_id: str, until: float) -> None:
        """Skip the deployment until ``until`` (a later call with an earlier ``until`` does not shorten it)."""
        with self._lock:
            if until > self._cooldowns.get(deployment_id, -math.inf):
                self._cooldowns[deployment_id] = until

    async def cooldowns(self, now: float) -> dict[str, float]:
        """Every deployment cooling down at ``now``, with the time it recovers; forgets cooldowns that are over."""
        with self._lock:
            for deployment_id in [d for d, until in self._cooldowns.items() if until <= now]:
                del self._cooldowns[deployment_id]
            return dict(self._cooldowns)

    async def aclose(self) -> None:
        """Nothing to release."""

"""The router's shared state port: usage counters, in-flight slots, latency and cooldowns per deployment.

Two implementations: ``MemoryState`` (one process) and ``RedisState`` (every router sharing one Redis routes as
one: counters and cooldowns are read and updated atomically in Redis, so a deployment's rpm limit holds across
instances, unlike LiteLLM's local-memory tpm checks, #27736 / #40291). Times are UNIX seconds passed in by the
caller (an injected clock), so tests control them. Minute windows are aligned to ``floor(now / 60)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tollway.router.deployment import DeploymentStats

__all__ = ["RouterState"]


class RouterState(Protocol):
    """Every method is atomic with respect to other routers sharing the same state."""

    async def stats(self, deployment_ids: Sequence[str], now: float) -> dict[str, DeploymentStats]:
        """Current stats of each deployment (missing ids get zero stats)."""
        ...

    async def acquire(self, deployment_id: str, now: float, *, rpm_limit: int | None, max_parallel: int | None) -> bool:
        """Count one request in the current minute and take an in-flight slot, unless that would exceed
        ``rpm_limit`` requests this minute or ``max_parallel`` in flight; False (and nothing counted) then."""
        ...

    async def release(
        self, deployment_id: str, now: float, *, tokens: int, latency: float | None, success: bool
    ) -> None:
        """Free the in-flight slot; add ``tokens`` to the minute's tpm; fold ``latency`` into the EWMA (when given
        and ``success``); count a failure in the current minute when not ``success``."""
        ...

    async def cool_down(self, deployment_id: str, until: float) -> None:
        """Skip the deployment until ``until`` (a later call with an earlier ``until`` does not shorten it)."""
        ...

    async def cooldowns(self, now: float) -> dict[str, float]:
        """Every deployment cooling down at ``now``, with the time it recovers (for the router's status API)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...

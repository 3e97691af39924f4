"""``Exporter``: the seam every billing export destination plugs into (Stripe meter events, CloudEvents, ...).

An exporter turns a batch of spend rows into its events (``prepare``, pure apart from looking things up through
``lookup``) and sends them (``send``), reporting one ``Outcome`` per event and, when it stopped early, why. The
runner (``export_runner``) owns everything else: the cursor, the lease, what is recorded and when to try again.
"""

from __future__ import annotations

import asyncio
import random
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from tollway.economics.export_backoff import Answer, RetryPolicy, send_with_retries
from tollway.economics.export_mapping import Batch, Outcome, UsageRow

__all__ = ["Exporter", "StripeLookup"]

# Tollway customer ids -> their Stripe customer ids (those that have one).
StripeLookup = Callable[[Iterable[str]], Awaitable[Mapping[str, str]]]


class Exporter(ABC):
    """One destination. ``name`` keys its cursor, so two exporters never share progress."""

    name: str

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._policy = policy
        self._sleep = sleep
        self._rng = rng

    async def _with_retries(self, attempt: Callable[[], Awaitable[Answer]]) -> Outcome:
        """``attempt`` until it succeeds, is refused for good, or the retry policy gives up (with backoff)."""
        return await send_with_retries(attempt, self._policy, sleep=self._sleep, rng=self._rng)

    @abstractmethod
    async def prepare(self, rows: Sequence[UsageRow], lookup: StripeLookup, now: datetime) -> Batch:
        """The events of ``rows`` and the rows skipped (``now`` decides what is too old or too far ahead)."""

    @abstractmethod
    async def send(self, events: Mapping[str, Any]) -> tuple[dict[str, Outcome], str | None]:
        """Send ``events`` (identifier -> event): an outcome per event tried, and why sending stopped early (a
        halt: the configuration is wrong) or None. Events without an outcome were not tried."""

    async def aclose(self) -> None:  # noqa: B027 (optional hook: most exporters hold a connection pool to close)
        """Close connections."""

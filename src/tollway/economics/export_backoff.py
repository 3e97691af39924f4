"""When to try a billing export request again (pure): which answers are worth a retry, and how long to wait.

Exponential backoff with jitter, as Stripe asks of meter event senders ("implement a retry mechanism with an
exponential back-off schedule", https://docs.stripe.com/billing/subscriptions/usage-based/recording-usage-api#rate-limits):
attempt n waits between half and all of ``min(cap, base * 2**(n-1))`` seconds, so instances that failed together
do not retry together. A ``Retry-After`` the server sent wins when it is longer (capped too).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from tollway.economics.export_mapping import Outcome

__all__ = [
    "HALT_STATUSES",
    "RETRY_STATUSES",
    "Answer",
    "RetryPolicy",
    "backoff_delay",
    "retry_after",
    "send_with_retries",
    "status_kind",
]

# Worth another try: the server was busy, rate-limited us, or failed.
RETRY_STATUSES = frozenset({408, 409, 425, 429})
# The configuration is wrong (key, permissions, address, batch size): every request would fail the same way, so the
# exporter stops and keeps its cursor until someone fixes it, rather than recording every event as refused. A
# redirect (3xx, never followed: it could carry the token elsewhere) is one too.
HALT_STATUSES = frozenset({401, 403, 404, 405, 413})


def status_kind(status: int | None) -> str:
    """``"ok"``, ``"retry"`` (None: no answer, a connection error), ``"halt"`` or ``"rejected"``."""
    if status is None or status in RETRY_STATUSES or status >= 500:
        return "retry"
    if 200 <= status < 300:
        return "ok"
    if status in HALT_STATUSES or 300 <= status < 400:
        return "halt"
    return "rejected"


def backoff_delay(attempt: int, *, base: float, cap: float, rng: Callable[[], float]) -> float:
    """Seconds to wait before retry ``attempt`` (1 = the first retry): half fixed, half random."""
    ceiling = min(cap, base * 2.0 ** max(attempt - 1, 0))
    return ceiling / 2 + rng() * ceiling / 2


def retry_after(headers: Mapping[str, str] | None, *, cap: float, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds (a number or an HTTP date), at most ``cap``; None when absent or unreadable."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), cap)  # a date in the past: no wait


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many tries one request gets, and the backoff between them (seconds)."""

    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0


@dataclass(frozen=True, slots=True)
class Answer:
    """One try's result: the HTTP status (None: no answer), a detail for people, the headers; ``duplicate`` when
    the receiver says it has the event already."""

    status: int | None
    detail: str = ""
    headers: Mapping[str, str] | None = None
    duplicate: bool = False


async def send_with_retries(
    send: Callable[[], Awaitable[Answer]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]],
    rng: Callable[[], float],
) -> Outcome:
    """Try ``send`` until it is delivered, refused for good, halted, or out of tries (``failed``)."""
    answer = Answer(None, "not sent")
    for attempt in range(1, policy.attempts + 1):
        answer = await send()
        if answer.duplicate:
            return Outcome("duplicate", answer.detail, answer.status)
        kind = status_kind(answer.status)
        if kind == "ok":
            return Outcome("delivered", status=answer.status)
        if kind in ("rejected", "halt"):
            return Outcome(kind, answer.detail, answer.status)
        if attempt < policy.attempts:
            wait = backoff_delay(attempt, base=policy.base, cap=policy.cap, rng=rng)
            await sleep(max(wait, retry_after(answer.headers, cap=policy.cap) or 0.0))
    return Outcome("failed", answer.detail, answer.status)

"""When and how long to wait before trying a failed call again (pure; the client owns the sleeping).

Exponential backoff from 0.5 s doubling to 8 s, with jitter so that many clients failing together do not retry in
lockstep (the same curve as openai-python's ``_base_client.py``). A provider's ``retry-after`` wins when it is
given, because the provider knows when capacity returns.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tollway.errors import TollwayError

__all__ = ["RetryPolicy"]


# Not frozen, read-only by convention (hashable by value as before): one is built on every request, and a frozen
# dataclass's __init__ sets each field through object.__setattr__ (~1.3k instructions a field, callgrind).
@dataclass(slots=True, unsafe_hash=True)
class RetryPolicy:
    """``num_retries`` further attempts after the first, for errors whose ``retryable`` is true."""

    num_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    # A retry-after longer than this is not waited for: the error goes to the caller (or a fallback) at once.
    max_retry_after: float = 60.0

    def delay(self, error: TollwayError, attempt: int, rng: random.Random | None = None) -> float | None:
        """Seconds to wait before attempt ``attempt + 1`` (0-based ``attempt`` just failed), or None to give up."""
        if not error.retryable or attempt >= self.num_retries:
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_retry_after else None
        base = min(self.initial_delay * (2.0**attempt), self.max_delay)
        draw = rng.random() if rng is not None else random.random()  # noqa: S311  # jitter, not cryptography
        jitter = 1 - 0.25 * draw
        return base * jitter

"""The ``Counter`` port: rate limits, parallel slots and budget reservations checked on every gateway request.

A request brings its claims (one per limited scope: key, user, team, customer, model, ...). ``admit`` checks them
all and, only if every one passes, applies them all, atomically: one Lua script in Redis (``RedisCounter``), one
synchronous critical section in memory (``MemoryCounter``). A request refused by one claim consumes nothing on the
others. LiteLLM checks and then increments in separate steps, so concurrent requests overshoot budgets (#34732,
#40095) and each replica enforces its own copy of a limit (#27736, #40291); here neither can happen.

Semantics (identical in both implementations; one test suite runs over both):

- ``rpm``: a sliding 60 s log of admitted requests; an entry admitted at ``t`` counts while ``now - t < 60``.
  Refused when the log holds ``rpm`` entries; ``retry_after`` is the time until the oldest entry leaves.
- ``tpm``: tokens are known only after the call, so ``settle`` adds them to 1-second buckets and ``admit`` refuses
  while the last 60 buckets (the current second and the 59 before) hold ``>= tpm`` tokens, as LiteLLM does.
  ``retry_after`` is the time until enough buckets have left for the sum to drop below ``tpm``.
- ``parallel``: one slot per admitted, unsettled ticket, held as a lease (default 600 s) so the slots of a crashed
  instance free themselves.
- ``budget``: admitted iff ``spent + reserved + estimate <= limit`` (and ``spent + reserved < limit``, so a
  zero-estimate request cannot run on an exhausted budget either, as LiteLLM refuses at ``spend >= max_budget``);
  then ``reserved += estimate`` under a lease. ``settle`` turns the reservation into the actual cost, ``release``
  drops it. A budget counter not yet present (new process, Redis flushed) is loaded once through the ``loader``
  given to the constructor, which reads the persisted spend of ``(scope, period)``.

A RateClaim with ``rpm=None`` logs no requests and one with ``tpm=None`` counts no tokens: unlimited dimensions cost
nothing. Money is integer nano-dollars (1e-9 USD): ``usd_to_nano`` rounds reservations up and actual costs half-up.
These counters enforce limits; reports come from the SQL spend rows.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Literal, NamedTuple, Protocol, TypeAlias

__all__ = [
    "BUDGET_KEEP_SECONDS",
    "DEFAULT_LEASE_SECONDS",
    "WINDOW_SECONDS",
    "BudgetClaim",
    "CheckedClaims",
    "Claim",
    "Counter",
    "CounterUnavailable",
    "Loader",
    "ParallelClaim",
    "RateClaim",
    "RateState",
    "Reason",
    "Refused",
    "SharedLoads",
    "Ticket",
    "budget_retry_after",
    "check_claims",
    "nano_to_usd",
    "new_ticket_id",
    "nothing_spent",
    "read_spent",
    "tpm_retry_after",
    "usd_to_nano",
]

WINDOW_SECONDS = 60
"""Length of the sliding rpm/tpm window."""

DEFAULT_LEASE_SECONDS = 600.0
"""How long a parallel slot or a budget reservation outlives an admit that is never settled or released (a crashed
instance, a lost task): LiteLLM's default request timeout. Pick it above the gateway's longest request."""

BUDGET_KEEP_SECONDS = 86_400
"""A budget counter is kept this long after its period ends (late settles of requests admitted just before the end
still land on it), then forgotten."""

_NANO_EXPONENT = 9
# RFC 4122 version 4: version nibble 4 (bits 76-79), variant bits 10 (bits 62-63).
_UUID4_CLEAR = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID4_SET = (0x4 << 76) | (0x2 << 62)

Reason: TypeAlias = Literal["rpm", "tpm", "parallel", "budget"]
Loader: TypeAlias = Callable[[str, str], Awaitable[int]]
"""``loader(scope, period)`` → nano-dollars already spent, from the persisted counters."""


class CounterUnavailable(Exception):  # noqa: N818 - the name the gateway's fail-open/fail-closed code catches
    """The counter cannot answer (Redis unreachable, a budget that cannot be loaded). Nothing was admitted; the
    caller decides whether to serve the request anyway (fail open) or refuse it (fail closed)."""


def _non_negative(name: str, value: int | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{name} must be >= 0 or None, got {value}")


@dataclass(frozen=True, slots=True)
class RateClaim:
    """Requests per minute and tokens per minute of ``scope`` (None: no limit on that dimension; 0 refuses all)."""

    scope: str
    rpm: int | None
    tpm: int | None

    def __post_init__(self) -> None:
        _non_negative("rpm", self.rpm)
        _non_negative("tpm", self.tpm)


@dataclass(frozen=True, slots=True)
class ParallelClaim:
    """At most ``limit`` admitted, unsettled requests of ``scope`` at once."""

    scope: str
    limit: int

    def __post_init__(self) -> None:
        _non_negative("limit", self.limit)


@dataclass(frozen=True, slots=True)
class BudgetClaim:
    """Reserve ``estimate_nano`` on the budget of ``scope`` for ``period`` (a ``durations.Period`` label), whose
    limit is ``limit_nano``. ``period_end`` (epoch seconds, None: never) lets the counter expire after the period."""

    scope: str
    period: str
    period_end: float | None
    limit_nano: int
    estimate_nano: int

    def __post_init__(self) -> None:
        _non_negative("limit_nano", self.limit_nano)
        _non_negative("estimate_nano", self.estimate_nano)

    def reserving(self, estimate_nano: int) -> BudgetClaim:
        """This claim reserving ``estimate_nano`` instead (what a planned claim becomes for each request), built
        at half the cost of the constructor: the other fields were checked when this claim was made."""
        _non_negative("estimate_nano", estimate_nano)
        claim = _new(BudgetClaim)
        _set(claim, "scope", self.scope)
        _set(claim, "period", self.period)
        _set(claim, "period_end", self.period_end)
        _set(claim, "limit_nano", self.limit_nano)
        _set(claim, "estimate_nano", estimate_nano)
        return claim


_new = object.__new__
_set = object.__setattr__  # how a frozen dataclass's own __init__ sets its fields

Claim: TypeAlias = RateClaim | ParallelClaim | BudgetClaim


class CheckedClaims(tuple[Claim, ...]):
    """Claims that passed ``check_claims`` (a claim plan's, checked once when it is made): the counters do not
    check them again on every request. Build one only from claims ``check_claims`` accepted."""

    __slots__ = ()


class RateState(NamedTuple):
    """Use of a scope in the last 60 s: admitted requests (counted when it has an rpm limit) and settled tokens
    (counted when it has a tpm limit). Remaining = limit - use, for ``x-ratelimit-*`` headers. A NamedTuple: two
    are built per request, at half the cost of a frozen dataclass."""

    requests: int
    tokens: int


@dataclass(frozen=True, slots=True)
class Refused:
    """Why ``admit`` said no: the first claim that failed, ``current`` use against ``limit`` (requests, tokens,
    slots or nano-dollars spent + reserved) and ``retry_after`` seconds (None: waiting will not help, or only a
    settle or release will)."""

    claim: Claim
    reason: Reason
    retry_after: float | None
    limit: int
    current: int


@dataclass(slots=True)
class Ticket:
    """An admitted request. Pass it to ``settle`` (or ``release``) exactly once. ``remaining`` maps each rate
    claim's scope to its use just after this admission. Read-only by convention: not frozen, because a frozen
    dataclass costs 0.35 µs more to build and one is built per request."""

    id: str
    claims: tuple[Claim, ...]
    admitted_at: float
    remaining: dict[str, RateState] = field(default_factory=dict)


class Counter(Protocol):
    """Admission counters shared by every request of one gateway (memory) or of every gateway (Redis)."""

    async def admit(self, claims: Sequence[Claim], *, ticket_id: str | None = None) -> Ticket | Refused:
        """Check every claim and apply all of them, or none: a ``Ticket``, or ``Refused`` for the first claim that
        fails. ``ticket_id`` (default: a new uuid4 hex) must be unique per admitted request."""
        ...

    async def settle(self, ticket: Ticket, *, cost_nano: int, tokens: int) -> None:
        """The request finished: free its slots, turn its reservations into ``cost_nano`` spent on every budget
        claim, and count ``tokens`` against every tpm-limited scope."""
        ...

    async def release(self, ticket: Ticket) -> None:
        """The request failed before costing anything: free its slots and drop its reservations."""
        ...

    async def spent(self, scope: str, period: str) -> int:
        """Nano-dollars spent on ``(scope, period)``, settled costs included the moment they settle, reservations
        excluded (the loader's value when this counter holds nothing for it)."""
        ...

    async def window(self, scope: str) -> RateState:
        """Requests admitted and tokens settled for ``scope`` in the last 60 s."""
        ...

    async def aclose(self) -> None:
        """Release connections (nothing for memory)."""
        ...


def usd_to_nano(amount: Decimal, round_up: bool) -> int:
    """Dollars to integer nano-dollars: rounded up (reservations must never under-reserve) or half-up (costs).
    ``ValueError`` for an infinite or NaN amount."""
    # Runs twice per request. ``int()`` refuses infinities (OverflowError) and NaNs (ValueError; a signalling NaN
    # fails earlier, InvalidOperation): catching that costs nothing; an ``is_finite()`` check first costs a call.
    try:
        return int(amount.scaleb(_NANO_EXPONENT).to_integral_value(ROUND_CEILING if round_up else ROUND_HALF_UP))
    except (ArithmeticError, ValueError):
        raise ValueError(f"cannot count {amount} dollars") from None


def nano_to_usd(nano: int) -> Decimal:
    """Integer nano-dollars back to an exact Decimal amount of dollars."""
    return Decimal(nano).scaleb(-_NANO_EXPONENT)


def check_claims(claims: Sequence[Claim]) -> tuple[Claim, ...]:
    """``claims`` as a tuple; ``ValueError`` for two claims of one kind on one scope (and period): each would see
    the state before the other's change, so together they could overshoot (merge them into one claim instead).
    ``CheckedClaims`` come back as they are, unchecked again."""
    if type(claims) is CheckedClaims:
        return claims
    claims = tuple(claims)
    if len(claims) < 2:
        return claims
    seen = {(c.scope, c.period) if type(c) is BudgetClaim else (type(c), c.scope) for c in claims}
    if len(seen) != len(claims):
        raise ValueError(f"two claims of one kind on one scope in {list(claims)!r}; merge them into one")
    return claims


async def read_spent(loader: Loader, scope: str, period: str) -> int:
    """``loader(scope, period)``, with any failure of the store turned into ``CounterUnavailable``."""
    try:
        return int(await loader(scope, period))
    except Exception as exc:  # whatever the store raised: the caller decides fail-open or fail-closed
        raise CounterUnavailable(f"budget counter {scope!r} / {period!r} could not be loaded: {exc!r}") from exc


async def nothing_spent(scope: str, period: str) -> int:
    """The default loader: no persisted spend (a counter without a store)."""
    return 0


def new_ticket_id() -> str:
    """A random uuid4 as 32 hex digits, at a fifth of the cost of ``uuid.uuid4().hex`` (this runs on every request
    that brings no id of its own). Ticket ids need to be unique, not secret: ``random`` (seeded from os.urandom and
    reseeded in forked children) gives 122 random bits without the system call ``uuid4`` makes every time."""
    return f"{random.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"


def budget_retry_after(claim: BudgetClaim, now: float) -> float | None:
    """Seconds until the budget's period ends (a new period starts at zero); None when it never ends."""
    return None if claim.period_end is None else max(claim.period_end - now, 0.0)


def tpm_retry_after(buckets: Sequence[tuple[int, int]], total: int, tpm: int, now: float) -> float | None:
    """Seconds until enough 1-second buckets (``(second, tokens)``, oldest first) leave the window for the sum to
    drop below ``tpm``. A bucket of second ``s`` leaves at ``s + 60``. None when ``tpm`` is 0 (never)."""
    if tpm <= 0:
        return None
    for second, tokens in buckets:
        total -= tokens
        if total < tpm:
            return max(second + WINDOW_SECONDS - now, 0.0)
    return 0.0


class SharedLoads:
    """Concurrent loads of one key share a single call: 200 requests arriving on a budget nobody has loaded yet
    make one database read, not 200.

    ``keep_for`` seconds after a load finishes, a new request for its key gets the same result again instead of a
    new call. The Redis counter needs this: an admit that Redis answered "not loaded" just before another task's
    load landed can be read by the client after that load finished. Failed loads are never reused.
    """

    def __init__(self, keep_for: float = 0.0) -> None:
        self._keep_for = keep_for
        self._loads: dict[Hashable, asyncio.Future[int]] = {}
        self._finished_at: dict[Hashable, float] = {}

    async def get(self, key: Hashable, load: Callable[[], Awaitable[int]]) -> int:
        """The result of ``load()``, shared with every concurrent (or, within ``keep_for``, recent) caller."""
        future = self._loads.get(key)
        if future is None or (future.done() and not self._reusable(key, future)):
            self._forget_stale()
            future = asyncio.ensure_future(load())
            self._loads[key] = future
            future.add_done_callback(lambda done: self._finished(key, done))
        # shield: one caller being cancelled must not cancel the load the others wait for.
        return await asyncio.shield(future)

    def _reusable(self, key: Hashable, future: asyncio.Future[int]) -> bool:
        if future.cancelled() or future.exception() is not None:
            return False
        # Done but not yet in _finished_at: its done-callback is still queued, so it finished just now.
        finished_at = self._finished_at.get(key)
        return finished_at is None or time.monotonic() - finished_at <= self._keep_for

    def _finished(self, key: Hashable, future: asyncio.Future[int]) -> None:
        if self._loads.get(key) is not future:
            return
        if self._keep_for <= 0 or future.cancelled() or future.exception() is not None:
            del self._loads[key]
            self._finished_at.pop(key, None)
        else:
            self._finished_at[key] = time.monotonic()

    def _forget_stale(self) -> None:
        """Drop finished loads older than ``keep_for``, so memory holds only recent loads."""
        if not self._finished_at:
            return
        cutoff = time.monotonic() - self._keep_for
        for key in [key for key, at in self._finished_at.items() if at < cutoff]:
            del self._finished_at[key]
            del self._loads[key]

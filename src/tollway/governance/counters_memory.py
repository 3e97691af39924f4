"""``MemoryCounter``: the ``Counter`` port in one process's memory (a single gateway instance, no Redis).

Every check-and-apply runs in one synchronous critical section (no await inside, plus a lock so threads sharing the
counter are safe too), so concurrent admits of one process can never both take the last slot or the last dollar.
Leases are kept in insertion order; with one lease length for every ticket that is also expiry order, so expired
leases are dropped from the front in O(1) per admit. Idle scopes and budgets of periods that ended more than a day
ago are swept whenever the number of entries doubles, so memory follows the active scopes, not every scope ever
seen.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import math
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Sequence

from tollway.governance.counters import (
    BUDGET_KEEP_SECONDS,
    DEFAULT_LEASE_SECONDS,
    WINDOW_SECONDS,
    BudgetClaim,
    Claim,
    Loader,
    ParallelClaim,
    RateClaim,
    RateState,
    Refused,
    SharedLoads,
    Ticket,
    budget_retry_after,
    check_claims,
    new_ticket_id,
    nothing_spent,
    read_spent,
    tpm_retry_after,
)

__all__ = ["MemoryCounter"]

_BudgetKey = tuple[str, str]

_SWEEP_MIN = 1024
"""Entries (scopes and budgets) below which the memory counter never sweeps."""


def _refuse_rate(claim: RateClaim, rate: _Rate, now: float) -> Refused:
    """The refusal of ``claim`` by a scope at its rpm or tpm limit (expired entries already gone)."""
    if claim.rpm is not None and len(rate.log) >= claim.rpm:
        retry_after = rate.log.oldest() + WINDOW_SECONDS - now if rate.log else None
        return Refused(claim, "rpm", retry_after, claim.rpm, len(rate.log))
    assert claim.tpm is not None
    buckets = [(second, tokens) for second, tokens in rate.buckets]
    return Refused(claim, "tpm", tpm_retry_after(buckets, rate.tokens, claim.tpm, now), claim.tpm, rate.tokens)


class _Log:
    """Admission times in the window, oldest first, as raw doubles: 8 bytes a request (a deque of floats took 32,
    and a scope under a high rpm limit holds every request of the last minute: ~10 MB at 5,000 requests/s, which
    was most of a loaded worker's growth, bench/RESULTS.md 2026-11-28). Expired times are skipped by an index and
    cut off once they are the larger half, so appending and expiring stay O(1) amortised."""

    __slots__ = ("_start", "_times")

    def __init__(self) -> None:
        self._times = array("d")
        self._start = 0

    def __len__(self) -> int:
        return len(self._times) - self._start

    def oldest(self) -> float:
        """The oldest time still held (``inf`` when none: nothing to expire)."""
        return self._times[self._start] if len(self._times) > self._start else math.inf

    def append(self, now: float) -> None:
        times = self._times
        # A clock that stepped back lands on the newest time rather than unsorting the log (bisect needs it sorted).
        times.append(now if not times or now >= times[-1] else times[-1])

    def expire(self, cutoff: float) -> None:
        """Drop the times at or before ``cutoff``."""
        times = self._times
        start = self._start = bisect.bisect_right(times, cutoff, self._start)
        if start > 64 and 2 * start >= len(times):
            del times[:start]
            self._start = 0


class _Rate:
    """One scope's request log (admission times, oldest first) and token buckets (``[second, tokens]``)."""

    __slots__ = ("buckets", "log", "tokens")

    def __init__(self) -> None:
        self.log = _Log()
        self.buckets: deque[list[int]] = deque()
        self.tokens = 0

    def expire(self, now: float) -> None:
        cutoff = now - WINDOW_SECONDS
        if self.log.oldest() <= cutoff:
            self.log.expire(cutoff)
        oldest_second = math.floor(now) - WINDOW_SECONDS
        buckets = self.buckets
        while buckets and buckets[0][0] <= oldest_second:
            self.tokens -= buckets.popleft()[1]

    def add_tokens(self, now: float, tokens: int) -> None:
        second = math.floor(now)
        buckets = self.buckets
        # A clock that stepped back lands in the newest bucket rather than reordering the deque.
        if buckets and buckets[-1][0] >= second:
            buckets[-1][1] += tokens
        else:
            buckets.append([second, tokens])
        self.tokens += tokens


class _Leases:
    """Ticket → lease expiry in insertion order (= expiry order: one lease length for all), and the earliest
    expiry that may still be held, so that "nothing expired" costs one comparison."""

    __slots__ = ("held", "next_expiry")

    def __init__(self) -> None:
        self.held: dict[str, float] = {}
        self.next_expiry = math.inf

    def add(self, ticket_id: str, expiry: float) -> None:
        self.held[ticket_id] = expiry
        if expiry < self.next_expiry:  # noqa: PLR1730 - a comparison is cheaper than calling min()
            self.next_expiry = expiry

    def expire(self, now: float) -> list[str]:
        """Drop the leases expired at ``now`` (a no-op before ``next_expiry``); the tickets dropped."""
        if now < self.next_expiry:
            return []
        held, dropped = self.held, []
        for ticket_id, expiry in held.items():
            if expiry > now:
                self.next_expiry = expiry
                break
            dropped.append(ticket_id)
        else:
            self.next_expiry = math.inf
        for ticket_id in dropped:
            del held[ticket_id]
        return dropped


class _Budget:
    """One (scope, period): settled spend, live reservations (leases, with their estimates) and their sum."""

    __slots__ = ("estimates", "leases", "period_end", "reserved", "spent")

    def __init__(self, spent: int, period_end: float | None) -> None:
        self.spent = spent
        self.reserved = 0
        self.leases = _Leases()
        self.estimates: dict[str, int] = {}
        self.period_end = period_end

    def expire(self, now: float) -> None:
        """Drop the reservations whose lease ran out (call when ``now >= leases.next_expiry``)."""
        for ticket_id in self.leases.expire(now):
            self.reserved -= self.estimates.pop(ticket_id)

    def reserve(self, ticket_id: str, estimate: int, expiry: float) -> None:
        self.leases.add(ticket_id, expiry)
        self.estimates[ticket_id] = estimate
        self.reserved += estimate

    def drop(self, ticket_id: str) -> None:
        estimate = self.estimates.pop(ticket_id, None)
        if estimate is not None:
            del self.leases.held[ticket_id]
            self.reserved -= estimate


_State = _Rate | _Leases | _Budget


class MemoryCounter:
    """The ``Counter`` port for one process. ``clock`` gives epoch seconds (tests move it); ``loader`` reads the
    persisted spend of a budget the first time this process meets its (scope, period)."""

    def __init__(
        self,
        *,
        loader: Loader | None = None,
        clock: Callable[[], float] = time.time,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be > 0, got {lease_seconds}")
        self._loader = loader or nothing_spent
        self._clock = clock
        self._lease = lease_seconds
        self._rates: dict[str, _Rate] = {}
        self._slots: dict[str, _Leases] = {}
        self._budgets: dict[_BudgetKey, _Budget] = {}
        self._loads = SharedLoads()
        self._lock = threading.Lock()
        self._sweep_at = _SWEEP_MIN

    async def admit(self, claims: Sequence[Claim], *, ticket_id: str | None = None) -> Ticket | Refused:
        """Check every claim, then apply them all or none (see ``tollway.governance.counters``)."""
        claims = check_claims(claims)
        ticket = ticket_id or new_ticket_id()
        while True:
            with self._lock:
                now = self._clock()
                checked = self._check(claims, now)
                outcome = self._apply(claims, checked, ticket, now) if isinstance(checked, list) else checked
                if len(self._rates) + len(self._slots) + len(self._budgets) >= self._sweep_at:
                    self._sweep(now)
            if not isinstance(outcome, tuple):
                return outcome
            await self._load(outcome)

    def _check(self, claims: tuple[Claim, ...], now: float) -> list[_State] | Refused | tuple[BudgetClaim, ...]:
        """Check every claim: each claim's state (to apply to), the refusal, or the budgets to load first."""
        states: list[_State] = []
        missing: tuple[BudgetClaim, ...] = ()
        cutoff = now - WINDOW_SECONDS
        for claim in claims:
            if type(claim) is RateClaim:
                rate = self._rates.get(claim.scope) or self._new_rate(claim.scope)
                # A bucket of second s leaves when floor(now) - 60 >= s, which for a whole s is s <= now - 60.
                if rate.log.oldest() <= cutoff or (rate.buckets and rate.buckets[0][0] <= cutoff):
                    rate.expire(now)
                if (claim.rpm is not None and len(rate.log) >= claim.rpm) or (
                    claim.tpm is not None and rate.tokens >= claim.tpm
                ):
                    return _refuse_rate(claim, rate, now)
                states.append(rate)
            elif type(claim) is ParallelClaim:
                slots = self._slots.get(claim.scope) or self._new_slots(claim.scope)
                if now >= slots.next_expiry:
                    slots.expire(now)
                if len(slots.held) >= claim.limit:
                    return Refused(claim, "parallel", None, claim.limit, len(slots.held))
                states.append(slots)
            else:
                assert isinstance(claim, BudgetClaim)
                budget = self._budgets.get((claim.scope, claim.period))
                if budget is None:
                    missing += (claim,)
                    continue
                if now >= budget.leases.next_expiry:
                    budget.expire(now)
                used = budget.spent + budget.reserved
                if used >= claim.limit_nano or used + claim.estimate_nano > claim.limit_nano:
                    return Refused(claim, "budget", budget_retry_after(claim, now), claim.limit_nano, used)
                states.append(budget)
        return missing or states

    def _new_rate(self, scope: str) -> _Rate:
        rate = self._rates[scope] = _Rate()
        return rate

    def _new_slots(self, scope: str) -> _Leases:
        slots = self._slots[scope] = _Leases()
        return slots

    def _apply(self, claims: tuple[Claim, ...], states: list[_State], ticket: str, now: float) -> Ticket:
        """Apply every claim to the state ``_check`` found for it (same critical section)."""
        remaining: dict[str, RateState] = {}
        lease_end = now + self._lease
        for claim, state in zip(claims, states, strict=True):
            if type(state) is _Rate:
                assert type(claim) is RateClaim
                requests = 0
                if claim.rpm is not None:
                    state.log.append(now)
                    requests = len(state.log)
                remaining[claim.scope] = RateState(requests, state.tokens if claim.tpm is not None else 0)
            elif type(state) is _Leases:
                state.add(ticket, lease_end)
            else:
                assert type(state) is _Budget
                assert type(claim) is BudgetClaim
                state.reserve(ticket, claim.estimate_nano, lease_end)
        return Ticket(ticket, claims, now, remaining)

    async def _load(self, claims: Sequence[BudgetClaim]) -> None:
        """Load the missing budgets concurrently, each through one shared loader call."""

        async def load(claim: BudgetClaim) -> int:
            key = (claim.scope, claim.period)
            spent = await read_spent(self._loader, *key)
            # Stored before the shared load completes, so no waiter can see it finished but absent.
            with self._lock:
                self._budgets.setdefault(key, _Budget(spent, claim.period_end))
            return spent

        await asyncio.gather(*(self._loads.get((c.scope, c.period), functools.partial(load, c)) for c in claims))

    def _sweep(self, now: float) -> None:
        """Forget idle scopes and budgets whose period ended more than ``BUDGET_KEEP_SECONDS`` ago. Runs when the
        number of entries has doubled since the last sweep: O(1) amortised per new entry, and memory stays within
        twice what is live, without a periodic pause proportional to every scope ever seen."""
        for scope, rate in list(self._rates.items()):
            rate.expire(now)
            if not rate.log and not rate.buckets:
                del self._rates[scope]
        for scope, slots in list(self._slots.items()):
            slots.expire(now)
            if not slots.held:
                del self._slots[scope]
        for key, budget in list(self._budgets.items()):
            if budget.period_end is not None and budget.period_end + BUDGET_KEEP_SECONDS < now:
                del self._budgets[key]
        self._sweep_at = max(_SWEEP_MIN, 2 * (len(self._rates) + len(self._slots) + len(self._budgets)))

    async def settle(self, ticket: Ticket, *, cost_nano: int, tokens: int) -> None:
        """Free the ticket's slots, replace its reservations by ``cost_nano`` spent, count its ``tokens``."""
        with self._lock:
            now = self._clock()
            for claim in ticket.claims:
                if type(claim) is RateClaim:
                    if claim.tpm is not None and tokens > 0:
                        (self._rates.get(claim.scope) or self._new_rate(claim.scope)).add_tokens(now, tokens)
                elif type(claim) is ParallelClaim:
                    slots = self._slots.get(claim.scope)
                    if slots is not None:
                        slots.held.pop(ticket.id, None)
                else:
                    assert isinstance(claim, BudgetClaim)
                    budget = self._budgets.get((claim.scope, claim.period))
                    if budget is not None:  # None: swept a day after its period ended; the database has the cost
                        budget.drop(ticket.id)
                        budget.spent += cost_nano

    async def release(self, ticket: Ticket) -> None:
        """Free the ticket's slots and drop its reservations (its rpm entries stay: the request was admitted)."""
        with self._lock:
            for claim in ticket.claims:
                if type(claim) is ParallelClaim:
                    slots = self._slots.get(claim.scope)
                    if slots is not None:
                        slots.held.pop(ticket.id, None)
                elif type(claim) is BudgetClaim:
                    budget = self._budgets.get((claim.scope, claim.period))
                    if budget is not None:
                        budget.drop(ticket.id)

    async def spent(self, scope: str, period: str) -> int:
        """Settled nano-dollars of ``(scope, period)``; the loader's value when this process holds no counter."""
        with self._lock:
            budget = self._budgets.get((scope, period))
            if budget is not None:
                return budget.spent
        return await read_spent(self._loader, scope, period)

    async def window(self, scope: str) -> RateState:
        """Requests admitted (under an rpm limit) and tokens settled (under a tpm limit) in the last 60 s."""
        with self._lock:
            rate = self._rates.get(scope)
            if rate is None:
                return RateState(0, 0)
            rate.expire(self._clock())
            return RateState(len(rate.log), rate.tokens)

    async def aclose(self) -> None:
        """Nothing to release."""

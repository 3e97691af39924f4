"""``Governance``: the services the gateway's request path and management API share, built once per process.

On a request: ``principal(token)`` (key cache → store on a miss), ``admit(...)`` (records → claims → one atomic
counter call), then ``finish(...)`` (settle the reservation to the actual cost, and hand the spend row to the
batched writer). Management routes use the stores directly and call ``invalidate`` after every change, which reaches
every instance through Redis pub/sub.

Failure policy: when the counters (Redis) are unreachable, requests go on unlimited (fail-open) unless
``fail_closed_budget_enforcement`` is set (then 503). When the key store is unreachable, keys seen in the last five
minutes keep working from the cache; unknown keys get 503 (never a silent pass).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from tollway.errors import (
    AuthenticationError,
    BudgetExceededError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
)
from tollway.governance.admission import UNLIMITED_NANO, ClaimPlan, check_access, plan_claims, subjects_of
from tollway.governance.counters import (
    BudgetClaim,
    Counter,
    CounterUnavailable,
    RateClaim,
    Refused,
    Ticket,
    nano_to_usd,
    usd_to_nano,
)
from tollway.governance.key_cache import CacheUnavailable, Invalidations, KeyCache
from tollway.governance.keys import hash_key
from tollway.governance.records import CustomerRecord, Principal
from tollway.governance.settings import GovernanceSettings
from tollway.governance.spend_event import SpendEvent

if TYPE_CHECKING:
    from tollway.governance.spend_writer import SpendWriter
    from tollway.storage.audit import AuditLog
    from tollway.storage.database import Database
    from tollway.storage.entities import CustomerStore, KeyStore, TeamStore, UserStore
    from tollway.storage.spend_store import SpendStore

__all__ = ["Admission", "Governance", "Stores"]

logger = logging.getLogger("tollway.governance")

# Claim plans kept at most (per instance); past this many the cache starts again empty.
_MAX_PLANS = 10_000
# Keys whose hash is remembered at most (per instance); past this many the memo starts again empty.
_MAX_HASHES = 10_000
# Cached keys and customers are reloaded when the entity epoch moves (read every key_cache_ttl seconds), and after
# this long at most: a change made in the database by hand, not through the management API, does not move it.
RECORD_MAX_AGE = 60.0


@dataclass(frozen=True, slots=True)
class Stores:
    """The SQL side: one ``Database`` and a repository per aggregate."""

    database: Database
    keys: KeyStore
    users: UserStore
    teams: TeamStore
    customers: CustomerStore
    spend: SpendStore
    audit: AuditLog


@dataclass(slots=True)
class Admission:
    """One admitted request: its ticket (None when nothing was counted), the persisted counters its cost
    increments, and the ``x-ratelimit-*`` headers to send."""

    principal: Principal | None
    customer_id: str | None
    model_group: str
    ticket: Ticket | None = None
    scopes: list[tuple[str, str]] = field(default_factory=list)
    # Encoded as ASGI sends them (lower-case latin-1 name, value): every answer of the key carries them.
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    finished: bool = False


class Governance:
    """Keys, limits, budgets and spend for one gateway process (see the module docstring)."""

    def __init__(
        self,
        settings: GovernanceSettings,
        stores: Stores,
        counter: Counter,
        writer: SpendWriter,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.stores = stores
        self.counter = counter
        self.writer = writer
        self._clock = clock
        ttl = settings.key_cache_ttl
        lifetime = max(ttl, RECORD_MAX_AGE) if ttl > 0 else 0.0
        self._keys: KeyCache[Principal] = KeyCache(stores.keys.principal_rows, ttl=lifetime)
        self._customers: KeyCache[CustomerRecord] = KeyCache(stores.customers.get, ttl=lifetime)
        self.invalidations = Invalidations(
            self._apply, redis_url=settings.redis_url, channel=f"{settings.redis_prefix}invalidate"
        )
        self._janitor: asyncio.Task[None] | None = None
        self._epoch_watch: asyncio.Task[None] | None = None
        self._plans: dict[tuple[int, int, str | None, str], tuple[Principal | None, CustomerRecord | None, ClaimPlan]]
        self._plans = {}
        # token -> its SHA-256 hex: hashing is ~8k instructions (callgrind), a lookup ~100, and a key sends the same
        # token with every request. Bounded like the plans, so random tokens cannot grow it.
        self._hashes: dict[str, str] = {}

    # -- lifecycle ----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the spend writer, the invalidation subscriber, the entity epoch's watch and the retention
        janitor."""
        await self.writer.start()
        await self.invalidations.start()
        if self.settings.key_cache_ttl > 0:
            await self._read_epoch()
            self._epoch_watch = asyncio.create_task(self._watch_epoch(), name="tollway-entity-epoch")
        if self.settings.retention is not None:
            self._janitor = asyncio.create_task(self._prune_forever(), name="tollway-retention")

    async def aclose(self) -> None:
        """Flush the spend rows, stop the background tasks, close the connections."""
        for task in (self._janitor, self._epoch_watch):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.invalidations.aclose()
        await self.writer.aclose()
        await self.counter.aclose()
        await self.stores.database.aclose()

    # -- the request path -------------------------------------------------------------------------------------

    async def principal(self, token: str) -> Principal:
        """The principal of a virtual key: 401 for an unknown or expired key, 403 for a blocked one, 503 when
        the key store is unreachable and the key is not cached."""
        token_hash = self._hashes.get(token)
        if token_hash is None:
            if len(self._hashes) >= _MAX_HASHES:
                self._hashes.clear()
            token_hash = self._hashes[token] = hash_key(token)
        try:
            principal = await self._keys.get(token_hash)
        except CacheUnavailable as exc:
            raise ServiceUnavailableError(f"cannot check the API key: {exc}", code="key_store_unavailable") from None
        if principal is None:
            raise AuthenticationError("invalid API key", code="invalid_api_key")
        check_access(principal, datetime.now(UTC))
        return principal

    async def admit(
        self,
        principal: Principal | None,
        customer_id: str | None,
        model_group: str,
        estimate_nano: Callable[[], int],
        *,
        ticket_id: str | None = None,
    ) -> Admission:
        """Check the customer and every limit of the request at once; raise the refusal (403 blocked customer,
        429 rate limited, 400 budget exceeded). ``estimate_nano`` (what to reserve, in nano-dollars) is called only
        when a budget applies. ``ticket_id``: the counters' ticket id (unique per request; default: a new one)."""
        customer = None
        if customer_id is not None:
            customer = await self._customer(customer_id)
            if customer is not None and customer.blocked:
                raise PermissionDeniedError("this customer is blocked", param="user", code="customer_blocked")
        elif principal is None:
            return Admission(principal, customer_id, model_group)
        plan = self._plan(principal, customer_id, customer, model_group, self._clock())
        claims = plan.reserving(estimate_nano()) if plan.budgeted else plan.claims
        try:
            result = await self.counter.admit(claims, ticket_id=ticket_id)
        except CounterUnavailable as exc:
            if self.settings.fail_closed:
                raise ServiceUnavailableError(
                    "limits cannot be checked (the counter store is unreachable)", code="limits_unavailable"
                ) from None
            logger.warning("counters unreachable, admitting without limits (fail-open): %s", exc)
            return Admission(principal, customer_id, model_group, None, plan.scopes)
        if isinstance(result, Refused):
            raise _refusal(result, principal)
        # Every field given: the dataclass's default factories would make a list and a dict per request for nothing.
        return Admission(principal, customer_id, model_group, result, plan.scopes, _rate_headers(result, plan.rates))

    def _plan(
        self,
        principal: Principal | None,
        customer_id: str | None,
        customer: CustomerRecord | None,
        model_group: str,
        now: float,
    ) -> ClaimPlan:
        """The claim plan of these records, reused while they are the cached ones (a reload makes new objects, so
        a changed limit is planned afresh) and their budget periods last."""
        key = (id(principal), id(customer), customer_id, model_group)
        cached = self._plans.get(key)
        # The records are kept in the entry: an id is only unique while its object lives.
        if cached is not None and cached[0] is principal and cached[1] is customer and now < cached[2].valid_until:
            return cached[2]
        subjects = subjects_of(principal, customer_id, customer, self.settings.default_customer)
        plan = plan_claims(subjects, model_group, now)
        if len(self._plans) >= _MAX_PLANS:
            self._plans.clear()  # records are reloaded every key_cache_ttl: old plans are garbage by then
        self._plans[key] = (principal, customer, plan)
        return plan

    async def _customer(self, customer_id: str | None) -> CustomerRecord | None:
        if customer_id is None:
            return None
        try:
            return await self._customers.get(customer_id)
        except CacheUnavailable:
            # An unknown customer gets the default limits anyway; while the store is down, treat it as unknown.
            return None

    async def finish(self, admission: Admission, event: SpendEvent, *, tokens: int) -> None:
        """Settle the request's reservation to its actual cost and queue its spend row (once per admission).
        ``event.counter_scopes`` must be ``admission.scopes``."""
        if admission.finished:
            return
        admission.finished = True
        if admission.ticket is not None:
            try:
                if event.status < 400:
                    cost = usd_to_nano(event.cost, round_up=False) if event.cost is not None else 0
                    await self.counter.settle(admission.ticket, cost_nano=cost, tokens=tokens)
                else:
                    await self.counter.release(admission.ticket)
            except CounterUnavailable as exc:
                logger.warning("could not settle a request's counters: %s", exc)
        if self.settings.spend_logs:
            self.writer.record(event)

    async def live_spend(self, scope: str, period: str = "all") -> Decimal:
        """Spend of a counter scope right now (settled requests included within a second, before the rows land)."""
        try:
            return nano_to_usd(await self.counter.spent(scope, period))
        except CounterUnavailable:
            return await self.stores.spend.counter(scope, period)

    # -- management ---------------------------------------------------------------------------------------------

    async def invalidate(self, kind: str, ident: str | None = None) -> None:
        """Drop cached records after a change, here and on every instance: ``("key", token_hash)``, ``("user",
        id)``, ``("team", id)``, ``("customer", id)``."""
        await self.invalidations.publish(f"{kind}:{ident}" if ident is not None else "*")

    def _apply(self, message: str) -> None:
        kind, _, ident = message.partition(":")
        if kind == "key" and ident:
            self._keys.invalidate(ident)
        elif kind == "customer" and ident:
            self._customers.invalidate(ident)
            self._keys.invalidate()  # principals embed their key's customer
        else:  # users and teams are embedded in every principal of theirs; "*" is everything
            self._keys.invalidate()
            self._customers.invalidate()

    async def _watch_epoch(self) -> None:
        """Read the entity epoch every ``key_cache_ttl`` seconds: the bound on how long another instance's change
        to a key, user, team or customer takes to reach this one without Redis (``tollway.storage.epoch``)."""
        while True:
            await asyncio.sleep(self.settings.key_cache_ttl)
            await self._read_epoch()

    async def _read_epoch(self) -> None:
        from tollway.storage import epoch  # not at import: a gateway without a database never loads SQLAlchemy

        try:
            current = await epoch.read(self.stores.database)
        except Exception as exc:  # the database may be down: cached records expire (or serve stale) as before
            logger.debug("cannot read the entity epoch: %s", type(exc).__name__)
            return
        self._keys.observe(current)
        self._customers.observe(current)

    async def _prune_forever(self) -> None:
        retention = self.settings.retention
        assert retention is not None
        seconds = retention.seconds or 30 * 86_400
        while True:
            cutoff = datetime.fromtimestamp(self._clock() - seconds, UTC)
            try:
                removed = await self.stores.spend.prune(cutoff)
                if removed:
                    logger.info("retention: removed %d spend rows older than %s", removed, cutoff.isoformat())
            except Exception as exc:  # the database may be down; try again next round
                logger.warning("retention pruning failed: %s", type(exc).__name__)
            await asyncio.sleep(3600)


_LIMIT_REQUESTS = b"x-ratelimit-limit-requests"
_REMAINING_REQUESTS = b"x-ratelimit-remaining-requests"
_LIMIT_TOKENS = b"x-ratelimit-limit-tokens"
_REMAINING_TOKENS = b"x-ratelimit-remaining-tokens"


def _rate_headers(ticket: Ticket, rates: Sequence[RateClaim]) -> list[tuple[bytes, bytes]]:
    """OpenAI's ``x-ratelimit-*`` headers for the tightest rate claim of the request (LiteLLM sends the same),
    encoded."""
    if len(rates) == 1:
        return _one_claim_headers(ticket, rates[0])
    return _tightest_headers(ticket, rates)


def _one_claim_headers(ticket: Ticket, claim: RateClaim) -> list[tuple[bytes, bytes]]:
    """``_rate_headers`` of a request with one rate claim (the usual key): what ``_tightest_headers`` gives, written
    out (callgrind: 11.5k instructions per request in the general loop)."""
    state = ticket.remaining.get(claim.scope)
    if state is None:
        return []
    rpm, tpm = claim.rpm, claim.tpm
    headers: list[tuple[bytes, bytes]] = []
    if rpm is not None:
        requests = rpm - state.requests
        headers += ((_LIMIT_REQUESTS, b"%d" % rpm), (_REMAINING_REQUESTS, b"%d" % (requests if requests > 0 else 0)))
    if tpm is not None:
        tokens = tpm - state.tokens
        headers += ((_LIMIT_TOKENS, b"%d" % tpm), (_REMAINING_TOKENS, b"%d" % (tokens if tokens > 0 else 0)))
    return headers


def _tightest_headers(ticket: Ticket, rates: Sequence[RateClaim]) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    if not rates:
        return headers
    best_requests: tuple[int, int] | None = None
    best_tokens: tuple[int, int] | None = None
    remaining = ticket.remaining
    for claim in rates:
        state = remaining.get(claim.scope)
        if state is None:
            continue
        if claim.rpm is not None:
            left = max(0, claim.rpm - state.requests)
            if best_requests is None or left < best_requests[1]:
                best_requests = (claim.rpm, left)
        if claim.tpm is not None:
            left = max(0, claim.tpm - state.tokens)
            if best_tokens is None or left < best_tokens[1]:
                best_tokens = (claim.tpm, left)
    if best_requests is not None:
        headers.append((_LIMIT_REQUESTS, b"%d" % best_requests[0]))
        headers.append((_REMAINING_REQUESTS, b"%d" % best_requests[1]))
    if best_tokens is not None:
        headers.append((_LIMIT_TOKENS, b"%d" % best_tokens[0]))
        headers.append((_REMAINING_TOKENS, b"%d" % best_tokens[1]))
    return headers


def _refusal(refused: Refused, principal: Principal | None) -> Exception:
    """The error for a refused admission, naming the entity (a key by its display name, never its hash)."""
    kind, _, ident = refused.claim.scope.partition(":")
    if kind == "key" and principal is not None:
        ident = principal.key.key_name + ident[len(principal.key.key_id) :]
    who = f"{kind} {ident}"
    if refused.reason == "budget":
        assert isinstance(refused.claim, BudgetClaim)
        spent = nano_to_usd(refused.current)
        limit = "unlimited" if refused.limit == UNLIMITED_NANO else format(nano_to_usd(refused.limit), "f")
        period = "" if refused.claim.period == "all" else f" in the period {refused.claim.period}"
        return BudgetExceededError(
            f"Budget has been exceeded! {who}: current cost {format(spent, 'f')} (spent and reserved){period}, "
            f"max budget {limit}",
            code="budget_exceeded",
        )
    what = {"rpm": "requests per minute", "tpm": "tokens per minute", "parallel": "parallel requests"}[refused.reason]
    return RateLimitError(
        f"rate limit reached for {who}: {refused.limit} {what} (current {refused.current})",
        code="rate_limited",
        retry_after=refused.retry_after,
    )

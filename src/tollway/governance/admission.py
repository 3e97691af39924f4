"""What a request may do, decided from records alone (pure): refusals, allowed models, and the counter claims.

The gateway resolves the caller's ``Principal`` (key, user, team, the key's customer) and the request's customer,
then asks here: is anything blocked or expired, is the model allowed, and which rate, parallel and budget claims
must the counter admit. Every limited entity is a ``Subject``; its counter scope is ``"<kind>:<id>"`` and per-model
limits live under ``"<kind>:<id>:model:<group>"``.

Every subject also gets a tracking claim on its lifetime scope (period ``"all"``, no limit): that is what keeps a
key's, team's or customer's live spend in the counters, so ``/key/info`` shows a request's cost within a second,
long before the batched spend rows land.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from tollway.errors import AuthenticationError, BadRequestError, PermissionDeniedError
from tollway.governance.counters import (
    BudgetClaim,
    CheckedClaims,
    Claim,
    ParallelClaim,
    RateClaim,
    check_claims,
    usd_to_nano,
)
from tollway.governance.durations import period_of
from tollway.governance.records import CustomerRecord, Limits, Principal

__all__ = [
    "ALL_MODELS",
    "UNLIMITED_NANO",
    "ClaimPlan",
    "Subject",
    "check_access",
    "claims_for",
    "counter_scopes",
    "customer_of",
    "model_allowed",
    "plan_claims",
    "resolve_model",
    "subjects_of",
]

# LiteLLM's spellings of "every model" in a key's or team's model list.
ALL_MODELS = frozenset({"*", "all-proxy-models", "all-team-models"})

# The limit of a tracking claim: no real spend reaches it (9.2e9 USD).
UNLIMITED_NANO = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Subject:
    """An entity whose limits apply to a request: ``kind`` is key, user, team or customer."""

    kind: str
    id: str
    limits: Limits

    @property
    def scope(self) -> str:
        """The counter scope of this entity."""
        return f"{self.kind}:{self.id}"


def subjects_of(
    principal: Principal | None, customer_id: str | None, customer: CustomerRecord | None, default: Limits
) -> list[Subject]:
    """The limited entities of a request: the key, its user and team (when the caller used a virtual key), and the
    customer (its own limits when it exists, else ``default``, the limits for customers not yet created)."""
    subjects: list[Subject] = []
    if principal is not None:
        subjects.append(Subject("key", principal.key.key_id, principal.key.limits))
        if principal.user is not None:
            subjects.append(Subject("user", principal.user.user_id, principal.user.limits))
        if principal.team is not None:
            subjects.append(Subject("team", principal.team.team_id, principal.team.limits))
    if customer_id is not None:
        subjects.append(Subject("customer", customer_id, customer.limits if customer is not None else default))
    return subjects


def check_access(principal: Principal, now: datetime) -> None:
    """Refuse an expired key (401) or a blocked key, user or team (403)."""
    key = principal.key
    if key.expired(now):
        raise AuthenticationError("this API key has expired", code="key_expired")
    if key.blocked:
        raise PermissionDeniedError("this API key is blocked", code="key_blocked")
    if principal.user is not None and principal.user.blocked:
        raise PermissionDeniedError("the user of this API key is blocked", code="user_blocked")
    if principal.team is not None and principal.team.blocked:
        raise PermissionDeniedError("the team of this API key is blocked", code="team_blocked")


def resolve_model(principal: Principal | None, requested: str) -> str:
    """The model group a request asks for, after the key's aliases; 403 when the key, its user or its team may not
    use it (empty model lists allow everything; entries may be wildcards such as ``openai/*``)."""
    if principal is None:
        return requested
    key, user, team = principal.key, principal.user, principal.team
    group = key.aliases.get(requested, requested) if key.aliases else requested
    # The usual key may use every model: nothing to match (this runs on every request).
    if not key.models and (user is None or not user.models) and (team is None or not team.models):
        return group
    for owner, models in (
        ("API key", principal.key.models),
        ("user", principal.user.models if principal.user is not None else ()),
        ("team", principal.team.models if principal.team is not None else ()),
    ):
        if not _allows(models, requested, group):
            raise PermissionDeniedError(
                f"this {owner} is not allowed to use the model {requested!r}",
                param="model",
                code="model_not_allowed",
            )
    return group


def model_allowed(principal: Principal | None, group: str) -> bool:
    """Whether the caller may use the model group ``group`` (for model listings)."""
    if principal is None:
        return True
    for models in (
        principal.key.models,
        principal.user.models if principal.user is not None else (),
        principal.team.models if principal.team is not None else (),
    ):
        if not _allows(models, group, group):
            return False
    return True


def _allows(models: Sequence[str], requested: str, group: str) -> bool:
    if not models:
        return True
    for allowed in models:
        if allowed in ALL_MODELS or allowed in (requested, group):
            return True
        if "*" in allowed and (fnmatch.fnmatchcase(group, allowed) or fnmatch.fnmatchcase(requested, allowed)):
            return True
    return False


def claims_for(subjects: Iterable[Subject], model_group: str, estimate: Decimal, now: float) -> list[Claim]:
    """The counter claims of one request: rate, parallel and budget claims per subject (and per model where a
    per-model limit is set), plus each subject's lifetime tracking claim. ``estimate`` is the cost reserved
    against budgets (USD, rounded up to a nano-dollar)."""
    estimate_nano = usd_to_nano(estimate, round_up=True)
    claims: list[Claim] = []
    for subject in subjects:
        scope, limits = subject.scope, subject.limits
        if limits.rpm_limit is not None or limits.tpm_limit is not None:
            claims.append(RateClaim(scope, limits.rpm_limit, limits.tpm_limit))
        if limits.max_parallel_requests is not None:
            claims.append(ParallelClaim(scope, limits.max_parallel_requests))
        lifetime = limits.max_budget if limits.budget_duration is None else None
        limit = UNLIMITED_NANO if lifetime is None else usd_to_nano(lifetime, round_up=False)
        claims.append(BudgetClaim(scope, "all", None, limit, estimate_nano))
        if limits.max_budget is not None and limits.budget_duration is not None:
            period = period_of(limits.budget_duration, now)
            claims.append(
                BudgetClaim(scope, period.label, period.end_ts, usd_to_nano(limits.max_budget, False), estimate_nano)
            )
        claims.extend(_model_claims(scope, limits, model_group, estimate_nano, now))
    return claims


def _model_claims(scope: str, limits: Limits, group: str, estimate_nano: int, now: float) -> list[Claim]:
    claims: list[Claim] = []
    model_scope = f"{scope}:model:{group}"
    rpm, tpm = limits.model_rpm_limit.get(group), limits.model_tpm_limit.get(group)
    if rpm is not None or tpm is not None:
        claims.append(RateClaim(model_scope, rpm, tpm))
    budget = limits.model_max_budget.get(group)
    if budget is not None:
        period = period_of(budget.time_period, now)
        limit = usd_to_nano(budget.budget_limit, round_up=False)
        claims.append(BudgetClaim(model_scope, period.label, period.end_ts, limit, estimate_nano))
    return claims


@dataclass(frozen=True, slots=True)
class ClaimPlan:
    """``claims_for`` of one set of subjects and model group, made once and reused while its periods last: the
    rate and parallel claims as they are, the budget claims waiting for the request's estimate.

    ``budgeted``: whether any claim enforces a budget (else the estimate is not needed: it is 0). ``scopes``: the
    ``counter_scopes`` of the claims (shared by every request of the plan: read-only). ``valid_until``: the end of
    the earliest budget period (epoch seconds; inf when none ends): a later request needs a new plan. ``rates``:
    the rate claims, in order (what the ``x-ratelimit-*`` headers are made of)."""

    claims: CheckedClaims
    budgeted: bool
    scopes: list[tuple[str, str]]
    valid_until: float
    rates: tuple[RateClaim, ...] = ()
    # The last (estimate, claims) ``reserving`` made: the estimates of a plan's requests repeat (they are remembered
    # per rounded size: proxy.estimate), and claims are immutable, so requests may share them.
    _last: list[tuple[int, CheckedClaims]] = field(default_factory=list, init=False, compare=False, repr=False)

    def with_estimate(self, estimate: Decimal) -> list[Claim]:
        """The claims of one request reserving ``estimate`` (USD) on every budget claim, as ``claims_for`` makes
        them."""
        return list(self.reserving(usd_to_nano(estimate, round_up=True)))

    def reserving(self, estimate_nano: int) -> CheckedClaims:
        """The claims of one request reserving ``estimate_nano`` on every budget claim (checked already: the
        counters take them as they are)."""
        if not estimate_nano:
            return self.claims
        last = self._last
        if last and last[0][0] == estimate_nano:
            return last[0][1]
        claims = CheckedClaims(c.reserving(estimate_nano) if type(c) is BudgetClaim else c for c in self.claims)
        last[:] = [(estimate_nano, claims)]
        return claims


def plan_claims(subjects: Sequence[Subject], model_group: str, now: float) -> ClaimPlan:
    """The ``ClaimPlan`` of ``subjects`` calling ``model_group`` at ``now``."""
    claims = CheckedClaims(check_claims(claims_for(subjects, model_group, Decimal(0), now)))
    budgeted = any(s.limits.max_budget is not None or model_group in s.limits.model_max_budget for s in subjects)
    ends = [c.period_end for c in claims if type(c) is BudgetClaim and c.period_end is not None]
    rates = tuple(c for c in claims if type(c) is RateClaim)
    return ClaimPlan(claims, budgeted, counter_scopes(claims), min(ends, default=math.inf), rates)


def counter_scopes(claims: Iterable[Claim]) -> list[tuple[str, str]]:
    """The (scope, period) pairs whose persisted spend a request's cost increments: its budget claims."""
    return [(claim.scope, claim.period) for claim in claims if isinstance(claim, BudgetClaim)]


def customer_of(
    principal: Principal | None, headers: Mapping[str, str], body_user: object, *, max_length: int = 128
) -> str | None:
    """The request's customer: the key's ``customer_id`` (a key bound to a customer cannot act for another), else
    the ``x-tollway-customer`` header, else the body's ``user`` field (OpenAI's end-user id, as LiteLLM reads it).
    Ids longer than ``max_length`` or not printable are refused (400) rather than truncated."""
    if principal is not None and principal.key.customer_id is not None:
        return principal.key.customer_id
    value = headers.get("x-tollway-customer")
    if value is None and isinstance(body_user, str) and body_user:
        value = body_user
    if value is None:
        return None
    if len(value) > max_length or not value.isprintable():
        raise BadRequestError(
            f"the customer id must be at most {max_length} printable characters", param="user", code="invalid_customer"
        )
    return value

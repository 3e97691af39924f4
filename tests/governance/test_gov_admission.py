"""The pure admission policy: refusals, allowed models and aliases, the customer, and the claims of a request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tollway.errors import AuthenticationError, BadRequestError, PermissionDeniedError
from tollway.governance.admission import (
    UNLIMITED_NANO,
    check_access,
    claims_for,
    counter_scopes,
    customer_of,
    resolve_model,
    subjects_of,
)
from tollway.governance.counters import BudgetClaim, ParallelClaim, RateClaim
from tollway.governance.records import KeyRecord, Limits, ModelBudget, Principal, TeamRecord, UserRecord

NOW = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)


def key(**fields: object) -> KeyRecord:
    return KeyRecord(token_hash="h" * 64, key_name="sk-...abcd", key_id="k" * 32, **fields)  # type: ignore[arg-type]


def test_expired_and_blocked_keys_users_and_teams_are_refused() -> None:
    check_access(Principal(key(expires=NOW + timedelta(seconds=1))), NOW)
    with pytest.raises(AuthenticationError, match="expired"):
        check_access(Principal(key(expires=NOW)), NOW)
    with pytest.raises(PermissionDeniedError, match="key is blocked"):
        check_access(Principal(key(blocked=True)), NOW)
    with pytest.raises(PermissionDeniedError, match="user"):
        check_access(Principal(key(), user=UserRecord("u1", blocked=True)), NOW)
    with pytest.raises(PermissionDeniedError, match="team"):
        check_access(Principal(key(), team=TeamRecord("t1", blocked=True)), NOW)


def test_models_are_checked_on_the_key_the_user_and_the_team_with_aliases_and_wildcards() -> None:
    assert resolve_model(None, "anything") == "anything"
    assert resolve_model(Principal(key()), "gpt-4o") == "gpt-4o"
    aliased = Principal(key(models=("gpt-4o-mini",), aliases={"fast": "gpt-4o-mini"}))
    assert resolve_model(aliased, "fast") == "gpt-4o-mini"
    with pytest.raises(PermissionDeniedError, match="API key is not allowed to use the model 'gpt-4o'"):
        resolve_model(aliased, "gpt-4o")
    wildcard = Principal(key(models=("openai/*",)))
    assert resolve_model(wildcard, "openai/gpt-4o") == "openai/gpt-4o"
    with pytest.raises(PermissionDeniedError):
        resolve_model(wildcard, "anthropic/claude")
    assert resolve_model(Principal(key(models=("all-proxy-models",))), "x") == "x"
    team_limited = Principal(key(), team=TeamRecord("t1", models=("a",)))
    with pytest.raises(PermissionDeniedError, match="team"):
        resolve_model(team_limited, "b")


def test_the_customer_comes_from_the_key_then_the_header_then_the_user_field() -> None:
    bound = Principal(key(customer_id="acme"))
    assert customer_of(bound, {"x-tollway-customer": "other"}, "third") == "acme"
    assert customer_of(None, {"x-tollway-customer": "hdr"}, "field") == "hdr"
    assert customer_of(None, {}, "field") == "field"
    assert customer_of(None, {}, None) is None
    assert customer_of(None, {}, 42) is None
    with pytest.raises(BadRequestError):
        customer_of(None, {}, "x" * 129)
    with pytest.raises(BadRequestError):
        customer_of(None, {"x-tollway-customer": "bad\nid"}, None)


def test_claims_cover_every_limit_of_every_subject() -> None:
    limits = Limits(
        max_budget=Decimal("10"),
        budget_duration="1d",
        rpm_limit=20,
        tpm_limit=1000,
        max_parallel_requests=3,
        model_max_budget={"gpt-4o": ModelBudget(Decimal("0.5"), "1mo")},
        model_rpm_limit={"gpt-4o": 5},
    )
    principal = Principal(key(limits=limits), team=TeamRecord("t1", limits=Limits(max_budget=Decimal("100"))))
    subjects = subjects_of(principal, "cust", None, Limits(rpm_limit=7))
    assert [s.scope for s in subjects] == ["key:" + "k" * 32, "team:t1", "customer:cust"]
    claims = claims_for(subjects, "gpt-4o", Decimal("0.000000001"), NOW.timestamp())
    key_scope = "key:" + "k" * 32
    assert RateClaim(key_scope, 20, 1000) in claims
    assert ParallelClaim(key_scope, 3) in claims
    daily = [c for c in claims if isinstance(c, BudgetClaim) and c.scope == key_scope and c.period != "all"]
    assert len(daily) == 1
    assert daily[0].limit_nano == 10 * 10**9
    assert daily[0].estimate_nano == 1
    assert daily[0].period_end == datetime(2026, 11, 27, tzinfo=UTC).timestamp()
    lifetime = [c for c in claims if isinstance(c, BudgetClaim) and c.scope == key_scope and c.period == "all"]
    assert lifetime[0].limit_nano == UNLIMITED_NANO  # the budget has a duration: the lifetime claim only tracks
    team_lifetime = [c for c in claims if isinstance(c, BudgetClaim) and c.scope == "team:t1"]
    assert [c.limit_nano for c in team_lifetime] == [100 * 10**9]  # no duration: the lifetime claim enforces
    assert RateClaim(f"{key_scope}:model:gpt-4o", 5, None) in claims
    monthly = [c for c in claims if isinstance(c, BudgetClaim) and c.scope == f"{key_scope}:model:gpt-4o"]
    assert monthly[0].limit_nano == 5 * 10**8
    assert RateClaim("customer:cust", 7, None) in claims
    scopes = counter_scopes(claims)
    assert ("customer:cust", "all") in scopes
    assert (key_scope, daily[0].period) in scopes


def test_a_request_without_key_or_customer_has_no_subjects() -> None:
    assert subjects_of(None, None, None, Limits(max_budget=Decimal(1))) == []
    assert claims_for([], "m", Decimal(0), NOW.timestamp()) == []

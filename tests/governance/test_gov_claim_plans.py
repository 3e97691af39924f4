"""Claim plans: the claims of a request made once per (records, model group) and reused, exactly as ``claims_for``
makes them for each request — until the records are reloaded or a budget period ends. And the spend writer's batch
sizes the factory picks per database."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tollway.governance.admission import claims_for, counter_scopes, plan_claims, subjects_of
from tollway.governance.counters import BudgetClaim
from tollway.governance.counters_memory import MemoryCounter
from tollway.governance.records import KeyRecord, Limits, ModelBudget, Principal, TeamRecord
from tollway.governance.service import Governance
from tollway.governance.settings import GovernanceSettings

NOW = datetime(2026, 11, 26, 23, 59, 59, tzinfo=UTC).timestamp()
LIMITS = Limits(
    max_budget=Decimal("10"),
    budget_duration="1d",
    rpm_limit=20,
    max_parallel_requests=3,
    model_max_budget={"gpt-4o": ModelBudget(Decimal("0.5"), "1mo")},
)


def principal(limits: Limits = LIMITS) -> Principal:
    key = KeyRecord(token_hash="h" * 64, key_name="sk-...abcd", key_id="k" * 32, limits=limits)
    return Principal(key, team=TeamRecord("t1", limits=Limits(max_budget=Decimal("100"))))


@pytest.mark.parametrize("estimate", [Decimal(0), Decimal("0.0000000001"), Decimal("0.25")])
@pytest.mark.parametrize("group", ["gpt-4o", "other"])
def test_a_plan_gives_the_claims_claims_for_gives(estimate: Decimal, group: str) -> None:
    subjects = subjects_of(principal(), "cust", None, Limits(rpm_limit=7))
    plan = plan_claims(subjects, group, NOW)
    assert plan.with_estimate(estimate) == claims_for(subjects, group, estimate, NOW)
    assert plan.scopes == counter_scopes(plan.claims)
    assert plan.budgeted
    assert plan.valid_until == datetime(2026, 11, 27, tzinfo=UTC).timestamp()  # the daily budget's end


def test_a_plan_without_budgets_needs_no_estimate_and_never_expires() -> None:
    subjects = subjects_of(None, "cust", None, Limits(rpm_limit=7))
    plan = plan_claims(subjects, "m", NOW)
    assert not plan.budgeted
    assert plan.valid_until == float("inf")
    assert plan.with_estimate(Decimal(0)) == claims_for(subjects, "m", Decimal(0), NOW)


class _Stores:
    """What ``Governance`` touches of the stores in ``admit`` (nothing but the caches' loaders)."""

    def __init__(self) -> None:
        self.keys = self
        self.customers = self

    async def principal_rows(self, token_hash: str) -> Any:
        return None

    async def get(self, customer_id: str) -> Any:
        return None


class _Clock:
    def __init__(self) -> None:
        self.now = NOW - 10

    def __call__(self) -> float:
        return self.now


async def test_the_service_replans_after_a_reload_and_at_a_period_end(tmp_path: Any) -> None:
    clock = _Clock()
    settings = GovernanceSettings.from_config({}, database_url="sqlite://", redis_url=None, cwd=tmp_path)
    governance = Governance(settings, _Stores(), MemoryCounter(clock=clock), writer=None, clock=clock)  # type: ignore[arg-type]
    first = principal()
    estimate = lambda: 10**6  # noqa: E731

    async def periods(caller: Principal) -> set[str]:
        admission = await governance.admit(caller, "cust", "gpt-4o", estimate)
        assert admission.ticket is not None
        assert all(c.estimate_nano == 10**6 for c in admission.ticket.claims if isinstance(c, BudgetClaim))
        return {period for _, period in admission.scopes}

    today = await periods(first)
    assert await periods(first) == today
    # The gate passes the spend row's id as the ticket id (one id per request); without one the counter makes one.
    unlimited = principal(Limits(max_budget=Decimal("10")))
    given = await governance.admit(unlimited, "cust", "gpt-4o", estimate, ticket_id="e" * 32)
    assert given.ticket is not None
    assert given.ticket.id == "e" * 32
    clock.now = NOW + 2  # the next day: a new daily period, the same records
    tomorrow = await periods(first)
    assert tomorrow != today
    assert {p for p in tomorrow if p.startswith("1d:")} == {"1d:2026-11-27T00:00:00Z"}
    # A reloaded key (a new object) with other limits: planned afresh.
    reloaded = principal(Limits(max_budget=Decimal("10"), budget_duration="7d"))
    labels = {period.split(":")[0] for period in await periods(reloaded)}
    assert labels == {"all", "7d"}  # the new limits: a weekly budget, no model budget


async def test_the_writer_batches_more_per_transaction_on_postgresql(database_url: str, tmp_path: Any) -> None:
    from tollway.governance.factory import MEMORY_ROWS, POSTGRES_MAX_BATCH, open_governance

    settings = GovernanceSettings.from_config(
        {"spend_spool_dir": str(tmp_path / "spool")}, database_url=database_url, redis_url=None, cwd=tmp_path
    )
    governance = await open_governance(settings)
    try:
        writer = governance.writer
        expected = writer.batch_size if database_url.startswith("sqlite") else POSTGRES_MAX_BATCH
        assert (writer.max_batch, writer.memory_rows) == (expected, MEMORY_ROWS)
    finally:
        await governance.aclose()


class _RecordingStores(_Stores):
    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    async def principal_rows(self, token_hash: str) -> Any:
        self.asked.append(token_hash)
        return None


async def test_the_token_hash_memo_hashes_right_and_stays_bounded(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tollway.errors import AuthenticationError
    from tollway.governance import service
    from tollway.governance.keys import hash_key

    monkeypatch.setattr(service, "_MAX_HASHES", 3)
    settings = GovernanceSettings.from_config({}, database_url="sqlite://", redis_url=None, cwd=tmp_path)
    stores = _RecordingStores()
    governance = Governance(settings, stores, MemoryCounter(), writer=None)  # type: ignore[arg-type]
    tokens = [f"sk-unknown-{n}" for n in range(10)]
    for token in tokens * 2:
        with pytest.raises(AuthenticationError):
            await governance.principal(token)
        assert len(governance._hashes) <= 3
    # Remembered or not, every token was looked up by its own hash (the key cache remembers the misses).
    assert set(stores.asked) == {hash_key(token) for token in tokens}

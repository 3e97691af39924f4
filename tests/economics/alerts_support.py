"""Shared by the alerts tests (``test_econ_alerts_*.py``): a settable clock, spend written straight into the store
(rows, daily rollups and budget counters, as the gateway's spend writer writes them), and an engine over a
running Governance that never really sleeps between retries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tollway.economics.alerts import AlertRule, parse_rule
from tollway.economics.alerts_delivery import DeliverySettings
from tollway.economics.alerts_engine import AlertEngine, AlertSettings
from tollway.governance.durations import period_of
from tollway.governance.service import Governance
from tollway.governance.spend_event import SpendEvent
from tollway.storage.alert_store import new_id

__all__ = ["Clock", "Sleeps", "engine_of", "rule_of", "spend"]

SECRET = "whsec_test_secret_0123456789abcdef"


@dataclass
class Clock:
    """A clock the test moves."""

    now: datetime = field(default_factory=lambda: datetime(2025, 6, 1, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Sleeps:
    """Records the backoff waits instead of waiting."""

    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def engine_of(
    governance: Governance,
    clock: Clock,
    *,
    attempts: int = 3,
    timeout: float = 2.0,
    sleeps: Sleeps | None = None,
    smtp: Any = None,
) -> AlertEngine:
    """An engine on the governance's database and live spend, delivering with these settings."""
    delivery = DeliverySettings(attempts=attempts, timeout=timeout, backoff=1.0, smtp=smtp)
    return AlertEngine(
        governance.stores.database,
        spent=governance.live_spend,
        settings=AlertSettings(interval=60, delivery=delivery),
        clock=clock,
        sleep=sleeps or Sleeps(),
    )


def rule_of(payload: dict[str, Any], now: datetime | None = None) -> AlertRule:
    """A validated rule with a new id."""
    return parse_rule(payload, rule_id=new_id(), now=now or datetime.now(UTC), smtp_default=True)


async def spend(
    governance: Governance,
    at: datetime,
    amount: str,
    *,
    team_id: str | None = None,
    customer_id: str | None = None,
    key_hash: str | None = None,
    budgets: Sequence[tuple[str, str]] = (),
) -> None:
    """One priced spend row at ``at``, counted in the budget counters of ``budgets`` ((scope, duration) pairs: the
    period is the one containing ``at``)."""
    scopes = [(scope, period_of(duration or None, at).label) for scope, duration in budgets]
    event = SpendEvent(
        ts=at,
        request_id=f"r-{new_id()}",
        team_id=team_id,
        customer_id=customer_id,
        key_hash=key_hash,
        model_group="gpt-4o",
        input_tokens=10,
        output_tokens=5,
        cost=Decimal(amount),
        counter_scopes=scopes,
    )
    assert await governance.stores.spend.write_batch([event]) == 1

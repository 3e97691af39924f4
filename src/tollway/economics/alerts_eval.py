"""Which alerts a rule raises, given what the gateway measured (pure: the engine reads the inputs and claims the
alerts). Each ``Alert`` has a dedupe key, unique per (rule, subject, period, threshold): the database refuses a
second event with it, so an alert fires once per budget period and threshold, on any number of gateway instances.

- Budget: one alert per threshold reached (``spent >= threshold% of max_budget``) in the entity's current budget
  period (``tollway.governance.durations``: the period label is in the key, so the next period fires again). When
  one evaluation finds several thresholds reached at once, only the highest is sent; the lower ones are recorded
  as ``suppressed`` (their keys claimed, so they never fire later in the period). The key includes ``max_budget``:
  raising a budget re-arms its thresholds. A ``max_budget`` of 0 (a block, not a budget) is not watched.
- Margin: per customer over the trailing window, when revenue > 0 and ``margin_pct`` is below the rule's, or
  revenue is 0 and the customer cost something; customers costing less than ``min_amount`` are not judged. The
  period in the key is the ``period_days``-long block of days the evaluation falls in, so a customer that stays
  unprofitable is re-alerted once per ``period_days``, not at every evaluation.
- Anomaly: today's spend above ``factor`` x the average of the ``period_days`` days before (days without spend
  count 0) and at least ``min_amount``; keyed by day.

All amounts are USD (spend is priced in USD), carried as decimal strings in the alert's ``data``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tollway.economics.alerts import AlertRule
from tollway.governance.records import money_str

__all__ = [
    "Alert",
    "AnomalyStatus",
    "BudgetStatus",
    "MarginStatus",
    "anomaly_alerts",
    "budget_alerts",
    "margin_alerts",
    "margin_window",
    "trial_alert",
]

_CENT = Decimal("0.01")
_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert to claim and send. ``deliver`` False: recorded as suppressed, never sent."""

    rule_id: str
    rule_name: str
    kind: str  # budget | margin | anomaly | test
    subject_kind: str
    subject_id: str | None
    period: str
    threshold: str | None
    title: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    deliver: bool = True
    subject_name: str | None = None
    salt: str = ""  # extra key material (a budget's max_budget; a test alert's nonce)

    @property
    def dedupe_key(self) -> str:
        """sha256 hex of (rule, kind, subject, period, threshold, salt): the unique key of its event."""
        parts = (self.rule_id, self.kind, self.subject_kind, self.subject_id or "", self.period, self.threshold or "")
        text = "\x1f".join((*parts, self.salt))
        return hashlib.sha256(text.encode()).hexdigest()

    def payload(self) -> dict[str, Any]:
        """The message every channel is built from (the event's id and time are added when it is sent)."""
        return {
            "type": f"alert.{self.kind}",
            "rule": {"id": self.rule_id, "name": self.rule_name, "kind": self.kind},
            "subject": {"kind": self.subject_kind, "id": self.subject_id, "name": self.subject_name},
            "period": self.period,
            "threshold": self.threshold,
            "title": self.title,
            "text": self.text,
            "data": self.data,
        }


def _pct(part: Decimal, whole: Decimal) -> Decimal:
    return (part * _HUNDRED / whole).quantize(_CENT, rounding=ROUND_HALF_UP)


def _usd(amount: Decimal) -> str:
    return f"${money_str(amount)}"


def _who(kind: str, ident: str | None, name: str | None) -> str:
    if kind == "all":
        return "the gateway"
    shown = f"{kind} {ident}"
    return f"{shown} ({name})" if name and name != ident else shown


# -- budget ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """An entity with a budget, and its spend in the current budget period (``period`` is the label)."""

    kind: str
    id: str
    max_budget: Decimal
    spent: Decimal
    period: str
    budget_duration: str | None = None
    period_end: datetime | None = None
    name: str | None = None


def budget_alerts(rule: AlertRule, statuses: Iterable[BudgetStatus]) -> list[Alert]:
    """The thresholds each entity has reached (see the module docstring)."""
    alerts: list[Alert] = []
    for status in statuses:
        if status.max_budget <= 0:
            continue
        reached = [t for t in rule.thresholds if status.spent * _HUNDRED >= t * status.max_budget]
        for threshold in reached:
            alerts.append(_budget_alert(rule, status, threshold, deliver=threshold == reached[-1]))
    return alerts


def _budget_alert(rule: AlertRule, status: BudgetStatus, threshold: Decimal, *, deliver: bool) -> Alert:
    percent = _pct(status.spent, status.max_budget)
    who = _who(status.kind, status.id, status.name)
    period = "lifetime budget" if status.budget_duration is None else f"{status.budget_duration} budget"
    resets = "" if status.period_end is None else f"; it resets at {status.period_end.isoformat()}"
    limit = money_str(threshold)
    return Alert(
        rule_id=rule.id,
        rule_name=rule.name,
        kind="budget",
        subject_kind=status.kind,
        subject_id=status.id,
        subject_name=status.name,
        period=status.period,
        threshold=limit,
        title=f"{who} reached {limit}% of its {period}",
        text=f"{who} has spent {_usd(status.spent)} of its {period} of {_usd(status.max_budget)} "
        f"({money_str(percent)}%){resets}.",
        data={
            "currency": "USD",
            "spend": money_str(status.spent),
            "max_budget": money_str(status.max_budget),
            "percent": money_str(percent),
            "threshold_pct": limit,
            "budget_duration": status.budget_duration,
            "period_end": None if status.period_end is None else status.period_end.isoformat(),
        },
        deliver=deliver,
        salt=money_str(status.max_budget) or "",
    )


# -- margin ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarginStatus:
    """A customer's USD revenue and cost over the window."""

    customer_id: str
    revenue: Decimal
    cost: Decimal


def margin_window(today: date, period_days: int) -> tuple[date, date, str]:
    """The trailing window ``[today - period_days + 1, today]`` and the label of the ``period_days``-long block of
    days ``today`` falls in (what the dedupe key uses)."""
    start = today - timedelta(days=period_days - 1)
    block = date.fromordinal(today.toordinal() - today.toordinal() % period_days)
    return start, today, f"{block.isoformat()}+{period_days}d"


def margin_alerts(rule: AlertRule, statuses: Iterable[MarginStatus], today: date) -> list[Alert]:
    """The customers whose margin is below the rule's (see the module docstring)."""
    assert rule.margin_pct is not None
    assert rule.period_days is not None
    start, end, period = margin_window(today, rule.period_days)
    floor = rule.min_amount or Decimal(0)
    alerts: list[Alert] = []
    for status in statuses:
        if status.cost < floor or (status.revenue <= 0 and status.cost <= 0):
            continue
        margin = status.revenue - status.cost
        pct = _pct(margin, status.revenue) if status.revenue > 0 else None
        if pct is not None and pct >= rule.margin_pct:
            continue
        shown = "no revenue" if pct is None else f"{money_str(pct)}%"
        who = _who("customer", status.customer_id, None)
        alerts.append(
            Alert(
                rule_id=rule.id,
                rule_name=rule.name,
                kind="margin",
                subject_kind="customer",
                subject_id=status.customer_id,
                period=period,
                threshold=money_str(rule.margin_pct),
                title=f"{who}: margin {shown}, below {money_str(rule.margin_pct)}%",
                text=f"From {start} to {end}, {who} paid {_usd(status.revenue)} and cost {_usd(status.cost)}: "
                f"a margin of {_usd(margin)} ({shown}).",
                data={
                    "currency": "USD",
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "revenue": money_str(status.revenue),
                    "cost": money_str(status.cost),
                    "margin": money_str(margin),
                    "margin_pct": money_str(pct),
                    "threshold_pct": money_str(rule.margin_pct),
                },
            )
        )
    return alerts


# -- anomaly --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnomalyStatus:
    """An entity's spend on ``day`` and its total over the ``days`` days before."""

    kind: str
    id: str | None
    day: date
    today: Decimal
    history: Decimal
    days: int
    name: str | None = None


def anomaly_alerts(rule: AlertRule, statuses: Iterable[AnomalyStatus]) -> list[Alert]:
    """The entities spending above ``factor`` x their trailing average today (see the module docstring)."""
    assert rule.factor is not None
    floor = rule.min_amount or Decimal(0)
    alerts: list[Alert] = []
    for status in statuses:
        average = status.history / status.days
        if status.today <= 0 or status.today < floor or status.today <= rule.factor * average:
            continue
        who = _who(status.kind, status.id, status.name)
        ratio = "no spend before" if average == 0 else f"{money_str(_pct(status.today, average) / _HUNDRED)}x"
        alerts.append(
            Alert(
                rule_id=rule.id,
                rule_name=rule.name,
                kind="anomaly",
                subject_kind=status.kind,
                subject_id=status.id,
                subject_name=status.name,
                period=status.day.isoformat(),
                threshold=money_str(rule.factor),
                title=f"Unusual spend: {who} spent {_usd(status.today)} today ({ratio} its daily average)",
                text=f"{who} spent {_usd(status.today)} on {status.day} (UTC), against an average of "
                f"{_usd(average.quantize(Decimal('0.000001')))} a day over the {status.days} days before "
                f"(alert above {money_str(rule.factor)}x and {_usd(floor)}).",
                data={
                    "currency": "USD",
                    "day": status.day.isoformat(),
                    "spend": money_str(status.today),
                    "average": money_str(average.quantize(Decimal("0.000000000001"))),
                    "days": status.days,
                    "factor": money_str(rule.factor),
                    "min_amount": money_str(floor),
                },
            )
        )
    return alerts


def trial_alert(rule: AlertRule, nonce: str, now: datetime) -> Alert:
    """A test alert of ``rule`` (``POST /alerts/rules/{id}/test``): its own event, never deduplicated."""
    return Alert(
        rule_id=rule.id,
        rule_name=rule.name,
        kind="test",
        subject_kind=rule.entity,
        subject_id=None,
        period=now.isoformat(),
        threshold=None,
        title=f"Test alert of rule {rule.name!r}",
        text=f"This is a test of the alert rule {rule.name!r} ({rule.kind}). Its channels are set up correctly.",
        data={"test": True},
        salt=nonce,
    )

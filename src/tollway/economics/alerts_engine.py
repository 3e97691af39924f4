"""The alert evaluator: read what each enabled rule watches, ask ``alerts_eval`` which alerts it raises, claim them
in the store (the dedupe: only the claimer sends), and deliver them (``alerts_delivery``), recording every attempt.

``AlertEngine.run_once()`` is one evaluation: the gateway runs it every ``general_settings.alerts_interval``
seconds (``Alerting``, started in the app's lifespan after the governance services open); ``tollway alerts check``
runs it once. Each round also takes over deliveries left pending by a sender that died (their lease ran out), so an
alert is never lost: at worst sent twice, with the same ``x-tollway-event-id``.

Inputs: budget spend from ``spent(scope, period)`` (the gateway's live counters, ``Governance.live_spend``, which
``/key/info`` shows too; the persisted counters in the CLI), margins from ``margin_queries.margin_of``, anomalies
from the daily rollups. A rule that cannot be evaluated (its inputs fail to load) is logged and skipped; the others
still run.

Settings (``general_settings``): ``alerts_interval`` (seconds, default 60), ``alerts_smtp`` (the SMTP server of
email channels without their own: ``{"host", "port", "username", "password", "from", "starttls", "ssl"}``),
``alert_delivery_attempts`` (default 4), ``alert_delivery_timeout`` (seconds per attempt, default 5),
``alert_delivery_backoff`` (seconds before the first retry, doubling, default 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tollway.economics.alerts import AlertRule, Channel, parse_smtp
from tollway.economics.alerts_delivery import DeliverySettings, Message, Sender, deliver, send_once
from tollway.economics.alerts_eval import (
    Alert,
    AnomalyStatus,
    BudgetStatus,
    MarginStatus,
    anomaly_alerts,
    budget_alerts,
    margin_alerts,
    margin_window,
    trial_alert,
)
from tollway.governance.records import InvalidFieldError

if TYPE_CHECKING:
    from tollway.governance.service import Governance
    from tollway.storage.alert_store import AlertStore, Claimed
    from tollway.storage.database import Database

__all__ = ["AlertEngine", "AlertSettings", "Alerting", "SpentReader"]

logger = logging.getLogger("tollway.alerts")

SpentReader = Callable[[str, str], Awaitable[Decimal]]
"""``spent(scope, period)``: the spend of a budget counter scope (``"team:t1"``) in a period label."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _reason(error: BaseException) -> str:
    """One line about a failure, without SQLAlchemy's statement and parameters (they may hold channel secrets)."""
    from tollway.storage.database import error_reason

    return error_reason(error)


def _number(settings: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = settings.get(name)
    if value is None:
        return float(default)
    try:
        number = float(value) if not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError):
        number = float("nan")
    if not low <= number <= high:  # NaN fails this too
        raise ValueError(f"general_settings.{name}: expected a number from {low:g} to {high:g}, got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """How often rules are evaluated, and how alerts are delivered (see the module docstring for the config)."""

    interval: float = 60.0
    delivery: DeliverySettings = field(default_factory=DeliverySettings)

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> AlertSettings:
        """From a config's ``general_settings``; ValueError naming a bad setting."""
        smtp = settings.get("alerts_smtp")
        try:
            server = None if smtp is None else parse_smtp(smtp, "general_settings.alerts_smtp")
        except InvalidFieldError as error:
            raise ValueError(str(error)) from None
        attempts = _number(settings, "alert_delivery_attempts", 4, 1, 10)
        if not attempts.is_integer():
            raise ValueError("general_settings.alert_delivery_attempts: expected a whole number")
        delivery = DeliverySettings(
            attempts=int(attempts),
            timeout=_number(settings, "alert_delivery_timeout", 5.0, 0.01, 60),
            backoff=_number(settings, "alert_delivery_backoff", 1.0, 0, 60),
            smtp=server,
        )
        return cls(_number(settings, "alerts_interval", 60.0, 0.01, 86_400), delivery)


class AlertEngine:
    """Evaluates the rules stored in ``database`` and delivers what they raise (see the module docstring)."""

    def __init__(
        self,
        database: Database,
        *,
        spent: SpentReader,
        settings: AlertSettings | None = None,
        clock: Callable[[], datetime] = _utcnow,
        send: Sender = send_once,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        from tollway.storage.alert_store import AlertStore

        self.database = database
        self.settings = settings or AlertSettings()
        self.store: AlertStore = AlertStore(database, clock=clock)
        self._spent = spent
        self._clock = clock
        self._send = send
        self._sleep = sleep
        self._evaluators: dict[str, Callable[[AlertRule, datetime], Awaitable[list[Alert]]]] = {
            "budget": self._budget,
            "margin": self._margin,
            "anomaly": self._anomaly,
        }

    async def run_once(self) -> list[str]:
        """One round: evaluate every enabled rule, claim and send the new alerts, resume abandoned deliveries.
        Returns the ids of the events this round sent (or tried to)."""
        now = self._clock()
        pairs: list[tuple[Alert, tuple[Channel, ...]]] = []
        for rule in await self.store.enabled_rules():
            try:
                alerts = await self.evaluate(rule, now)
            except Exception as error:  # one rule's inputs failing must not silence the other rules
                logger.warning("alert rule %s (%s) not evaluated: %s", rule.id, rule.name, _reason(error))
                continue
            pairs.extend((alert, rule.channels) for alert in alerts)
        lease = self.settings.delivery.lease()
        claimed = await self.store.claim(pairs, lease) if pairs else []
        claimed += await self.store.reclaim(lease)
        await self.send_all(claimed)
        return [event.event_id for event in claimed]

    async def evaluate(self, rule: AlertRule, now: datetime) -> list[Alert]:
        """The alerts ``rule`` raises at ``now`` (before deduplication)."""
        return await self._evaluators[rule.kind](rule, now)

    async def _budget(self, rule: AlertRule, now: datetime) -> list[Alert]:
        from tollway.governance.durations import period_of
        from tollway.storage.alert_queries import budget_holders

        statuses = []
        for holder in await budget_holders(self.database, rule.entity, rule.ids):
            period = period_of(holder.budget_duration, now)
            spent = await self._spent(f"{holder.kind}:{holder.id}", period.label)
            statuses.append(
                BudgetStatus(
                    holder.kind,
                    holder.id,
                    holder.max_budget,
                    spent,
                    period.label,
                    holder.budget_duration,
                    period.end,
                    holder.name,
                )
            )
        return budget_alerts(rule, statuses)

    async def _margin(self, rule: AlertRule, now: datetime) -> list[Alert]:
        from tollway.storage.margin_queries import margin_of

        assert rule.period_days is not None
        today = now.date()
        start, end, _ = margin_window(today, rule.period_days)
        report = await margin_of(self.database, start, end, group_by="customer", currency="USD")
        # Revenue in another currency cannot be set against USD cost without an exchange rate: not judged.
        other = {row["customer_id"] for row in report.other_currencies}
        wanted = None if rule.ids is None else set(rule.ids)
        statuses = [
            MarginStatus(row["customer_id"], Decimal(row["revenue"] or 0), Decimal(row["cost"] or 0))
            for row in report.rows
            if row["customer_id"] is not None
            and row["customer_id"] not in other
            and (wanted is None or row["customer_id"] in wanted)
        ]
        return margin_alerts(rule, statuses, today)

    async def _anomaly(self, rule: AlertRule, now: datetime) -> list[Alert]:
        from tollway.storage.alert_queries import daily_spend

        assert rule.period_days is not None
        today = now.date()
        spend = await daily_spend(self.database, rule.entity, rule.ids, today - timedelta(days=rule.period_days), today)
        statuses = [
            AnomalyStatus(
                rule.entity,
                ident,
                today,
                days.get(today, Decimal(0)),
                sum((cost for day, cost in days.items() if day < today), Decimal(0)),
                rule.period_days,
            )
            for ident, days in spend.items()
        ]
        return anomaly_alerts(rule, statuses)

    async def send_all(self, claimed: list[Claimed]) -> None:
        """Deliver every claimed event to each of its channels, concurrently; failures are recorded, not raised."""
        jobs = [self._deliver(event, ident, channel) for event in claimed for ident, channel in event.deliveries]
        for outcome in await asyncio.gather(*jobs, return_exceptions=True):
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                raise outcome  # cancellation: the leases let another round resume these deliveries
            if isinstance(outcome, Exception):
                # Recording failed (the database went away): the delivery stays pending and is resumed later.
                logger.warning("alert delivery not recorded: %s", _reason(outcome))

    async def _deliver(self, event: Claimed, delivery_id: str, channel: Channel) -> None:
        message = Message(event.event_id, event.created, event.payload)

        async def record(attempt: Any, final: bool) -> None:
            await self.store.record_attempt(delivery_id, event.event_id, attempt, final)

        await deliver(channel, message, self.settings.delivery, record, send=self._send, sleep=self._sleep)

    async def trial(self, rule: AlertRule) -> dict[str, Any]:
        """Send a test alert of ``rule`` to its channels now; the recorded event (``POST /alerts/rules/{id}/test``)."""
        from tollway.storage.alert_store import new_id

        alert = trial_alert(rule, new_id(), self._clock())
        claimed = await self.store.claim([(alert, rule.channels)], self.settings.delivery.lease())
        await self.send_all(claimed)
        event = await self.store.event(claimed[0].event_id)
        assert event is not None
        return event


class Alerting:
    """The gateway's alerting: settings from its config, and the evaluation loop while it runs."""

    def __init__(self, settings: AlertSettings) -> None:
        self.settings = settings
        self._task: asyncio.Task[None] | None = None

    def engine(self, governance: Governance) -> AlertEngine:
        """An engine on the running governance's database and live spend counters."""
        return AlertEngine(governance.stores.database, spent=governance.live_spend, settings=self.settings)

    async def start(self, governance: Governance) -> None:
        """Evaluate now and then every ``interval`` seconds, until ``aclose``."""
        engine = self.engine(governance)
        self._task = asyncio.create_task(self._forever(engine), name="tollway-alerts")

    async def _forever(self, engine: AlertEngine) -> None:
        while True:
            try:
                await engine.run_once()
            except Exception as error:  # the database may be down; the next round tries again
                logger.warning("alert evaluation failed: %s", _reason(error))
            await asyncio.sleep(self.settings.interval)

    async def aclose(self) -> None:
        """Stop the loop (deliveries it had in flight are resumed by a later round, on any instance)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

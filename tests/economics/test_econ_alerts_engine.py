"""The alert evaluator on a real store (SQLite and PostgreSQL), spend written as the gateway writes it: budget
thresholds 50/80/100 % fire once each per budget period and again in the next one; a margin rule and an anomaly rule
give the hand-computed alerts; two evaluators on one database send each alert once; a delivery abandoned by a dead
sender is resumed; a rule that cannot be evaluated does not stop the others."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from alerts_support import SECRET, Clock, engine_of, rule_of, spend
from econ_support import governance

from fakes.alert_receivers import HttpReceiver
from tollway.economics.alerts_engine import AlertEngine
from tollway.economics.alerts_signing import verify
from tollway.economics.revenue import parse_revenue
from tollway.governance.keys import generate_key, hash_key, key_name
from tollway.governance.records import CustomerRecord, KeyRecord, Limits, TeamRecord
from tollway.governance.service import Governance
from tollway.storage.alert_store import AlertStore
from tollway.storage.database import Database
from tollway.storage.revenue_store import RevenueStore

__all__ = ["governance"]  # a fixture, imported for pytest

DAY1 = datetime(2025, 6, 1, 9, tzinfo=UTC)


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    async with HttpReceiver() as running:
        yield running


def hook(receiver: HttpReceiver) -> dict[str, Any]:
    return {"type": "webhook", "url": receiver.url(), "secret": SECRET}


async def store_rule(governance: Governance, payload: dict[str, Any]) -> Any:
    rule = rule_of(payload)
    await AlertStore(governance.stores.database).create_rule(rule)
    return rule


def fired(receiver: HttpReceiver) -> list[tuple[str | None, str | None]]:
    return [(body["subject"]["id"], body["threshold"]) for body in (r.json() for r in receiver.to("/hook"))]


async def test_budget_thresholds_fire_once_each_per_period(governance: Governance, receiver: HttpReceiver) -> None:
    limits = Limits(max_budget=Decimal(10), budget_duration="1d")
    await governance.stores.teams.create(TeamRecord(team_id="t1", team_alias="Team One", limits=limits))
    await governance.stores.teams.create(TeamRecord(team_id="t2", limits=limits))  # outside the rule's scope
    scope = {"entity": "team", "ids": ["t1"]}
    await store_rule(governance, {"name": "budgets", "kind": "budget", "scope": scope, "channels": [hook(receiver)]})
    clock = Clock(DAY1)
    engine = engine_of(governance, clock)
    budgets = [("team:t1", "1d")]

    async def step(amount: str, expected: list[tuple[str | None, str | None]]) -> None:
        await spend(governance, clock.now, amount, team_id="t1", budgets=budgets)
        await spend(governance, clock.now, amount, team_id="t2", budgets=[("team:t2", "1d")])
        receiver.requests.clear()
        await engine.run_once()
        await engine.run_once()  # a second round raises nothing new
        assert fired(receiver) == expected

    await step("4.99", [])
    await step("0.01", [("t1", "50")])  # 5.00 of 10: exactly 50 %
    await step("2", [])  # 7.00
    await step("1.5", [("t1", "80")])  # 8.50
    await step("1.5", [("t1", "100")])  # 10.00
    await step("5", [])  # 15.00: every threshold already fired this period
    # The next day is the next budget period: the thresholds fire again. 9 at once: 80 sent, 50 suppressed.
    clock.now = DAY1 + timedelta(days=1)
    await step("9", [("t1", "80")])
    await step("1", [("t1", "100")])
    history, total = await engine.store.history()
    assert total == 6
    # The clock stands still within a day, so order by period and threshold.
    history.sort(key=lambda event: (event["period"], Decimal(event["threshold"])))
    assert [(e["period"], e["threshold"], e["status"]) for e in history] == [
        ("1d:2025-06-01T00:00:00Z", "50", "delivered"),
        ("1d:2025-06-01T00:00:00Z", "80", "delivered"),
        ("1d:2025-06-01T00:00:00Z", "100", "delivered"),
        ("1d:2025-06-02T00:00:00Z", "50", "suppressed"),
        ("1d:2025-06-02T00:00:00Z", "80", "delivered"),
        ("1d:2025-06-02T00:00:00Z", "100", "delivered"),
    ]
    assert history[-1]["data"] == {
        "currency": "USD",
        "spend": "10",
        "max_budget": "10",
        "percent": "100",
        "threshold_pct": "100",
        "budget_duration": "1d",
        "period_end": "2025-06-03T00:00:00+00:00",
    }
    assert history[-1]["subject"] == {"kind": "team", "id": "t1", "name": "Team One"}
    assert history[3]["deliveries"] == []  # suppressed: recorded, never sent


async def test_key_budgets_use_live_spend_by_key_id(governance: Governance, receiver: HttpReceiver) -> None:
    key = generate_key()
    record = KeyRecord(hash_key(key), key_name(key), key_alias="batch-job", limits=Limits(max_budget=Decimal(2)))
    await governance.stores.keys.create(record)
    await store_rule(
        governance, {"name": "keys", "kind": "budget", "scope": {"entity": "key"}, "channels": [hook(receiver)]}
    )
    # A lifetime budget: the "all" period of the key's counter scope, which is its key_id.
    await spend(governance, DAY1, "1.7", key_hash=record.token_hash, budgets=[(f"key:{record.key_id}", "")])
    await engine_of(governance, Clock(DAY1)).run_once()
    [request] = receiver.to("/hook")
    verify(SECRET, request.body, request.headers["x-tollway-signature"])  # the stored rule kept its secret
    body = request.json()
    assert (body["subject"]["id"], body["subject"]["name"], body["threshold"]) == (record.key_id, "batch-job", "80")
    assert body["period"] == "all"


async def test_margin_rule(governance: Governance, receiver: HttpReceiver) -> None:
    today = datetime(2025, 6, 10, 18, tzinfo=UTC)
    for customer, cost, revenue in (
        ("acme", "2.5", "100"),  # 97.5 %
        ("gamma", "30", "20"),  # -50 %
        ("free", "5", None),  # no revenue
        ("tiny", "0.05", None),  # below min_amount
        ("euro", "3", None),  # pays in EUR: not judged
    ):
        await spend(governance, today - timedelta(days=3), cost, customer_id=customer)
        if revenue is not None:
            payload = {"customer_id": customer, "amount": revenue, "currency": "USD", "date": "2025-06-05"}
            await RevenueStore(governance.stores.database).add(parse_revenue(payload))
    euro = {"customer_id": "euro", "amount": "50", "currency": "EUR", "date": "2025-06-05"}
    await RevenueStore(governance.stores.database).add(parse_revenue(euro))
    await spend(governance, today - timedelta(days=40), "100", customer_id="acme")  # before the 30-day window
    rule = {
        "name": "margin",
        "kind": "margin",
        "scope": {"entity": "customer"},
        "margin_pct": "20",
        "min_amount": "0.1",
    }
    await store_rule(governance, {**rule, "channels": [hook(receiver)]})
    engine = engine_of(governance, Clock(today))
    await engine.run_once()
    await engine.run_once()
    bodies = sorted((r.json() for r in receiver.to("/hook")), key=lambda body: body["subject"]["id"])
    assert [(b["subject"]["id"], b["data"]["margin_pct"]) for b in bodies] == [("free", None), ("gamma", "-50")]
    assert bodies[1]["data"] | {"start": "2025-05-12"} == {
        "currency": "USD",
        "start": "2025-05-12",
        "end": "2025-06-10",
        "revenue": "20",
        "cost": "30",
        "margin": "-10",
        "margin_pct": "-50",
        "threshold_pct": "20",
    }


async def test_anomaly_rule(governance: Governance, receiver: HttpReceiver) -> None:
    today = datetime(2025, 6, 8, 15, tzinfo=UTC)
    for back in range(1, 8):  # the 7 days before: spike 1 a day, steady 2 a day
        day = today - timedelta(days=back)
        await spend(governance, day, "1", customer_id="spike")
        await spend(governance, day, "1", customer_id="steady")
        await spend(governance, day, "1", customer_id="steady")
    await spend(governance, today - timedelta(days=9), "500", customer_id="spike")  # older than the window
    await spend(governance, today, "5", customer_id="spike")  # 5 > 3 x 1
    await spend(governance, today, "5", customer_id="steady")  # 5 < 3 x 2
    await spend(governance, today, "0.5", customer_id="small")  # new, but under min_amount
    await spend(governance, today, "2", customer_id="new")  # new and over min_amount
    scope = {"entity": "customer", "ids": ["spike", "steady", "small", "new"]}
    await store_rule(governance, {"name": "spikes", "kind": "anomaly", "scope": scope, "channels": [hook(receiver)]})
    engine = engine_of(governance, Clock(today))
    await engine.run_once()
    bodies = sorted((r.json() for r in receiver.to("/hook")), key=lambda body: body["subject"]["id"])
    assert [(b["subject"]["id"], b["data"]["spend"], b["data"]["average"]) for b in bodies] == [
        ("new", "2", "0"),
        ("spike", "5", "1"),
    ]
    # More spend the same day raises nothing new; the next day is judged afresh.
    await spend(governance, today, "5", customer_id="spike")
    await engine.run_once()
    assert len(receiver.to("/hook")) == 2


async def test_anomaly_of_the_whole_gateway_and_of_a_key(governance: Governance, receiver: HttpReceiver) -> None:
    key = generate_key()
    record = KeyRecord(hash_key(key), key_name(key))
    await governance.stores.keys.create(record)
    today = datetime(2025, 6, 8, 15, tzinfo=UTC)
    await spend(governance, today - timedelta(days=2), "1", key_hash=record.token_hash)
    await spend(governance, today, "12", key_hash=record.token_hash)
    for entity, ids in (("all", None), ("key", [record.key_id])):
        payload = {"name": entity, "kind": "anomaly", "scope": {"entity": entity, "ids": ids}, "factor": 10}
        await store_rule(governance, {**payload, "channels": [hook(receiver)]})
    await engine_of(governance, Clock(today)).run_once()
    bodies = sorted((r.json() for r in receiver.to("/hook")), key=lambda body: body["subject"]["kind"])
    assert [(b["subject"]["kind"], b["subject"]["id"], b["data"]["spend"]) for b in bodies] == [
        ("all", None, "12"),
        ("key", record.key_id, "12"),
    ]


async def test_two_evaluators_on_one_database_send_each_alert_once(
    governance: Governance, receiver: HttpReceiver, database_url: str
) -> None:
    limits = Limits(max_budget=Decimal(1))
    for index in range(5):
        await governance.stores.customers.create(CustomerRecord(customer_id=f"c{index}", limits=limits))
        await spend(governance, DAY1, "1", customer_id=f"c{index}", budgets=[(f"customer:c{index}", "")])
    payload = {"name": "all customers", "kind": "budget", "scope": {"entity": "customer"}, "thresholds": [50, 100]}
    await store_rule(governance, {**payload, "channels": [hook(receiver)]})
    # Another gateway instance: its own engine and connection pool on the same database.
    other = Database(database_url)
    try:
        spent = governance.live_spend
        engines = [engine_of(governance, Clock(DAY1)), AlertEngine(other, spent=spent, clock=Clock(DAY1))]
        for _ in range(3):
            await asyncio.gather(*(engine.run_once() for engine in engines))
    finally:
        await other.aclose()
    assert sorted(fired(receiver)) == [(f"c{index}", "100") for index in range(5)]
    _, total = await AlertStore(governance.stores.database).history()
    assert total == 10  # 5 delivered (100 %) + 5 suppressed (50 %)


async def test_an_abandoned_delivery_is_resumed_after_its_lease(governance: Governance, receiver: HttpReceiver) -> None:
    from tollway.economics.alerts_eval import trial_alert

    rule = rule_of({"name": "r", "kind": "budget", "scope": {"entity": "team"}, "channels": [hook(receiver)]})
    clock = Clock(DAY1)
    engine = engine_of(governance, clock)
    # A sender claimed the alert and died before sending: its deliveries stay pending under a lease.
    [claimed] = await engine.store.claim([(trial_alert(rule, "n1", DAY1), rule.channels)], lease=60)
    await engine.run_once()
    assert receiver.requests == []  # the lease still holds
    clock.now = DAY1 + timedelta(seconds=61)
    assert await engine.run_once() == [claimed.event_id]
    assert [r.json()["id"] for r in receiver.to("/hook")] == [claimed.event_id]
    event = await engine.store.event(claimed.event_id)
    assert event is not None
    assert event["status"] == "delivered"
    await engine.run_once()
    assert len(receiver.requests) == 1


async def test_a_rule_that_cannot_be_evaluated_does_not_stop_the_others(
    governance: Governance, receiver: HttpReceiver
) -> None:
    await governance.stores.teams.create(TeamRecord(team_id="t1", limits=Limits(max_budget=Decimal(1))))
    await spend(governance, DAY1, "1", team_id="t1", budgets=[("team:t1", "")])
    first = await store_rule(
        governance, {"name": "first", "kind": "budget", "scope": {"entity": "team"}, "channels": [hook(receiver)]}
    )
    await store_rule(
        governance, {"name": "second", "kind": "budget", "scope": {"entity": "team"}, "channels": [hook(receiver)]}
    )

    class Broken(AlertEngine):
        async def _budget(self, rule: Any, now: datetime) -> Any:
            if rule.id == first.id:
                raise RuntimeError("inputs unavailable")
            return await super()._budget(rule, now)

    engine = Broken(governance.stores.database, spent=governance.live_spend, clock=Clock(DAY1))
    await engine.run_once()
    assert [r.json()["rule"]["name"] for r in receiver.to("/hook")] == ["second"]


async def test_a_disabled_rule_is_not_evaluated(governance: Governance, receiver: HttpReceiver) -> None:
    await governance.stores.teams.create(TeamRecord(team_id="t1", limits=Limits(max_budget=Decimal(1))))
    await spend(governance, DAY1, "1", team_id="t1", budgets=[("team:t1", "")])
    payload = {"name": "off", "kind": "budget", "scope": {"entity": "team"}, "enabled": False}
    await store_rule(governance, {**payload, "channels": [hook(receiver)]})
    assert await engine_of(governance, Clock(DAY1)).run_once() == []
    assert receiver.requests == []

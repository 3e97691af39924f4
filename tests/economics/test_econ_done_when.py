"""Issue 8's "Done when": traffic driven through the gateway over several days (several customers, features and
models, one customer made unprofitable), then ``/margin``, the CLI report, ``/simulate`` and the alerts give the
numbers a hand calculation gives, also after a Stripe sync run twice. The dataset and the hand calculation:
``done_when_data``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from done_when_data import DAYS, MODELS, PRICES, Ledger, drive
from econ_support import cli

from fakes.alert_receivers import HttpReceiver
from fakes.stripe_fake import API_KEY, StripeFake, unix
from tollway.economics.alerts_signing import verify
from tollway.governance.service import Governance
from tollway.proxy.app import create_app
from tollway.proxy.gateway_config import GatewayConfig

MASTER = "sk-test-master-key-0123456789"
START, END = DAYS[0].isoformat(), DAYS[-1].isoformat()
REVENUE = {"acme": Decimal("6.00"), "globex": Decimal("2.50"), "initech": Decimal("0.40")}
CENT = Decimal("0.01")


@dataclass
class World:
    """The driven gateway and what was sent to it."""

    client: httpx.AsyncClient
    governance: Governance
    ledger: Ledger
    database_url: str
    tmp_path: Path

    async def get(self, path: str, **params: str) -> Any:
        answer = await self.client.get(path, params=params, headers={"authorization": f"Bearer {MASTER}"})
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        answer = await self.client.post(path, json=body, headers={"authorization": f"Bearer {MASTER}"})
        assert answer.status_code in (200, 201), answer.text
        return answer.json()


@pytest.fixture
def stripe_fake() -> Iterator[StripeFake]:
    with StripeFake() as fake:
        yield fake


@contextlib.asynccontextmanager
async def gateway(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Governance]]:
    settings = {"spend_spool_dir": str(tmp_path / "spool"), "proxy_batch_write_at": 0.05}
    config = GatewayConfig(model_list=tuple(MODELS), master_key=MASTER, database_url=database_url, settings=settings)
    app = create_app(config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client, app.state.governance


@pytest.fixture
async def world(database_url: str, tmp_path: Path, stripe_fake: StripeFake) -> AsyncIterator[World]:
    async with gateway(database_url, tmp_path) as (client, governance):
        headers = {"authorization": f"Bearer {MASTER}"}
        for customer, stripe_id in (("acme", None), ("globex", None), ("initech", "cus_initech")):
            body = {"user_id": customer, "stripe_customer_id": stripe_id}
            created = await client.post("/customer/new", json=body, headers=headers)
            assert created.status_code == 200, created.text
        ledger = await drive(client, MASTER)
        expected = ledger.by[("all", None)].requests
        for _ in range(300):
            await governance.writer.flush()
            if (await governance.stores.spend.logs(page=1, page_size=1))[1] >= expected:
                break
            await asyncio.sleep(0.02)
        yield World(client, governance, ledger, database_url, tmp_path)


async def record_revenue(world: World, stripe_fake: StripeFake, monkeypatch: pytest.MonkeyPatch) -> None:
    """acme through the API, globex through a CSV import, initech through a Stripe sync run twice."""
    await world.post(
        "/revenue",
        {
            "customer_id": "acme",
            "amount": "6.00",
            "currency": "USD",
            "period_start": START,
            "period_end": END,
            "source": "manual",
            "external_id": "acme-nov",
        },
    )
    csv = world.tmp_path / "revenue.csv"
    csv.write_text(f"customer_id,amount,currency,date,external_id\nglobex,2.50,USD,{DAYS[1]},globex-1\n")
    assert await cli("revenue", "import", str(csv), "--database-url", world.database_url) == 0
    stripe_fake.invoice("cus_initech", 40, created=unix(DAYS[1]))
    monkeypatch.setenv("STRIPE_API_KEY", API_KEY)
    sync = ("revenue", "sync-stripe", "--start", START, "--end", END, "--api-base", stripe_fake.url)
    for _ in range(2):
        assert await cli(*sync, "--database-url", world.database_url) == 0


def pct(margin: Decimal, revenue: Decimal) -> Decimal:
    return (100 * margin / revenue).quantize(CENT, rounding=ROUND_HALF_UP)


async def test_margin_report_and_cli_match_the_hand_calculation(
    world: World, stripe_fake: StripeFake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    await record_revenue(world, stripe_fake, monkeypatch)
    ledger = world.ledger
    report = await world.get("/margin", start=START, end=END)
    rows = {row["customer_id"]: row for row in report["rows"]}
    assert set(rows) == {"acme", "globex", "initech", None}
    for customer, revenue in REVENUE.items():
        row, usage = rows[customer], ledger.by[("customer", customer)]
        cost = usage.cost
        assert Decimal(row["revenue"]) == revenue, customer
        assert Decimal(row["cost"]) == cost, customer
        assert Decimal(row["margin"]) == revenue - cost, customer
        assert Decimal(row["margin_pct"]) == pct(revenue - cost, revenue), customer
        assert (row["requests"], row["input_tokens"], row["output_tokens"]) == (
            usage.requests,
            usage.input_tokens,
            usage.output_tokens,
        )
    assert REVENUE["initech"] < ledger.cost("customer", "initech")  # the dataset's unprofitable customer...
    assert report["rows"][0]["customer_id"] == "initech"  # ...comes first
    assert Decimal(rows[None]["cost"]) == ledger.cost("customer", None)
    assert Decimal(rows[None]["revenue"]) == 0
    total_cost = ledger.cost("all", None)
    assert Decimal(report["totals"]["cost"]) == total_cost
    assert Decimal(report["totals"]["revenue"]) == sum(REVENUE.values())
    assert Decimal(report["totals"]["margin"]) == sum(REVENUE.values()) - total_cost

    by_feature = await world.get("/margin", start=START, end=END, group_by="feature")
    for row in by_feature["rows"]:
        assert Decimal(row["cost"]) == ledger.cost("customer_feature", (row["customer_id"], row["feature"]))
    by_model = await world.get("/margin", start=START, end=END, group_by="model")
    for row in by_model["rows"]:
        assert Decimal(row["cost"]) == ledger.cost("customer_model", (row["customer_id"], row["model"]))
    by_day = await world.get("/margin", start=START, end=END, group_by="day")
    assert {row["day"] for row in by_day["rows"]} == {day.isoformat() for day in DAYS}
    for row in by_day["rows"]:
        day = next(d for d in DAYS if d.isoformat() == row["day"])
        assert Decimal(row["cost"]) == ledger.cost("customer_day", (row["customer_id"], day))

    capsys.readouterr()
    assert await cli("report", "margin", "--start", START, "--end", END, "--database-url", world.database_url) == 0
    table = capsys.readouterr().out
    initech = next(line for line in table.splitlines() if line.lstrip().startswith("initech"))
    margin = REVENUE["initech"] - ledger.cost("customer", "initech")
    assert str(margin.quantize(CENT, rounding=ROUND_HALF_UP)) in initech or str(margin) in initech


def repriced(ledger: Ledger, customer: str | None) -> Decimal:
    """The customer's cost had every "premium" call been a "budget" call (same mock tokenizer: ratio 1)."""
    cost = ledger.cost("customer_model", (customer, "budget"))
    input_tokens, output_tokens = ledger.tokens[(customer, "premium")]
    price_in, price_out = PRICES["budget"]
    return cost + input_tokens * price_in + output_tokens * price_out


async def test_simulation_matches_the_hand_calculation(
    world: World, stripe_fake: StripeFake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    await record_revenue(world, stripe_fake, monkeypatch)
    ledger = world.ledger
    result = await world.post("/simulate", {"start": START, "end": END, "replace": {"premium": "budget"}})
    customers = {row["customer_id"]: row for row in result["customers"]}
    for customer in ("acme", "globex", "initech"):
        row, baseline, simulated = customers[customer], ledger.cost("customer", customer), repriced(ledger, customer)
        assert Decimal(row["baseline_cost"]) == baseline, customer
        assert Decimal(row["simulated_cost"]) == simulated, customer
        assert Decimal(row["revenue"]) == REVENUE[customer]
        assert Decimal(row["margin_before"]) == REVENUE[customer] - baseline
        assert Decimal(row["margin_after"]) == REVENUE[customer] - simulated
    # the unprofitable customer turns profitable on the cheaper model
    assert Decimal(customers["initech"]["margin_before"]) < 0 < Decimal(customers["initech"]["margin_after"])
    baseline_total = ledger.cost("all", None)
    simulated_total = sum((repriced(ledger, c) for c in ("acme", "globex", "initech", None)), Decimal(0))
    assert Decimal(result["baseline_cost"]) == baseline_total
    assert Decimal(result["simulated_cost"]) == simulated_total
    assert Decimal(result["savings"]) == baseline_total - simulated_total

    scoped = await world.post(
        "/simulate", {"start": START, "end": END, "replace": {"premium": "budget"}, "customer_ids": ["initech"]}
    )
    assert [row["customer_id"] for row in scoped["customers"]] == ["initech"]
    assert Decimal(scoped["savings"]) == ledger.cost("customer", "initech") - repriced(ledger, "initech")

    capsys.readouterr()
    argv = ("simulate", "--start", START, "--end", END, "--replace", "premium=budget", "--format", "json")
    config = world.tmp_path / "config.yaml"  # the CLI knows the model groups from the gateway's config
    config.write_text(json.dumps({"model_list": MODELS}))  # JSON is YAML
    assert await cli(*argv, "--config", str(config), "--database-url", world.database_url, "--customer", "initech") == 0
    printed = json.loads(capsys.readouterr().out)
    assert Decimal(printed["savings"]) == Decimal(scoped["savings"])


async def test_alerts_name_the_unprofitable_customer_and_the_budget_reached(
    world: World, stripe_fake: StripeFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    await record_revenue(world, stripe_fake, monkeypatch)
    ledger = world.ledger
    globex_spend = ledger.cost("customer", "globex")
    budget = (globex_spend / Decimal("0.85")).quantize(CENT)  # globex has spent 85 %: past 50 and 80, not 100
    await world.post("/customer/update", {"user_id": "globex", "max_budget": str(budget)})
    async with HttpReceiver() as receiver:
        channels = [{"type": "webhook", "url": receiver.url("/hook"), "secret": "whsec_done_when_0123456789"}]
        await world.post(
            "/alerts/rules",
            {
                "name": "losing money",
                "kind": "margin",
                "scope": {"entity": "customer", "ids": None},
                "margin_pct": 0,
                "period_days": 30,
                "channels": channels,
            },
        )
        await world.post(
            "/alerts/rules",
            {
                "name": "customer budgets",
                "kind": "budget",
                "scope": {"entity": "customer", "ids": None},
                "thresholds": [50, 80, 100],
                "channels": channels,
            },
        )
        for _ in range(2):  # twice: each alert is sent once
            assert await cli("alerts", "check", "--database-url", world.database_url) == 0
        received = receiver.to("/hook")
    for message in received:  # each delivery signed with the rule's secret
        verify("whsec_done_when_0123456789", message.body, message.headers.get("x-tollway-signature"))
    bodies = [message.json() for message in received]
    margins = [body for body in bodies if body["type"] == "alert.margin"]
    assert [body["subject"]["id"] for body in margins] == ["initech"]
    cost = ledger.cost("customer", "initech")
    data = margins[0]["data"]
    assert (Decimal(data["revenue"]), Decimal(data["cost"])) == (REVENUE["initech"], cost)
    assert Decimal(data["margin"]) == REVENUE["initech"] - cost
    budgets = [body for body in bodies if body["type"] == "alert.budget"]
    assert [(body["subject"]["id"], body["threshold"]) for body in budgets] == [("globex", "80")]
    assert Decimal(budgets[0]["data"]["spend"]) == globex_spend
    assert Decimal(budgets[0]["data"]["max_budget"]) == budget

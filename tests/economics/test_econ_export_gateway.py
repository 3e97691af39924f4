"""The billing export inside the gateway: ``tollway serve``'s app starts it in its lifespan (``general_settings.
billing_export``), real chat requests through the gateway become spend rows, and their usage reaches the fake
Stripe (tokens) and the CloudEvents receiver (cost) with the numbers each client was answered; a bad setting stops
the start, naming it; the CLI (``tollway export run|status|retry``)."""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from export_support import API_KEY, map_customers, spend, write

from fakes.cloudevents_receiver import CloudEventsReceiver
from fakes.stripe_fake import StripeFake
from tollway.cli import main
from tollway.economics.export_cli import run_export, run_retry, run_status
from tollway.proxy.app import create_app
from tollway.proxy.gateway_config import GatewayConfig
from tollway.proxy.settings import StartupError
from tollway.storage.database import Database
from tollway.storage.entities import CustomerStore
from tollway.storage.export_store import ExportStore
from tollway.storage.migrate import upgrade

MASTER = "sk-test-master-key-0123456789"
MODELS = (
    {
        "model_name": "budget",
        "litellm_params": {"model": "mock/budget", "input_cost_per_token": 0.00005, "output_cost_per_token": 0.00015},
    },
)


@pytest.fixture
def stripe_fake() -> Iterator[StripeFake]:
    with StripeFake() as fake:
        yield fake


@pytest.fixture
async def receiver() -> AsyncIterator[CloudEventsReceiver]:
    async with CloudEventsReceiver() as running:
        yield running


def export_settings(stripe: StripeFake, receiver: CloudEventsReceiver) -> dict[str, Any]:
    return {
        "interval": 0.05,
        "stripe": {"api_key": "os.environ/STRIPE_TEST_KEY", "api_base": stripe.url, "event_name": "llm_tokens"},
        "cloudevents": {"url": receiver.url, "source": "gateway-test"},
    }


async def call(client: httpx.AsyncClient, customer: str | None, n: int) -> httpx.Response:
    body: dict[str, Any] = {"model": "budget", "messages": [{"role": "user", "content": f"question {n}"}]}
    if customer is not None:
        body["user"] = customer
    answer = await client.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {MASTER}"})
    assert answer.status_code == 200, answer.text
    return answer


async def test_the_gateway_exports_the_usage_its_clients_were_answered(
    tmp_path: Path, stripe_fake: StripeFake, receiver: CloudEventsReceiver
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'tollway.db'}"
    settings = {
        "spend_spool_dir": str(tmp_path / "spool"),
        "proxy_batch_write_at": 0.05,
        "billing_export": export_settings(stripe_fake, receiver),
    }
    config = GatewayConfig(model_list=MODELS, master_key=MASTER, database_url=url, settings=settings)
    app = create_app(config, environ={"STRIPE_TEST_KEY": API_KEY})
    tokens: dict[str, int] = defaultdict(int)
    costs: dict[str, Decimal] = {}
    async with app.router.lifespan_context(app):
        await map_customers(app.state.governance.stores.database)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
            for n, customer in enumerate(["acme", "yamada", "acme", None, "nobody", "acme"]):
                answer = await call(client, customer, n)
                usage = answer.json()["usage"]
                if customer is not None:
                    tokens[customer] += usage["prompt_tokens"] + usage["completion_tokens"]
                    costs[answer.headers["x-request-id"]] = Decimal(answer.headers["x-tollway-cost"])
        for _ in range(1500):  # 30 s at most: a loaded CI machine took more than 10 (2026-11-28)
            if len(stripe_fake.meter_events) >= 4 and len(receiver.events) >= 5:
                break
            await asyncio.sleep(0.02)
    sent: dict[str, int] = defaultdict(int)
    for event in stripe_fake.meter_events:
        sent[event["payload"]["stripe_customer_id"]] += int(event["payload"]["value"])
    assert dict(sent) == {"cus_acme": tokens["acme"], "cus_yamada": tokens["yamada"]}
    assert len(stripe_fake.meter_events) == 4  # nobody has no Stripe customer; one request had no customer at all
    received = {event["data"]["request_id"]: Decimal(event["data"]["cost"]) for event in receiver.events}
    assert received == costs  # the exact cost each client was told, to the last decimal
    database = Database(url)
    try:
        cursors = {c.exporter: c for c in await ExportStore(database).cursors()}
    finally:
        await database.aclose()
    assert cursors["stripe"].rows_skipped == 1
    assert cursors["stripe"].lease_owner is None  # given up at shutdown: the next worker need not wait


def test_a_bad_billing_export_setting_stops_the_gateway_at_start(tmp_path: Path) -> None:
    for export, name in (
        ({"stripe": {"api_key": "os.environ/MISSING", "event_name": "e"}}, "stripe.api_key"),
        ({"cloudevents": {"url": "nowhere"}}, "cloudevents.url"),
        ({"interval": 5}, "configure stripe, cloudevents or both"),
    ):
        config = GatewayConfig(master_key=MASTER, settings={"billing_export": export})
        with pytest.raises(StartupError, match=name):
            create_app(config, environ={})


def namespace(**values: Any) -> argparse.Namespace:
    defaults: dict[str, Any] = {"config": "gateway.yaml", "database_url": None, "once": True}
    return argparse.Namespace(**{**defaults, **values})


async def cli_database(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    database = Database(url)
    try:
        await upgrade(database)
        await map_customers(database)
        await write(database, [spend(1), spend(2, "nobody"), spend(3, None)])
    finally:
        await database.aclose()
    return url


def loader_for(stripe: StripeFake, url: str) -> Any:
    export = {"backfill": True, "stripe": {"api_key": API_KEY, "api_base": stripe.url, "event_name": "llm_tokens"}}

    def load(path: str, environ: Any) -> GatewayConfig:
        assert path == "gateway.yaml"
        return GatewayConfig(database_url=url, settings={"billing_export": export})

    return load


async def test_the_cli_runs_reports_and_retries(
    tmp_path: Path, stripe_fake: StripeFake, capsys: pytest.CaptureFixture[str]
) -> None:
    url = await cli_database(tmp_path)
    load = loader_for(stripe_fake, url)
    assert await asyncio.to_thread(run_export, namespace(), {}, load) == 0
    out = capsys.readouterr().out
    assert "stripe: 3 rows exported (1 events delivered, 0 refused, 1 rows skipped, 1 without a customer" in out
    assert await asyncio.to_thread(main, ["export", "status", "--database-url", url]) == 0
    status = capsys.readouterr().out
    assert "stripe: 3 rows, 1 events sent, 0 refused, 1 rows skipped, 1 without a customer" in status
    assert "not exported: 1 unmapped_customer" in status
    retry = namespace(exporter="stripe", reason=["unmapped_customer"], limit=100)
    assert await asyncio.to_thread(run_retry, retry, {}, load) == 1  # still unmapped: left
    assert "left: 1 unmapped_customer" in capsys.readouterr().out
    database = Database(url)
    try:
        await CustomerStore(database).update("nobody", stripe_customer_id="cus_nobody")
    finally:
        await database.aclose()
    assert await asyncio.to_thread(run_retry, retry, {}, load) == 0
    assert "1 events sent again, 1 delivered; left: none" in capsys.readouterr().out
    assert sorted(stripe_fake.meter_identifiers()) == [f"{1:032x}:total", f"{2:032x}:total"]


async def test_the_cli_says_what_is_wrong(
    tmp_path: Path, stripe_fake: StripeFake, capsys: pytest.CaptureFixture[str]
) -> None:
    url = await cli_database(tmp_path)

    def without_export(path: str, environ: Any) -> GatewayConfig:
        return GatewayConfig(database_url=url)

    assert await asyncio.to_thread(run_export, namespace(), {}, without_export) == 1
    assert "gateway.yaml has no general_settings.billing_export" in capsys.readouterr().err

    def bad_export(path: str, environ: Any) -> GatewayConfig:
        return GatewayConfig(database_url=url, settings={"billing_export": {"stripe": {"event_name": "e"}}})

    assert await asyncio.to_thread(run_export, namespace(), {}, bad_export) == 1
    assert "stripe.api_key" in capsys.readouterr().err
    retry = namespace(exporter="cloudevents", reason=None, limit=10)
    assert await asyncio.to_thread(run_retry, retry, {}, loader_for(stripe_fake, url)) == 1
    assert "no cloudevents exporter is configured" in capsys.readouterr().err
    assert await asyncio.to_thread(run_retry, namespace(exporter="stripe", reason=None, limit=0), {}) == 1
    assert "--limit must be 1 to 100000" in capsys.readouterr().err
    # A running gateway holds the lease: the CLI says so rather than exporting beside it.
    database = Database(url)
    try:
        assert await ExportStore(database).claim("stripe", "gateway-worker", 60.0) is not None
    finally:
        await database.aclose()
    assert await asyncio.to_thread(run_export, namespace(), {}, loader_for(stripe_fake, url)) == 1
    assert "another instance holds the lease" in capsys.readouterr().out
    assert stripe_fake.meter_events == []
    empty = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    assert await asyncio.to_thread(run_status, namespace(database_url=empty), {}) == 0
    assert "no exporter has run yet" in capsys.readouterr().out

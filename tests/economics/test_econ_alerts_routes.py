"""The alerts API over SQLite and PostgreSQL: CRUD with secrets never answered in full (a generated one shown once),
bad input a 400 naming the field, unknown rules 404, admin only, 503 without a database, history filters, the test
route's outcome; the operations in a valid OpenAPI document; and the gateway's lifespan running the evaluator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from alerts_support import SECRET, spend
from econ_support import MASTER, Client, governance
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.routing import Route

from fakes.alert_receivers import HttpReceiver
from tollway.economics.alerts_engine import Alerting, AlertSettings
from tollway.errors import ServiceUnavailableError
from tollway.governance.records import Limits, TeamRecord
from tollway.governance.service import Governance
from tollway.proxy.auth import Authenticator
from tollway.proxy.management import management_routes
from tollway.proxy.openapi import OpenAPIRoutes
from tollway.proxy.routes_alerts import alert_routes

__all__ = ["governance"]  # a fixture, imported for pytest


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    async with HttpReceiver() as running:
        yield running


def app_of(governance: Governance | None, settings: AlertSettings | None = None) -> Starlette:
    auth = Authenticator(MASTER, governance)

    def running() -> Governance:
        if governance is None:
            raise ServiceUnavailableError("no database", code="no_database")
        return governance

    alerting = Alerting(settings or AlertSettings())
    routes = [
        *management_routes(running, auth, max_body_bytes=64 * 1024),
        *alert_routes(running, auth, max_body_bytes=16 * 1024, alerting=alerting),
        Route("/openapi.json", OpenAPIRoutes(public={"/openapi.json"}, version="test").openapi),
    ]
    return Starlette(routes=routes)


@pytest.fixture
async def client(governance: Governance) -> AsyncIterator[Client]:
    transport = httpx.ASGITransport(app=app_of(governance))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield Client(http, governance)


def rule_body(receiver: HttpReceiver | None = None, **changes: Any) -> dict[str, Any]:
    url = receiver.url() if receiver is not None else "https://hooks.example.com/x/y?token=abc"
    return {
        "name": "team budgets",
        "kind": "budget",
        "scope": {"entity": "team", "ids": ["t1"]},
        "channels": [{"type": "webhook", "url": url}],
        **changes,
    }


async def created(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.call("POST", "/alerts/rules", json=body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_rule_crud_with_secrets_redacted(client: Client) -> None:
    rule = await created(client, rule_body())
    [generated] = rule["generated_secrets"]
    assert generated["channel"] == 0
    assert generated["secret"].startswith("whsec_")
    assert rule["channels"] == [
        {"type": "webhook", "url": "https://hooks.example.com/***", "secret": "***" + generated["secret"][-4:]}
    ]
    assert (rule["thresholds"], rule["enabled"], rule["created_by"]) == (["50", "80", "100"], True, "master")
    path = f"/alerts/rules/{rule['id']}"
    got = (await client.call("GET", path)).json()
    assert got == {k: v for k, v in rule.items() if k != "generated_secrets"}
    assert generated["secret"] not in (await client.call("GET", "/alerts/rules")).text

    patched = await client.call("PATCH", path, json={"name": "renamed", "thresholds": [90], "enabled": False})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["thresholds"], patched.json()["enabled"]) == (
        "renamed",
        ["90"],
        False,
    )
    assert patched.json()["channels"] == rule["channels"]  # kept, secret included (shown redacted)

    listing = (await client.call("GET", "/alerts/rules", params={"enabled": "false", "kind": "budget"})).json()
    assert (listing["total"], listing["data"][0]["id"]) == (1, rule["id"])
    assert (await client.call("GET", "/alerts/rules", params={"enabled": "true"})).json()["total"] == 0

    deleted = await client.call("DELETE", path)
    assert deleted.status_code == 200
    assert deleted.json()["deleted"]["name"] == "renamed"
    assert (await client.call("GET", path)).status_code == 404
    assert (await client.call("DELETE", path)).json()["error"]["param"] == "rule_id"


async def test_changes_are_audited_without_secrets(client: Client) -> None:
    rule = await created(
        client, rule_body(channels=[{"type": "webhook", "url": "https://a.example.com/h", "secret": SECRET}])
    )
    await client.call("PATCH", f"/alerts/rules/{rule['id']}", json={"name": "x"})
    await client.call("DELETE", f"/alerts/rules/{rule['id']}")
    entries, _ = await client.governance.stores.audit.query(target_kind="alert_rule")
    assert sorted(entry.action for entry in entries) == ["alert_rule.delete", "alert_rule.new", "alert_rule.update"]
    assert SECRET not in repr([(entry.before, entry.after) for entry in entries])


BAD = [
    ({"kind": "budget"}, "name"),
    (rule_body(kind="alarm"), "kind"),
    (rule_body(thresholds=["abc"]), "thresholds[0]"),
    (rule_body(thresholds=[50, -1]), "thresholds[1]"),
    (rule_body(scope={"entity": "planet"}), "scope.entity"),
    (rule_body(kind="margin", scope={"entity": "customer"}), "margin_pct"),
    (rule_body(channels=[{"type": "webhook", "url": "javascript:alert(1)"}]), "channels[0].url"),
    (rule_body(channels=[{"type": "email", "to": "ops@example.com"}]), "channels[0].smtp"),
    (rule_body(channels=[{"type": "email", "to": "a@b.co\nBcc: x@y.z", "smtp": {}}]), "channels[0].to"),
    (rule_body(thresold=[50]), "thresold"),
    (rule_body(enabled=1), "enabled"),
]


async def test_bad_input_is_a_400_naming_the_field(client: Client) -> None:
    for body, param in BAD:
        response = await client.call("POST", "/alerts/rules", json=body)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["param"], error["type"]) == (param, "invalid_request_error")
    assert (await client.call("GET", "/alerts/rules")).json()["total"] == 0


async def test_malformed_oversized_and_unknown(client: Client) -> None:
    for raw in (b"", b"not json", b"[1, 2]", b'{"name": '):
        response = await client.call("POST", "/alerts/rules", content=raw)
        assert response.status_code == 400, raw
    huge = rule_body(name="x" * 20_000)
    assert (await client.call("POST", "/alerts/rules", json=huge)).status_code == 413
    rule = await created(client, rule_body())
    path = f"/alerts/rules/{rule['id']}"
    assert (await client.call("PATCH", path, json={"kind": "anomaly"})).json()["error"]["param"] == "kind"
    redacted = {"channels": rule["channels"]}
    assert (await client.call("PATCH", path, json=redacted)).json()["error"]["param"] == "channels[0].url"
    assert (await client.call("PATCH", "/alerts/rules/nope", json={"name": "x"})).status_code == 404
    assert (await client.call("POST", "/alerts/rules/nope/test")).status_code == 404
    assert (await client.call("GET", "/alerts/rules", params={"kind": "x"})).json()["error"]["param"] == "kind"
    assert (await client.call("GET", "/alerts/rules", params={"page": "0"})).json()["error"]["param"] == "page"
    assert (await client.call("GET", "/alerts/rules", params={"bogus": "1"})).json()["error"]["param"] == "bogus"


async def test_admin_only_and_503_without_a_database(client: Client, governance: Governance) -> None:
    plain = await client.key()
    for method, path in (("GET", "/alerts/rules"), ("POST", "/alerts/rules"), ("GET", "/alerts/history")):
        response = await client.call(method, path, key=plain, json=rule_body())
        assert response.status_code == 403, (method, path)
    assert (await client.call("GET", "/alerts/rules", key=None)).status_code == 401
    transport = httpx.ASGITransport(app=app_of(None))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        response = await http.get("/alerts/history", headers={"authorization": f"Bearer {MASTER}"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "no_database"


async def test_the_test_route_and_the_history(governance: Governance, receiver: HttpReceiver) -> None:
    settings = AlertSettings(delivery=AlertSettings().delivery.__class__(attempts=2, backoff=0, timeout=2))
    transport = httpx.ASGITransport(app=app_of(governance, settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        client = Client(http, governance)
        good = await created(client, rule_body(receiver))
        receiver.script("/bad", 500, 500)
        bad = await created(client, rule_body(channels=[{"type": "slack", "url": receiver.url("/bad")}]))
        tested = await client.call("POST", f"/alerts/rules/{good['id']}/test")
        assert tested.status_code == 200, tested.text
        assert (tested.json()["status"], tested.json()["kind"]) == ("delivered", "test")
        failed = (await client.call("POST", f"/alerts/rules/{bad['id']}/test")).json()
        assert (failed["status"], failed["deliveries"][0]["attempts"]) == ("failed", 2)
        assert failed["deliveries"][0]["last_error"] == "HTTP 500: scripted failure 500"
        assert len(receiver.to("/hook")) == 1
        history = (await client.call("GET", "/alerts/history")).json()
        assert (history["total"], history["limit"], history["offset"]) == (2, 100, 0)
        only = (await client.call("GET", "/alerts/history", params={"status": "failed"})).json()
        assert [event["rule_id"] for event in only["data"]] == [bad["id"]]
        of_rule = (await client.call("GET", "/alerts/history", params={"rule_id": good["id"], "limit": "1"})).json()
        assert [event["id"] for event in of_rule["data"]] == [tested.json()["id"]]
        paged = (await client.call("GET", "/alerts/history", params={"offset": "2"})).json()
        assert (paged["data"], paged["total"]) == ([], 2)
        for params, param in (({"status": "lost"}, "status"), ({"limit": "0"}, "limit"), ({"offset": "-1"}, "offset")):
            response = await client.call("GET", "/alerts/history", params=params)
            assert (response.status_code, response.json()["error"]["param"]) == (400, param)


async def test_the_operations_are_documented() -> None:
    transport = httpx.ASGITransport(app=app_of(None))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        document = (await http.get("/openapi.json")).json()
    validate(document)
    assert set(document["paths"]["/alerts/rules/{rule_id}"]) == {"get", "patch", "delete"}
    assert document["paths"]["/alerts/rules"]["post"]["responses"]["201"]
    assert document["paths"]["/alerts/history"]["get"]["operationId"] == "get_alert_history"
    assert document["paths"]["/alerts/rules/{rule_id}/test"]["post"]["operationId"] == "test_alert_rule"


async def test_the_gateway_evaluates_rules_in_the_background(tmp_path: Path, receiver: HttpReceiver) -> None:
    from tollway.proxy.app import create_app
    from tollway.proxy.gateway_config import GatewayConfig

    config = GatewayConfig(
        master_key=MASTER,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'tollway.db'}",
        settings={"spend_spool_dir": str(tmp_path / "spool"), "alerts_interval": 0.05},
    )
    app = create_app(config, environ={})
    async with app.router.lifespan_context(app):
        gateway: Governance = app.state.governance
        await gateway.stores.teams.create(TeamRecord(team_id="t1", limits=Limits(max_budget=Decimal(2))))
        from datetime import UTC, datetime

        await spend(gateway, datetime.now(UTC), "1.2", team_id="t1", budgets=[("team:t1", "")])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
            client = Client(http, gateway)
            await created(client, rule_body(receiver))
        for _ in range(100):
            if receiver.to("/hook"):
                break
            await asyncio.sleep(0.02)
    [request] = receiver.to("/hook")
    assert (request.json()["subject"]["id"], request.json()["threshold"]) == ("t1", "50")


def test_bad_alert_settings_stop_the_gateway_at_start(tmp_path: Path) -> None:
    from tollway.proxy.app import create_app
    from tollway.proxy.gateway_config import GatewayConfig
    from tollway.proxy.settings import StartupError

    for settings, name in (
        ({"alerts_interval": 0}, "alerts_interval"),
        ({"alerts_interval": "soon"}, "alerts_interval"),
        ({"alert_delivery_attempts": 2.5}, "alert_delivery_attempts"),
        ({"alerts_smtp": {"host": "smtp.example.com"}}, "alerts_smtp.from"),
    ):
        config = GatewayConfig(master_key=MASTER, settings=settings)
        with pytest.raises(StartupError, match=name):
            create_app(config, environ={})

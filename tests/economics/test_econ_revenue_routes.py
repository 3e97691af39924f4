"""``POST /revenue``, ``GET /revenue``, ``DELETE /revenue/{id}`` over SQLite and PostgreSQL: 201 then 200 for the
same external id (one record), 409 for other values, 400 naming the field, admin only, every change audited, and
each operation in the OpenAPI document."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx
from econ_support import Client, client, governance
from openapi_spec_validator import validate

from tollway.storage.revenue_store import RevenueStore

__all__ = ["client", "governance"]  # fixtures, imported for pytest

PAYMENT = {"customer_id": "acme", "amount": "120.00", "currency": "USD", "date": "2025-06-01", "external_id": "inv-1"}


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (status, response.status_code, response.text)
    error: dict[str, Any] = response.json()["error"]
    return error


async def test_post_twice_records_once(client: Client) -> None:
    first = await client.call("POST", "/revenue", json=PAYMENT | {"metadata": {"plan": "pro"}})
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["amount"] == "120"
    assert (body["currency"], body["period_start"], body["period_end"]) == ("USD", "2025-06-01", "2025-06-01")
    assert (body["source"], body["kind"], body["created_by"], body["metadata"]) == (
        "manual",
        "revenue",
        "master",
        {"plan": "pro"},
    )
    again = await client.call("POST", "/revenue", json=PAYMENT | {"amount": "120"})
    assert again.status_code == 200
    assert again.json() == body
    store = RevenueStore(client.governance.stores.database)
    assert await store.revenue_by_customer(date(2025, 6, 1), date(2025, 6, 30)) == {("acme", "USD"): Decimal(120)}
    conflict = error_of(await client.call("POST", "/revenue", json=PAYMENT | {"amount": "99"}), 409)
    assert (conflict["param"], conflict["code"]) == ("external_id", "revenue_conflict")
    assert body["id"] in conflict["message"]
    audit, total = await client.governance.stores.audit.query(target_kind="revenue")
    assert total == 1
    assert (audit[0].action, audit[0].target_id, audit[0].actor) == ("revenue.new", body["id"], "master")
    assert audit[0].after["amount"] == "120"


async def test_a_refund_and_a_period(client: Client) -> None:
    period = {
        "customer_id": "acme",
        "amount": "30",
        "currency": "eur",
        "period_start": "2025-06-01",
        "period_end": "2025-06-30",
    }
    assert (await client.call("POST", "/revenue", json=period | {"external_id": "sub-6"})).status_code == 201
    refund = {
        "customer_id": "acme",
        "amount": "4",
        "currency": "EUR",
        "date": "2025-06-05",
        "kind": "refund",
        "source": "stripe",
    }
    assert (await client.call("POST", "/revenue", json=refund | {"external_id": "re_1"})).status_code == 201
    store = RevenueStore(client.governance.stores.database)
    assert await store.revenue_by_customer(date(2025, 6, 1), date(2025, 6, 10)) == {("acme", "EUR"): Decimal(6)}


async def test_bad_payloads_name_the_field(client: Client) -> None:
    cases = [
        (PAYMENT | {"currency": "XYZ"}, "currency"),
        (PAYMENT | {"amount": "-1"}, "amount"),
        (PAYMENT | {"date": "2025-13-01"}, "date"),
        (
            {k: v for k, v in PAYMENT.items() if k != "date"}
            | {"period_start": "2025-06-02", "period_end": "2025-06-01"},
            "period_end",
        ),
        ({k: v for k, v in PAYMENT.items() if k != "customer_id"}, "customer_id"),
        (PAYMENT | {"amont": "1"}, "amont"),
    ]
    for payload, field in cases:
        error = error_of(await client.call("POST", "/revenue", json=payload), 400)
        assert error["param"] == field, (payload, error)
    assert error_of(await client.call("POST", "/revenue", content=b"[1, 2"), 400)
    assert (await client.call("GET", "/revenue")).json()["total"] == 0


async def test_list_filters_and_pages(client: Client) -> None:
    for n, (customer, day) in enumerate(
        [("a", "2025-05-31"), ("b", "2025-06-01"), ("a", "2025-06-15"), ("a", "2025-07-01")]
    ):
        payload = {
            "customer_id": customer,
            "amount": str(n + 1),
            "currency": "USD",
            "date": day,
            "external_id": f"e{n}",
        }
        assert (await client.call("POST", "/revenue", json=payload)).status_code == 201
    listed = (await client.call("GET", "/revenue", params={"start": "2025-06-01", "end": "2025-06-30"})).json()
    assert sorted(item["external_id"] for item in listed["data"]) == ["e1", "e2"]
    assert listed["total"] == 2
    mine = (await client.call("GET", "/revenue", params={"customer_id": "a", "page_size": 2, "page": 2})).json()
    assert (mine["total"], mine["total_pages"], len(mine["data"])) == (3, 2, 1)
    assert (await client.call("GET", "/revenue", params={"currency": "usd", "kind": "refund"})).json()["total"] == 0
    assert (
        error_of(await client.call("GET", "/revenue", params={"start": "2025-06-02", "end": "2025-06-01"}), 400)[
            "param"
        ]
        == "end"
    )
    assert error_of(await client.call("GET", "/revenue", params={"kind": "credit"}), 400)["param"] == "kind"
    assert error_of(await client.call("GET", "/revenue", params={"customer": "a"}), 400)["param"] == "customer"


async def test_delete_is_audited(client: Client) -> None:
    created = (await client.call("POST", "/revenue", json=PAYMENT)).json()
    deleted = await client.call("DELETE", f"/revenue/{created['id']}")
    assert deleted.status_code == 200
    assert deleted.json() == {"deleted": created}
    assert error_of(await client.call("DELETE", f"/revenue/{created['id']}"), 404)["param"] == "revenue_id"
    entries, _ = await client.governance.stores.audit.query(action="revenue.delete")
    assert [(e.target_id, e.before["amount"]) for e in entries] == [(created["id"], "120")]
    assert (await client.call("POST", "/revenue", json=PAYMENT)).status_code == 201  # recordable again


async def test_only_admins(client: Client) -> None:
    plain, team_admin, admin = await client.key(), await client.key("team_admin"), await client.key("admin")
    for key in (plain, team_admin):
        assert error_of(await client.call("POST", "/revenue", json=PAYMENT, key=key), 403)["code"] == "admin_only"
        assert error_of(await client.call("GET", "/revenue", key=key), 403)["code"] == "admin_only"
        assert error_of(await client.call("DELETE", "/revenue/x", key=key), 403)["code"] == "admin_only"
    assert error_of(await client.call("GET", "/revenue", key=None), 401)
    assert error_of(await client.call("GET", "/revenue", key="sk-wrong-key-0000000000"), 401)
    assert (await client.call("GET", "/revenue")).json()["total"] == 0  # nothing was recorded by the refused calls
    response = await client.call("POST", "/revenue", json=PAYMENT, key=admin)
    assert response.status_code == 201
    assert response.json()["created_by"].startswith("sk-")


async def test_the_openapi_document_describes_the_routes(client: Client) -> None:
    document = (await client.call("GET", "/openapi.json")).json()
    validate(document)
    post = document["paths"]["/revenue"]["post"]
    assert {"200", "201", "401", "403", "default"} <= set(post["responses"])
    assert post["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "customer_id",
        "amount",
        "currency",
    ]
    assert {p["name"] for p in document["paths"]["/revenue"]["get"]["parameters"]} >= {"customer_id", "start", "end"}
    assert document["paths"]["/revenue/{revenue_id}"]["delete"]["parameters"][0]["name"] == "revenue_id"

"""``GET /margin`` over SQLite and PostgreSQL on the hand-computed dataset of ``margin_data``: each grouping gives
exactly the hand-computed rows and totals, other currencies are listed and never added, CSV export, 400 naming a
bad parameter, admin only (a plain key gets 403), and the operation in the OpenAPI document."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from econ_support import MASTER, Client, governance
from margin_data import BY_CUSTOMER, BY_DAY, BY_FEATURE, BY_MODEL, OTHER_CURRENCIES, TOTALS, seed
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.routing import Route

from tollway.governance.service import Governance
from tollway.proxy.auth import Authenticator
from tollway.proxy.openapi import OpenAPIRoutes
from tollway.proxy.routes_margin import margin_routes

__all__ = ["governance"]  # a fixture, imported for pytest

PERIOD = {"start": "2025-06-01", "end": "2025-06-02"}


@pytest.fixture
async def client(governance: Governance) -> AsyncIterator[Client]:
    """A client of ``/margin`` and ``/openapi.json`` on the seeded dataset."""
    await seed(governance.stores.database)
    auth = Authenticator(MASTER, governance)
    routes = [
        *margin_routes(lambda: governance, auth, max_body_bytes=64 * 1024),
        Route("/openapi.json", OpenAPIRoutes(public={"/openapi.json"}, version="test").openapi),
    ]
    transport = httpx.ASGITransport(app=Starlette(routes=routes))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield Client(http, governance)


async def margin(client: Client, **params: str) -> dict[str, Any]:
    response = await client.call("GET", "/margin", params=PERIOD | params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(
    ("group_by", "rows"),
    [("customer", BY_CUSTOMER), ("day", BY_DAY), ("model", BY_MODEL), ("feature", BY_FEATURE)],
)
async def test_each_grouping_gives_the_hand_computed_numbers(
    client: Client, group_by: str, rows: list[dict[str, Any]]
) -> None:
    body = await margin(client, group_by=group_by)
    assert body["rows"] == rows
    assert body["totals"] == TOTALS
    assert body["other_currencies"] == OTHER_CURRENCIES
    assert (body["start"], body["end"], body["currency"], body["group_by"]) == (
        "2025-06-01",
        "2025-06-02",
        "USD",
        group_by,
    )


async def test_default_grouping_and_one_customer(client: Client) -> None:
    assert (await margin(client))["rows"] == BY_CUSTOMER
    beta = await margin(client, customer_id="beta")
    assert beta["rows"] == [BY_CUSTOMER[2]]
    assert beta["other_currencies"] == []
    assert (beta["totals"]["revenue"], beta["totals"]["cost"], beta["totals"]["margin_pct"]) == ("8", "2.25", "71.88")
    gamma = await margin(client, customer_id="gamma", group_by="model")
    assert gamma["rows"] == BY_MODEL[:2]
    assert (gamma["totals"]["revenue"], gamma["totals"]["margin"]) == ("20", "-15")


async def test_one_day(client: Client) -> None:
    body = await margin(client, start="2025-06-02", end="2025-06-02")
    assert [(row["customer_id"], row["revenue"], row["cost"]) for row in body["rows"]] == [
        ("acme", "0", "0.5"),
        ("beta", "3", "1.25"),
        ("gamma", "20", "5"),
    ]
    assert body["other_currencies"] == []


async def test_csv_export(client: Client) -> None:
    response = await client.call("GET", "/margin", params=PERIOD | {"format": "csv", "group_by": "day"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "margin_2025-06-01_2025-06-02_day.csv" in response.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(response.text)))
    assert lines[0] == ["customer_id", "day", *TOTALS]
    expected = [["" if value is None else str(value) for value in row.values()] for row in BY_DAY]
    assert lines[1:] == expected


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"end": "2025-06-02"}, "start"),
        ({"start": "2025-06-01"}, "end"),
        (PERIOD | {"start": "2025-13-01"}, "start"),
        (PERIOD | {"end": "2025-05-01"}, "end"),
        (PERIOD | {"group_by": "team"}, "group_by"),
        (PERIOD | {"format": "xml"}, "format"),
        (PERIOD | {"currency": "XYZ"}, "currency"),
        (PERIOD | {"currency": "EUR"}, "currency"),  # costs are USD: never subtracted from euros
        (PERIOD | {"colour": "blue"}, "colour"),
        ({"start": "2000-01-01", "end": "2025-01-01"}, "end"),  # too long
    ],
)
async def test_bad_parameters_are_named(client: Client, params: dict[str, str], param: str) -> None:
    response = await client.call("GET", "/margin", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


async def test_admin_only(client: Client) -> None:
    plain = await client.key("user")
    assert (await client.call("GET", "/margin", params=PERIOD, key=plain)).status_code == 403
    admin = await client.key("admin")
    assert (await client.call("GET", "/margin", params=PERIOD, key=admin)).status_code == 200
    assert (await client.call("GET", "/margin", params=PERIOD, key=None)).status_code == 401


async def test_in_the_openapi_document(client: Client) -> None:
    document = (await client.call("GET", "/openapi.json", key=None)).json()
    validate(document)
    operation = document["paths"]["/margin"]["get"]
    assert operation["operationId"] == "get_margin"
    assert {p["name"] for p in operation["parameters"]} == {
        "start",
        "end",
        "customer_id",
        "group_by",
        "currency",
        "format",
    }

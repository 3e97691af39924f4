"""``GET /global/spend/summary`` (``tollway.proxy.routes_summary``, ``tollway.storage.summary_queries``): exact
totals, days and top lists from the rollups, latency and cache figures from the bounded sample, provider grouping,
and every bad parameter. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from ui_support import MASTER, Browser, error_of, gateway_app, running

from tollway.governance.keys import generate_key, hash_key, key_name
from tollway.governance.records import CustomerRecord, KeyRecord, TeamRecord
from tollway.governance.spend_event import SpendEvent
from tollway.proxy.routes_summary import histogram_quantile, percentile, provider_map, summary_body
from tollway.router.deployment import Deployment
from tollway.storage.summary_queries import SampleRow, summary_data

PERIOD = {"start": "2025-06-01", "end": "2025-06-03"}
BEARER = {"authorization": f"Bearer {MASTER}"}


def at(day: int, hour: int) -> datetime:
    return datetime(2025, 6, day, hour, tzinfo=UTC) if day > 0 else datetime(2025, 5, 31, hour, tzinfo=UTC)


async def seed(browser: Browser) -> dict[str, str]:
    """Six spend rows (one outside the period), two keys, two teams, two customers."""
    stores = browser.governance.stores
    alpha, beta = generate_key(), generate_key()
    await stores.keys.create(KeyRecord(token_hash=hash_key(alpha), key_name=key_name(alpha), key_alias="alpha"))
    await stores.keys.create(KeyRecord(token_hash=hash_key(beta), key_name=key_name(beta)))
    await stores.teams.create(TeamRecord(team_id="t1", team_alias="Team One"))
    await stores.teams.create(TeamRecord(team_id="t2"))
    await stores.customers.create(CustomerRecord(customer_id="c1", alias="Acme"))
    a, b = hash_key(alpha), hash_key(beta)

    def row(ts: datetime, **fields: Any) -> SpendEvent:
        return SpendEvent(ts=ts, request_id="r", input_tokens=100, output_tokens=50, **fields)

    events = [
        row(at(1, 9), key_hash=a, team_id="t1", customer_id="c1", model_group="premium", provider="openai",
            cost=Decimal("1.00"), latency_ms=100.0),
        row(at(1, 10), key_hash=a, customer_id="c1", model_group="premium", provider="openai",
            cost=Decimal("1.00"), latency_ms=300.0, cache_hit=True),
        row(at(2, 9), key_hash=b, team_id="t2", customer_id="c2", model_group="budget", provider="anthropic",
            cost=Decimal("0.25"), latency_ms=200.0),
        row(at(2, 10), key_hash=b, model_group="budget", provider="anthropic", cost=None, status=500,
            latency_ms=5000.0),
        row(at(3, 9), cost=Decimal("0.10"), latency_ms=50.0),
        row(at(0, 23), key_hash=a, model_group="premium", provider="openai", cost=Decimal("9")),
    ]  # fmt: skip
    await stores.spend.write_batch(events)
    return {"a": a, "b": b, "alpha": alpha, "beta": beta}


async def test_the_summary_of_a_period(database_url: str, tmp_path: Path) -> None:
    async with running(gateway_app(database_url, tmp_path)) as browser:
        keys = await seed(browser)
        response = await browser.http.get("/global/spend/summary", params=PERIOD, headers=BEARER)
        assert response.status_code == 200, response.text
        body = response.json()
    assert body["start"] == "2025-06-01"
    assert body["end"] == "2025-06-03"
    assert body["totals"] == {
        "requests": 5,
        "errors": 1,
        "error_rate": 0.2,
        "input_tokens": 500,
        "output_tokens": 250,
        "cost": "2.35",
        "currency": "USD",
        "unpriced_requests": 1,
        "cache_hits": 1,
        "cache_hit_rate": 0.2,
        "latency_p50_ms": 100.0,  # of the successful rows 50, 100, 200, 300 (nearest rank)
        "latency_p95_ms": 300.0,
        "overhead_p50_ms": None,  # no model call through this process yet
        "sample_size": 5,
        "sampled": False,
    }
    assert body["daily"] == [
        {"day": "2025-06-01", "group": "premium", "requests": 2, "cost": "2", "input_tokens": 200,
         "output_tokens": 100, "errors": 0},
        {"day": "2025-06-02", "group": "budget", "requests": 2, "cost": "0.25", "input_tokens": 200,
         "output_tokens": 100, "errors": 1},
        {"day": "2025-06-03", "group": None, "requests": 1, "cost": "0.1", "input_tokens": 100,
         "output_tokens": 50, "errors": 0},
    ]  # fmt: skip
    top = body["top"]
    assert top["keys"] == [
        {"id": keys["a"], "name": "alpha", "cost": "2", "requests": 2},
        {"id": keys["b"], "name": f"sk-...{keys['beta'][-4:]}", "cost": "0.25", "requests": 2},
    ]
    assert top["teams"] == [
        {"id": "t1", "name": "Team One", "cost": "1", "requests": 1},
        {"id": "t2", "name": None, "cost": "0.25", "requests": 1},
    ]
    assert top["customers"] == [
        {"id": "c1", "name": "Acme", "cost": "2", "requests": 2},
        {"id": "c2", "name": None, "cost": "0.25", "requests": 1},
    ]
    assert [(m["id"], m["cost"], m["requests"]) for m in top["models"]] == [
        ("premium", "2", 2),
        ("budget", "0.25", 2),
        (None, "0.1", 1),
    ]


async def test_grouped_by_provider_and_the_top_limit(tmp_path: Path) -> None:
    async with running(gateway_app(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", tmp_path)) as browser:
        await seed(browser)
        params = {**PERIOD, "group": "provider", "top": "1"}
        body = (await browser.http.get("/global/spend/summary", params=params, headers=BEARER)).json()
    assert [(d["day"], d["group"], d["cost"]) for d in body["daily"]] == [
        ("2025-06-01", "openai", "2"),
        ("2025-06-02", "anthropic", "0.25"),
        ("2025-06-03", "unknown", "0.1"),
    ]
    assert [len(body["top"][kind]) for kind in ("keys", "teams", "customers", "models")] == [1, 1, 1, 1]


async def test_a_bounded_sample_stands_for_a_long_period(tmp_path: Path) -> None:
    async with running(gateway_app(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", tmp_path)) as browser:
        await seed(browser)
        data = await summary_data(
            browser.governance.stores.database, date(2025, 6, 1), date(2025, 6, 3), top_n=10, sample_size=2
        )
    assert [row.latency_ms for row in data.sample] == [50.0, 5000.0]  # the newest two
    totals = summary_body(data, date(2025, 6, 1), date(2025, 6, 3))["totals"]
    assert totals["sampled"] is True
    assert totals["sample_size"] == 2
    assert totals["requests"] == 5  # still exact: from the rollups
    assert totals["cost"] == "2.35"
    assert totals["cache_hit_rate"] == 0.0
    assert totals["latency_p50_ms"] == 50.0  # the 500 is left out of the percentiles


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({}, "start"),
        ({"start": "2025-06-01"}, "end"),
        ({"end": "2025-06-01"}, "start"),
        ({"start": "June", "end": "2025-06-01"}, "start"),
        ({"start": "2025-06-02", "end": "2025-06-01"}, "end"),
        ({"start": "2024-01-01", "end": "2025-06-01"}, "end"),
        ({**PERIOD, "group": "team"}, "group"),
        ({**PERIOD, "top": "0"}, "top"),
        ({**PERIOD, "top": "101"}, "top"),
        ({**PERIOD, "top": "-1"}, "top"),
        ({**PERIOD, "currency": "EUR"}, "currency"),
    ],
)
async def test_bad_parameters_are_400_naming_them(tmp_path: Path, params: dict[str, str], param: str) -> None:
    async with running(gateway_app(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", tmp_path)) as browser:
        response = await browser.http.get("/global/spend/summary", params=params, headers=BEARER)
        assert error_of(response, 400)["param"] == param


async def test_litellm_style_dates_and_who_may_read(tmp_path: Path) -> None:
    async with running(gateway_app(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", tmp_path)) as browser:
        params = {"start_date": "2025-06-01", "end_date": "2025-06-03"}
        assert (await browser.http.get("/global/spend/summary", params=params, headers=BEARER)).status_code == 200
        user = await browser.key("user")
        response = await browser.http.get(
            "/global/spend/summary", params=params, headers={"authorization": f"Bearer {user}"}
        )
        error_of(response, 403, "admin_only")
        error_of(await browser.http.get("/global/spend/summary", params=params), 401)
        await browser.sign_in()
        assert (await browser.http.get("/global/spend/summary", params=params)).status_code == 200


async def test_the_overhead_median_of_this_process(tmp_path: Path) -> None:
    async with running(gateway_app(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", tmp_path)) as browser:
        chat = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(3):
            assert (await browser.http.post("/v1/chat/completions", json=chat, headers=BEARER)).status_code == 200
        body = (await browser.http.get("/global/spend/summary", params=PERIOD, headers=BEARER)).json()
    overhead = body["totals"]["overhead_p50_ms"]
    assert overhead is not None
    assert 0 < overhead < 500


def test_percentiles_and_histogram_quantiles() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert histogram_quantile(0.5, {}) is None
    assert histogram_quantile(0.5, {1.0: 0.0, float("inf"): 0.0}) is None
    # 10 observations: 4 up to 1 ms, 6 more up to 2 ms: the median is 1/6 into the second bucket.
    buckets = {0.001: 4.0, 0.002: 10.0, float("inf"): 10.0}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.001 + 0.001 * (1 / 6))
    assert histogram_quantile(0.5, {0.001: 0.0, float("inf"): 3.0}) == 0.001  # all above the last bound


def test_providers_of_model_groups() -> None:
    deployments = [
        Deployment(id="1", model_name="fast", model="openai/gpt-4o-mini"),
        Deployment(id="2", model_name="fast", model="azure/gpt-4o-mini"),
        Deployment(id="3", model_name="claude", model="anthropic/claude-sonnet-4-5"),
        Deployment(id="4", model_name="mistral/*", model="mistral/*"),
    ]
    sample = [SampleRow(1.0, 200, False, "claude", "bedrock"), SampleRow(1.0, 200, False, "claude", "bedrock")]
    provider_of = provider_map(sample, deployments)
    assert provider_of("claude") == "bedrock"  # what the requests actually went to
    assert provider_of("fast") == "azure+openai"
    assert provider_of("mistral/small") == "mistral"
    assert provider_of("gemini/gemini-2.5-pro") == "gemini"
    assert provider_of("retired-group") == "unknown"
    assert provider_of(None) == "unknown"


async def test_top_lists_are_ranked_by_exact_sums(database_url: str, tmp_path: Path) -> None:
    """Two customers a float cannot tell apart: the exact sums decide (SQLite ranks candidates by a float sum, then
    re-ranks them exactly)."""
    async with running(gateway_app(database_url, tmp_path)) as browser:
        events = [
            SpendEvent(ts=at(1, 9), customer_id="acme-low", cost=Decimal("500000.000000000001")),
            SpendEvent(ts=at(2, 9), customer_id="acme-low", cost=Decimal("500000")),
            SpendEvent(ts=at(1, 9), customer_id="zeta-high", cost=Decimal("500000.000000000001")),
            SpendEvent(ts=at(2, 9), customer_id="zeta-high", cost=Decimal("500000.000000000001")),
        ]
        await browser.governance.stores.spend.write_batch(events)
        data = await summary_data(
            browser.governance.stores.database, date(2025, 6, 1), date(2025, 6, 3), top_n=1, sample_size=0
        )
    assert [(row.id, row.cost) for row in data.top["customer"]] == [("zeta-high", Decimal("1000000.000000000002"))]
    assert data.sample == []

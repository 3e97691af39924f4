"""``/spend/logs``, ``/global/spend/report`` and ``/audit/logs`` over SQLite and PostgreSQL; and the management API
of a gateway without a database (503)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import orjson
from mgmt_support import Api, api, error_of, governance, spend_event
from starlette.applications import Starlette

from tollway.errors import ServiceUnavailableError
from tollway.governance.keys import hash_key
from tollway.governance.service import Governance
from tollway.proxy.auth import Authenticator
from tollway.proxy.management import management_routes

__all__ = ["api", "governance"]  # fixtures, imported for pytest

DAY1 = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
DAY2 = datetime(2025, 6, 2, 22, 0, tzinfo=UTC)


async def _rows(api: Api) -> tuple[str, str]:
    key_a, key_b = "sk-spend-key-a-000000", "sk-spend-key-b-000000"
    a, b = hash_key(key_a), hash_key(key_b)
    await api.governance.stores.spend.write_batch(
        [
            spend_event(DAY1, key_hash=a, team_id="t1", customer_id="c1", cost=Decimal("0.10"), tags=["x"]),
            spend_event(DAY1 + timedelta(hours=1), key_hash=a, team_id="t1", model_group="big", cost=Decimal("0.5")),
            spend_event(
                DAY2, key_hash=b, team_id="t2", customer_id="c1", cost=None, feature="chatbot", request_id="req-b-1"
            ),
            spend_event(DAY2 + timedelta(minutes=1), key_hash=b, user_id="u1", cost=Decimal("0.25"), tags=["x", "y"]),
        ]
    )
    return key_a, key_b


async def test_spend_logs_filter_and_page_newest_first(api: Api) -> None:
    key_a, _ = await _rows(api)
    everything = await api.ok("GET", "/spend/logs")
    assert everything["total"] == 4
    assert everything["page"] == 1
    assert everything["total_pages"] == 1
    times = [row["ts"] for row in everything["data"]]
    assert times == sorted(times, reverse=True)
    first = everything["data"][-1]
    assert (first["api_key"], first["spend"], first["cost"], first["end_user"]) == (hash_key(key_a), "0.1", "0.1", "c1")
    assert (first["prompt_tokens"], first["completion_tokens"], first["total_tokens"]) == (10, 5, 15)
    unpriced = [row for row in everything["data"] if row["feature"] == "chatbot"]
    assert unpriced[0]["spend"] is None  # unpriced, never a silent 0
    for params, expected in [
        ({"api_key": key_a}, 2),
        ({"key_hash": hash_key(key_a)}, 2),
        ({"team_id": "t1"}, 2),
        ({"user_id": "u1"}, 1),
        ({"customer_id": "c1"}, 2),
        ({"model": "big"}, 1),
        ({"request_id": "req-b-1"}, 1),  # LiteLLM's lookup of one answer's row by its x-request-id
        ({"request_id": "req-b-1", "api_key": key_a}, 0),  # filters add up
        ({"request_id": "no-such-request"}, 0),
        ({"start_date": "2025-06-02"}, 2),
        ({"end_date": "2025-06-01"}, 2),  # a date as the end includes that whole day
        ({"start_date": "2025-06-01T10:30:00Z", "end_date": "2025-06-02T22:00:30"}, 2),
    ]:
        page = await api.ok("GET", "/spend/logs", params)
        assert page["total"] == len(page["data"]) == expected, params
    paged = await api.ok("GET", "/spend/logs", {"page_size": 3, "page": 2})
    assert (paged["total"], paged["total_pages"], len(paged["data"])) == (4, 2, 1)
    assert paged["data"][0]["id"] == first["id"]


async def test_spend_logs_refuse_bad_queries(api: Api) -> None:
    for params, field in [
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "1001"}, "page_size"),
        ({"page": "-1"}, "page"),
        ({"start_date": "June"}, "start_date"),
        ({"api_keys": "x"}, "api_keys"),
    ]:
        assert error_of(await api.get("/spend/logs", params), 400)["param"] == field, params


async def test_global_spend_report_groups_days_from_the_rollups(api: Api) -> None:
    key_a, key_b = await _rows(api)
    days = {"start_date": "2025-06-01", "end_date": "2025-06-02"}
    teams = await api.ok("GET", "/global/spend/report", days)  # LiteLLM's default: by team
    assert teams == [
        {
            "group_by_day": "2025-06-01",
            "teams": [_group("team_id", "t1", "0.6", requests=2, unpriced=0, tokens_in=20, tokens_out=10)],
        },
        {
            "group_by_day": "2025-06-02",
            "teams": [_group("team_id", "t2", "0", requests=1, unpriced=1, tokens_in=10, tokens_out=5)],
        },
    ]
    keys = await api.ok("GET", "/global/spend/report", days | {"group_by": "api_key"})
    day2 = {item["api_key"]: item for item in keys[1]["api_keys"]}
    assert day2[hash_key(key_b)]["total_spend"] == "0.25"
    assert day2[hash_key(key_b)]["requests"] == 2
    assert hash_key(key_a) not in day2
    tags = await api.ok("GET", "/global/spend/report", days | {"group_by": "tag"})
    assert [(day["group_by_day"], [t["tag"] for t in day["tags"]]) for day in tags] == [
        ("2025-06-01", ["x"]),
        ("2025-06-02", ["x", "y"]),
    ]
    models = await api.ok(
        "GET", "/global/spend/report", {"start_date": "2025-06-01", "end_date": "2025-06-01", "group_by": "model"}
    )
    assert {m["model"]: m["total_spend"] for m in models[0]["models"]} == {"m": "0.1", "big": "0.5"}
    assert await api.ok("GET", "/global/spend/report", {"start_date": "2024-01-01", "end_date": "2024-01-02"}) == []
    for params, field in [
        ({"end_date": "2025-06-02"}, "start_date"),
        ({"start_date": "2025-06-02"}, "end_date"),
        ({"start_date": "2025-06-02", "end_date": "2025-06-01"}, "end_date"),
        (days | {"group_by": "planet"}, "group_by"),
    ]:
        assert error_of(await api.get("/global/spend/report", params), 400)["param"] == field, params


def _group(
    name: str, ident: str, spend: str, *, requests: int, unpriced: int, tokens_in: int, tokens_out: int
) -> dict[str, object]:
    return {
        name: ident,
        "total_spend": spend,
        "requests": requests,
        "errors": 0,
        "unpriced_requests": unpriced,
        "input_tokens": tokens_in,
        "cached_tokens": 0,
        "cache_write_tokens": 0,
        "output_tokens": tokens_out,
        "reasoning_tokens": 0,
    }


async def test_every_change_is_audited_with_secrets_redacted(api: Api) -> None:
    made = await api.ok(
        "POST", "/key/generate", {"key_alias": "audited", "metadata": {"api_key": "sk-provider-secret-1"}}
    )
    await api.ok("POST", "/key/update", {"key": made["key"], "rpm_limit": 7})
    fresh = await api.ok("POST", "/key/regenerate", {"key": made["key"]})
    await api.ok("POST", "/key/block", {"key": fresh["key"]})
    await api.ok("POST", "/key/delete", {"keys": [fresh["key"]]})
    await api.ok("POST", "/team/new", {"team_id": "t1"})
    await api.ok("POST", "/customer/new", {"user_id": "c1"})
    log = await api.ok("GET", "/audit/logs", {"page_size": 100})
    actions = [entry["action"] for entry in reversed(log["data"])]
    assert actions == [
        "key.generate",
        "key.update",
        "key.regenerate",
        "key.block",
        "key.delete",
        "team.new",
        "customer.new",
    ]
    assert {entry["actor"] for entry in log["data"]} == {"master"}
    text = orjson.dumps(log).decode()
    for secret in (made["key"], fresh["key"], "sk-provider-secret-1"):
        assert secret not in text
    for secret in (made["token"], fresh["token"]):  # no whole token hash either: keys are audited by key_id
        assert secret not in text
    generated = log["data"][-1]
    assert generated["before"] is None
    assert generated["after"]["token"] == made["token"][:8] + "..."
    assert generated["after"]["metadata"] == {"api_key": "***"}
    assert generated["after"]["key_alias"] == "audited"
    assert generated["target_kind"] == "key"
    assert generated["target_id"] == made["key_id"] == fresh["key_id"]  # one key_id across regeneration
    update = (
        await api.ok("GET", "/audit/logs", {"target_kind": "key", "target_id": made["key_id"], "action": "key.update"})
    )["data"]
    assert [(e["before"]["rpm_limit"], e["after"]["rpm_limit"]) for e in update] == [(None, 7)]
    regenerate = (await api.ok("GET", "/audit/logs", {"action": "key.regenerate"}))["data"][0]
    assert regenerate["note"] == f"replaced by {fresh['key_name']}"
    assert (await api.ok("GET", "/audit/logs", {"target_kind": "team"}))["total"] == 1
    assert (await api.ok("GET", "/audit/logs", {"actor": "sk-...none"}))["total"] == 0
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert (await api.ok("GET", "/audit/logs", {"start": tomorrow}))["total"] == 0
    assert (await api.ok("GET", "/audit/logs", {"end": datetime.now(UTC).date().isoformat()}))["total"] == 7
    paged = await api.ok("GET", "/audit/logs", {"page_size": 3, "page": 3})
    assert (paged["total_pages"], len(paged["data"]), paged["data"][0]["action"]) == (3, 1, "key.generate")
    live = await api.ok("POST", "/key/generate", {})
    for named in (live["key"], live["token"], live["key_id"]):
        by_key = await api.ok("GET", "/audit/logs", {"target_kind": "key", "target_id": named})
        assert [entry["action"] for entry in by_key["data"]] == ["key.generate"]
    assert error_of(await api.get("/audit/logs", {"who": "x"}), 400)["param"] == "who"


async def test_a_refused_change_writes_no_audit_row(api: Api) -> None:
    await api.post("/key/generate", {"max_budjet": 1})
    await api.post("/team/update", {"team_id": "ghost"})
    assert (await api.ok("GET", "/audit/logs"))["total"] == 0


async def test_without_a_database_the_management_routes_answer_503() -> None:
    def missing() -> Governance:
        raise ServiceUnavailableError("the gateway runs without a database", code="no_database")

    app = Starlette(routes=management_routes(missing, Authenticator(None), max_body_bytes=1024))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        for method, path in (("POST", "/key/generate"), ("GET", "/key/list"), ("GET", "/spend/logs")):
            response = await client.request(method, path, json={} if method == "POST" else None)
            assert response.status_code == 503, path
            assert response.json()["error"]["code"] == "no_database"

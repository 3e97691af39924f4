"""The dashboard's routes in ``/openapi.json`` (``tollway.proxy.openapi_dashboard``): each has its own operation with
the right security (public, session cookie, or key or cookie), and the document stays valid OpenAPI 3.1. The
schemathesis suite (tests/proxy/test_proxy_schemathesis.py) fuzzes them with the rest of the gateway."""

from __future__ import annotations

from pathlib import Path

from openapi_spec_validator import validate
from ui_support import gateway_app, running

EXPECTED = {
    ("/ui/login", "post"): [],
    ("/ui/logout", "post"): [{"session": []}],
    ("/ui/session", "get"): [{"session": []}],
    ("/ui/config", "get"): [],
    ("/ui/sso/login", "get"): [],
    ("/ui/sso/callback", "get"): [],
    ("/ui", "get"): [],
    ("/ui/{path}", "get"): [],
    ("/global/spend/summary", "get"): [{"bearer": []}, {"session": []}],
    ("/model/info", "get"): [{"bearer": []}, {"session": []}],
    ("/v1/model/info", "get"): [{"bearer": []}, {"session": []}],
}


async def test_every_dashboard_route_is_documented(tmp_path: Path) -> None:
    async with running(gateway_app(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", tmp_path)) as browser:
        document = (await browser.http.get("/openapi.json")).json()
    validate(document)
    assert document["components"]["securitySchemes"]["session"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": "tollway_session",
        "description": document["components"]["securitySchemes"]["session"]["description"],
    }
    operation_ids = set()
    for (path, method), security in EXPECTED.items():
        operation = document["paths"][path][method]
        assert operation["security"] == security, path
        assert operation["operationId"] not in operation_ids
        operation_ids.add(operation["operationId"])
        assert "default" in operation["responses"]
    summary = document["paths"]["/global/spend/summary"]["get"]
    assert [p["name"] for p in summary["parameters"]] == ["start", "end", "group", "top"]
    totals = summary["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["totals"]
    assert {"latency_p50_ms", "latency_p95_ms", "cache_hit_rate", "error_rate"} <= set(totals["required"])
    login = document["paths"]["/ui/login"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert login["required"] == ["key"]
    assert login["additionalProperties"] is False

"""The dashboard's routes in the gateway's OpenAPI document: ``/ui`` (page, assets, session API, single sign-on),
``GET /global/spend/summary`` and ``GET /model/info``. ``dashboard_operation`` gives a route's operation (schemas
inline), None for any other route; ``tollway.proxy.openapi`` asks it beside ``margin_operation`` and adds
``SESSION_SCHEME`` to the document's security schemes."""

from __future__ import annotations

import copy
from typing import Any

from tollway.proxy.openapi_parts import ERROR, json_answer

__all__ = ["SESSION_SCHEME", "dashboard_operation"]

SESSION_SCHEME = {
    "type": "apiKey",
    "in": "cookie",
    "name": "tollway_session",
    "description": "The dashboard's session (POST /ui/login); unsafe methods also need the x-csrf-token header.",
}

_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
_PUBLIC: list[dict[str, list[str]]] = []
_COOKIE: list[dict[str, list[str]]] = [{"session": []}]
_KEY_OR_COOKIE: list[dict[str, list[str]]] = [{"bearer": []}, {"session": []}]
_DATE = {"type": "string", "format": "date", "description": "YYYY-MM-DD", "examples": ["2025-06-01"]}
_MONEY = {"type": "string", "description": "USD, a decimal string", "examples": ["12.5"]}
_COUNT = {"type": "integer", "minimum": 0}
_RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_MS = {"type": ["number", "null"], "minimum": 0}

_SESSION = {
    "type": "object",
    "required": ["role", "name", "csrf_token", "sso", "expires_at"],
    "properties": {
        "role": {"enum": ["admin"]},
        "name": {"type": "string", "description": "master, a key's name (sk-...abcd) or sso:<email>"},
        "csrf_token": {"type": "string", "description": "send as x-csrf-token on every request"},
        "sso": {"type": "boolean", "description": "signed in by single sign-on"},
        "expires_at": {"type": "string", "format": "date-time"},
    },
}
_TOP_ROW = {
    "type": "object",
    "required": ["id", "name", "cost", "requests"],
    "properties": {
        "id": {"type": ["string", "null"], "description": "a key's hash, a team, customer or model group id"},
        "name": {"type": ["string", "null"]},
        "cost": _MONEY,
        "requests": _COUNT,
    },
}
_TOP_LIST = {"type": "array", "items": _TOP_ROW}
_TOTALS = {
    "type": "object",
    "required": [
        "requests",
        "errors",
        "error_rate",
        "input_tokens",
        "output_tokens",
        "cost",
        "cache_hits",
        "cache_hit_rate",
        "latency_p50_ms",
        "latency_p95_ms",
        "overhead_p50_ms",
    ],
    "properties": {
        "requests": _COUNT,
        "errors": _COUNT,
        "error_rate": _RATE,
        "input_tokens": _COUNT,
        "output_tokens": _COUNT,
        "cost": _MONEY,
        "currency": {"const": "USD"},
        "unpriced_requests": _COUNT,
        "cache_hits": _COUNT,
        "cache_hit_rate": _RATE,
        "latency_p50_ms": _MS,
        "latency_p95_ms": _MS,
        "overhead_p50_ms": {**_MS, "description": "this gateway process since it started (not the period)"},
        "sample_size": _COUNT,
        "sampled": {"type": "boolean", "description": "latency and cache figures from the newest rows only"},
    },
}
_DAY = {
    "type": "object",
    "required": ["day", "group", "requests", "cost", "input_tokens", "output_tokens", "errors"],
    "properties": {
        "day": _DATE,
        "group": {"type": ["string", "null"], "description": "model group or provider; null: no model"},
        "requests": _COUNT,
        "cost": _MONEY,
        "input_tokens": _COUNT,
        "output_tokens": _COUNT,
        "errors": _COUNT,
    },
}
_SUMMARY = {
    "type": "object",
    "required": ["start", "end", "totals", "daily", "top"],
    "properties": {
        "start": _DATE,
        "end": _DATE,
        "group": {"enum": ["model", "provider"]},
        "totals": _TOTALS,
        "daily": {"type": "array", "items": _DAY},
        "top": {
            "type": "object",
            "required": ["keys", "teams", "customers", "models"],
            "properties": {"keys": _TOP_LIST, "teams": _TOP_LIST, "customers": _TOP_LIST, "models": _TOP_LIST},
        },
    },
}
_DEPLOYMENT = {
    "type": "object",
    "required": ["model_name", "model_id", "provider", "model", "healthy", "cooldown_seconds", "model_info"],
    "properties": {
        "model_name": {"type": "string"},
        "model_id": {"type": "string"},
        "deployment_id": {"type": "string"},
        "provider": {"type": "string"},
        "model": {"type": "string"},
        "healthy": {"type": ["boolean", "null"], "description": "false while cooling down after failures"},
        "cooldown_seconds": {"type": "number", "minimum": 0},
        "model_info": {"type": "object"},
        "litellm_params": {"type": "object", "description": "non-secret settings only"},
    },
}
_MODEL_INFO = {"type": "object", "required": ["data"], "properties": {"data": {"type": "array", "items": _DEPLOYMENT}}}
_ASSET_TYPES = (
    "text/html",
    "text/javascript",
    "text/css",
    "image/svg+xml",
    "image/png",
    "image/x-icon",
    "application/json",
    "text/plain",
    "font/woff2",
)


def _summary_parameters() -> list[dict[str, Any]]:
    return [
        {"name": "start", "in": "query", "required": True, "schema": _DATE},
        {"name": "end", "in": "query", "required": True, "schema": {**_DATE, "description": "inclusive"}},
        {"name": "group", "in": "query", "schema": {"enum": ["model", "provider"], "default": "model"}},
        {"name": "top", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}},
    ]


def _operation(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    security: list[dict[str, list[str]]],
    tag: str = "Dashboard",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "security": security,
        "responses": {**responses, "default": {"description": "Error", **ERROR}},
        **extra,
    }


_SSO_FAILURES = (
    ("401", "Sign-in failed (bad state, bad token, refused code)"),
    ("403", "Signed in, but not an admin (or not an allowed domain)"),
    ("502", "The provider failed"),
    ("503", "The session store is unreachable"),
)
_LOGIN_BODY = {
    "type": "object",
    "required": ["key"],
    "additionalProperties": False,
    "properties": {"key": {"type": "string", "minLength": 1, "maxLength": 512}},
}
_UI_OPERATIONS: dict[str, dict[str, Any]] = {
    "/ui/login": _operation(
        "post_ui_login",
        "Sign in to the dashboard with the master key or an admin key (sets the session cookie)",
        {"200": json_answer(_SESSION), "401": {"description": "Wrong key, or not an admin key", **ERROR}},
        security=_PUBLIC,
        requestBody={"required": True, "content": {"application/json": {"schema": _LOGIN_BODY}}},
    ),
    "/ui/logout": _operation(
        "post_ui_logout",
        "Sign out: the session is revoked and its cookie cleared (needs x-csrf-token)",
        {
            "204": {"description": "Signed out"},
            "401": {"description": "No valid session", **ERROR},
            "403": {"description": "Missing or wrong x-csrf-token", **ERROR},
        },
        security=_COOKIE,
    ),
    "/ui/session": _operation(
        "get_ui_session",
        "The session the cookie names (with its CSRF token)",
        {"200": json_answer(_SESSION), "401": {"description": "No valid session", **ERROR}},
        security=_COOKIE,
    ),
    "/ui/config": _operation(
        "get_ui_config",
        "What the sign-in page offers (public, no data)",
        {"200": json_answer({"type": "object", "required": ["sso"], "properties": {"sso": {"type": "boolean"}}})},
        security=_PUBLIC,
    ),
    "/ui/sso/login": _operation(
        "get_ui_sso_login",
        "Single sign-on: redirect to the OpenID provider (404 when not configured)",
        {"302": {"description": "To the provider"}, "502": {"description": "Provider unreachable", **_HTML}},
        security=_PUBLIC,
    ),
    "/ui/sso/callback": _operation(
        "get_ui_sso_callback",
        "Single sign-on: the provider's answer; a session for an admin",
        {
            "302": {"description": "Signed in: to /ui#/overview"},
            **{status: {"description": why, **_HTML} for status, why in _SSO_FAILURES},
        },
        security=_PUBLIC,
        parameters=[
            {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
            for name in ("code", "state", "error")
        ],
    ),
    "/ui": _operation(
        "get_ui",
        "The dashboard page",
        {"200": {"description": "The page", **_HTML}, "404": {"description": "Not installed", **ERROR}},
        security=_PUBLIC,
    ),
    "/ui/{path}": _operation(
        "get_ui_asset",
        "A dashboard asset, or the page for a path without an extension",
        {
            "200": {"description": "The file", "content": {kind: {"schema": {}} for kind in _ASSET_TYPES}},
            "304": {"description": "Not modified (ETag)"},
            "404": {"description": "No such file", **ERROR},
        },
        security=_PUBLIC,
        parameters=[{"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}],
    ),
}


def dashboard_operation(path: str, method: str) -> dict[str, Any] | None:
    """The OpenAPI operation of a dashboard route, or None for any other route."""
    if method not in ("GET", "POST"):
        return None
    if path == "/global/spend/summary" and method == "GET":
        return _operation(
            "get_global_spend_summary",
            "The overview of a period: totals, spend per day, top keys, teams, customers and models",
            {
                "200": json_answer(_SUMMARY),
                "400": {"description": "A bad parameter (named in error.param)", **ERROR},
                "401": {"description": "Missing or invalid key or session", **ERROR},
                "403": {"description": "Not an admin", **ERROR},
            },
            security=_KEY_OR_COOKIE,
            tag="Economics",
            parameters=_summary_parameters(),
        )
    if path in ("/model/info", "/v1/model/info") and method == "GET":
        return _operation(
            "get_" + path.strip("/").replace("/", "_"),
            "Every deployment: provider, cooldown, catalog facts (credentials left out)",
            {
                "200": json_answer(_MODEL_INFO),
                "401": {"description": "Missing or invalid key or session", **ERROR},
            },
            security=_KEY_OR_COOKIE,
            tag="Models",
        )
    operation = _UI_OPERATIONS.get(path)
    expected = "POST" if path in ("/ui/login", "/ui/logout") else "GET"
    # A copy: the document is built from these, and must not share (or change) the module's own.
    return copy.deepcopy(operation) if operation is not None and method == expected else None

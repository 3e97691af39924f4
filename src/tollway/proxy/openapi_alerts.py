"""The alert routes (``tollway.proxy.routes_alerts``) in the gateway's OpenAPI document: ``alert_operation`` gives
the operation of each (schemas inline; request bodies refuse unknown fields, as the handlers do), None for any other
route. ``tollway.proxy.openapi`` asks it beside ``margin_operation``."""

from __future__ import annotations

from typing import Any

from tollway.proxy.openapi_parts import admin_operation, json_answer, json_body

__all__ = ["alert_operation"]

_DECIMAL = {"anyOf": [{"type": "string", "pattern": r"^-?[0-9]{1,13}(\.[0-9]{1,12})?$"}, {"type": "number"}]}
_ID = {"type": "string", "minLength": 1, "maxLength": 128}
_KIND = {"enum": ["budget", "margin", "anomaly"]}
_ENTITY = {"enum": ["key", "user", "team", "customer", "feature", "model", "tag", "all"]}
_TIME = {"type": "string", "format": "date-time"}
_SMTP = {
    "type": "object",
    "additionalProperties": False,
    "required": ["host", "from"],
    "properties": {
        "host": {"type": "string"},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "username": {"type": ["string", "null"]},
        "password": {"type": ["string", "null"], "description": "never answered: shown as ***"},
        "from": {"type": "string", "format": "email"},
        "starttls": {"type": "boolean"},
        "ssl": {"type": "boolean"},
    },
}
_CHANNEL_IN = {
    "oneOf": [
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["type", "url"],
            "properties": {
                "type": {"const": "webhook"},
                "url": {"type": "string", "format": "uri"},
                "secret": {"type": "string", "minLength": 16, "maxLength": 256, "description": "generated when absent"},
            },
        },
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["type", "url"],
            "properties": {"type": {"const": "slack"}, "url": {"type": "string", "format": "uri"}},
        },
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["type", "to"],
            "properties": {
                "type": {"const": "email"},
                "to": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": 20}]},
                "smtp": {**_SMTP, "description": "default: general_settings.alerts_smtp"},
            },
        },
    ]
}
_SCOPE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["entity"],
    "properties": {"entity": _ENTITY, "ids": {"type": ["array", "null"], "items": {"type": "string"}}},
}
_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "kind": _KIND,
    "scope": _SCOPE,
    "thresholds": {
        "type": "array",
        "items": _DECIMAL,
        "description": "budget: percent of max_budget, default 50/80/100",
    },
    "margin_pct": {**_DECIMAL, "description": "margin: alert below this margin %"},
    "period_days": {"type": "integer", "minimum": 1, "maximum": 366, "description": "margin 30, anomaly 7"},
    "factor": {**_DECIMAL, "description": "anomaly: today above factor x the trailing daily average (default 3)"},
    "min_amount": {**_DECIMAL, "description": "USD: smaller spend (anomaly, default 1) or cost (margin) is ignored"},
    "channels": {"type": "array", "minItems": 1, "maxItems": 10, "items": _CHANNEL_IN},
    "enabled": {"type": "boolean"},
}
_CREATE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "kind", "scope", "channels"],
    "properties": _FIELDS,
}
_PATCH = {"type": "object", "additionalProperties": False, "properties": _FIELDS}
_RULE: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "kind", "scope", "channels", "enabled", "created_at", "updated_at"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "kind": _KIND,
        "scope": {"type": "object"},
        "thresholds": {"type": "array", "items": {"type": "string"}},
        "margin_pct": {"type": ["string", "null"]},
        "period_days": {"type": ["integer", "null"]},
        "factor": {"type": ["string", "null"]},
        "min_amount": {"type": ["string", "null"]},
        "channels": {"type": "array", "items": {"type": "object"}, "description": "secrets and URL paths redacted"},
        "enabled": {"type": "boolean"},
        "created_at": _TIME,
        "updated_at": _TIME,
        "created_by": {"type": ["string", "null"]},
        "updated_by": {"type": ["string", "null"]},
    },
}
_GENERATED = {
    "type": "array",
    "description": "webhook secrets made by the gateway, in full: shown this once",
    "items": {"type": "object", "properties": {"channel": {"type": "integer"}, "secret": {"type": "string"}}},
}
_RULE_WITH_SECRETS = {**_RULE, "properties": {**_RULE["properties"], "generated_secrets": _GENERATED}}
_STATUS = {"enum": ["pending", "delivered", "failed", "suppressed"]}
_DELIVERY = {
    "type": "object",
    "required": ["id", "channel", "target", "status", "attempts"],
    "properties": {
        "id": {"type": "string"},
        "channel": {"enum": ["webhook", "slack", "email"]},
        "target": {"type": "string", "description": "redacted"},
        "status": {"enum": ["pending", "delivered", "failed"]},
        "attempts": {"type": "integer"},
        "last_error": {"type": ["string", "null"]},
        "http_status": {"type": ["integer", "null"]},
        "created_at": _TIME,
        "updated_at": _TIME,
        "delivered_at": {"type": ["string", "null"]},
    },
}
_EVENT = {
    "type": "object",
    "required": ["id", "rule_id", "kind", "subject", "period", "status", "deliveries", "created_at"],
    "properties": {
        "id": {"type": "string"},
        "rule_id": {"type": "string"},
        "rule_name": {"type": "string"},
        "kind": {"enum": ["budget", "margin", "anomaly", "test"]},
        "subject": {"type": "object"},
        "period": {"type": "string"},
        "threshold": {"type": ["string", "null"]},
        "status": _STATUS,
        "title": {"type": ["string", "null"]},
        "text": {"type": ["string", "null"]},
        "data": {"type": "object"},
        "attempts": {"type": "integer"},
        "deliveries": {"type": "array", "items": _DELIVERY},
        "created_at": _TIME,
        "updated_at": _TIME,
    },
}
_RULE_PAGE = {
    "type": "object",
    "required": ["data", "total", "page", "page_size", "total_pages"],
    "properties": {
        "data": {"type": "array", "items": _RULE},
        **{key: {"type": "integer"} for key in ("total", "page", "page_size", "total_pages")},
    },
}
_HISTORY = {
    "type": "object",
    "required": ["data", "total", "limit", "offset"],
    "properties": {
        "data": {"type": "array", "items": _EVENT},
        **{key: {"type": "integer"} for key in ("total", "limit", "offset")},
    },
}
_NUMBER = {"type": "string", "pattern": "^[0-9]{1,9}$"}
_PATH_ID = [{"name": "rule_id", "in": "path", "required": True, "schema": _ID}]


def _query(**schemas: Any) -> list[dict[str, Any]]:
    return [{"name": name, "in": "query", "required": False, "schema": schema} for name, schema in schemas.items()]


def alert_operation(path: str, method: str) -> dict[str, Any] | None:
    """The OpenAPI operation of an alert route, or None for any other route."""
    operations: dict[tuple[str, str], Any] = {
        ("/alerts/rules", "POST"): lambda: _operation(
            "post_alert_rule",
            "Create an alert rule (budget thresholds, customer margin or spend anomaly)",
            {"201": json_answer(_RULE_WITH_SECRETS, "Created")},
            requestBody=json_body(_CREATE),
        ),
        ("/alerts/rules", "GET"): lambda: _operation(
            "list_alert_rules",
            "List alert rules, newest first (secrets redacted)",
            {"200": json_answer(_RULE_PAGE)},
            parameters=_query(kind=_KIND, enabled={"enum": ["true", "false"]}, page=_NUMBER, page_size=_NUMBER),
        ),
        ("/alerts/rules/{rule_id}", "GET"): lambda: _operation(
            "get_alert_rule", "One alert rule (secrets redacted)", {"200": json_answer(_RULE)}, parameters=_PATH_ID
        ),
        ("/alerts/rules/{rule_id}", "PATCH"): lambda: _operation(
            "patch_alert_rule",
            "Change an alert rule (channels, when given, replace them all; the kind cannot change)",
            {"200": json_answer(_RULE_WITH_SECRETS)},
            parameters=_PATH_ID,
            requestBody=json_body(_PATCH),
        ),
        ("/alerts/rules/{rule_id}", "DELETE"): lambda: _operation(
            "delete_alert_rule",
            "Delete an alert rule (its history stays)",
            {"200": json_answer({"type": "object", "required": ["deleted"], "properties": {"deleted": _RULE}})},
            parameters=_PATH_ID,
        ),
        ("/alerts/rules/{rule_id}/test", "POST"): lambda: _operation(
            "test_alert_rule",
            "Send a test alert to the rule's channels now (200 with the outcome, delivered or failed)",
            {"200": json_answer(_EVENT)},
            parameters=_PATH_ID,
        ),
        ("/alerts/history", "GET"): lambda: _operation(
            "get_alert_history",
            "Alerts raised, newest first, with every channel's delivery status, attempts and last error",
            {"200": json_answer(_HISTORY)},
            parameters=_query(rule_id={"type": "string"}, status=_STATUS, limit=_NUMBER, offset=_NUMBER),
        ),
    }
    build = operations.get((path, method))
    return None if build is None else build()


def _operation(operation_id: str, summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    errors = "Error (400 names the bad field; 404 unknown rule; 503 no database)"
    return admin_operation(operation_id, summary, responses, errors=errors, **extra)

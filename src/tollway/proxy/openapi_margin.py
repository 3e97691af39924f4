"""``GET /margin`` (``tollway.proxy.routes_margin``) in the gateway's OpenAPI document: ``margin_operation`` gives
its operation (schemas inline), None for any other route. ``tollway.proxy.openapi`` asks it beside
``revenue_operation``."""

from __future__ import annotations

from typing import Any

from tollway.proxy.openapi_parts import ERROR

__all__ = ["margin_operation"]

_DATE = {"type": "string", "format": "date", "description": "YYYY-MM-DD", "examples": ["2025-06-01"]}
_MONEY = {"type": ["string", "null"], "description": "a decimal string", "examples": ["12.5"]}
_COUNT = {"type": "integer", "minimum": 0}
_MEASURES: dict[str, Any] = {
    "revenue": {**_MONEY, "description": "in the report's currency; null when grouped by model or feature"},
    "cost": {"type": "string", "description": "a decimal string (unpriced requests count 0)"},
    "margin": _MONEY,
    "margin_pct": {**_MONEY, "description": "100 * margin / revenue, two places; null when revenue is 0"},
    "requests": _COUNT,
    "input_tokens": _COUNT,
    "output_tokens": _COUNT,
    "unpriced_requests": _COUNT,
}
_ROW = {
    "type": "object",
    "required": ["customer_id", *_MEASURES],
    "properties": {
        "customer_id": {"type": ["string", "null"], "description": "null: traffic without a customer"},
        "model": {"type": ["string", "null"]},
        "feature": {"type": ["string", "null"]},
        "day": _DATE,
        **_MEASURES,
    },
}
_OTHER = {
    "type": "object",
    "required": ["customer_id", "currency", "revenue"],
    "properties": {"customer_id": {"type": "string"}, "currency": {"type": "string"}, "revenue": {"type": "string"}},
}
_REPORT = {
    "type": "object",
    "required": ["start", "end", "currency", "group_by", "rows", "totals", "other_currencies"],
    "properties": {
        "start": _DATE,
        "end": _DATE,
        "currency": {"type": "string"},
        "group_by": {"enum": ["customer", "feature", "model", "day"]},
        "rows": {"type": "array", "items": _ROW, "description": "least profitable first"},
        "totals": {"type": "object", "required": list(_MEASURES), "properties": _MEASURES},
        "other_currencies": {
            "type": "array",
            "items": _OTHER,
            "description": "revenue in other currencies: listed, never added",
        },
    },
}
_PARAMETERS = [
    {"name": "start", "in": "query", "required": True, "schema": _DATE},
    {"name": "end", "in": "query", "required": True, "schema": {**_DATE, "description": "inclusive"}},
    {"name": "customer_id", "in": "query", "required": False, "schema": {"type": "string"}},
    {
        "name": "group_by",
        "in": "query",
        "required": False,
        "schema": {"enum": ["customer", "feature", "model", "day"], "default": "customer"},
    },
    {"name": "currency", "in": "query", "required": False, "schema": {"type": "string", "default": "USD"}},
    {"name": "format", "in": "query", "required": False, "schema": {"enum": ["json", "csv"], "default": "json"}},
]


def margin_operation(path: str, method: str) -> dict[str, Any] | None:
    """The OpenAPI operation of ``GET /margin``, or None for any other route."""
    if path != "/margin" or method != "GET":
        return None
    return {
        "operationId": "get_margin",
        "summary": "Revenue, cost and margin per customer (or per feature, model or day), least profitable first",
        "tags": ["Economics"],
        "parameters": _PARAMETERS,
        "responses": {
            "200": {
                "description": "OK",
                "content": {
                    "application/json": {"schema": _REPORT},
                    "text/csv": {"schema": {"type": "string"}},
                },
            },
            "400": {"description": "A bad parameter (named in error.param)", **ERROR},
            "401": {"description": "Missing or invalid key", **ERROR},
            "403": {"description": "Not an admin key", **ERROR},
            "default": {"description": "Error", **ERROR},
        },
    }

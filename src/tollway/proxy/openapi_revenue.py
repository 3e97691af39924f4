"""The revenue routes (``tollway.proxy.routes_revenue``) in the gateway's OpenAPI document: ``revenue_operation``
gives the operation of ``POST /revenue``, ``GET /revenue`` and ``DELETE /revenue/{revenue_id}`` (schemas inline, as
exactly as the handlers check them: request bodies refuse unknown fields), None for any other route.
``tollway.proxy.openapi`` asks it beside ``management_operation``."""

from __future__ import annotations

from typing import Any

from tollway.proxy.openapi_parts import admin_operation, json_answer, json_body

__all__ = ["revenue_operation"]

_DATE = {"type": "string", "format": "date", "description": "YYYY-MM-DD", "examples": ["2025-06-01"]}
_AMOUNT = {
    "type": "string",
    "pattern": r"^[0-9]{1,16}(\.[0-9]{1,12})?$",
    "description": "a decimal string, never negative (a refund is kind 'refund')",
    "examples": ["12.50"],
}
_CURRENCY = {"type": "string", "pattern": "^[A-Za-z]{3}$", "description": "ISO 4217", "examples": ["USD"]}
_KIND = {"enum": ["revenue", "refund"]}
_SOURCE = {"type": "string", "pattern": r"^[a-z0-9][a-z0-9_.\-]{0,31}$", "examples": ["manual", "csv", "stripe"]}
_ID = {"type": "string", "minLength": 1, "maxLength": 128}

_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["customer_id", "amount", "currency"],
    "description": "a date, or period_start and period_end (inclusive); same (source, external_id) twice = one record",
    "properties": {
        "customer_id": _ID,
        "amount": {"anyOf": [_AMOUNT, {"type": "integer", "minimum": 0}]},
        "currency": _CURRENCY,
        "date": _DATE,
        "period_start": _DATE,
        "period_end": _DATE,
        "kind": _KIND,
        "source": _SOURCE,
        "external_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 256},
        "metadata": {"type": ["object", "null"]},
    },
}
_RECORD = {
    "type": "object",
    "required": ["id", "customer_id", "kind", "amount", "currency", "period_start", "period_end", "source"],
    "properties": {
        "id": {"type": "string"},
        "customer_id": {"type": "string"},
        "kind": _KIND,
        "amount": {"type": "string"},
        "currency": {"type": "string"},
        "period_start": {"type": "string"},
        "period_end": {"type": "string"},
        "source": {"type": "string"},
        "external_id": {"type": ["string", "null"]},
        "metadata": {"type": "object"},
        "created_at": {"type": "string"},
        "created_by": {"type": ["string", "null"]},
    },
}
_PAGE = {
    "type": "object",
    "required": ["data", "total", "page", "page_size", "total_pages"],
    "properties": {
        "data": {"type": "array", "items": _RECORD},
        **{key: {"type": "integer"} for key in ("total", "page", "page_size", "total_pages")},
    },
}
_NUMBER = {"type": "string", "pattern": "^[0-9]{1,9}$"}
_QUERY = {
    "customer_id": {"type": "string"},
    "start": {**_DATE, "description": "records whose period ends on or after this day"},
    "end": {**_DATE, "description": "records whose period starts on or before this day"},
    "source": {"type": "string"},
    "currency": {"type": "string"},
    "kind": _KIND,
    "page": _NUMBER,
    "page_size": _NUMBER,
}


def revenue_operation(path: str, method: str) -> dict[str, Any] | None:
    """The OpenAPI operation of a revenue route, or None for any other route."""
    if path == "/revenue" and method == "POST":
        operation = admin_operation(
            "post_revenue",
            "Record a customer's payment or refund (idempotent by source and external_id)",
            {
                "201": json_answer(_RECORD, "Recorded"),
                "200": json_answer(_RECORD, "Already recorded: the stored record"),
            },
        )
        operation["requestBody"] = json_body(_REQUEST)
        return operation
    if path == "/revenue" and method == "GET":
        operation = admin_operation("get_revenue", "List revenue records, newest first", {"200": json_answer(_PAGE)})
        operation["parameters"] = [
            {"name": name, "in": "query", "required": False, "schema": schema} for name, schema in _QUERY.items()
        ]
        return operation
    if path == "/revenue/{revenue_id}" and method == "DELETE":
        answer = {"type": "object", "required": ["deleted"], "properties": {"deleted": _RECORD}}
        operation = admin_operation("delete_revenue", "Delete a revenue record (audited)", {"200": json_answer(answer)})
        operation["parameters"] = [{"name": "revenue_id", "in": "path", "required": True, "schema": _ID}]
        return operation
    return None

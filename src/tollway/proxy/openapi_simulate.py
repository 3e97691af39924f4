"""``POST /simulate`` (``tollway.proxy.routes_simulate``) in the gateway's OpenAPI document: ``simulate_operation``
gives its operation (schemas inline), None for any other route. ``tollway.proxy.openapi`` asks it beside
``margin_operation``."""

from __future__ import annotations

from typing import Any

from tollway.proxy.openapi_parts import ERROR

__all__ = ["simulate_operation"]

_DATE = {"type": "string", "format": "date", "description": "YYYY-MM-DD", "examples": ["2025-06-01"]}
_MONEY = {"type": "string", "description": "a decimal string", "examples": ["12.5"]}
_PCT = {"type": ["string", "null"], "description": "two places; null when the base is 0", "examples": ["37.50"]}
_COUNT = {"type": "integer", "minimum": 0}
_NAMES = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 128}, "minItems": 1}
_COSTS: dict[str, Any] = {
    "baseline_cost": {**_MONEY, "description": "the recorded cost (unpriced calls count 0, as in /margin)"},
    "simulated_cost": _MONEY,
    "savings": {**_MONEY, "description": "baseline_cost - simulated_cost (negative: the swap costs more)"},
    "savings_pct": {**_PCT, "description": "100 * savings / baseline_cost"},
}
_MARGINS: dict[str, Any] = {
    "revenue": {**_MONEY, "description": "USD revenue of the period (prorated; refunds subtracted)"},
    "margin_before": _MONEY,
    "margin_after": _MONEY,
    "margin_pct_before": _PCT,
    "margin_pct_after": _PCT,
}
_SOURCE = {
    "type": "object",
    "required": ["model", "family", "ratio", "requests"],
    "properties": {
        "model": {"type": "string", "description": "the recorded provider model"},
        "family": {"type": "string", "description": "its tokenizer family"},
        "ratio": {**_MONEY, "description": "target tokens per recorded token"},
        "requests": _COUNT,
    },
}
_SUBSTITUTION_FIELDS: dict[str, Any] = {
    "from": {"type": "string"},
    "to": {"type": "string"},
    "priced_as": {"type": "string", "description": "provider/model whose prices were used"},
    "target_family": {"type": "string"},
    "requests": _COUNT,
    "input_tokens": _COUNT,
    "output_tokens": _COUNT,
    "simulated_input_tokens": {**_MONEY, "description": "a decimal number of tokens"},
    "simulated_output_tokens": {**_MONEY, "description": "a decimal number of tokens"},
    **_COSTS,
    "unpriced_requests": {
        "type": "object",
        "required": ["baseline", "simulated"],
        "properties": {"baseline": _COUNT, "simulated": _COUNT},
    },
    "simulated_cost_of_baseline_unpriced": _MONEY,
    "tokenizer": {"type": "array", "items": _SOURCE},
}
_CUSTOMER_FIELDS: dict[str, Any] = {
    "customer_id": {"type": ["string", "null"], "description": "null: traffic without a customer"},
    **_COSTS,
    **_MARGINS,
    "requests": _COUNT,
    "substituted_requests": _COUNT,
    "unpriced_requests": _COUNT,
}
_UNPRICED = {
    "type": "object",
    "required": ["baseline_requests", "simulated_requests", "simulated_cost_of_baseline_unpriced"],
    "properties": {
        "baseline_requests": {**_COUNT, "description": "calls without a recorded cost"},
        "simulated_requests": {**_COUNT, "description": "substituted calls the target cannot price"},
        "simulated_cost_of_baseline_unpriced": {**_MONEY, "description": "not in the totals"},
    },
}
_OTHER = {
    "type": "object",
    "required": ["customer_id", "currency", "revenue"],
    "properties": {"customer_id": {"type": "string"}, "currency": {"type": "string"}, "revenue": {"type": "string"}},
}
_TOTALS: dict[str, Any] = {**_COSTS, **_MARGINS, "requests": _COUNT, "substituted_requests": _COUNT}
_REPORT = {
    "type": "object",
    "required": [
        "start",
        "end",
        "currency",
        *_TOTALS,
        "unpriced",
        "substitutions",
        "customers",
        "other_currencies",
    ],
    "properties": {
        "start": _DATE,
        "end": _DATE,
        "currency": {"type": "string", "enum": ["USD"]},
        **_TOTALS,
        "unpriced": _UNPRICED,
        "substitutions": {
            "type": "array",
            "items": {"type": "object", "required": list(_SUBSTITUTION_FIELDS), "properties": _SUBSTITUTION_FIELDS},
        },
        "customers": {
            "type": "array",
            "items": {"type": "object", "required": list(_CUSTOMER_FIELDS), "properties": _CUSTOMER_FIELDS},
            "description": "least profitable after the swap first",
        },
        "other_currencies": {"type": "array", "items": _OTHER, "description": "revenue in other currencies: listed"},
    },
}
_REQUEST = {
    "type": "object",
    "required": ["start", "end", "replace"],
    "additionalProperties": False,
    "properties": {
        "start": _DATE,
        "end": {**_DATE, "description": "inclusive; at most 366 days after start"},
        "replace": {
            "type": "object",
            "description": "model now (a model group or a provider model) -> model to price instead",
            "minProperties": 1,
            "maxProperties": 32,
            "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 256},
            "examples": [{"gpt-4o": "gpt-4o-mini"}],
        },
        "customer_ids": {**_NAMES, "description": "only these customers (report and substitution)"},
        "features": {**_NAMES, "description": "substitute only calls of these features"},
        "tags": {**_NAMES, "description": "substitute only calls with one of these tags"},
    },
}


def simulate_operation(path: str, method: str) -> dict[str, Any] | None:
    """The OpenAPI operation of ``POST /simulate``, or None for any other route."""
    if path != "/simulate" or method != "POST":
        return None
    return {
        "operationId": "post_simulate",
        "summary": "Re-price the recorded usage of a period at other models' prices: savings and margin per customer",
        "tags": ["Economics"],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _REQUEST}}},
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": _REPORT}}},
            "400": {"description": "A bad field, an unknown model or a target without prices (error.param)", **ERROR},
            "401": {"description": "Missing or invalid key", **ERROR},
            "403": {"description": "Not an admin key", **ERROR},
            "503": {"description": "The gateway runs without a database", **ERROR},
            "default": {"description": "Error", **ERROR},
        },
    }

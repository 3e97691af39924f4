"""Building blocks shared by the OpenAPI operations of the admin APIs (``openapi_alerts``, ``openapi_revenue``,
``openapi_margin``, ``openapi_simulate``, ``openapi_dashboard``): the error answer, JSON bodies and answers, and an
admin operation with the refusals every admin route shares."""

from __future__ import annotations

from typing import Any

__all__ = ["ERROR", "admin_operation", "json_answer", "json_body"]

# An answer carrying the OpenAI error envelope (``{"error": {"message", "type", "param", "code"}}``).
ERROR: dict[str, Any] = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}}


def json_answer(schema: Any, description: str = "OK") -> dict[str, Any]:
    """A JSON answer of ``schema``."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def json_body(schema: Any, *, required: bool = True) -> dict[str, Any]:
    """A JSON request body of ``schema``."""
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def admin_operation(
    operation_id: str, summary: str, responses: dict[str, Any], *, errors: str = "Error", **extra: Any
) -> dict[str, Any]:
    """An Economics operation for admin keys: ``responses`` plus 401 (no key), 403 (not admin) and the default
    error answer described as ``errors``."""
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["Economics"],
        **extra,
        "responses": {
            **responses,
            "401": {"description": "Missing or invalid key", **ERROR},
            "403": {"description": "Not an admin key", **ERROR},
            "default": {"description": errors, **ERROR},
        },
    }

"""Reading and checking request bodies: once, size-limited, orjson, cheap shape checks.

The SDK validates chat requests in depth; the gateway only checks what it must know to route (``model``) and
refuses what would let a client redirect traffic or credentials (server-side request forgery).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from tollway.errors import BadRequestError

__all__ = [
    "ClientGone",
    "PayloadTooLargeError",
    "check_chat",
    "check_overrides",
    "parse_json",
    "read_body",
    "require_string",
]

# Parameters the SDK honours per call that would send the request (or credentials) somewhere other than the
# configured deployment, or change how it is billed. A client of the gateway must never set them: the operator's
# config does. ``aws_*`` is matched by prefix.
REFUSED_PARAMS = frozenset(
    {
        "api_base",
        "base_url",
        "api_key",
        "api_version",
        "api_type",
        "extra_headers",
        "headers",
        "vertex_credentials",
        "vertex_project",
        "vertex_location",
        "azure_ad_token",
        "azure_ad_token_provider",
        "azure_reasoning_model",
        "custom_llm_provider",
        "organization",
        # extra_body is merged verbatim over the upstream body: it could swap the model (and so the bill) or add
        # fields the operator never allowed.
        "extra_body",
        # Per-call prices and price aliases: a client must not set what it is charged.
        "input_cost_per_token",
        "output_cost_per_token",
        "cache_read_input_token_cost",
        "cache_creation_input_token_cost",
        "cache_creation_input_token_cost_above_1hr",
        "output_cost_per_reasoning_token",
        "input_cost_per_million_tokens",
        "output_cost_per_million_tokens",
        "base_model",
        "model_info",
        "prices",
        "client",
        "transport",
    }
)


class PayloadTooLargeError(BadRequestError):
    """The request body is over the configured limit."""

    status_code = 413
    default_code = "request_too_large"


class ClientGone(Exception):  # noqa: N818  # a condition, not a failure: the client left
    """The client disconnected before its body arrived; there is nobody to answer."""


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than ``limit`` bytes before reading them when Content-Length says so."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientGone from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"request body too large: the limit is {limit} bytes")


def parse_json(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; 400 naming the position of a syntax error, or invalid UTF-8."""
    if not raw:
        raise BadRequestError("the request body is empty: send a JSON object", code="invalid_json")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "UTF-8" in exc.msg:
            raise BadRequestError("the request body is not valid UTF-8", code="invalid_encoding") from None
        # Line and column only: echoing the document would echo the prompt.
        raise BadRequestError(
            f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} (char {exc.pos})",
            code="invalid_json",
        ) from None
    if not isinstance(body, dict):
        raise BadRequestError("the request body must be a JSON object", code="invalid_json")
    return body


def require_string(body: dict[str, Any], name: str) -> str:
    """``body[name]`` as a non-empty string, or 400 naming the field."""
    value = body.get(name)
    if value is None:
        raise BadRequestError(f"missing required parameter: '{name}'", param=name, code="missing_required_parameter")
    if not isinstance(value, str) or not value:
        raise BadRequestError(f"'{name}' must be a non-empty string", param=name, code="invalid_type")
    return value


def check_chat(body: dict[str, Any]) -> tuple[str, list[Any]]:
    """``model`` and ``messages`` of a chat request, checked for presence and type only."""
    model = require_string(body, "model")
    messages = body.get("messages")
    if messages is None:
        raise BadRequestError(
            "missing required parameter: 'messages'", param="messages", code="missing_required_parameter"
        )
    if not isinstance(messages, list) or not messages:
        raise BadRequestError("'messages' must be a non-empty array", param="messages", code="invalid_type")
    check_overrides(body)
    return model, messages


def check_overrides(body: dict[str, Any]) -> None:
    """Refuse parameters that would redirect the call or its credentials (400 naming the first one)."""
    for name in body:
        if name in REFUSED_PARAMS or name.startswith("aws_"):
            raise BadRequestError(
                f"'{name}' cannot be set in a request to the gateway: the gateway's configuration decides where "
                "requests go and which credentials they use",
                param=name,
                code="forbidden_parameter",
            )

"""Reading and checking request bodies: once, size- and time-limited, orjson, cheap shape checks.

The SDK validates chat requests in depth; the gateway only checks what it must know to route (``model``) and
refuses what would let a client redirect traffic or credentials (server-side request forgery, ``clientside``).

The body deadline: under ``tollway serve`` the connection's protocol (``tollway.proxy.protocol``) times the body
with its one per-connection timer, marks the request's scope ``BODY_TIMEOUT: True`` when the deadline passes and
wakes the reader, so a request costs no timer of its own. Under any other ASGI server (no ``BODY_TIMEOUT`` key in
the scope) ``read_body`` times itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.requests import Request

from tollway.errors import BadRequestError
from tollway.proxy.clientside import REFUSED_PARAMS, forbidden
from tollway.proxy.request_headers import headers_of

__all__ = [
    "BODY_TIMEOUT",
    "REFUSED_PARAMS",
    "ClientGone",
    "PayloadTooLargeError",
    "RequestTimeoutError",
    "check_chat",
    "check_overrides",
    "parse_json",
    "read_body",
    "require_string",
]

# Scope key set by tollway's HTTP protocols: False while they time the body, True once its deadline has passed.
BODY_TIMEOUT = "tollway.body_timeout"


class PayloadTooLargeError(BadRequestError):
    """The request body is over the configured limit."""

    status_code = 413
    default_code = "request_too_large"


class RequestTimeoutError(BadRequestError):
    """The client did not send its whole body within the configured time (a slow or stalled client)."""

    status_code = 408
    default_code = "request_timeout"


class ClientGone(Exception):  # noqa: N818  # a condition, not a failure: the client left
    """The client disconnected before its body arrived; there is nobody to answer."""


async def read_body(request: Request, limit: int, seconds: float | None = None) -> bytes:
    """The whole body, refusing more than ``limit`` bytes (before reading them when Content-Length says so) and a
    body that takes more than ``seconds`` to arrive (408)."""
    declared = headers_of(request).get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    scope = request.scope
    if seconds is None or BODY_TIMEOUT in scope:
        return await _receive_body(request, limit, seconds)
    try:
        async with asyncio.timeout(seconds):
            return await _receive_body(request, limit, seconds)
    except TimeoutError:
        raise _timed_out(seconds) from None


async def _receive_body(request: Request, limit: int, seconds: float | None) -> bytes:
    # ASGI messages rather than Request.stream(): the usual body is one message, read with no generator around it.
    receive, scope = request.receive, request.scope
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect: the client left
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if scope.get(BODY_TIMEOUT):  # the protocol's body deadline passed and woke this reader
            raise _timed_out(seconds)


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"request body too large: the limit is {limit} bytes")


def _timed_out(seconds: float | None) -> RequestTimeoutError:
    within = f" within {seconds:g} seconds" if seconds is not None else " in time"
    return RequestTimeoutError(f"the request body did not arrive{within}")


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
    """``model`` and ``messages`` of a chat request, checked for presence and type only (client-set parameters are
    ``ClientSide.router_for``'s to check)."""
    model = require_string(body, "model")
    messages = body.get("messages")
    if messages is None:
        raise BadRequestError(
            "missing required parameter: 'messages'", param="messages", code="missing_required_parameter"
        )
    if not isinstance(messages, list) or not messages:
        raise BadRequestError("'messages' must be a non-empty array", param="messages", code="invalid_type")
    return model, messages


def check_overrides(body: dict[str, Any]) -> None:
    """Refuse every parameter that would redirect the call or its credentials (400 naming the first one), whatever
    the configuration allows; ``ClientSide.router_for`` is the per-model check."""
    for name in body:
        if name in REFUSED_PARAMS or name.startswith("aws_"):
            raise forbidden(name)

"""OpenAPI 3.1 description of the gateway (``GET /openapi.json``) and a plain HTML rendering of it (``GET /docs``).

The document is generated from the app's own route table on first request, so it cannot drift from the routes
the app serves: every ``Route`` appears, with what this module knows about it (summary, request body, streaming)
or a generic description. Request bodies reference OpenAI's schema names loosely: a JSON schema object with the
required fields (``model`` and ``messages`` for chat); the gateway itself checks bodies on the request path.

``/docs`` is server-rendered HTML from the same document: no JavaScript, no CDN, nothing fetched at run time.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

__all__ = ["OpenAPIRoutes", "openapi_document", "openapi_path", "render_docs"]

_ERROR = {"$ref": "#/components/schemas/ErrorEnvelope"}
_ANTHROPIC_ERROR = {"$ref": "#/components/schemas/AnthropicError"}
_CONVERTER = re.compile(r"\{(\w+)(?::\w+)?\}")


@dataclass(frozen=True, slots=True)
class _Operation:
    """What the document says about one path (without its ``/v1`` prefix)."""

    summary: str
    tag: str
    body: str | None = None  # a components/schemas name
    streams: bool = False
    anthropic: bool = False
    answer: str = "Answer"  # the components/schemas name of a successful JSON answer
    statuses: tuple[str, ...] = ("200",)  # statuses answered with ``answer`` (readiness: 503 too)


_OPERATIONS: dict[str, _Operation] = {
    "/chat/completions": _Operation(
        "Chat completion (OpenAI)", "OpenAI", "CreateChatCompletionRequest", True, answer="ChatCompletion"
    ),
    "/completions": _Operation(
        "Legacy text completion (OpenAI)", "OpenAI", "CreateCompletionRequest", True, answer="TextCompletion"
    ),
    "/embeddings": _Operation(
        "Embeddings (OpenAI)", "OpenAI", "CreateEmbeddingRequest", answer="CreateEmbeddingResponse"
    ),
    "/rerank": _Operation("Rerank documents (Cohere's shape)", "OpenAI", "RerankRequest", answer="RerankResponse"),
    "/models": _Operation("List the model groups", "OpenAI", answer="ModelList"),
    "/models/{model_id}": _Operation("One model group", "OpenAI", answer="Model"),
    "/openai/deployments/{model}/chat/completions": _Operation(
        "Chat completion, Azure OpenAI path", "Azure", "CreateChatCompletionRequest", True, answer="ChatCompletion"
    ),
    "/openai/deployments/{model}/embeddings": _Operation(
        "Embeddings, Azure OpenAI path", "Azure", "CreateEmbeddingRequest", answer="CreateEmbeddingResponse"
    ),
    "/v1/messages": _Operation(
        "Messages (Anthropic), over any backend",
        "Anthropic",
        "AnthropicMessagesRequest",
        True,
        True,
        answer="AnthropicMessage",
    ),
    "/v1/messages/count_tokens": _Operation(
        "Count the tokens of a Messages request",
        "Anthropic",
        "AnthropicCountTokensRequest",
        anthropic=True,
        answer="AnthropicTokenCount",
    ),
    "/health/liveliness": _Operation("The process answers", "Health", answer="Liveliness"),
    "/health/readiness": _Operation(
        "Dependencies (Redis) answer: 503 when one does not", "Health", answer="Readiness", statuses=("200", "503")
    ),
    "/health": _Operation("Probe every model group once (calls the providers)", "Health", answer="HealthReport"),
    "/metrics": _Operation("Prometheus metrics (text exposition format)", "Operations"),
    "/openapi.json": _Operation("This document", "Operations", answer="OpenAPIDocument"),
    "/docs": _Operation("This document as HTML", "Operations"),
}


def openapi_path(path: str) -> str:
    """A Starlette path as OpenAPI writes it (``{model_id:path}`` → ``{model_id}``)."""
    return _CONVERTER.sub(r"{\1}", path)


def _describe(path: str) -> _Operation:
    known = _OPERATIONS.get(path)
    if known is None and path.startswith("/v1/"):
        known = _OPERATIONS.get(path[3:])
    return known or _Operation(f"{path}", "Other")


def _managed(path: str, method: str) -> dict[str, Any] | None:
    """The operation of an admin route (management, economics, dashboard), or None for any other route.

    The ``openapi_*`` builders and schemas are imported here, when the document is first asked for, rather than
    with the app: most workers never serve ``/openapi.json`` and would carry them (~0.3 MB) for nothing.
    """
    from tollway.proxy.openapi_alerts import alert_operation
    from tollway.proxy.openapi_dashboard import dashboard_operation
    from tollway.proxy.openapi_management import management_operation
    from tollway.proxy.openapi_margin import margin_operation
    from tollway.proxy.openapi_revenue import revenue_operation
    from tollway.proxy.openapi_simulate import simulate_operation

    return (
        management_operation(path, method)
        or revenue_operation(path, method)
        or margin_operation(path, method)
        or simulate_operation(path, method)
        or alert_operation(path, method)
        or dashboard_operation(path, method)
    )


def _operation(path: str, method: str, public: bool) -> dict[str, Any]:
    from tollway.proxy.openapi_schemas import ref

    managed = _managed(path, method)
    if managed is not None:
        return managed
    about = _describe(path)
    error = _ANTHROPIC_ERROR if about.anthropic else _ERROR
    ok: dict[str, Any] = {"application/json": {"schema": ref(about.answer)}}
    if about.streams:
        # OpenAPI 3.1 reads the schema of an event stream as the schema of each event.
        stream = "AnthropicStreamEvent" if about.anthropic else "StreamEvent"
        ok["text/event-stream"] = {"schema": ref(stream)}
    if path == "/metrics":
        ok = {"text/plain": {"schema": {"type": "string"}}}
    elif path == "/docs":
        ok = {"text/html": {"schema": {"type": "string"}}}
    slug = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "root"
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}_{slug}",
        "summary": about.summary,
        "tags": [about.tag],
        "responses": {
            **{
                status: {"description": "OK" if status.startswith("2") else "Unavailable", "content": ok}
                for status in about.statuses
            },
            "default": {"description": "Error", "content": {"application/json": {"schema": error}}},
        },
    }
    if public:
        operation["security"] = []
    else:
        operation["responses"]["401"] = {
            "description": "Missing or invalid key",
            "content": {"application/json": {"schema": error}},
        }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"\{(\w+)\}", path)
    ]
    if parameters:
        operation["parameters"] = parameters
    if about.body is not None and method == "POST":
        schema = {"$ref": f"#/components/schemas/{about.body}"}
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    return operation


def openapi_document(
    routes: Iterable[BaseRoute], *, public: Collection[str] = (), version: str = "0"
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``; paths in ``public`` need no key (every other one the bearer key)."""
    from tollway.proxy.openapi_dashboard import SESSION_SCHEME
    from tollway.proxy.openapi_management import MANAGEMENT_SCHEMAS
    from tollway.proxy.openapi_schemas import SCHEMAS

    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route):
            continue
        path = openapi_path(route.path)
        for method in sorted(route.methods or ()):
            if method == "HEAD":  # Starlette adds HEAD to every GET route
                continue
            paths.setdefault(path, {})[method.lower()] = _operation(path, method, route.path in public)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tollway gateway",
            "version": version,
            "description": "OpenAI- and Anthropic-compatible LLM gateway. Send the key as 'Authorization: Bearer'.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}, "session": SESSION_SCHEME},
            "schemas": SCHEMAS | MANAGEMENT_SCHEMAS,
        },
        "security": [{"bearer": []}],
    }


def render_docs(document: Mapping[str, Any]) -> str:
    """``document`` as one self-contained HTML page (a table of operations, with their request bodies)."""
    esc = html.escape
    rows = []
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            auth = "public" if op.get("security") == [] else "bearer key"
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            name = str(body.get("$ref", "")).rsplit("/", 1)[-1]
            required = ", ".join(document["components"]["schemas"].get(name, {}).get("required", ()))
            fields = f"{esc(name)} (required: {esc(required)})" if name else ""
            rows.append(
                f"<tr><td><code>{esc(method.upper())}</code></td><td><code>{esc(path)}</code></td>"
                f"<td>{esc(op['summary'])}</td><td>{esc(auth)}</td><td>{fields}</td></tr>"
            )
    info = document["info"]
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{esc(info['title'])}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>"
        f"<h1>{esc(info['title'])} {esc(info['version'])}</h1><p>{esc(info['description'])}</p>"
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a> (OpenAPI 3.1).</p>"
        "<table><tr><th>method</th><th>path</th><th>what</th><th>auth</th><th>JSON body</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )


class OpenAPIRoutes:
    """``GET /openapi.json`` and ``GET /docs`` (both without auth), built from the app's routes on first use."""

    def __init__(self, *, public: Collection[str], version: str) -> None:
        self._public = frozenset(public)
        self._version = version
        self._json: bytes | None = None
        self._html: str | None = None

    def _document(self, request: Request) -> dict[str, Any]:
        return openapi_document(request.app.routes, public=self._public, version=self._version)

    async def openapi(self, request: Request) -> Response:
        """The OpenAPI document."""
        if self._json is None:
            self._json = orjson.dumps(self._document(request))
        return Response(self._json, media_type="application/json")

    async def docs(self, request: Request) -> Response:
        """The HTML page."""
        if self._html is None:
            self._html = render_docs(self._document(request))
        return HTMLResponse(self._html)

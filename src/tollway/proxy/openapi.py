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


def _required(*names: str, **properties: Any) -> dict[str, Any]:
    props = {name: properties.get(name, {}) for name in names} | properties
    return {"type": "object", "required": list(names), "properties": props, "additionalProperties": True}


_MESSAGES = {
    "type": "array",
    "items": {"type": "object", "required": ["role"], "properties": {"role": {"type": "string"}}},
}
_SCHEMAS: dict[str, Any] = {
    "ErrorEnvelope": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": {"type": ["string", "null"]},
                    "code": {"type": ["string", "null"]},
                },
            }
        },
    },
    "AnthropicError": {
        "type": "object",
        "required": ["type", "error"],
        "properties": {
            "type": {"const": "error"},
            "error": _required("type", "message", type={"type": "string"}, message={"type": "string"}),
        },
    },
    "CreateChatCompletionRequest": _required(
        "model", "messages", model={"type": "string"}, messages=_MESSAGES, stream={"type": "boolean"}
    ),
    "CreateCompletionRequest": _required(
        "model", "prompt", model={"type": "string"}, prompt={"type": ["string", "array"]}
    ),
    "CreateEmbeddingRequest": _required("model", "input", model={"type": "string"}, input={}),
    "RerankRequest": _required(
        "model", "query", "documents", model={"type": "string"}, query={"type": "string"}, documents={"type": "array"}
    ),
    "AnthropicMessagesRequest": _required(
        "model", "messages", "max_tokens", model={"type": "string"}, messages=_MESSAGES, max_tokens={"type": "integer"}
    ),
    "AnthropicCountTokensRequest": _required("model", "messages", model={"type": "string"}, messages=_MESSAGES),
    "Answer": {"type": "object", "description": "OpenAI's (or Anthropic's) response object for the route."},
}

_OPERATIONS: dict[str, _Operation] = {
    "/chat/completions": _Operation("Chat completion (OpenAI)", "OpenAI", "CreateChatCompletionRequest", True),
    "/completions": _Operation("Legacy text completion (OpenAI)", "OpenAI", "CreateCompletionRequest", True),
    "/embeddings": _Operation("Embeddings (OpenAI)", "OpenAI", "CreateEmbeddingRequest"),
    "/rerank": _Operation("Rerank documents (Cohere's shape)", "OpenAI", "RerankRequest"),
    "/models": _Operation("List the model groups", "OpenAI"),
    "/models/{model_id}": _Operation("One model group", "OpenAI"),
    "/openai/deployments/{model}/chat/completions": _Operation(
        "Chat completion, Azure OpenAI path", "Azure", "CreateChatCompletionRequest", True
    ),
    "/openai/deployments/{model}/embeddings": _Operation(
        "Embeddings, Azure OpenAI path", "Azure", "CreateEmbeddingRequest"
    ),
    "/v1/messages": _Operation(
        "Messages (Anthropic), over any backend", "Anthropic", "AnthropicMessagesRequest", True, True
    ),
    "/v1/messages/count_tokens": _Operation(
        "Count the tokens of a Messages request", "Anthropic", "AnthropicCountTokensRequest", anthropic=True
    ),
    "/health/liveliness": _Operation("The process answers", "Health"),
    "/health/readiness": _Operation("Dependencies (Redis) answer", "Health"),
    "/health": _Operation("Probe every model group once (calls the providers)", "Health"),
    "/metrics": _Operation("Prometheus metrics (text exposition format)", "Operations"),
    "/openapi.json": _Operation("This document", "Operations"),
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


def _operation(path: str, method: str, public: bool) -> dict[str, Any]:
    about = _describe(path)
    error = _ANTHROPIC_ERROR if about.anthropic else _ERROR
    ok: dict[str, Any] = {"application/json": {"schema": {"$ref": "#/components/schemas/Answer"}}}
    if about.streams:
        ok["text/event-stream"] = {"schema": {"type": "string", "description": "Server-sent events"}}
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
            "200": {"description": "OK", "content": ok},
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
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _SCHEMAS,
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

"""The gateway application: ``create_app(config)`` returns the Starlette app; the route table is below, whole.

No module-level state: everything a request needs (router, settings, authenticator) is built here and held by
the handler objects, so several apps (tests, workers) can live in one process.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import AsyncIterator, Mapping
from types import ModuleType
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tollway._version import __version__
from tollway.errors import NotFoundError, TollwayError
from tollway.proxy.auth import Authenticator
from tollway.proxy.body import check_overrides, parse_json, read_body
from tollway.proxy.defaults import default_model_list
from tollway.proxy.gateway_config import GatewayConfig
from tollway.proxy.metrics import GatewayMetrics, metrics_public
from tollway.proxy.openapi import OpenAPIRoutes
from tollway.proxy.responses import (
    Endpoint,
    SSEResponse,
    Work,
    error_body,
    guard,
    json_response,
    meta_headers,
    relay,
    result_response,
)
from tollway.proxy.routes_health import HealthRoutes
from tollway.proxy.routes_openai import OpenAIRoutes
from tollway.proxy.settings import GatewaySettings
from tollway.router import Router
from tollway.streaming import AsyncCompletionStream

__all__ = ["create_app"]


def create_app(
    config: GatewayConfig,
    *,
    router: Router | None = None,
    environ: Mapping[str, str] | None = None,
    dev: bool = False,
) -> Starlette:
    """The gateway for ``config``. ``router`` replaces the one built from ``config.model_list`` (tests);
    ``environ`` replaces ``os.environ``; ``dev`` allows running without a master key (auth off).

    Raises ``StartupError`` for a missing or weak master key outside dev mode.
    """
    env = {**(os.environ if environ is None else environ), **config.environment}
    settings = GatewaySettings.from_config(config, dev=dev, environ=env)
    owned = router is None
    if router is None:
        model_list = list(config.model_list) or default_model_list(env)
        router = Router(model_list, environ=env, **dict(config.router_settings))
    auth = Authenticator(settings.master_key)
    openai = OpenAIRoutes(router, max_body_bytes=settings.max_body_bytes)
    health = HealthRoutes(router, redis_url=settings.redis_url)
    metrics = GatewayMetrics(router)
    public = {"/health/liveliness", "/health/readiness", "/openapi.json", "/docs"}
    if metrics_public(config.settings):
        public.add("/metrics")
    docs = OpenAPIRoutes(public=public, version=__version__)

    def protected(work: Work, name: str | None = None) -> Endpoint:
        """``work`` behind the master key; with ``name``, its answers counted in the metrics under that route."""
        return guard(work, auth, observer=metrics.route(name) if name else None)

    # Starlette tries routes in order: the hot path (chat, then embeddings) first, so a chat request is matched at
    # once instead of after every health and docs route.
    routes: list[BaseRoute] = [
        *_both("/chat/completions", protected(openai.chat, "chat"), "POST", v1_first=True),
        *_both("/completions", protected(openai.completions, "completions"), "POST"),
        *_both("/embeddings", protected(openai.embeddings, "embeddings"), "POST"),
        *_both("/rerank", protected(openai.rerank, "rerank"), "POST"),
        *_both("/models", protected(openai.models), "GET"),
        *_both("/models/{model_id:path}", protected(openai.model), "GET"),
        Route("/health/liveliness", health.liveliness, methods=["GET"]),
        Route("/health/readiness", health.readiness, methods=["GET"]),
        Route("/health", protected(health.health), methods=["GET"]),
        Route("/metrics", guard(metrics.endpoint, None if "/metrics" in public else auth), methods=["GET"]),
        Route("/openapi.json", docs.openapi, methods=["GET"]),
        Route("/docs", docs.docs, methods=["GET"]),
        Route("/openai/deployments/{model}/chat/completions", protected(openai.azure_chat, "chat"), methods=["POST"]),
        Route(
            "/openai/deployments/{model}/embeddings",
            protected(openai.azure_embeddings, "embeddings"),
            methods=["POST"],
        ),
        *_anthropic_routes(router, auth, settings.max_body_bytes, metrics),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if owned:
            await router.aclose()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},  # type: ignore[dict-item]
    )
    app.state.settings = settings
    app.state.router = router
    app.state.metrics = metrics
    return app


def _both(path: str, endpoint: Endpoint, method: str, *, v1_first: bool = False) -> list[BaseRoute]:
    """``path`` and ``/v1`` + ``path`` (OpenAI clients use either base URL; SDKs default to ``/v1``)."""
    plain, v1 = Route(path, endpoint, methods=[method]), Route("/v1" + path, endpoint, methods=[method])
    return [v1, plain] if v1_first else [plain, v1]


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Unknown paths and wrong methods in the OpenAI envelope rather than Starlette's plain text."""
    kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
    message = f"{request.method} {request.url.path}: {exc.detail}"
    envelope = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return json_response(envelope, exc.status_code, exc.headers)


# -- Anthropic-compatible routes (only when tollway.proxy.anthropic_compat is importable) ------------------------


def _anthropic_routes(router: Router, auth: Authenticator, limit: int, metrics: GatewayMetrics) -> list[BaseRoute]:
    try:
        compat = importlib.import_module("tollway.proxy.anthropic_compat")
    except ImportError:
        return []
    messages = MessagesRoutes(router, compat, limit)

    def on_error(exc: BaseException, request_id: str) -> Response:
        status, body = messages.error(exc, request_id)
        return json_response(body, status, {"x-request-id": request_id})

    return [
        Route(
            "/v1/messages", guard(messages.create, auth, on_error, observer=metrics.route("messages")), methods=["POST"]
        ),
        Route("/v1/messages/count_tokens", guard(messages.count_tokens, auth, on_error), methods=["POST"]),
    ]


class MessagesRoutes:
    """``POST /v1/messages`` over any backend: Anthropic in, OpenAI chat to the router, Anthropic out."""

    def __init__(self, router: Router, compat: ModuleType, limit: int) -> None:
        self._router = router
        self._compat = compat
        self._limit = limit

    def error(self, exc: BaseException, request_id: str) -> tuple[int, dict[str, Any]]:
        """Anthropic's error envelope (unexpected errors logged and reported as a 500 with the request id)."""
        if isinstance(exc, TollwayError):
            status, body = self._compat.anthropic_error(exc)
            return int(status), dict(body)
        status, openai_body = error_body(exc, request_id)
        message = openai_body["error"]["message"]
        return status, {"type": "error", "error": {"type": "api_error", "message": message}}

    async def create(self, request: Request, request_id: str) -> Response:
        """``POST /v1/messages``, streamed or not."""
        body = parse_json(await read_body(request, self._limit))
        check_overrides(body)
        chat: dict[str, Any] = self._compat.anthropic_to_openai(body)
        model = chat.pop("model")
        if not self._anthropic_backend(model):
            chat = self._compat.portable_request(chat)
        result = await self._router.acompletion(model, chat.pop("messages"), **chat)
        if isinstance(result, AsyncCompletionStream):
            encoder = self._compat.AnthropicStreamEncoder(model)

            def on_error(exc: TollwayError) -> bytes:
                _, envelope = self._compat.anthropic_error(exc)
                return b"event: error\ndata: " + orjson.dumps(envelope) + b"\n\n"

            stream = relay(result, request_id, encode=encoder.encode, finish=encoder.finish, on_error=on_error)
            return SSEResponse(stream, meta_headers(result.meta, request_id, cost=False), stream=result)
        answer = self._compat.openai_to_anthropic(result._data, model)
        return result_response(answer, result.meta, request_id)

    async def count_tokens(self, request: Request, request_id: str) -> Response:
        """``POST /v1/messages/count_tokens``."""
        body = parse_json(await read_body(request, self._limit))
        check_overrides(body)
        model = body.get("model")
        if isinstance(model, str) and model not in self._router.model_names and not self._wildcard_match(model):
            raise NotFoundError(f"no model group named {model!r} in this gateway", model=model, param="model")
        return json_response(self._compat.count_tokens(body), 200, {"x-request-id": request_id})

    def _wildcard_match(self, model: str) -> bool:
        import fnmatch

        return any("*" in g and fnmatch.fnmatchcase(model, g) for g in self._router.model_names)

    def _anthropic_backend(self, model: str) -> bool:
        """Whether every deployment of ``model``'s group speaks Anthropic's API (thinking, top_k kept)."""
        import fnmatch

        matches = [
            d
            for d in self._router.deployments
            if d.model_name == model or ("*" in d.model_name and fnmatch.fnmatchcase(model, d.model_name))
        ]
        return bool(matches) and all(d.model.startswith("anthropic/") for d in matches)

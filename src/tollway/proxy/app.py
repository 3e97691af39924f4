"""The gateway application: ``create_app(config)`` returns the Starlette app; the route table is below, whole.

No module-level state: everything a request needs (router, settings, authenticator) is built here and held by
the handler objects, so several apps (tests, workers) can live in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from tollway._version import __version__
from tollway.dashboard.routes import dashboard_routes
from tollway.dashboard.signin import SessionAuth, csrf_checked_routes
from tollway.economics.alerts_engine import Alerting
from tollway.economics.export_service import ExportService, billing_export_of
from tollway.errors import ServiceUnavailableError
from tollway.governance.factory import open_governance
from tollway.governance.service import Governance
from tollway.governance.settings import GovernanceSettings, GovernanceSettingsError
from tollway.proxy.auth import Authenticator
from tollway.proxy.clientside import ClientSide
from tollway.proxy.defaults import default_model_list
from tollway.proxy.estimate import DEFAULT_OUTPUT_ALLOWANCE, CostEstimator
from tollway.proxy.gate import Gate
from tollway.proxy.gateway_config import GatewayConfig
from tollway.proxy.management import management_routes
from tollway.proxy.metrics import GatewayMetrics, metrics_public
from tollway.proxy.openapi import OpenAPIRoutes
from tollway.proxy.responses import (
    Checker,
    Endpoint,
    Work,
    guard,
    json_response,
)
from tollway.proxy.routes_alerts import alert_routes, alerting_of
from tollway.proxy.routes_anthropic import anthropic_routes
from tollway.proxy.routes_health import HealthRoutes
from tollway.proxy.routes_margin import margin_routes
from tollway.proxy.routes_models_info import model_info_routes
from tollway.proxy.routes_openai import OpenAIRoutes
from tollway.proxy.routes_revenue import revenue_routes
from tollway.proxy.routes_simulate import simulate_routes
from tollway.proxy.routes_summary import summary_routes
from tollway.proxy.settings import GatewaySettings, StartupError
from tollway.router import Router
from tollway.router.deployment import Deployment

__all__ = ["Gateway", "create_app"]


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
    env = config.environ(environ)
    settings = GatewaySettings.from_config(config, dev=dev, environ=env)
    owned = router is None
    model_list: Sequence[Mapping[str, Any]] | None = None
    if router is None:
        model_list = list(config.model_list) or default_model_list(env)
        router = Router(model_list, environ=env, **dict(config.router_settings))
    # Client-set api_base/api_key/... where the config allows them (only for a router built here: it is duplicated).
    clientside = ClientSide.build(router, model_list=model_list, router_settings=config.router_settings, environ=env)
    auth = Authenticator(settings.master_key)
    gate = Gate(CostEstimator(router.deployments, output_allowance=_allowance(config.settings)))
    # The routes the dashboard calls also take its session cookie (a key still wins); the model routes never do.
    sessions = SessionAuth(auth, lambda: gate.governance, settings.master_key, sso="ui_sso" in config.settings)
    governance_settings = _governance_settings(config, settings)
    alerting = alerting_of(config.settings)
    billing_export = billing_export_of(config.settings, env)  # general_settings.billing_export
    metrics = GatewayMetrics(router, governance=lambda: gate.governance)
    routes: list[BaseRoute] = [
        *_gateway_routes(
            config, settings, router, clientside=clientside, gate=gate, auth=auth, sessions=sessions, metrics=metrics
        ),
        *csrf_checked_routes(
            _admin_routes(gate, sessions, settings, metrics, alerting, deployments=router.deployments), sessions
        ),
        *_dashboard_routes(gate, sessions, router, config, settings=settings, metrics=metrics),
    ]
    app = Gateway(
        routes=routes,
        lifespan=_lifespan(
            gate,
            auth,
            governance_settings,
            alerting,
            [clientside.aclose, router.aclose if owned else None],
            billing_export=billing_export,
        ),
        exception_handlers={HTTPException: _http_error},
    )
    app.state.settings, app.state.router, app.state.metrics, app.state.governance = settings, router, metrics, None
    return app


def _gateway_routes(
    config: GatewayConfig,
    settings: GatewaySettings,
    router: Router,
    *,
    clientside: ClientSide,
    gate: Gate,
    auth: Authenticator,
    sessions: Checker,
    metrics: GatewayMetrics,
) -> list[BaseRoute]:
    """The model routes (OpenAI and Anthropic), health, metrics and the API docs."""
    openai = OpenAIRoutes(
        router,
        max_body_bytes=settings.max_body_bytes,
        body_timeout=settings.body_timeout,
        clientside=clientside,
        gate=gate,
    )
    health = HealthRoutes(router, redis_url=settings.redis_url, governance=lambda: gate.governance)
    public = {"/health/liveliness", "/health/readiness", "/openapi.json", "/docs"} | (
        {"/metrics"} if metrics_public(config.settings) else set()
    )
    docs = OpenAPIRoutes(public=public, version=__version__)

    def protected(work: Work, name: str | None = None) -> Endpoint:
        """``work`` behind the master key; with ``name``, its answers counted in the metrics under that route."""
        return guard(work, auth, observer=metrics.route(name) if name else None)

    # Starlette tries routes in order: the hot path (chat, then embeddings) first, so a chat request is matched at
    # once instead of after every health and docs route.
    return [
        *_openai_routes(openai, protected),
        Route("/health/liveliness", health.liveliness, methods=["GET"]),
        Route("/health/readiness", health.readiness, methods=["GET"]),
        Route("/health", guard(health.health, sessions), methods=["GET"]),
        Route("/metrics", guard(metrics.endpoint, None if "/metrics" in public else auth), methods=["GET"]),
        Route("/openapi.json", docs.openapi, methods=["GET"]),
        Route("/docs", docs.docs, methods=["GET"]),
        *anthropic_routes(router, auth, settings, metrics, clientside=clientside, gate=gate),
    ]


def _openai_routes(openai: OpenAIRoutes, protected: Callable[..., Endpoint]) -> list[BaseRoute]:
    """The OpenAI-compatible model routes, chat first (Starlette tries routes in order), then Azure's paths."""
    return [
        *_both("/chat/completions", protected(openai.chat, "chat"), "POST", v1_first=True),
        *_both("/completions", protected(openai.completions, "completions"), "POST"),
        *_both("/embeddings", protected(openai.embeddings, "embeddings"), "POST"),
        *_both("/rerank", protected(openai.rerank, "rerank"), "POST"),
        *_both("/models", protected(openai.models), "GET"),
        *_both("/models/{model_id:path}", protected(openai.model), "GET"),
        Route("/openai/deployments/{model}/chat/completions", protected(openai.azure_chat, "chat"), methods=["POST"]),
        Route(
            "/openai/deployments/{model}/embeddings", protected(openai.azure_embeddings, "embeddings"), methods=["POST"]
        ),
    ]


def _admin_routes(
    gate: Gate,
    auth: Checker,
    settings: GatewaySettings,
    metrics: GatewayMetrics,
    alerting: Alerting,
    *,
    deployments: Sequence[Deployment] = (),
) -> list[BaseRoute]:
    """The admin APIs over the store: management, revenue, margin, simulation (which names the model groups of
    ``deployments``) and alerts (503 when the gateway has no database)."""
    routes: list[BaseRoute] = []
    builders = (
        management_routes,
        revenue_routes,
        margin_routes,
        functools.partial(simulate_routes, deployments=deployments),
        functools.partial(alert_routes, alerting=alerting),
    )
    for build in builders:
        routes += build(
            lambda: _running(gate.governance),
            auth,
            max_body_bytes=settings.max_body_bytes,
            body_timeout=settings.body_timeout,
            observer=metrics.route,
        )
    return routes


def _dashboard_routes(
    gate: Gate,
    sessions: SessionAuth,
    router: Router,
    config: GatewayConfig,
    *,
    settings: GatewaySettings,
    metrics: GatewayMetrics,
) -> list[BaseRoute]:
    """The dashboard's read APIs (``/global/spend/summary``, ``/model/info``) and ``/ui`` (tollway.dashboard)."""
    return [
        *summary_routes(
            lambda: _running(gate.governance),
            sessions,
            deployments=router.deployments,
            metrics=metrics,
            observer=metrics.route,
        ),
        *model_info_routes(router, sessions, observer=metrics.route),
        *dashboard_routes(
            sessions,
            settings=config.settings,
            master_key=settings.master_key,
            body_timeout=settings.body_timeout,
            observer=metrics.route,
        ),
    ]


def _lifespan(
    gate: Gate,
    auth: Authenticator,
    governance_settings: GovernanceSettings | None,
    alerting: Alerting,
    closers: list[Callable[[], Awaitable[None]] | None],
    *,
    billing_export: ExportService,
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    """Open the governance services (database, counters, spend writer) at start; close them, then ``closers``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The configured models' prices, looked up in one child process while the gateway starts to serve, when
        # lookups are made in children (the default of ``tollway serve``): see tollway.pricing.prices.
        from tollway.pricing.prices import prefetch

        prefetching = asyncio.ensure_future(asyncio.to_thread(prefetch, gate.priced_models()))
        try:
            governance = await open_governance(governance_settings) if governance_settings is not None else None
        except BaseException:
            await prefetching  # not left running past a failed start
            raise
        gate.governance = governance
        auth.attach(governance)
        app.state.governance = governance
        if governance is not None:
            await alerting.start(governance)  # evaluates the alert rules every general_settings.alerts_interval
            await billing_export.start(governance.stores.database)  # usage to Stripe / CloudEvents, in the background
        try:
            yield
        finally:
            await prefetching  # a thread cannot be cancelled; it ends with its child (20 s at most)
            await billing_export.aclose()
            await alerting.aclose()
            gate.governance = None
            auth.attach(None)
            if governance is not None:
                await governance.aclose()
            for close in closers:
                if close is not None:
                    await close()

    return lifespan


def _running(governance: Governance | None) -> Governance:
    """The running governance services, or 503 when the gateway runs without a database."""
    if governance is None:
        raise ServiceUnavailableError(
            "this gateway runs without a database: set DATABASE_URL (or general_settings.database_url), or start it "
            "with `tollway serve`, which defaults to SQLite in the working directory",
            code="no_database",
        )
    return governance


def _governance_settings(config: GatewayConfig, settings: GatewaySettings) -> GovernanceSettings | None:
    """Governance runs when a database is configured (``tollway serve`` always configures one)."""
    if settings.database_url is None:
        return None
    try:
        return GovernanceSettings.from_config(
            config.settings, database_url=settings.database_url, redis_url=settings.redis_url, cwd=Path.cwd()
        )
    except GovernanceSettingsError as error:
        raise StartupError(str(error)) from None


def _allowance(settings: Mapping[str, Any]) -> int:
    """``general_settings.budget_output_tokens_estimate``: output tokens reserved when a request sets no limit."""
    value = settings.get("budget_output_tokens_estimate")
    return int(value) if isinstance(value, int | float) and value > 0 else DEFAULT_OUTPUT_ALLOWANCE


class Gateway(Starlette):
    """Starlette, with the POST routes of fixed paths (the model calls) dispatched by one dict lookup.

    Those endpoints are ``guard``-wrapped, so they never raise: Starlette's middleware and route matching add
    nothing for them but CPU (~6 µs a request). Everything else (other methods, paths with parameters, lifespan)
    goes through Starlette unchanged.
    """

    def __init__(self, *, routes: list[BaseRoute], **kwargs: Any) -> None:
        super().__init__(routes=routes, **kwargs)
        self._fast: dict[str, Endpoint] = {
            route.path: route.endpoint
            for route in routes
            if isinstance(route, Route) and route.methods == {"POST"} and "{" not in route.path
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a fast route directly; anything else as Starlette would."""
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self._fast.get(scope["path"])
            if endpoint is not None:
                scope["app"] = self
                response = await endpoint(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _both(path: str, endpoint: Endpoint, method: str, *, v1_first: bool = False) -> list[BaseRoute]:
    """``path`` and ``/v1`` + ``path`` (OpenAI clients use either base URL; SDKs default to ``/v1``)."""
    plain, v1 = Route(path, endpoint, methods=[method]), Route("/v1" + path, endpoint, methods=[method])
    return [v1, plain] if v1_first else [plain, v1]


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Unknown paths and wrong methods in the OpenAI envelope rather than Starlette's plain text (Anthropic's
    envelope under ``/v1/messages``, where Anthropic's SDKs are the clients)."""
    kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
    message = f"{request.method} {request.url.path}: {exc.detail}"
    envelope: dict[str, Any] = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    if request.url.path == "/v1/messages" or request.url.path.startswith("/v1/messages/"):
        envelope = {"type": "error", "error": {"type": kind, "message": message}}
    return json_response(envelope, exc.status_code, exc.headers)

"""Prometheus metrics of one gateway app: ``GET /metrics`` in the text exposition format.

Each app owns its ``CollectorRegistry`` (no global registry: the app is built by a factory, and tests and workers
build many). With ``tollway serve --workers N`` every worker process counts its own requests in its own registry,
so a scrape of the shared port sees one worker's figures at a time: scrape each worker, or run one worker per
container/pod and let Prometheus sum them (prometheus-client's multiprocess mode is not used).

``/metrics`` needs the master key unless ``general_settings.metrics_public: true``.

Labels are bounded by the configuration, never by a request: ``route`` (the gateway's route names), ``model_group``
(the configured ``model_name`` of the deployment that answered: a wildcard group stays ``mock/*`` whatever model
a client named), ``deployment`` (the router's deployment id), ``provider`` and ``status``. Never the user or key.

Cost per request: the labelled children of one (route, deployment, status) combination are looked up once and
kept in a dict, so a request costs one dict lookup and a few increments (see ``tests/proxy/test_proxy_metrics.py``
for the measured figure).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from tollway.errors import TollwayError
from tollway.proxy.responses import ResultResponse, SSEResponse
from tollway.router import Router
from tollway.types import ResponseMeta

__all__ = ["OVERHEAD_HEADER", "GatewayMetrics", "RouteMetrics", "metrics_public"]

OVERHEAD_HEADER = b"x-tollway-overhead-ms"

# Request latency and time to first token: from a cache hit (sub-millisecond) to a long generation (minutes).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
# The gateway's own overhead: the target is under 0.5 ms at p50, so the buckets are fine around it.
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
_SERIES = ("route", "model_group", "deployment", "provider")
_UNKNOWN = ""


@dataclass(slots=True)
class _Series:
    """The labelled children one (route, deployment, provider, status) combination updates on every request."""

    requests: Any
    latency: Any
    ttft: Any
    input_tokens: Any
    output_tokens: Any
    spend: Any
    unpriced: Any
    cache_hits: Any


class GatewayMetrics:
    """Every metric of one gateway app, in its own registry."""

    def __init__(self, router: Router) -> None:
        self._router = router
        # Deployment id → its configured group name: bounded labels, and O(1) per request.
        self._group_of = {d.id: d.model_name for d in router.deployments}
        self._groups = frozenset(router.model_names)
        self._series: dict[tuple[str, str, str, str, str], _Series] = {}
        self._overhead_of: dict[str, Any] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("tollway_requests", "Requests answered.", (*_SERIES, "status"), registry=r)
        self.errors = Counter(
            "tollway_errors", "Requests answered with an error.", ("route", "type", "status"), registry=r
        )
        self.latency = Histogram(
            "tollway_request_duration_seconds",
            "Time from the request to the whole answer (streams: to the end of the stream).",
            _SERIES,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "tollway_time_to_first_token_seconds",
            "Streams: time from the request to the first chunk ready to send.",
            _SERIES,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "tollway_gateway_overhead_seconds",
            "Time spent in the gateway itself: total time minus time waiting on the provider (streams: to the first "
            "chunk).",
            ("route",),
            buckets=_OVERHEAD_BUCKETS,
            registry=r,
        )
        self.input_tokens = Counter("tollway_input_tokens", "Prompt tokens.", _SERIES, registry=r)
        self.output_tokens = Counter("tollway_output_tokens", "Completion tokens.", _SERIES, registry=r)
        self.spend = Counter("tollway_spend_usd", "Cost of priced calls, in USD.", _SERIES, registry=r)
        self.unpriced = Counter(
            "tollway_unpriced_requests", "Calls with no known price (not counted as $0 in spend).", _SERIES, registry=r
        )
        self.cache_hits = Counter("tollway_cache_hits", "Answers served from the response cache.", _SERIES, registry=r)
        self.cooldown = Gauge(
            "tollway_deployment_cooldown_seconds",
            "Seconds until a deployment leaves its cooldown (0: serving).",
            ("model_group", "deployment"),
            registry=r,
        )

    def route(self, name: str) -> RouteMetrics:
        """The observer ``guard`` calls for the route ``name``."""
        return RouteMetrics(self, name)

    def series(self, route: str, meta: ResponseMeta | None, status: int) -> _Series:
        """The children for one answer (created on first use; bounded by routes, deployments and statuses)."""
        if meta is None:
            key = (route, _UNKNOWN, _UNKNOWN, str(status), _UNKNOWN)
        else:
            # The asked group is kept only when it is a configured name, so a client cannot create series (or
            # entries in this dict) by inventing model names.
            asked = meta.model_group if meta.model_group in self._groups else _UNKNOWN
            key = (route, meta.deployment_id or _UNKNOWN, meta.provider, str(status), asked or _UNKNOWN)
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = self._new_series(*key)
        return found

    def _new_series(self, route: str, deployment: str, provider: str, status: str, asked: str) -> _Series:
        # A deployment names its configured group (a wildcard group stays ``mock/*``); without one (rerank) the
        # asked group, already reduced to a configured name.
        group = self._group_of.get(deployment) or asked
        labels = (route, group, deployment, provider)
        return _Series(
            requests=self.requests.labels(*labels, status),
            latency=self.latency.labels(*labels),
            ttft=self.ttft.labels(*labels),
            input_tokens=self.input_tokens.labels(*labels),
            output_tokens=self.output_tokens.labels(*labels),
            spend=self.spend.labels(*labels),
            unpriced=self.unpriced.labels(*labels),
            cache_hits=self.cache_hits.labels(*labels),
        )

    def overhead_of(self, route: str) -> Any:
        """The overhead histogram child of ``route``."""
        child = self._overhead_of.get(route)
        if child is None:
            child = self._overhead_of[route] = self.overhead.labels(route)
        return child

    async def refresh_cooldowns(self) -> None:
        """Set the cooldown gauge of every deployment from the router's shared state (at scrape time only)."""
        cooling = await self._router.acooldowns()
        now = time.time()
        for deployment, group in self._group_of.items():
            until = cooling.get(deployment)
            self.cooldown.labels(group, deployment).set(max(0.0, until - now) if until is not None else 0.0)

    async def endpoint(self, request: Request, request_id: str) -> Response:
        """``GET /metrics``: the registry in Prometheus' text format."""
        await self.refresh_cooldowns()
        headers = {"x-request-id": request_id, "cache-control": "no-store"}
        return Response(generate_latest(self.registry), headers=headers, media_type=CONTENT_TYPE_LATEST)


class RouteMetrics:
    """What one route records: ``guard`` calls ``answered`` or ``failed`` once per request."""

    __slots__ = ("_metrics", "_overhead", "_route")

    def __init__(self, metrics: GatewayMetrics, route: str) -> None:
        self._metrics = metrics
        self._route = route
        self._overhead = metrics.overhead_of(route)

    def answered(self, response: Response, started: float) -> None:
        """Record a successful answer; add ``x-tollway-overhead-ms`` to a whole (non-streamed) one."""
        if isinstance(response, SSEResponse):
            self._stream(response, started)
            return
        meta = response.meta if isinstance(response, ResultResponse) else None
        elapsed = time.perf_counter() - started
        series = self._metrics.series(self._route, meta, response.status_code)
        series.requests.inc()
        series.latency.observe(elapsed)
        if meta is None:
            return
        overhead = _overhead(meta, elapsed)
        if overhead is not None:
            self._overhead.observe(overhead)
            # raw_headers directly: Starlette's MutableHeaders view would be rebuilt for one append.
            response.raw_headers.append((OVERHEAD_HEADER, b"%.3f" % (overhead * 1000)))
        _settled(series, meta)

    def _stream(self, response: SSEResponse, started: float) -> None:
        """Streams: time to first token and overhead now (the first chunk is primed), the rest when it closes."""
        stream = response.stream
        first = time.perf_counter() - started
        meta = stream.meta if stream is not None else None
        series = self._metrics.series(self._route, meta, response.status_code)
        series.ttft.observe(first)
        if meta is not None:
            overhead = _overhead(meta, first)
            if overhead is not None:
                self._overhead.observe(overhead)
        if stream is None or meta is None:
            series.requests.inc()
            return

        async def closed(_: object) -> None:
            series.requests.inc()
            series.latency.observe(time.perf_counter() - started)
            _settled(series, meta)

        stream.add_close_callback(closed)

    def failed(self, exc: BaseException, status: int, started: float) -> None:
        """Record an error answer (by OpenAI error type; anything unexpected is ``server_error``)."""
        kind = exc.type if isinstance(exc, TollwayError) else "server_error"
        self._metrics.errors.labels(self._route, kind, str(status)).inc()
        series = self._metrics.series(self._route, None, status)
        series.requests.inc()
        series.latency.observe(time.perf_counter() - started)


def _overhead(meta: ResponseMeta, elapsed: float) -> float | None:
    """Total minus upstream seconds; None when the upstream time is unknown (a cache hit waited on nobody)."""
    upstream = meta.upstream_seconds
    if upstream is None:
        upstream = 0.0 if meta.cache_hit else None
    return None if upstream is None else max(0.0, elapsed - upstream)


def _settled(series: _Series, meta: ResponseMeta) -> None:
    """Tokens, spend (or the unpriced count) and cache hits of a settled call."""
    usage = meta.usage
    if usage is not None:
        series.input_tokens.inc(usage.input_tokens)
        series.output_tokens.inc(usage.output_tokens)
    if meta.cache_hit:
        series.cache_hits.inc()
    if meta.cost is not None:
        series.spend.inc(float(meta.cost.total))
    elif not meta.cache_hit:  # a cache hit costs nothing, whether or not the model has a price
        series.unpriced.inc()


def metrics_public(settings: Mapping[str, Any]) -> bool:
    """Whether ``general_settings.metrics_public`` opens ``/metrics`` without the master key."""
    return settings.get("metrics_public") is True

"""Prometheus metrics of one gateway app: ``GET /metrics`` in the text exposition format.

Each app owns its ``CollectorRegistry`` (no global registry: the app is built by a factory, and tests and workers
build many). With ``tollway serve --workers N`` every worker process counts its own requests in its own registry,
so a scrape of the shared port sees one worker's figures at a time: scrape each worker, or run one worker per
container/pod and let Prometheus sum them (prometheus-client's multiprocess mode is not used).

``/metrics`` needs the master key unless ``general_settings.metrics_public: true``.

Labels are bounded by the configuration, never by a request: ``route`` (the gateway's route names), ``model_group``
(the configured ``model_name`` of the deployment that answered: a wildcard group stays ``mock/*`` whatever model
a client named), ``deployment`` (the router's deployment id), ``provider`` and ``status``. Never the user or key.

Cost per request: one dict lookup and a few integer additions and bucket searches; the Prometheus metric families
are built from those plain counts only when ``/metrics`` is scraped.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from starlette.requests import Request
from starlette.responses import Response

from tollway.errors import TollwayError
from tollway.proxy.responses import ResultResponse, SSEResponse
from tollway.router import Router
from tollway.types import ResponseMeta

if TYPE_CHECKING:
    from tollway.governance.service import Governance

__all__ = ["OVERHEAD_HEADER", "GatewayMetrics", "RouteMetrics", "metrics_public"]

OVERHEAD_HEADER = b"x-tollway-overhead-ms"

# Request latency and time to first token: from a cache hit (sub-millisecond) to a long generation (minutes).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
# The gateway's own overhead: the target is under 0.5 ms at p50, so the buckets are fine around it.
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
_SERIES = ("route", "model_group", "deployment", "provider")
_UNKNOWN = ""


class _Histogram:
    """Bucket counts, sum and count of one labelled histogram, kept as plain numbers (exported at scrape time)."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last slot is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        # Prometheus buckets are "less or equal": the first bound >= value.
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative ``(le, count)`` pairs, +Inf last, as ``HistogramMetricFamily`` wants them."""
        running, out = 0, []
        for bound, count in zip((*map(floatToGoString, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, float(running)))
        return out


@dataclass(slots=True)
class _Series:
    """What one (route, deployment, provider, status) combination counts; plain numbers updated per request.

    Prometheus' own Counter/Histogram objects cost about 1-2 µs per update (locks, label lookups); the gateway
    makes about eight per request, so it counts in plain Python and builds the metric families when scraped.
    """

    labels: tuple[str, str, str, str]
    status: str
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    spend: Decimal = Decimal(0)
    unpriced: int = 0
    cache_hits: int = 0
    latency: _Histogram = field(default_factory=lambda: _Histogram(_LATENCY_BUCKETS))
    ttft: _Histogram = field(default_factory=lambda: _Histogram(_LATENCY_BUCKETS))


class GatewayMetrics:
    """Every metric of one gateway app, in its own registry."""

    def __init__(self, router: Router, governance: Callable[[], Governance | None] = lambda: None) -> None:
        self._router = router
        self.governance = governance
        # Deployment id → its configured group name: bounded labels, and O(1) per request.
        self._group_of = {d.id: d.model_name for d in router.deployments}
        self._groups = frozenset(router.model_names)
        self._series: dict[tuple[str, str, str, str, str], _Series] = {}
        self._overhead: dict[str, _Histogram] = {}
        self._errors: dict[tuple[str, str, str], int] = {}
        self._cooldowns: dict[tuple[str, str], float] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))

    def route(self, name: str) -> RouteMetrics:
        """The observer ``guard`` calls for the route ``name``."""
        return RouteMetrics(self, name)

    def series(self, route: str, meta: ResponseMeta | None, status: int) -> _Series:
        """The counts for one answer (created on first use; bounded by routes, deployments and statuses)."""
        if meta is None:
            key = (route, _UNKNOWN, _UNKNOWN, str(status), _UNKNOWN)
        else:
            # The asked group is kept only when it is a configured name, so a client cannot create series (or
            # entries in this dict) by inventing model names.
            asked = meta.model_group if meta.model_group in self._groups else _UNKNOWN
            key = (route, meta.deployment_id or _UNKNOWN, meta.provider, str(status), asked or _UNKNOWN)
        found = self._series.get(key)
        if found is None:
            route_, deployment, provider, status_, asked_ = key
            # A deployment names its configured group (a wildcard group stays ``mock/*``); without one (rerank) the
            # asked group, already reduced to a configured name.
            group = self._group_of.get(deployment) or asked_
            found = self._series[key] = _Series((route_, group, deployment, provider), status_)
        return found

    def overhead_of(self, route: str) -> _Histogram:
        """The overhead histogram of ``route``."""
        found = self._overhead.get(route)
        if found is None:
            found = self._overhead[route] = _Histogram(_OVERHEAD_BUCKETS)
        return found

    def error(self, route: str, kind: str, status: int) -> None:
        """Count one error answer."""
        key = (route, kind, str(status))
        self._errors[key] = self._errors.get(key, 0) + 1

    async def refresh_cooldowns(self) -> None:
        """Read every deployment's cooldown from the router's shared state (at scrape time only)."""
        cooling = await self._router.acooldowns()
        now = time.time()
        self._cooldowns = {
            (group, deployment): max(0.0, cooling[deployment] - now) if deployment in cooling else 0.0
            for deployment, group in self._group_of.items()
        }

    async def endpoint(self, request: Request, request_id: str) -> Response:
        """``GET /metrics``: the registry in Prometheus' text format."""
        await self.refresh_cooldowns()
        headers = {"x-request-id": request_id, "cache-control": "no-store"}
        return Response(generate_latest(self.registry), headers=headers, media_type=CONTENT_TYPE_LATEST)


class _Collector(Collector):
    """Turns the plain counts into Prometheus metric families when ``/metrics`` is scraped."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._metrics
        series = list(m._series.values())
        requests = CounterMetricFamily("tollway_requests", "Requests answered.", labels=(*_SERIES, "status"))
        for one in series:
            requests.add_metric((*one.labels, one.status), one.requests)
        yield requests
        errors = CounterMetricFamily(
            "tollway_errors", "Requests answered with an error.", labels=("route", "type", "status")
        )
        for key, count in m._errors.items():
            errors.add_metric(key, count)
        yield errors
        yield from _histograms(series)
        overhead = HistogramMetricFamily(
            "tollway_gateway_overhead_seconds",
            "Time spent in the gateway itself: total time minus time waiting on the provider (streams: to the first "
            "chunk).",
            labels=("route",),
        )
        for route, histogram in m._overhead.items():
            overhead.add_metric((route,), histogram.buckets(), histogram.sum)
        yield overhead
        yield from _counters(series)
        cooldown = GaugeMetricFamily(
            "tollway_deployment_cooldown_seconds",
            "Seconds until a deployment leaves its cooldown (0: serving).",
            labels=("model_group", "deployment"),
        )
        for labels, seconds in m._cooldowns.items():
            cooldown.add_metric(labels, seconds)
        yield cooldown
        governance = m.governance()
        if governance is not None:
            yield from _spend_writer(governance)


def _spend_writer(governance: Governance) -> Iterator[Metric]:
    """The spend writer's state: what the on-call engineer checks when the database is in trouble."""
    writer = governance.writer
    for name, doc, value in (
        ("tollway_spend_rows_pending", "Spend rows recorded and not yet in the database.", writer.pending()),
        ("tollway_spend_rows_spooled", "Spend rows waiting in the spool files for the database.", writer.spooled()),
        ("tollway_spend_database_outage", "1 while the spend writer cannot reach the database.", int(writer.outage)),
    ):
        gauge = GaugeMetricFamily(name, doc)
        gauge.add_metric((), value)
        yield gauge
    for name, doc, total in (
        ("tollway_spend_rows_written", "Spend rows the database acknowledged.", writer.written),
        ("tollway_spend_rows_rejected", "Spend rows set aside as unstorable (rejected-<pid>.jsonl).", writer.rejected),
        (
            "tollway_spend_rows_dropped",
            "Spend rows lost (neither spool nor memory could hold them).",
            writer.dropped,
        ),
    ):
        counter = CounterMetricFamily(name, doc)
        counter.add_metric((), total)
        yield counter


def _histograms(series: list[_Series]) -> Iterator[Metric]:
    for name, doc, attribute in (
        (
            "tollway_request_duration_seconds",
            "Time from the request to the whole answer (streams: to the end of the stream).",
            "latency",
        ),
        ("tollway_time_to_first_token_seconds", "Streams: time from the request to the first chunk ready to send.",
         "ttft"),
    ):  # fmt: skip
        family = HistogramMetricFamily(name, doc, labels=_SERIES)
        merged: dict[tuple[str, ...], _Histogram] = {}
        for one in series:  # statuses share a histogram, as before: the histogram is not labelled by status
            target = merged.setdefault(one.labels, _Histogram(_LATENCY_BUCKETS))
            source: _Histogram = getattr(one, attribute)
            target.counts = [a + b for a, b in zip(target.counts, source.counts, strict=True)]
            target.sum += source.sum
            target.count += source.count
        for labels, histogram in merged.items():
            if histogram.count:
                family.add_metric(labels, histogram.buckets(), histogram.sum)
        yield family


def _counters(series: list[_Series]) -> Iterator[Metric]:
    for name, doc, attribute in (
        ("tollway_input_tokens", "Prompt tokens.", "input_tokens"),
        ("tollway_output_tokens", "Completion tokens.", "output_tokens"),
        ("tollway_spend_usd", "Cost of priced calls, in USD.", "spend"),
        ("tollway_unpriced_requests", "Calls with no known price (not counted as $0 in spend).", "unpriced"),
        ("tollway_cache_hits", "Answers served from the response cache.", "cache_hits"),
    ):
        family = CounterMetricFamily(name, doc, labels=_SERIES)
        merged: dict[tuple[str, ...], float] = {}
        for one in series:
            merged[one.labels] = merged.get(one.labels, 0) + float(getattr(one, attribute))
        for labels, value in merged.items():
            family.add_metric(labels, value)
        yield family


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
        series.requests += 1
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
            series.requests += 1
            return

        async def closed(_: object) -> None:
            series.requests += 1
            series.latency.observe(time.perf_counter() - started)
            _settled(series, meta)

        stream.add_close_callback(closed)

    def failed(self, exc: BaseException, status: int, started: float) -> None:
        """Record an error answer (by OpenAI error type; anything unexpected is ``server_error``)."""
        kind = exc.type if isinstance(exc, TollwayError) else "server_error"
        self._metrics.error(self._route, kind, status)
        series = self._metrics.series(self._route, None, status)
        series.requests += 1
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
        series.input_tokens += usage.input_tokens
        series.output_tokens += usage.output_tokens
    if meta.cache_hit:
        series.cache_hits += 1
    if meta.cost is not None:
        series.spend += meta.cost.total  # summed exactly in Decimal; a float only in the exposition
    elif not meta.cache_hit:  # a cache hit costs nothing, whether or not the model has a price
        series.unpriced += 1


def metrics_public(settings: Mapping[str, Any]) -> bool:
    """Whether ``general_settings.metrics_public`` opens ``/metrics`` without the master key."""
    return settings.get("metrics_public") is True

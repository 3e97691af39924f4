"""``GET /global/spend/summary``: the dashboard's overview of a period in one call (admin only).

``?start=YYYY-MM-DD&end=YYYY-MM-DD[&group=model|provider][&top=10]`` (``start_date``/``end_date`` are accepted too;
``end`` inclusive, at most 366 days) →

- ``totals``: ``requests``, ``errors``, ``error_rate``, ``input_tokens``, ``output_tokens``, ``cost`` (USD, a decimal
  string), ``unpriced_requests``, ``cache_hits``, ``cache_hit_rate``, ``latency_p50_ms``, ``latency_p95_ms``,
  ``overhead_p50_ms``, ``sample_size``, ``sampled``;
- ``daily``: ``[{"day", "group", "requests", "cost", "input_tokens", "output_tokens", "errors"}]`` per day and model
  group (or provider), days without traffic left out, ``group`` null for requests without a model;
- ``top``: ``{"keys", "teams", "customers", "models"}``, each ``[{"id", "name", "cost", "requests"}]``, costliest
  first (a key's id is its hash, what ``/spend/logs?api_key=`` takes).

Where each number comes from (``tollway.storage.summary_queries``): counts, tokens, errors and cost from the daily
rollups, exact. Latency percentiles (successful requests) and cache hits from the newest ``SAMPLE_SIZE`` spend rows of
the period: exact when the period has no more rows than that (``sampled`` false), else the newest ones stand for
the period and ``cache_hits`` is the sampled rate times ``requests``. ``overhead_p50_ms`` is this gateway process's
own overhead histogram since it started (null before its first model call), not the period's. With ``group=provider``
each model group counts under the provider most of its sampled requests went to (else its configured deployments').
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tollway.errors import BadRequestError
from tollway.governance.records import money_str
from tollway.proxy.auth import require_admin
from tollway.proxy.management import Management, Query, ok, translated
from tollway.proxy.responses import Checker, Observer, guard

if TYPE_CHECKING:
    from tollway.governance.service import Governance
    from tollway.proxy.metrics import GatewayMetrics
    from tollway.router.deployment import Deployment
    from tollway.storage.summary_queries import DayRow, SampleRow, SummaryData, TopRow

__all__ = [
    "MAX_DAYS",
    "SAMPLE_SIZE",
    "SummaryRoutes",
    "histogram_quantile",
    "percentile",
    "provider_map",
    "summary_body",
    "summary_routes",
]

PARAMS = ("start", "end", "start_date", "end_date", "group", "top")
GROUPS = ("model", "provider")
MAX_DAYS = 366
SAMPLE_SIZE = 10_000
DEFAULT_TOP = 10
MAX_TOP = 100
_OVERHEAD_FAMILY = "tollway_gateway_overhead_seconds"


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of already sorted values (None for none)."""
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def histogram_quantile(fraction: float, buckets: Mapping[float, float]) -> float | None:
    """A quantile of a cumulative histogram (upper bound → count, ``inf`` last), interpolated inside its bucket as
    Prometheus' ``histogram_quantile`` does; None when the histogram is empty."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank, lower, below = fraction * total, 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, count
    return lower


def overhead_p50_ms(metrics: GatewayMetrics | None) -> float | None:
    """The median of this process's gateway overhead (every route together), in milliseconds."""
    if metrics is None:
        return None
    buckets: dict[float, float] = {}
    for family in metrics.registry.collect():
        if family.name != _OVERHEAD_FAMILY:
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    median = histogram_quantile(0.5, buckets)
    return None if median is None else round(median * 1000, 4)


def provider_map(sample: Iterable[SampleRow], deployments: Sequence[Deployment]) -> Callable[[str | None], str]:
    """Model group → provider: the provider most sampled rows of the group went to, else the provider(s) of the
    group's configured deployments (``a+b`` when several), else the group's own ``provider/`` prefix, else
    ``unknown``."""
    import fnmatch

    from tollway.pricing.names import split_model

    seen: dict[str, Counter[str]] = {}
    for row in sample:
        if row.model_group and row.provider:
            seen.setdefault(row.model_group, Counter())[row.provider] += 1
    configured: dict[str, set[str]] = {}
    for deployment in deployments:
        configured.setdefault(deployment.model_name, set()).add(split_model(deployment.model)[0])

    def provider_of(group: str | None) -> str:
        if not group:
            return "unknown"
        if group in seen:
            return seen[group].most_common(1)[0][0]
        for pattern, providers in configured.items():
            if pattern == group or ("*" in pattern and fnmatch.fnmatchcase(group, pattern)):
                return "+".join(sorted(providers)) if "*" not in pattern else split_model(group)[0]
        return split_model(group)[0] if "/" in group else "unknown"

    return provider_of


def _top(rows: Iterable[TopRow]) -> list[dict[str, Any]]:
    return [{"id": row.id, "name": row.name, "cost": money_str(row.cost), "requests": row.requests} for row in rows]


def _daily(days: Sequence[DayRow], group: str, provider_of: Callable[[str | None], str]) -> list[dict[str, Any]]:
    merged: dict[tuple[date, str | None], list[Any]] = {}
    for row in days:
        name = provider_of(row.model_group) if group == "provider" else row.model_group
        total = merged.setdefault((row.day, name), [0, Decimal(0), 0, 0, 0])
        for index, value in enumerate((row.requests, row.cost, row.input_tokens, row.output_tokens, row.errors)):
            total[index] += value
    ordered = sorted(merged.items(), key=lambda item: (item[0][0], -item[1][1], item[0][1] or ""))
    return [
        {
            "day": day.isoformat(),
            "group": name,
            "requests": requests,
            "cost": money_str(cost),
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "errors": errors,
        }
        for (day, name), (requests, cost, input_tokens, output_tokens, errors) in ordered
    ]


def _models(days: Sequence[DayRow], top_n: int) -> list[dict[str, Any]]:
    totals: dict[str | None, list[Any]] = {}
    for row in days:
        total = totals.setdefault(row.model_group, [Decimal(0), 0])
        total[0] += row.cost
        total[1] += row.requests
    ranked = sorted(totals.items(), key=lambda item: (-item[1][0], -item[1][1], item[0] or ""))[:top_n]
    return [
        {"id": group, "name": group, "cost": money_str(cost), "requests": requests}
        for group, (cost, requests) in ranked
    ]


def _totals(data: SummaryData, overhead: float | None) -> dict[str, Any]:
    requests = sum(row.requests for row in data.days)
    errors = sum(row.errors for row in data.days)
    latencies = sorted(row.latency_ms for row in data.sample if row.status < 400)
    hits = sum(1 for row in data.sample if row.cache_hit)
    sampled = len(data.sample) < requests
    rate = hits / len(data.sample) if data.sample else None
    p50, p95 = percentile(latencies, 0.50), percentile(latencies, 0.95)
    return {
        "requests": requests,
        "errors": errors,
        "error_rate": round(errors / requests, 6) if requests else None,
        "input_tokens": sum(row.input_tokens for row in data.days),
        "output_tokens": sum(row.output_tokens for row in data.days),
        "cost": money_str(sum((row.cost for row in data.days), Decimal(0))),
        "currency": "USD",
        "unpriced_requests": sum(row.unpriced for row in data.days),
        "cache_hits": round(rate * requests) if sampled and rate is not None else hits,
        "cache_hit_rate": None if rate is None else round(rate, 6),
        "latency_p50_ms": None if p50 is None else round(p50, 3),
        "latency_p95_ms": None if p95 is None else round(p95, 3),
        "overhead_p50_ms": overhead,
        "sample_size": len(data.sample),
        "sampled": sampled,
    }


def summary_body(
    data: SummaryData,
    start: date,
    end: date,
    *,
    group: str = "model",
    top_n: int = DEFAULT_TOP,
    provider_of: Callable[[str | None], str] = lambda _: "unknown",
    overhead: float | None = None,
) -> dict[str, Any]:
    """The answer of ``/global/spend/summary`` for ``data`` (see the module docstring)."""
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "group": group,
        "totals": _totals(data, overhead),
        "daily": _daily(data.days, group, provider_of),
        "top": {
            "keys": _top(data.top["key"]),
            "teams": _top(data.top["team"]),
            "customers": _top(data.top["customer"]),
            "models": _models(data.days, top_n),
        },
    }


def _period(query: Query) -> tuple[date, date]:
    start, end = query.day("start") or query.day("start_date"), query.day("end") or query.day("end_date")
    for name, value in (("start", start), ("end", end)):
        if value is None:
            raise BadRequestError(f"{name} is required (YYYY-MM-DD)", param=name, code="invalid_field")
    assert start is not None
    assert end is not None
    if end < start or (end - start).days >= MAX_DAYS:
        raise BadRequestError(
            f"end must be on or after start, at most {MAX_DAYS} days later", param="end", code="invalid_field"
        )
    return start, end


class SummaryRoutes:
    """The summary handler: the running Governance (``context``), the router's deployments (for providers) and the
    gateway's metrics (for its overhead)."""

    def __init__(
        self, context: Management, deployments: Sequence[Deployment] = (), metrics: GatewayMetrics | None = None
    ) -> None:
        self.m = context
        self._deployments = tuple(deployments)
        self._metrics = metrics

    async def summary(self, request: Request, request_id: str) -> Response:
        """``GET /global/spend/summary``."""
        from tollway.storage.summary_queries import summary_data

        governance = self.m.governance()
        require_admin(request)
        query = Query(request, PARAMS)
        start, end = _period(query)
        group = query.text("group") or "model"
        if group not in GROUPS:
            raise BadRequestError("group must be model or provider", param="group", code="invalid_field")
        top_n = query.number("top", DEFAULT_TOP, high=MAX_TOP)
        data = await summary_data(governance.stores.database, start, end, top_n=top_n, sample_size=SAMPLE_SIZE)
        body = summary_body(
            data,
            start,
            end,
            group=group,
            top_n=top_n,
            provider_of=provider_map(data.sample, self._deployments),
            overhead=overhead_p50_ms(self._metrics),
        )
        return ok(body, request_id)


def summary_routes(
    governance_getter: Callable[[], Governance],
    auth: Checker | None,
    *,
    deployments: Sequence[Deployment] = (),
    metrics: GatewayMetrics | None = None,
    observer: Callable[[str], Observer] | None = None,
) -> list[BaseRoute]:
    """``GET /global/spend/summary`` behind ``guard`` and the management API's error translation (metrics route name
    ``management``)."""
    handler = SummaryRoutes(Management(governance_getter, 0), deployments, metrics).summary
    watch = observer("management") if observer is not None else None
    return [Route("/global/spend/summary", guard(translated(handler), auth, observer=watch), methods=["GET"])]

"""``GET /spend/logs`` (spend rows, newest first, paginated) and ``GET /global/spend/report`` (daily totals per key,
user, team, customer, model, tag or feature, from the daily rollups).

Spend rows are written in batches off the request path, so they land about a second after their request; the live
spend of one key, team or customer is on its ``/info`` route (from the counters). Admins read every row; a team-admin
key the rows of its team; any other key the rows of its own requests.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, cast

from starlette.requests import Request
from starlette.responses import Response

from tollway.errors import BadRequestError, PermissionDeniedError
from tollway.governance.keys import token_hash_of
from tollway.governance.records import money_str
from tollway.proxy.auth import Caller, caller_of, require_admin
from tollway.proxy.management import DEFAULT_PAGE_SIZE, Management, Query, RouteSpec, managed_team, ok, paged

if TYPE_CHECKING:
    from tollway.governance.spend_event import SpendEvent
    from tollway.storage.spend_queries import GroupBy, ReportRow

__all__ = ["REPORT_GROUPS", "SpendRoutes", "spend_row"]

# group_by -> (the rollup's entity kind, the list's name in a day, the name of a group's id): LiteLLM's names where
# LiteLLM's report has the grouping (team, customer, api_key).
REPORT_GROUPS: dict[str, tuple[str, str, str]] = {
    "team": ("team", "teams", "team_id"),
    "customer": ("customer", "customers", "customer"),
    "key": ("key", "api_keys", "api_key"),
    "api_key": ("key", "api_keys", "api_key"),
    "user": ("user", "users", "user_id"),
    "model": ("model", "models", "model"),
    "tag": ("tag", "tags", "tag"),
    "feature": ("feature", "features", "feature"),
}
MAX_REPORT_DAYS = 366


def spend_row(event: SpendEvent) -> dict[str, Any]:
    """One spend row as ``/spend/logs`` returns it: tollway's fields plus LiteLLM's names for the common ones
    (``api_key``, ``spend``, ``startTime``, ``end_user``, ``prompt_tokens``...). ``spend`` None means unpriced."""
    cost = money_str(event.cost)
    return {
        "id": event.id,
        "request_id": event.request_id,
        "ts": event.ts.isoformat(),
        "startTime": event.ts.isoformat(),
        "key_hash": event.key_hash,
        "api_key": event.key_hash,
        "key_name": event.key_name,
        "user_id": event.user_id,
        "team_id": event.team_id,
        "customer_id": event.customer_id,
        "end_user": event.customer_id,
        "feature": event.feature,
        "model_group": event.model_group,
        "deployment_id": event.deployment_id,
        "provider": event.provider,
        "model": event.model,
        "call_type": event.call_type,
        "stream": event.stream,
        "input_tokens": event.input_tokens,
        "cached_tokens": event.cached_tokens,
        "cache_write_tokens": event.cache_write_tokens,
        "output_tokens": event.output_tokens,
        "reasoning_tokens": event.reasoning_tokens,
        "prompt_tokens": event.input_tokens,
        "completion_tokens": event.output_tokens,
        "total_tokens": event.input_tokens + event.output_tokens,
        "cost": cost,
        "spend": cost,
        "price_source": event.price_source,
        "latency_ms": event.latency_ms,
        "ttft_ms": event.ttft_ms,
        "status": event.status,
        "error_class": event.error_class,
        "cache_hit": event.cache_hit,
        "tags": list(event.tags),
        "metadata": dict(event.metadata),
    }


def _scope(caller: Caller, key_hash: str | None, team_id: str | None) -> tuple[str | None, str | None]:
    """The (key, team) filters a caller's query is confined to: an admin's as asked, a team admin's to its team,
    any other key's to itself (asking for another key or team is a 403)."""
    if caller.admin:
        return key_hash, team_id
    principal = caller.principal
    assert principal is not None  # only the master caller has no principal, and it is an admin
    if caller.role == "team_admin" and principal.key.team_id is not None:
        team = managed_team(caller)
        if team_id not in (None, team):
            raise PermissionDeniedError("a team admin key reads the spend of its own team only", param="team_id")
        return key_hash, team
    own = principal.key.token_hash
    if key_hash not in (None, own) or team_id is not None:
        raise PermissionDeniedError("a key reads its own spend logs only", param="api_key")
    return own, None


class SpendRoutes:
    """The spend handlers."""

    def __init__(self, context: Management) -> None:
        self.m = context

    def routes(self) -> list[RouteSpec]:
        """(path, handler, method) of every spend route."""
        return [("/spend/logs", self.logs, "GET"), ("/global/spend/report", self.report, "GET")]

    async def logs(self, request: Request, request_id: str) -> Response:
        """``GET /spend/logs?api_key=|key_hash=&user_id=&team_id=&customer_id=&model=&request_id=&start_date=
        &end_date=&page=&page_size=``: ``{"data", "total", "page", "page_size", "total_pages"}``, newest first. A
        date as ``end_date`` includes that whole day. ``request_id`` is the id an answer carried (``x-request-id``),
        as LiteLLM's route takes it."""
        governance = self.m.governance()
        query = Query(
            request,
            (
                "api_key",
                "key_hash",
                "user_id",
                "team_id",
                "customer_id",
                "model",
                "request_id",
                "start_date",
                "end_date",
                "page",
                "page_size",
            ),
        )
        named = query.text("api_key", "key_hash")
        key_hash, team_id = _scope(
            caller_of(request), None if named is None else token_hash_of(named), query.ident("team_id")
        )
        page, size = query.number("page", 1, high=10**9), query.number("page_size", DEFAULT_PAGE_SIZE)
        events, total = await governance.stores.spend.logs(
            key_hash=key_hash,
            user_id=query.ident("user_id"),
            team_id=team_id,
            customer_id=query.ident("customer_id"),
            model_group=query.text("model"),
            start=query.moment("start_date"),
            end=query.moment("end_date", end=True),
            request_id=query.text("request_id"),
            page=page,
            page_size=size,
        )
        return ok(paged([spend_row(event) for event in events], total, page, size), request_id)

    async def report(self, request: Request, request_id: str) -> Response:
        """``GET /global/spend/report?start_date=&end_date=&group_by=``: per day (both ends inclusive), the totals
        of every group: ``[{"group_by_day": "2025-06-01", "teams": [{"team_id", "total_spend", ...}]}]``."""
        governance = self.m.governance()
        require_admin(request)
        query = Query(request, ("start_date", "end_date", "group_by"))
        start, end = query.day("start_date"), query.day("end_date")
        if start is None or end is None:
            missing = "start_date" if start is None else "end_date"
            raise BadRequestError(f"missing required parameter: {missing!r}", param=missing)
        if end < start or (end - start).days >= MAX_REPORT_DAYS:
            raise BadRequestError(
                f"end_date must be on or after start_date, at most {MAX_REPORT_DAYS} days later", param="end_date"
            )
        group_by = query.text("group_by") or "team"
        if group_by not in REPORT_GROUPS:
            raise BadRequestError(f"group_by must be one of {', '.join(sorted(REPORT_GROUPS))}", param="group_by")
        kind, plural, name = REPORT_GROUPS[group_by]
        rows = await governance.stores.spend.report(start, end, cast("GroupBy", kind))
        days: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            days[row.day.isoformat()].append(_group(row, name))
        return ok([{"group_by_day": day, plural: groups} for day, groups in days.items()], request_id)


def _group(row: ReportRow, name: str) -> dict[str, Any]:
    return {
        name: row.group,
        "total_spend": money_str(row.cost),
        "requests": row.requests,
        "errors": row.errors,
        "unpriced_requests": row.unpriced,
        "input_tokens": row.input_tokens,
        "cached_tokens": row.cached_tokens,
        "cache_write_tokens": row.cache_write_tokens,
        "output_tokens": row.output_tokens,
        "reasoning_tokens": row.reasoning_tokens,
    }

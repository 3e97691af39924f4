"""``GET /margin``: the margin report (admin only: the master key or an admin key; any other key gets 403).

``GET /margin?start=YYYY-MM-DD&end=YYYY-MM-DD[&customer_id=][&group_by=customer|feature|model|day][&currency=USD]
[&format=json|csv]`` → ``{"start", "end", "currency", "group_by", "rows": [{"customer_id", "revenue", "cost",
"margin", "margin_pct", "requests", "input_tokens", "output_tokens", "unpriced_requests"}], "totals": {...},
"other_currencies": [...]}`` (ARCHITECTURE.md's Economics contract, extended), or the rows as ``text/csv``.
``end`` is inclusive; a bad or missing parameter is a 400 naming it. The numbers and their rules:
``tollway.economics.margin``; the queries: ``tollway.storage.margin_queries``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tollway.errors import BadRequestError
from tollway.proxy.auth import require_admin
from tollway.proxy.management import Management, Query, ok, translated
from tollway.proxy.responses import Checker, Observer, guard

if TYPE_CHECKING:
    from tollway.economics.margin import Grouping
    from tollway.governance.service import Governance

__all__ = ["MarginRoutes", "margin_routes"]

PARAMS = ("start", "end", "customer_id", "group_by", "currency", "format")
FORMATS = ("json", "csv")


def _required_day(query: Query, name: str) -> date:
    value = query.day(name)
    if value is None:
        raise BadRequestError(f"{name} is required (YYYY-MM-DD)", param=name, code="invalid_field")
    return value


def _currency(query: Query) -> str:
    from tollway.economics.currencies import is_currency
    from tollway.economics.margin import check_currency

    code = (query.text("currency") or "USD").upper()
    problem = None if is_currency(code) else f"unknown currency {code!r} (expected an ISO 4217 code such as USD)"
    try:
        check_currency(code)
    except ValueError as error:
        problem = problem or str(error)
    if problem is not None:
        raise BadRequestError(f"currency: {problem}", param="currency", code="invalid_field")
    return code


def _grouping(query: Query) -> Grouping:
    from tollway.economics.margin import GROUPINGS

    value = query.text("group_by") or "customer"
    if value not in GROUPINGS:
        raise BadRequestError(f"group_by must be one of {', '.join(GROUPINGS)}", param="group_by", code="invalid_field")
    grouping: Grouping = value  # type: ignore[assignment]
    return grouping


class MarginRoutes:
    """The margin handler over a ``Management`` context (the running Governance)."""

    def __init__(self, context: Management) -> None:
        self.m = context

    def routes(self) -> list[tuple[str, Callable[[Request, str], object], str]]:
        """(path, handler, method) of every margin route."""
        return [("/margin", self.margin, "GET")]

    async def margin(self, request: Request, request_id: str) -> Response:
        """``GET /margin``: the report as JSON or CSV (see the module docstring)."""
        from tollway.economics.margin_render import to_csv
        from tollway.storage.margin_queries import margin_of

        governance = self.m.governance()
        require_admin(request)
        query = Query(request, PARAMS)
        start, end = _required_day(query, "start"), _required_day(query, "end")
        if end < start:
            raise BadRequestError("end must be on or after start", param="end", code="invalid_field")
        form = query.text("format") or "json"
        if form not in FORMATS:
            raise BadRequestError("format must be json or csv", param="format", code="invalid_field")
        group_by, currency = _grouping(query), _currency(query)
        try:
            report = await margin_of(
                governance.stores.database,
                start,
                end,
                group_by=group_by,
                currency=currency,
                customer_id=query.ident("customer_id"),
            )
        except ValueError as error:  # a period longer than the report allows
            raise BadRequestError(str(error), param="end", code="invalid_field") from None
        if form == "csv":
            name = f"margin_{start.isoformat()}_{end.isoformat()}_{group_by}.csv"
            headers = {"x-request-id": request_id, "content-disposition": f'attachment; filename="{name}"'}
            return Response(to_csv(report), media_type="text/csv; charset=utf-8", headers=headers)
        return ok(report.to_api(), request_id)


def margin_routes(
    governance_getter: Callable[[], Governance],
    auth: Checker | None,
    *,
    max_body_bytes: int,
    body_timeout: float | None = None,
    observer: Callable[[str], Observer] | None = None,
) -> list[BaseRoute]:
    """The margin route behind ``guard`` and the management API's error translation; arguments as
    ``tollway.proxy.routes_revenue.revenue_routes``'s (metrics route name ``management``)."""
    context = Management(governance_getter, max_body_bytes, body_timeout)
    watch = observer("management") if observer is not None else None
    handler = MarginRoutes(context).margin
    return [Route("/margin", guard(translated(handler), auth, observer=watch), methods=["GET"])]

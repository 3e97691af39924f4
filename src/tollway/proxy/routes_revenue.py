"""``POST /revenue``, ``GET /revenue`` and ``DELETE /revenue/{revenue_id}``: what customers paid (admin only: the
master key or an admin key; any other key gets 403).

- ``POST /revenue {"customer_id", "amount": "12.50", "currency": "USD", "date" | "period_start"+"period_end",
  "source"?, "external_id"?, "kind"?: "revenue"|"refund", "metadata"?}`` answers 201 with the new record, or 200
  with the stored one when the same (source, external_id) was recorded before with the same content (never a
  second count); 409 when it was recorded with other values; 400 naming the bad field.
- ``GET /revenue?customer_id=&start=&end=&source=&currency=&kind=&page=&page_size=``: records whose period overlaps
  ``[start, end]`` (inclusive dates), newest first, in the management API's page shape.
- ``DELETE /revenue/{revenue_id}``: removes a record entered by mistake (its external id may then be recorded
  again); answers the record it was.

Every change is audited (``revenue.new``, ``revenue.delete``; target kind ``revenue``, the record's id). Validation
and proration rules: ``tollway.economics.revenue``; storage: ``tollway.storage.revenue_store``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tollway.errors import BadRequestError
from tollway.governance.records import money_str
from tollway.proxy.auth import caller_of, require_admin
from tollway.proxy.management import (
    DEFAULT_PAGE_SIZE,
    AlreadyExistsError,
    Management,
    Query,
    existing,
    ok,
    paged,
    translated,
)
from tollway.proxy.responses import Checker, Observer, Work, guard, json_response

if TYPE_CHECKING:
    from tollway.governance.service import Governance
    from tollway.storage.revenue_store import RevenueStore

__all__ = ["RevenueRoutes", "revenue_routes"]

_LIST_PARAMS = ("customer_id", "start", "end", "source", "currency", "kind", "page", "page_size")


def _store(governance: Governance) -> RevenueStore:
    from tollway.storage.revenue_store import RevenueStore

    return RevenueStore(governance.stores.database)


class RevenueRoutes:
    """The revenue handlers over a ``Management`` context (body limits, the running Governance)."""

    def __init__(self, context: Management) -> None:
        self.m = context

    def routes(self) -> list[tuple[str, Work, str]]:
        """(path, handler, method) of every revenue route."""
        return [
            ("/revenue", self.record, "POST"),
            ("/revenue", self.list, "GET"),
            ("/revenue/{revenue_id}", self.delete, "DELETE"),
        ]

    async def record(self, request: Request, request_id: str) -> Response:
        """``POST /revenue``: 201 and the new record, or 200 and the one recorded before (see the module docstring)."""
        from tollway.economics.revenue import API_FIELDS, parse_revenue
        from tollway.storage.revenue_store import RevenueConflictError

        governance = self.m.governance()
        caller = require_admin(request)
        body = await self.m.payload(request, API_FIELDS)
        record = parse_revenue(body, created_by=caller.name)
        try:
            stored, created = await _store(governance).add(record)
        except RevenueConflictError as error:
            _, found = error.conflicts[0]
            raise AlreadyExistsError(
                f"external_id {record.external_id!r} of source {record.source!r} is already recorded with other values "
                f"(revenue id {found.id}: {found.kind} {money_str(found.amount)} {found.currency} "
                f"for {found.customer_id!r}, {found.period_start}..{found.period_end})",
                param="external_id",
                code="revenue_conflict",
            ) from None
        if not created:
            return ok(stored.to_api(), request_id)
        actor = caller_of(request).name
        await governance.stores.audit.append(actor, "revenue.new", "revenue", stored.id, after=stored.to_api())
        return json_response(stored.to_api(), 201, {"x-request-id": request_id})

    async def list(self, request: Request, request_id: str) -> Response:
        """``GET /revenue``: one page of records, newest first."""
        governance = self.m.governance()
        require_admin(request)
        query = Query(request, _LIST_PARAMS)
        start, end = query.day("start"), query.day("end")
        if start is not None and end is not None and end < start:
            raise BadRequestError("end must be on or after start", param="end", code="invalid_field")
        kind = query.text("kind")
        if kind is not None and kind not in ("revenue", "refund"):
            raise BadRequestError("kind must be 'revenue' or 'refund'", param="kind", code="invalid_field")
        currency = query.text("currency")
        page, size = query.number("page", 1, high=10**9), query.number("page_size", DEFAULT_PAGE_SIZE)
        records, total = await _store(governance).query(
            customer_id=query.ident("customer_id"),
            start=start,
            end=end,
            source=query.text("source"),
            currency=None if currency is None else currency.upper(),
            kind=kind,
            page=page,
            page_size=size,
        )
        return ok(paged([record.to_api() for record in records], total, page, size), request_id)

    async def delete(self, request: Request, request_id: str) -> Response:
        """``DELETE /revenue/{revenue_id}``: the deleted record (404 when there is none)."""
        governance = self.m.governance()
        caller = require_admin(request)
        ident = str(request.path_params["revenue_id"])
        store = _store(governance)
        await existing(store.get, ident, "revenue", param="revenue_id")
        before = await store.delete(ident)
        await governance.stores.audit.append(caller.name, "revenue.delete", "revenue", ident, before=before.to_api())
        return ok({"deleted": before.to_api()}, request_id)


def revenue_routes(
    governance_getter: Callable[[], Governance],
    auth: Checker | None,
    *,
    max_body_bytes: int,
    body_timeout: float | None = None,
    observer: Callable[[str], Observer] | None = None,
) -> list[BaseRoute]:
    """The revenue routes, each behind ``guard`` (authentication, error envelopes) and the management API's error
    translation; arguments as ``tollway.proxy.management.management_routes``'s (metrics route name ``management``)."""
    context = Management(governance_getter, max_body_bytes, body_timeout)
    routes: list[BaseRoute] = []
    for path, work, method in RevenueRoutes(context).routes():
        watch = observer("management") if observer is not None else None
        routes.append(Route(path, guard(translated(work), auth, observer=watch), methods=[method]))
    return routes

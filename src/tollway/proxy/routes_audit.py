"""``GET /audit/logs``: the audit log of every management action (who, when, what, before and after, secrets
redacted), newest first, paginated. Admin only. The log is append-only: no route changes or deletes a row."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from tollway.governance.keys import token_hash_of
from tollway.proxy.auth import require_admin
from tollway.proxy.management import DEFAULT_PAGE_SIZE, Management, Query, RouteSpec, ok, paged

__all__ = ["AuditRoutes"]

_PARAMS = ("target_kind", "target_id", "actor", "action", "start", "end", "page", "page_size")


class AuditRoutes:
    """The audit handler."""

    def __init__(self, context: Management) -> None:
        self.m = context

    def routes(self) -> list[RouteSpec]:
        """(path, handler, method) of the audit route."""
        return [("/audit/logs", self.logs, "GET")]

    async def logs(self, request: Request, request_id: str) -> Response:
        """``GET /audit/logs?target_kind=&target_id=&actor=&action=&start=&end=&page=&page_size=``:
        ``{"data", "total", "page", "page_size", "total_pages"}``. A key target is its ``key_id`` (or, while the key
        exists, the key or its hash); a date as ``end`` includes that whole day."""
        governance = self.m.governance()
        require_admin(request)
        query = Query(request, _PARAMS)
        kind, target = query.text("target_kind"), query.text("target_id")
        if kind == "key" and target is not None:
            # Keys are audited under their key_id; the key itself or its hash names it too while it exists.
            found = await governance.stores.keys.get(token_hash_of(target))
            target = found.key_id if found is not None else target
        page, size = query.number("page", 1, high=10**9), query.number("page_size", DEFAULT_PAGE_SIZE)
        entries, total = await governance.stores.audit.query(
            actor=query.text("actor"),
            action=query.text("action"),
            target_kind=kind,
            target_id=target,
            start=query.moment("start"),
            end=query.moment("end", end=True),
            page=page,
            page_size=size,
        )
        return ok(paged([entry.to_api() for entry in entries], total, page, size), request_id)

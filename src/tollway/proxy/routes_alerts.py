"""The alerts API (admin only: the master key or an admin key; any other key gets 403; 503 without a database).

- ``POST /alerts/rules {name, kind, scope, channels, thresholds | margin_pct | factor, period_days, min_amount,
  enabled}`` → 201, the rule (``tollway.economics.alerts`` has the fields, defaults and limits) plus
  ``generated_secrets``: the webhook secrets the gateway made, in full, shown this once.
- ``GET /alerts/rules?kind=&enabled=&page=&page_size=`` → one page of rules, newest first (the management API's
  page shape); ``GET /alerts/rules/{rule_id}`` → one rule.
- ``PATCH /alerts/rules/{rule_id} {fields to change}`` → the rule after (``channels``, when given, replaces every
  channel; the kind cannot change); ``DELETE /alerts/rules/{rule_id}`` → ``{"deleted": rule}`` (its history stays).
- ``POST /alerts/rules/{rule_id}/test`` → the test event, after trying every channel once and retrying as a real
  alert would: ``{"status": "delivered" | "failed", "deliveries": [...]}`` (200 either way: the outcome is the answer).
- ``GET /alerts/history?rule_id=&status=pending|delivered|failed|suppressed&limit=&offset=`` → ``{"data": [events,
  newest first, each with its deliveries], "total", "limit", "offset"}``.

Secrets (webhook secrets, SMTP passwords, Slack and webhook URL paths) are never answered in full (except a generated
secret, once). REST paths, not LiteLLM's ``/update`` and ``/delete`` verbs: LiteLLM has no alert rules API to be
compatible with. Bad input is a 400 naming the field (``channels[0].url``), an unknown rule a 404, a body over the
gateway's limit a 413. Changes are audited (``alert_rule.new``, ``alert_rule.update``, ``alert_rule.delete``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tollway.errors import BadRequestError
from tollway.proxy.auth import require_admin
from tollway.proxy.management import DEFAULT_PAGE_SIZE, Management, Query, existing, ident, ok, paged, translated
from tollway.proxy.responses import Checker, Observer, Work, guard, json_response

if TYPE_CHECKING:
    from tollway.economics.alerts import AlertRule
    from tollway.economics.alerts_engine import AlertEngine, Alerting
    from tollway.governance.service import Governance
    from tollway.storage.alert_store import AlertStore

__all__ = ["AlertRoutes", "alert_routes", "alerting_of"]

_RULE_PARAMS = ("kind", "enabled", "page", "page_size")
_HISTORY_PARAMS = ("rule_id", "status", "limit", "offset")


class AlertRoutes:
    """The alert handlers over a ``Management`` context and the gateway's ``Alerting`` (its delivery settings)."""

    def __init__(self, context: Management, alerting: Alerting | None = None) -> None:
        from tollway.economics.alerts_engine import Alerting, AlertSettings

        self.m = context
        self.alerting = alerting if alerting is not None else Alerting(AlertSettings())

    def routes(self) -> list[tuple[str, Work, str]]:
        """(path, handler, method) of every alert route."""
        return [
            ("/alerts/rules", self.create, "POST"),
            ("/alerts/rules", self.list, "GET"),
            ("/alerts/rules/{rule_id}", self.get, "GET"),
            ("/alerts/rules/{rule_id}", self.update, "PATCH"),
            ("/alerts/rules/{rule_id}", self.delete, "DELETE"),
            ("/alerts/rules/{rule_id}/test", self.test, "POST"),
            ("/alerts/history", self.history, "GET"),
        ]

    def _engine(self, governance: Governance) -> AlertEngine:
        return self.alerting.engine(governance)

    def _store(self, governance: Governance) -> AlertStore:
        return self._engine(governance).store

    @property
    def _smtp_default(self) -> bool:
        return self.alerting.settings.delivery.smtp is not None

    async def _rule(self, governance: Governance, request: Request) -> AlertRule:
        rule_id = ident(request.path_params["rule_id"], "rule_id")
        return await existing(self._store(governance).get_rule, rule_id, "alert rule", param="rule_id")

    async def create(self, request: Request, request_id: str) -> Response:
        """``POST /alerts/rules``: 201 and the new rule (with any generated secret, once)."""
        from tollway.economics.alerts import RULE_FIELDS, parse_rule
        from tollway.storage.alert_store import new_id

        governance = self.m.governance()
        caller = require_admin(request)
        body = await self.m.payload(request, RULE_FIELDS)
        rule = parse_rule(
            body, rule_id=new_id(), now=self.m.clock(), created_by=caller.name, smtp_default=self._smtp_default
        )
        await self._store(governance).create_rule(rule)
        await governance.stores.audit.append(caller.name, "alert_rule.new", "alert_rule", rule.id, after=rule.to_api())
        answer = {**rule.to_api(), "generated_secrets": rule.generated_secrets()}
        return json_response(answer, 201, {"x-request-id": request_id})

    async def list(self, request: Request, request_id: str) -> Response:
        """``GET /alerts/rules``: one page of rules."""
        from tollway.economics.alerts import KINDS

        governance = self.m.governance()
        require_admin(request)
        query = Query(request, _RULE_PARAMS)
        kind = query.text("kind")
        if kind is not None and kind not in KINDS:
            raise BadRequestError(f"kind must be one of {', '.join(KINDS)}", param="kind", code="invalid_field")
        enabled = None if query.text("enabled") is None else query.flag("enabled")
        page, size = query.number("page", 1, high=10**9), query.number("page_size", DEFAULT_PAGE_SIZE)
        rules, total = await self._store(governance).rules(kind=kind, enabled=enabled, page=page, page_size=size)
        return ok(paged([rule.to_api() for rule in rules], total, page, size), request_id)

    async def get(self, request: Request, request_id: str) -> Response:
        """``GET /alerts/rules/{rule_id}``: the rule, secrets redacted."""
        governance = self.m.governance()
        require_admin(request)
        return ok((await self._rule(governance, request)).to_api(), request_id)

    async def update(self, request: Request, request_id: str) -> Response:
        """``PATCH /alerts/rules/{rule_id}``: the rule after the change."""
        from tollway.economics.alerts import RULE_FIELDS, apply_changes

        governance = self.m.governance()
        caller = require_admin(request)
        body = await self.m.payload(request, RULE_FIELDS, empty_ok=True)
        before = await self._rule(governance, request)
        after = apply_changes(before, body, now=self.m.clock(), updated_by=caller.name, smtp_default=self._smtp_default)
        await self._store(governance).update_rule(after)
        await governance.stores.audit.append(
            caller.name, "alert_rule.update", "alert_rule", after.id, before=before.to_api(), after=after.to_api()
        )
        return ok({**after.to_api(), "generated_secrets": after.generated_secrets()}, request_id)

    async def delete(self, request: Request, request_id: str) -> Response:
        """``DELETE /alerts/rules/{rule_id}``: the rule it was."""
        governance = self.m.governance()
        caller = require_admin(request)
        rule = await self._rule(governance, request)
        before = await self._store(governance).delete_rule(rule.id)
        await governance.stores.audit.append(
            caller.name, "alert_rule.delete", "alert_rule", rule.id, before=before.to_api()
        )
        return ok({"deleted": before.to_api()}, request_id)

    async def test(self, request: Request, request_id: str) -> Response:
        """``POST /alerts/rules/{rule_id}/test``: send a test alert to the rule's channels; the recorded event."""
        governance = self.m.governance()
        require_admin(request)
        await self.m.payload(request, (), empty_ok=True)
        rule = await self._rule(governance, request)
        event: dict[str, Any] = await self._engine(governance).trial(rule)
        return ok(event, request_id)

    async def history(self, request: Request, request_id: str) -> Response:
        """``GET /alerts/history``: events, newest first, with their deliveries."""
        from tollway.storage.alert_store import EVENT_STATUSES

        governance = self.m.governance()
        require_admin(request)
        query = Query(request, _HISTORY_PARAMS)
        status = query.text("status")
        if status is not None and status not in EVENT_STATUSES:
            message = f"status must be one of {', '.join(EVENT_STATUSES)}"
            raise BadRequestError(message, param="status", code="invalid_field")
        limit = query.number("limit", DEFAULT_PAGE_SIZE)
        offset = query.number("offset", 0, low=0, high=10**9)
        events, total = await self._store(governance).history(
            rule_id=query.ident("rule_id"), status=status, limit=limit, offset=offset
        )
        return ok({"data": events, "total": total, "limit": limit, "offset": offset}, request_id)


def alert_routes(
    governance_getter: Callable[[], Governance],
    auth: Checker | None,
    *,
    max_body_bytes: int,
    body_timeout: float | None = None,
    observer: Callable[[str], Observer] | None = None,
    alerting: Alerting | None = None,
) -> list[BaseRoute]:
    """The alert routes, each behind ``guard`` and the management API's error translation; arguments as
    ``tollway.proxy.routes_revenue.revenue_routes``'s, plus the gateway's ``alerting`` (its delivery settings and
    SMTP server; defaults when None). Metrics route name ``management``."""
    context = Management(governance_getter, max_body_bytes, body_timeout)
    routes: list[BaseRoute] = []
    for path, work, method in AlertRoutes(context, alerting).routes():
        watch = observer("management") if observer is not None else None
        routes.append(Route(path, guard(translated(work), auth, observer=watch), methods=[method]))
    return routes


def alerting_of(settings: Mapping[str, Any]) -> Alerting:
    """The gateway's ``Alerting`` from its config's ``general_settings`` (``tollway.economics.alerts_engine`` has
    the names); ``StartupError`` naming a bad setting."""
    from tollway.economics.alerts_engine import Alerting, AlertSettings
    from tollway.proxy.settings import StartupError

    try:
        return Alerting(AlertSettings.from_config(settings))
    except ValueError as error:
        raise StartupError(str(error)) from None

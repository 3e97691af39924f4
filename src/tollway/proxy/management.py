"""The management API (LiteLLM's ``/key/*``, ``/user/*``, ``/team/*``, ``/customer/*``, ``/spend/*``, ``/audit/logs``):
``management_routes`` builds its route table; the rest of this module is what every management handler shares.

- Payloads: read with the gateway's body limit; unknown fields are refused (400 naming them, with the closest known
  name), so a typo such as ``max_budjet`` never passes silently. Field parsers take ``(value, field name)`` and raise
  ``InvalidFieldError``; ``null`` means "not set" on create and "clear" on update (where the field can be cleared).
- Errors are translated at one boundary (``translated``): an invalid field is a 400 naming it, a duplicate id or alias
  a 409 (``AlreadyExistsError``), a missing row a 404, an unreachable database a 503.
- Every change is followed, after its commit, by ``Governance.invalidate`` (every instance drops its cached copy)
  and by an audit row naming the caller, with the record's values before and after (the audit log redacts them);
  keys are audited under their ``key_id``, so no whole token hash is ever in the audit log.
- Roles: the master key and admin keys may do everything; a team-admin key manages the keys of its own team
  (``managed_team``); any key may read its own ``/key/info`` and its own spend logs.
"""

from __future__ import annotations

import difflib
import logging
import math
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tollway.errors import BadRequestError, NotFoundError, PermissionDeniedError, ServiceUnavailableError, TollwayError
from tollway.governance.records import InvalidFieldError, Limits, limits_changes, money_str
from tollway.proxy.auth import Caller, caller_of
from tollway.proxy.body import parse_json, read_body
from tollway.proxy.responses import Checker, Observer, Work, guard, json_response
from tollway.storage.database import ConflictError, RecordNotFoundError, database_errors

if TYPE_CHECKING:
    from tollway.governance.service import Governance

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "UNSET",
    "AlreadyExistsError",
    "Management",
    "Parser",
    "Query",
    "RouteSpec",
    "check_fields",
    "choice",
    "existing",
    "flag",
    "ident",
    "ident_list",
    "managed_team",
    "management_routes",
    "ok",
    "optional_ident",
    "optional_text",
    "paged",
    "parse_changes",
    "spend_fields",
    "translated",
    "with_limits",
]

logger = logging.getLogger("tollway.proxy.management")

UNSET: Any = object()
"""What a parser returns for ``null`` in a field that cannot be cleared: the field is left as it is."""

ID_LENGTH = 128  # the id columns' length (tollway.storage.schema.ID)
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

Parser = Callable[[Any, str], Any]
T = TypeVar("T")


class AlreadyExistsError(TollwayError):
    """A create or update would duplicate a unique value (an id, a key alias, a key): HTTP 409."""

    status_code = 409
    type = "invalid_request_error"
    default_code = "already_exists"


# -- field parsers: (value, field name) -> value, InvalidFieldError naming the field --------------------------------


def check_fields(payload: Mapping[str, Any], allowed: Collection[str]) -> None:
    """400 naming the payload's unknown fields (and the closest known name, for a typo)."""
    unknown = sorted(name for name in payload if name not in allowed)
    if not unknown:
        return
    hint = difflib.get_close_matches(unknown[0], list(allowed), n=1, cutoff=0.75)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    names = ", ".join(repr(name) for name in unknown)
    raise BadRequestError(
        f"unknown field{'s' if len(unknown) > 1 else ''} {names}{suggestion}", param=unknown[0], code="unknown_field"
    )


def ident(value: Any, name: str) -> str:
    """An entity id: 1 to 128 printable characters without surrounding spaces."""
    if not isinstance(value, str) or not value:
        raise InvalidFieldError(name, "expected a non-empty string")
    if len(value) > ID_LENGTH or not value.isprintable() or value.strip() != value:
        raise InvalidFieldError(name, f"expected at most {ID_LENGTH} printable characters without surrounding spaces")
    return value


def optional_ident(value: Any, name: str) -> str | None:
    """An id, or None (``null`` clears the reference)."""
    return None if value is None else ident(value, name)


def optional_text(max_length: int) -> Parser:
    """A parser of a free-text field of at most ``max_length`` characters (``null`` clears it)."""

    def parse(value: Any, name: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise InvalidFieldError(name, f"expected a string, got {type(value).__name__}")
        if len(value) > max_length:
            raise InvalidFieldError(name, f"at most {max_length} characters")
        return value

    return parse


def flag(value: Any, name: str) -> Any:
    """``true`` or ``false`` (``null``: unchanged)."""
    if value is None:
        return UNSET
    if not isinstance(value, bool):
        raise InvalidFieldError(name, f"expected true or false, got {type(value).__name__}")
    return value


def choice(options: Collection[str], *, nullable: bool = False) -> Parser:
    """A parser of one of ``options`` (``null``: unchanged, or cleared when ``nullable``)."""

    def parse(value: Any, name: str) -> Any:
        if value is None:
            return None if nullable else UNSET
        if value not in options:
            raise InvalidFieldError(name, f"expected one of {', '.join(repr(o) for o in sorted(options))}")
        return value

    return parse


def ident_list(value: Any, name: str) -> list[str]:
    """A non-empty list of ids, duplicates dropped (order kept)."""
    if not isinstance(value, list) or not value:
        raise InvalidFieldError(name, "expected a non-empty list of ids")
    if len(value) > MAX_PAGE_SIZE:
        raise InvalidFieldError(name, f"at most {MAX_PAGE_SIZE} ids at once")
    return list(dict.fromkeys(ident(item, f"{name}[{index}]") for index, item in enumerate(value)))


def parse_changes(payload: Mapping[str, Any], parsers: Mapping[str, Parser]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record fields a payload sets (only the fields present; UNSET ones dropped) and its limit changes
    (``tollway.governance.records.limits_changes``: None clears a limit)."""
    fields = {name: parse(payload[name], name) for name, parse in parsers.items() if name in payload}
    return {name: value for name, value in fields.items() if value is not UNSET}, limits_changes(payload)


def with_limits(limits: Limits, changes: Mapping[str, Any]) -> Limits:
    """``limits`` with ``changes`` applied."""
    from dataclasses import replace

    return replace(limits, **changes) if changes else limits


# -- query strings ------------------------------------------------------------------------------------------------


class Query:
    """A request's query parameters, with unknown names refused (400) and typed getters (400 naming the bad one)."""

    def __init__(self, request: Request, allowed: Collection[str]) -> None:
        params = request.query_params
        check_fields(dict.fromkeys(params), allowed)
        for name in params:
            if len(params.getlist(name)) > 1:
                raise BadRequestError(
                    f"query parameter {name!r} given more than once", param=name, code="invalid_field"
                )
        self._params = params

    def text(self, name: str, *aliases: str) -> str | None:
        """The parameter (or the first alias present), None when absent or empty."""
        for candidate in (name, *aliases):
            value = self._params.get(candidate)
            if value:
                return value
        return None

    def ident(self, name: str, *aliases: str) -> str | None:
        """An id parameter (checked like a payload id)."""
        value = self.text(name, *aliases)
        return None if value is None else ident(value, name)

    def number(self, name: str, default: int, *, low: int = 1, high: int = MAX_PAGE_SIZE) -> int:
        """A whole number in ``low..high``."""
        value = self.text(name)
        if value is None:
            return default
        if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
            raise InvalidFieldError(name, f"expected a whole number from {low} to {high}")
        return int(value)

    def flag(self, name: str) -> bool:
        """``true``/``false`` (absent: false)."""
        value = (self.text(name) or "false").lower()
        if value not in ("true", "false", "1", "0"):
            raise InvalidFieldError(name, "expected true or false")
        return value in ("true", "1")

    def moment(self, name: str, *, end: bool = False) -> datetime | None:
        """A date (``2025-06-01``) or an ISO 8601 time (UTC when it has no offset). A date given as an end is the
        whole day: the instant returned is the next midnight (ends are exclusive)."""
        value = self.text(name)
        if value is None:
            return None
        try:
            if len(value) == 10:
                day = date.fromisoformat(value)
                return datetime.combine(day + timedelta(days=1 if end else 0), datetime.min.time(), UTC)
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidFieldError(name, "expected a date (YYYY-MM-DD) or an ISO 8601 time") from None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    def day(self, name: str) -> date | None:
        """A date (``2025-06-01``); an ISO time counts as its UTC date."""
        moment = self.moment(name)
        return None if moment is None else moment.date()


def paged(items: list[Any], total: int, page: int, page_size: int, name: str = "data") -> dict[str, Any]:
    """One page in LiteLLM's list shape: ``{name: items, total, page, page_size, total_pages}``."""
    return {
        name: items,
        "total": total,
        "page": page,
        "page_size": page_size,
        "total_pages": math.ceil(total / page_size) if total else 0,
    }


# -- roles ----------------------------------------------------------------------------------------------------------


def managed_team(caller: Caller) -> str | None:
    """Whose keys the caller may manage: None = every key (an admin), else the team of a team-admin key; 403 for
    any other caller."""
    if caller.admin:
        return None
    principal = caller.principal
    if caller.role == "team_admin" and principal is not None and principal.key.team_id is not None:
        return principal.key.team_id
    raise PermissionDeniedError("this route needs an admin key or a team admin key", code="admin_only")


# -- lookups --------------------------------------------------------------------------------------------------------


async def existing(get: Callable[[str], Awaitable[T | None]], ident_: str, kind: str, *, param: str | None = None) -> T:
    """The record ``get(ident_)`` returns, or a 404 naming ``param`` (default ``{kind}_id``)."""
    record = await get(ident_)
    if record is None:
        raise NotFoundError(f"{kind} {ident_!r} not found", param=param or f"{kind}_id", code=f"{kind}_not_found")
    return record


# -- the handlers' context ------------------------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Management:
    """What every management handler uses: the running ``Governance`` (``governance()`` raises the 503 when the
    gateway runs without a database), the body limits, and a clock."""

    governance: Callable[[], Governance]
    max_body_bytes: int
    body_timeout: float | None = None
    clock: Callable[[], datetime] = _utcnow

    async def payload(self, request: Request, allowed: Collection[str], *, empty_ok: bool = False) -> dict[str, Any]:
        """The request's JSON object, with unknown fields refused (an empty body is ``{}`` when ``empty_ok``)."""
        raw = await read_body(request, self.max_body_bytes, self.body_timeout)
        body = {} if empty_ok and not raw.strip() else parse_json(raw)
        check_fields(body, allowed)
        return body

    async def changed(
        self,
        governance: Governance,
        request: Request,
        action: str,
        target: tuple[str, str],
        *,
        before: Any,
        after: Any,
        note: str | None = None,
        cached: str | None = None,
    ) -> None:
        """After a committed change: drop the cached copies on every instance, then write the audit row.
        ``target`` is (kind, id) (a key's id is its ``key_id``); ``cached`` the cache's name for the record when
        it is not that id (a key's token hash); ``action`` e.g. ``"key.update"``."""
        kind, target_id = target
        await governance.invalidate(kind, cached or target_id)
        actor = caller_of(request).name
        await governance.stores.audit.append(actor, action, kind, target_id, before=before, after=after, note=note)


async def spend_fields(governance: Governance, scope: str, limits: Limits, now: datetime) -> dict[str, Any]:
    """Live spend of a counter scope (``"key:<hash>"``, ``"team:t1"``...): ``spend`` (lifetime) and, for a budget
    with a ``budget_duration``, ``budget_period_spend`` and ``budget_reset_at`` (the current period's end)."""
    from tollway.governance.durations import period_of

    fields: dict[str, Any] = {"spend": money_str(await governance.live_spend(scope))}
    if limits.budget_duration is not None:
        period = period_of(limits.budget_duration, now)
        fields["budget_period_spend"] = money_str(await governance.live_spend(scope, period.label))
        fields["budget_reset_at"] = None if period.end is None else period.end.isoformat()
    return fields


def ok(data: Any, request_id: str, headers: Mapping[str, str] | None = None) -> Response:
    """A 200 JSON answer carrying the request id."""
    return json_response(data, 200, {"x-request-id": request_id, **(headers or {})})


def translated(work: Work) -> Work:
    """``work`` with the store's and the records' errors turned into the API's (see the module docstring)."""

    async def run(request: Request, request_id: str) -> Response:
        try:
            return await work(request, request_id)
        except InvalidFieldError as error:
            raise BadRequestError(str(error), param=error.field, code="invalid_field") from None
        except ConflictError as error:
            param = "key" if error.field == "token_hash" else error.field
            raise AlreadyExistsError(str(error), param=param) from None
        except RecordNotFoundError as error:
            raise NotFoundError(str(error), code=f"{error.kind.replace(' ', '_')}_not_found") from None
        except database_errors() as error:
            logger.warning("management request %s: database unavailable (%s)", request_id, type(error).__name__)
            raise ServiceUnavailableError("the database is unreachable", code="database_unavailable") from None

    return run


# -- the route table ------------------------------------------------------------------------------------------------

RouteSpec = tuple[str, Callable[[Request, str], Awaitable[Response]], str]


def management_routes(
    governance: Callable[[], Governance],
    auth: Checker | None,
    *,
    max_body_bytes: int,
    body_timeout: float | None = None,
    observer: Callable[[str], Observer] | None = None,
) -> list[BaseRoute]:
    """Every management route, each behind ``guard`` (authentication, error envelopes).

    ``governance()`` returns the running Governance or raises ``ServiceUnavailableError`` (no database configured);
    ``auth`` authenticates (None: no authentication, every caller is the master); ``max_body_bytes`` and
    ``body_timeout`` are the gateway's body limits; ``observer(route_name)`` gives the metrics observer of a route
    (``GatewayMetrics.route``).
    """
    from tollway.proxy.routes_audit import AuditRoutes
    from tollway.proxy.routes_entities import CustomerRoutes, UserRoutes
    from tollway.proxy.routes_keys import KeyRoutes
    from tollway.proxy.routes_spend import SpendRoutes
    from tollway.proxy.routes_teams import TeamRoutes

    context = Management(governance, max_body_bytes, body_timeout)
    specs: list[RouteSpec] = [
        *KeyRoutes(context).routes(),
        *UserRoutes(context).routes(),
        *TeamRoutes(context).routes(),
        *CustomerRoutes(context).routes(),
        *SpendRoutes(context).routes(),
        *AuditRoutes(context).routes(),
    ]
    routes: list[BaseRoute] = []
    for path, work, method in specs:
        watch = observer("management") if observer is not None else None
        routes.append(Route(path, guard(translated(work), auth, observer=watch), methods=[method]))
    return routes

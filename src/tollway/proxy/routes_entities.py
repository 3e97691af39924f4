"""``/user/*`` (internal users, who hold keys) and ``/customer/*`` (the end users of the caller's product), with
LiteLLM's paths and fields. Admin only.

Deleting a user deletes its keys too (as LiteLLM does): a key must not outlive the budget it was bound by.
A customer need not be created to be served (unknown customers get the default customer limits), so
``/customer/block`` blocks a customer not created yet by creating it blocked.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from tollway.errors import BadRequestError
from tollway.governance.records import (
    LIMIT_FIELDS,
    CustomerRecord,
    InvalidFieldError,
    Limits,
    UserRecord,
    json_object,
    str_list,
)
from tollway.proxy.auth import require_admin
from tollway.proxy.entity_routes import EntityRoutes
from tollway.proxy.management import (
    MAX_PAGE_SIZE,
    Parser,
    Query,
    RouteSpec,
    choice,
    existing,
    flag,
    ident,
    ident_list,
    ok,
    optional_ident,
    optional_text,
    paged,
    parse_changes,
)
from tollway.proxy.routes_keys import delete_keys_of

if TYPE_CHECKING:
    from tollway.governance.service import Governance
    from tollway.storage.entities import CustomerStore, UserStore

__all__ = ["CUSTOMER_FIELDS", "USER_FIELDS", "USER_ROLES", "CustomerRoutes", "UserRoutes"]

# LiteLLM's user roles. A user's role is recorded for LiteLLM compatibility; what a caller may do is its key's role.
USER_ROLES = ("proxy_admin", "proxy_admin_viewer", "internal_user", "internal_user_viewer", "team", "customer")
REGIONS = ("eu", "us")  # LiteLLM's allowed_model_region values


def _email(value: Any, name: str) -> str | None:
    text: str | None = optional_text(320)(value, name)
    if text is not None and "@" not in text:
        raise InvalidFieldError(name, "expected an email address")
    return text


_USER_PARSERS: dict[str, Parser] = {
    "user_email": _email,
    "user_role": choice(USER_ROLES),
    "models": str_list,
    "blocked": flag,
    "metadata": json_object,
}
USER_FIELDS = frozenset({*_USER_PARSERS, *LIMIT_FIELDS, "user_id"})
"""What ``/user/update`` accepts; ``/user/new`` also takes ``teams`` (team ids to join)."""

_CUSTOMER_PARSERS: dict[str, Parser] = {
    "alias": optional_text(256),
    "blocked": flag,
    "plan": optional_text(64),
    "metadata": json_object,
    "stripe_customer_id": optional_ident,
    "allowed_model_region": choice(REGIONS, nullable=True),
    "default_model": optional_text(256),
}
CUSTOMER_FIELDS = frozenset({*_CUSTOMER_PARSERS, *LIMIT_FIELDS, "customer_id", "user_id"})
"""What ``/customer/new`` and ``/customer/update`` accept (``user_id`` is LiteLLM's name for the customer id)."""


class UserRoutes(EntityRoutes[UserRecord]):
    """The ``/user/*`` handlers."""

    kind, id_field, fields, parsers = "user", "user_id", USER_FIELDS, _USER_PARSERS

    def routes(self) -> list[RouteSpec]:
        """(path, handler, method) of every user route."""
        return [
            ("/user/new", self.new, "POST"),
            ("/user/update", self.update, "POST"),
            ("/user/delete", self.delete, "POST"),
            ("/user/info", self.info, "GET"),
            ("/user/list", self.list_users, "GET"),
        ]

    def store(self, governance: Governance) -> UserStore:
        """The users' store."""
        return governance.stores.users

    async def delete_keys(self, governance: Governance, request: Request, ident_: str) -> int:
        """A deleted user's keys go too."""
        return await delete_keys_of(self.m, governance, request, user_id=ident_)

    async def new(self, request: Request, request_id: str) -> Response:
        """``POST /user/new``: a user (``user_id`` generated when absent), added to ``teams`` as a member."""
        governance = self.m.governance()
        caller = require_admin(request)
        body = await self.m.payload(request, USER_FIELDS | {"teams"})
        fields, limits = parse_changes(body, _USER_PARSERS)
        user_id = str(uuid.uuid4()) if body.get("user_id") is None else ident(body["user_id"], "user_id")
        teams = [] if body.get("teams") is None else ident_list(body["teams"], "teams")
        for team_id in teams:
            await existing(governance.stores.teams.get, team_id, "team", param="teams")
        record = UserRecord(user_id=user_id, limits=Limits(**limits), **self.stamps(caller), **fields)
        await self.create(governance, request, record)
        for team_id in teams:
            before = await governance.stores.teams.get(team_id)
            await governance.stores.teams.add_member(team_id, user_id)
            after = await governance.stores.teams.get(team_id)
            await self.m.changed(governance, request, "team.member_add", ("team", team_id), before=before, after=after)
        return ok({**record.to_api(), "teams": teams}, request_id)

    async def delete(self, request: Request, request_id: str) -> Response:
        """``POST /user/delete {"user_ids": [...]}``: the users, their memberships and their keys."""
        governance = self.m.governance()
        require_admin(request)
        body = await self.m.payload(request, ("user_ids",))
        user_ids = ident_list(body.get("user_ids"), "user_ids")
        keys = await self.delete_all(governance, request, user_ids, "user_ids")
        return ok({"deleted_users": user_ids, "deleted_keys": keys}, request_id)

    async def info(self, request: Request, request_id: str) -> Response:
        """``GET /user/info?user_id=``: LiteLLM's shape, with the user's live spend, keys and teams."""
        governance = self.m.governance()
        require_admin(request)
        user_id = Query(request, ("user_id",)).ident("user_id")
        if user_id is None:
            raise BadRequestError("missing required parameter: 'user_id'", param="user_id")
        record = await self.found(governance, user_id)
        keys, _ = await governance.stores.keys.list(user_id=user_id, page_size=MAX_PAGE_SIZE)
        teams, _ = await governance.stores.teams.list(user_id=user_id, page_size=MAX_PAGE_SIZE)
        return ok(
            {
                "user_id": user_id,
                "user_info": await self.with_spend(governance, record),
                "keys": [key.to_api() for key in keys],
                "teams": [team.to_api() for team in teams],
            },
            request_id,
        )

    async def list_users(self, request: Request, request_id: str) -> Response:
        """``GET /user/list?role=&team_id=&page=&page_size=``: ``{"users", "total", "page", "page_size",
        "total_pages"}`` as LiteLLM answers."""
        governance = self.m.governance()
        require_admin(request)
        query = Query(request, ("role", "team_id", "page", "page_size"))
        role = query.text("role")
        if role is not None:
            choice(USER_ROLES)(role, "role")
        page, size = query.number("page", 1, high=10**9), query.number("page_size", 25)
        users, total = await governance.stores.users.list(
            user_role=role, team_id=query.ident("team_id"), page=page, page_size=size
        )
        return ok(paged([user.to_api() for user in users], total, page, size, "users"), request_id)


class CustomerRoutes(EntityRoutes[CustomerRecord]):
    """The ``/customer/*`` handlers."""

    kind, id_field, fields, parsers = "customer", "customer_id", CUSTOMER_FIELDS, _CUSTOMER_PARSERS

    def routes(self) -> list[RouteSpec]:
        """(path, handler, method) of every customer route."""
        return [
            ("/customer/new", self.new, "POST"),
            ("/customer/update", self.update, "POST"),
            ("/customer/delete", self.delete, "POST"),
            ("/customer/info", self.info, "GET"),
            ("/customer/list", self.list_customers, "GET"),
            ("/customer/block", self.block, "POST"),
            ("/customer/unblock", self.unblock, "POST"),
        ]

    def store(self, governance: Governance) -> CustomerStore:
        """The customers' store."""
        return governance.stores.customers

    def named(self, body: Mapping[str, Any]) -> str:
        """``customer_id`` or LiteLLM's ``user_id``."""
        return _customer_id(body)

    async def new(self, request: Request, request_id: str) -> Response:
        """``POST /customer/new {"user_id" or "customer_id", ...}``: the customer created."""
        governance = self.m.governance()
        caller = require_admin(request)
        body = await self.m.payload(request, CUSTOMER_FIELDS)
        customer_id = _customer_id(body)
        fields, limits = parse_changes(body, _CUSTOMER_PARSERS)
        record = CustomerRecord(customer_id=customer_id, limits=Limits(**limits), **self.stamps(caller), **fields)
        await self.create(governance, request, record)
        return ok(record.to_api(), request_id)

    async def delete(self, request: Request, request_id: str) -> Response:
        """``POST /customer/delete {"user_ids": [...]}`` (LiteLLM) or ``{"customer_ids": [...]}``."""
        governance = self.m.governance()
        require_admin(request)
        ids = _customer_ids(await self.m.payload(request, ("user_ids", "customer_ids")))
        await self.delete_all(governance, request, ids, "user_ids")
        return ok({"deleted_customers": ids}, request_id)

    async def info(self, request: Request, request_id: str) -> Response:
        """``GET /customer/info?customer_id=`` (or LiteLLM's ``end_user_id=``): the customer with its live spend."""
        governance = self.m.governance()
        require_admin(request)
        customer_id = Query(request, ("customer_id", "end_user_id")).ident("customer_id", "end_user_id")
        if customer_id is None:
            raise BadRequestError("missing required parameter: 'customer_id'", param="customer_id")
        return ok(await self.with_spend(governance, await self.found(governance, customer_id)), request_id)

    async def list_customers(self, request: Request, request_id: str) -> Response:
        """``GET /customer/list?blocked=&plan=&page=&page_size=``: a JSON array as LiteLLM answers (the total in
        ``x-total-count``)."""
        governance = self.m.governance()
        require_admin(request)
        query = Query(request, ("blocked", "plan", "page", "page_size"))
        blocked = None if query.text("blocked") is None else query.flag("blocked")
        page, size = query.number("page", 1, high=10**9), query.number("page_size", MAX_PAGE_SIZE)
        records, total = await governance.stores.customers.list(
            blocked=blocked, plan=query.text("plan"), page=page, page_size=size
        )
        return ok([record.to_api() for record in records], request_id, {"x-total-count": str(total)})

    async def block(self, request: Request, request_id: str) -> Response:
        """``POST /customer/block {"user_ids": [...]}``: refused at once on every instance (created blocked when
        the customer was not created yet)."""
        governance = self.m.governance()
        caller = require_admin(request)
        ids = _customer_ids(await self.m.payload(request, ("user_ids", "customer_ids")))
        for customer_id in ids:
            if await governance.stores.customers.get(customer_id) is not None:
                await self.set_blocked(governance, request, caller, customer_id, True)
                continue
            now = self.m.clock()
            record = CustomerRecord(customer_id, blocked=True, created_at=now, updated_at=now, created_by=caller.name)
            await self.create(governance, request, record, "block")
        return ok({"blocked_users": ids}, request_id)

    async def unblock(self, request: Request, request_id: str) -> Response:
        """``POST /customer/unblock {"user_ids": [...]}``."""
        governance = self.m.governance()
        caller = require_admin(request)
        ids = _customer_ids(await self.m.payload(request, ("user_ids", "customer_ids")))
        for customer_id in ids:
            await self.found(governance, customer_id, "user_ids")
        for customer_id in ids:
            await self.set_blocked(governance, request, caller, customer_id, False)
        return ok({"unblocked_users": ids}, request_id)


def _customer_id(body: Mapping[str, Any]) -> str:
    """The customer a payload names: ``customer_id`` or LiteLLM's ``user_id`` (the same when both are given)."""
    given = {name: body[name] for name in ("customer_id", "user_id") if body.get(name) is not None}
    if not given:
        raise BadRequestError(
            "missing required parameter: 'user_id' (or 'customer_id')",
            param="user_id",
            code="missing_required_parameter",
        )
    if len(set(map(str, given.values()))) > 1:
        raise BadRequestError("'customer_id' and 'user_id' name different customers", param="customer_id")
    name, value = next(iter(given.items()))
    return ident(value, name)


def _customer_ids(body: Mapping[str, Any]) -> list[str]:
    if body.get("user_ids") is not None and body.get("customer_ids") is not None:
        raise BadRequestError("send 'user_ids' or 'customer_ids', not both", param="customer_ids")
    name = "customer_ids" if body.get("customer_ids") is not None else "user_ids"
    return ident_list(body.get(name), name)

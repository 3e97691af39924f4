"""``/team/*``: teams with their members, budgets, limits and models (LiteLLM's paths and fields).

Admins only, except ``/team/info`` which a team-admin key may read for its own team. Deleting a team deletes its
keys too (as LiteLLM does): a key must not outlive the team budget it was bound by.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from tollway.errors import BadRequestError, PermissionDeniedError
from tollway.governance.records import (
    LIMIT_FIELDS,
    InvalidFieldError,
    Limits,
    TeamMember,
    TeamRecord,
    json_object,
    str_list,
)
from tollway.proxy.auth import caller_of, require_admin
from tollway.proxy.entity_routes import EntityRoutes
from tollway.proxy.management import (
    MAX_PAGE_SIZE,
    Parser,
    Query,
    RouteSpec,
    existing,
    flag,
    ident,
    ident_list,
    managed_team,
    ok,
    optional_text,
    parse_changes,
)
from tollway.proxy.routes_keys import delete_keys_of

if TYPE_CHECKING:
    from tollway.governance.service import Governance
    from tollway.storage.entities import TeamStore

__all__ = ["MEMBER_ROLES", "TEAM_FIELDS", "TeamRoutes"]

MEMBER_ROLES = ("admin", "user")
MAX_MEMBERS = 1000

_PARSERS: dict[str, Parser] = {
    "team_alias": optional_text(256),
    "models": str_list,
    "blocked": flag,
    "metadata": json_object,
}
TEAM_FIELDS = frozenset({*_PARSERS, *LIMIT_FIELDS, "team_id"})
"""What ``/team/update`` accepts; ``/team/new`` also takes ``members_with_roles``."""


def _member(value: Any, name: str) -> TeamMember:
    """One ``{"user_id", "role"}`` member (role "admin" or "user", default "user")."""
    if not isinstance(value, Mapping):
        raise InvalidFieldError(name, 'expected {"user_id": ..., "role": "admin" or "user"}')
    unknown = sorted(set(value) - {"user_id", "role"})
    if unknown:
        raise InvalidFieldError(f"{name}.{unknown[0]}", "unknown field (a member has user_id and role)")
    role = value.get("role") or "user"
    if role not in MEMBER_ROLES:
        raise InvalidFieldError(f"{name}.role", "expected 'admin' or 'user'")
    return TeamMember(user_id=ident(value.get("user_id"), f"{name}.user_id"), role=role)


def _members(value: Any, name: str) -> list[TeamMember]:
    """One member or a list of them (LiteLLM accepts both), each user once."""
    items = value if isinstance(value, list) else [value]
    if not items or len(items) > MAX_MEMBERS:
        raise InvalidFieldError(name, f"expected 1 to {MAX_MEMBERS} members")
    members = [
        _member(item, f"{name}[{index}]" if isinstance(value, list) else name) for index, item in enumerate(items)
    ]
    seen: set[str] = set()
    for member in members:
        if member.user_id in seen:
            raise InvalidFieldError(name, f"user {member.user_id!r} is listed twice")
        seen.add(member.user_id)
    return members


class TeamRoutes(EntityRoutes[TeamRecord]):
    """The ``/team/*`` handlers."""

    kind, id_field, fields, parsers = "team", "team_id", TEAM_FIELDS, _PARSERS

    def routes(self) -> list[RouteSpec]:
        """(path, handler, method) of every team route."""
        return [
            ("/team/new", self.new, "POST"),
            ("/team/update", self.update, "POST"),
            ("/team/delete", self.delete, "POST"),
            ("/team/info", self.info, "GET"),
            ("/team/list", self.list_teams, "GET"),
            ("/team/member_add", self.member_add, "POST"),
            ("/team/member_delete", self.member_delete, "POST"),
            ("/team/block", self.block, "POST"),
            ("/team/unblock", self.unblock, "POST"),
        ]

    def store(self, governance: Governance) -> TeamStore:
        """The teams' store."""
        return governance.stores.teams

    async def delete_keys(self, governance: Governance, request: Request, ident_: str) -> int:
        """A deleted team's keys go too."""
        return await delete_keys_of(self.m, governance, request, team_id=ident_)

    async def _users_exist(self, governance: Governance, members: list[TeamMember], param: str) -> None:
        for member in members:
            await existing(governance.stores.users.get, member.user_id, "user", param=param)

    async def new(self, request: Request, request_id: str) -> Response:
        """``POST /team/new``: a team (``team_id`` generated when absent) with its ``members_with_roles``."""
        governance = self.m.governance()
        caller = require_admin(request)
        body = await self.m.payload(request, TEAM_FIELDS | {"members_with_roles"})
        fields, limits = parse_changes(body, _PARSERS)
        team_id = str(uuid.uuid4()) if body.get("team_id") is None else ident(body["team_id"], "team_id")
        given = body.get("members_with_roles")
        members = [] if given is None or given == [] else _members(given, "members_with_roles")
        await self._users_exist(governance, members, "members_with_roles")
        stamps = self.stamps(caller)
        record = TeamRecord(team_id=team_id, limits=Limits(**limits), members=tuple(members), **stamps, **fields)
        await governance.stores.teams.create(record)
        created = await self.found(governance, team_id)  # as stored: the members with their stamps
        await self.audit(governance, request, "new", before=None, after=created)
        return ok(created.to_api(), request_id)

    async def delete(self, request: Request, request_id: str) -> Response:
        """``POST /team/delete {"team_ids": [...]}``: the teams, their memberships and their keys."""
        governance = self.m.governance()
        require_admin(request)
        body = await self.m.payload(request, ("team_ids",))
        team_ids = ident_list(body.get("team_ids"), "team_ids")
        keys = await self.delete_all(governance, request, team_ids, "team_ids")
        return ok({"deleted_teams": team_ids, "deleted_keys": keys}, request_id)

    async def info(self, request: Request, request_id: str) -> Response:
        """``GET /team/info?team_id=``: LiteLLM's shape, with the team's live spend and keys (a team admin may read
        its own team's)."""
        governance = self.m.governance()
        team = managed_team(caller_of(request))
        team_id = Query(request, ("team_id",)).ident("team_id") or team
        if team_id is None:
            raise BadRequestError("missing required parameter: 'team_id'", param="team_id")
        if team is not None and team_id != team:
            raise PermissionDeniedError("a team admin key reads its own team only", param="team_id")
        record = await self.found(governance, team_id)
        keys, _ = await governance.stores.keys.list(team_id=team_id, page_size=MAX_PAGE_SIZE)
        return ok(
            {
                "team_id": team_id,
                "team_info": await self.with_spend(governance, record),
                "keys": [key.to_api() for key in keys],
            },
            request_id,
        )

    async def list_teams(self, request: Request, request_id: str) -> Response:
        """``GET /team/list?user_id=&page=&page_size=``: a JSON array as LiteLLM answers (the total in
        ``x-total-count``)."""
        governance = self.m.governance()
        require_admin(request)
        query = Query(request, ("user_id", "page", "page_size"))
        page, size = query.number("page", 1, high=10**9), query.number("page_size", MAX_PAGE_SIZE)
        records, total = await governance.stores.teams.list(user_id=query.ident("user_id"), page=page, page_size=size)
        return ok([record.to_api() for record in records], request_id, {"x-total-count": str(total)})

    async def member_add(self, request: Request, request_id: str) -> Response:
        """``POST /team/member_add {"team_id", "member": {"user_id", "role"} or [...]}``: the team after."""
        governance = self.m.governance()
        require_admin(request)
        body = await self.m.payload(request, ("team_id", "member"))
        current = await self.found(governance, self.named(body))
        if body.get("member") is None:
            raise BadRequestError("missing required parameter: 'member'", param="member")
        members = _members(body["member"], "member")
        await self._users_exist(governance, members, "member")
        for member in members:
            await governance.stores.teams.add_member(current.team_id, member.user_id, member.role)
        return await self._members_changed(governance, request, request_id, "member_add", current)

    async def member_delete(self, request: Request, request_id: str) -> Response:
        """``POST /team/member_delete {"team_id", "user_id"}``: the team after."""
        governance = self.m.governance()
        require_admin(request)
        body = await self.m.payload(request, ("team_id", "user_id"))
        current = await self.found(governance, self.named(body))
        await governance.stores.teams.remove_member(current.team_id, ident(body.get("user_id"), "user_id"))
        return await self._members_changed(governance, request, request_id, "member_delete", current)

    async def _members_changed(
        self, governance: Governance, request: Request, request_id: str, verb: str, before: TeamRecord
    ) -> Response:
        after = await self.found(governance, before.team_id)
        await self.audit(governance, request, verb, before=before, after=after)
        return ok(after.to_api(), request_id)

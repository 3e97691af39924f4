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

from tollway.errors import BadRequestError, NotFoundError, PermissionDeniedError
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
from tollway.proxy.management import (
    MAX_PAGE_SIZE,
    Management,
    Parser,
    Query,
    RouteSpec,
    flag,
    ident,
    ident_list,
    managed_team,
    ok,
    optional_text,
    parse_changes,
    spend_fields,
    with_limits,
)
from tollway.proxy.routes_keys import delete_keys_of

if TYPE_CHECKING:
    from tollway.governance.service import Governance

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


class TeamRoutes:
    """The ``/team/*`` handlers."""

    def __init__(self, context: Management) -> None:
        self.m = context

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

    async def _team(self, governance: Governance, team_id: Any, param: str = "team_id") -> TeamRecord:
        found = await governance.stores.teams.get(ident(team_id, param))
        if found is None:
            raise NotFoundError(f"team {team_id!r} not found", param=param, code="team_not_found")
        return found

    async def _users_exist(self, governance: Governance, members: list[TeamMember], param: str) -> None:
        for member in members:
            if await governance.stores.users.get(member.user_id) is None:
                raise NotFoundError(f"user {member.user_id!r} not found", param=param, code="user_not_found")

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
        now = self.m.clock()
        record = TeamRecord(
            team_id=team_id,
            limits=Limits(**limits),
            members=tuple(members),
            created_at=now,
            updated_at=now,
            created_by=caller.name,
            updated_by=caller.name,
            **fields,
        )
        await governance.stores.teams.create(record)
        created = await self._team(governance, team_id)
        await self.m.changed(governance, request, "team.new", ("team", team_id), before=None, after=created)
        return ok(created.to_api(), request_id)

    async def update(self, request: Request, request_id: str) -> Response:
        """``POST /team/update {"team_id", ...fields}``: the team after the change."""
        governance = self.m.governance()
        caller = require_admin(request)
        body = await self.m.payload(request, TEAM_FIELDS)
        current = await self._team(governance, body.get("team_id"))
        fields, limits = parse_changes(body, _PARSERS)
        _, after = await governance.stores.teams.update(
            current.team_id, **fields, limits=with_limits(current.limits, limits), updated_by=caller.name
        )
        await self.m.changed(governance, request, "team.update", ("team", current.team_id), before=current, after=after)
        return ok(after.to_api(), request_id)

    async def delete(self, request: Request, request_id: str) -> Response:
        """``POST /team/delete {"team_ids": [...]}``: the teams, their memberships and their keys."""
        governance = self.m.governance()
        require_admin(request)
        body = await self.m.payload(request, ("team_ids",))
        team_ids = ident_list(body.get("team_ids"), "team_ids")
        for team_id in team_ids:
            await self._team(governance, team_id, "team_ids")
        keys = 0
        for team_id in team_ids:
            keys += await delete_keys_of(self.m, governance, request, team_id=team_id)
            before = await governance.stores.teams.delete(team_id)
            await self.m.changed(governance, request, "team.delete", ("team", team_id), before=before, after=None)
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
        record = await self._team(governance, team_id)
        spend = await spend_fields(governance, f"team:{team_id}", record.limits, self.m.clock())
        keys, _ = await governance.stores.keys.list(team_id=team_id, page_size=MAX_PAGE_SIZE)
        return ok(
            {"team_id": team_id, "team_info": {**record.to_api(), **spend}, "keys": [key.to_api() for key in keys]},
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
        current = await self._team(governance, body.get("team_id"))
        if body.get("member") is None:
            raise BadRequestError("missing required parameter: 'member'", param="member")
        members = _members(body["member"], "member")
        await self._users_exist(governance, members, "member")
        for member in members:
            await governance.stores.teams.add_member(current.team_id, member.user_id, member.role)
        after = await self._team(governance, current.team_id)
        await self.m.changed(
            governance, request, "team.member_add", ("team", current.team_id), before=current, after=after
        )
        return ok(after.to_api(), request_id)

    async def member_delete(self, request: Request, request_id: str) -> Response:
        """``POST /team/member_delete {"team_id", "user_id"}``: the team after."""
        governance = self.m.governance()
        require_admin(request)
        body = await self.m.payload(request, ("team_id", "user_id"))
        current = await self._team(governance, body.get("team_id"))
        await governance.stores.teams.remove_member(current.team_id, ident(body.get("user_id"), "user_id"))
        after = await self._team(governance, current.team_id)
        await self.m.changed(
            governance, request, "team.member_delete", ("team", current.team_id), before=current, after=after
        )
        return ok(after.to_api(), request_id)

    async def block(self, request: Request, request_id: str) -> Response:
        """``POST /team/block {"team_id"}``: every key of the team is refused within a second."""
        return await self._set_blocked(request, request_id, True)

    async def unblock(self, request: Request, request_id: str) -> Response:
        """``POST /team/unblock {"team_id"}``."""
        return await self._set_blocked(request, request_id, False)

    async def _set_blocked(self, request: Request, request_id: str, blocked: bool) -> Response:
        governance = self.m.governance()
        caller = require_admin(request)
        body = await self.m.payload(request, ("team_id",))
        current = await self._team(governance, body.get("team_id"))
        _, after = await governance.stores.teams.set_blocked(current.team_id, blocked, updated_by=caller.name)
        action = "team.block" if blocked else "team.unblock"
        await self.m.changed(governance, request, action, ("team", current.team_id), before=current, after=after)
        return ok(after.to_api(), request_id)

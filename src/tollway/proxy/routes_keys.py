"""``/key/*``: generate, update, delete, info, list, block, unblock and regenerate virtual keys (LiteLLM's paths and
fields).

A key is shown once, in the answer of ``/key/generate`` or ``/key/regenerate``; the store keeps its SHA-256 hash
(``token``) and display name (``key_name``). Every route that names a key accepts the key itself or its hash.
Admins manage every key; a team-admin key manages the keys of its own team (never an admin key); any key may read
its own ``/key/info``.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from tollway.errors import BadRequestError, NotFoundError, PermissionDeniedError
from tollway.governance.keys import KEY_PREFIX, generate_key, hash_key, key_name, token_hash_of
from tollway.governance.records import (
    LIMIT_FIELDS,
    InvalidFieldError,
    KeyRecord,
    Limits,
    json_object,
    str_list,
    str_map,
)
from tollway.proxy.auth import Caller, caller_of
from tollway.proxy.entity_routes import EntityRoutes
from tollway.proxy.management import (
    Management,
    Parser,
    Query,
    RouteSpec,
    choice,
    existing,
    flag,
    ident,
    managed_team,
    ok,
    optional_ident,
    optional_text,
    parse_changes,
    with_limits,
)

if TYPE_CHECKING:
    from tollway.governance.service import Governance
    from tollway.storage.entities import KeyStore

__all__ = ["KEY_FIELDS", "KeyRoutes", "delete_keys_of", "expiry"]

ROLES = ("admin", "team_admin", "user")
MIN_CUSTOM_KEY = 16
MAX_CUSTOM_KEY = 256

_PARSERS: dict[str, Parser] = {
    "key_alias": optional_text(256),
    "models": str_list,
    "aliases": str_map,
    "tags": str_list,
    "metadata": json_object,
    "user_id": optional_ident,
    "team_id": optional_ident,
    "customer_id": optional_ident,
    "role": choice(ROLES),
    "blocked": flag,
}
KEY_FIELDS = frozenset({*_PARSERS, *LIMIT_FIELDS, "duration", "key"})
"""What ``/key/generate`` and ``/key/update`` accept (``key``: a chosen key on generate, the key changed on update)."""
_REGENERATE_FIELDS = KEY_FIELDS | {"new_key"}


def expiry(duration: Any, now: datetime) -> datetime | None:
    """When a key given ``duration`` (``"30d"``, ``"1mo"``; None: never) expires, counted from ``now``."""
    from tollway.governance.durations import parse_duration

    if duration is None:
        return None
    if not isinstance(duration, str):
        raise InvalidFieldError("duration", f"expected a duration such as '30d', got {type(duration).__name__}")
    try:
        parsed = parse_duration(duration)
    except ValueError as error:
        raise InvalidFieldError("duration", str(error)) from None
    if parsed.seconds is not None:
        return now + timedelta(seconds=parsed.seconds)
    months = now.year * 12 + now.month - 1 + parsed.count
    year, month = divmod(months, 12)
    day = min(now.day, calendar.monthrange(year, month + 1)[1])  # 31 Jan + 1mo = 28/29 Feb
    return now.replace(year=year, month=month + 1, day=day)


def _custom_key(value: Any, name: str) -> str:
    """A caller-chosen key: ``sk-`` and at least 16 characters, printable ASCII without spaces."""
    if not isinstance(value, str) or not value.startswith(KEY_PREFIX) or len(value) < MIN_CUSTOM_KEY:
        raise InvalidFieldError(
            name, f"a key must start with {KEY_PREFIX!r} and be at least {MIN_CUSTOM_KEY} characters"
        )
    if len(value) > MAX_CUSTOM_KEY or not value.isascii() or not value.isprintable() or " " in value:
        raise InvalidFieldError(name, f"a key is at most {MAX_CUSTOM_KEY} printable ASCII characters without spaces")
    return value


def _named(value: Any, name: str) -> str:
    """A key or key hash named in a payload."""
    if not isinstance(value, str) or not value:
        raise InvalidFieldError(name, "expected a key (sk-...) or its hash")
    if len(value) > MAX_CUSTOM_KEY:
        raise InvalidFieldError(name, "not a key")
    return value


def _label(value: str) -> str:
    """How an error message names a key someone sent: never the key itself."""
    return key_name(value) if value.startswith(KEY_PREFIX) else f"{value[:8]}..."


class KeyRoutes(EntityRoutes[KeyRecord]):
    """The ``/key/*`` handlers."""

    kind, id_field, fields, parsers = "key", "token_hash", KEY_FIELDS, _PARSERS
    name_field = "key"  # payloads name a key by the key or its hash

    def routes(self) -> list[RouteSpec]:
        """(path, handler, method) of every key route."""
        return [
            ("/key/generate", self.generate, "POST"),
            ("/key/update", self.update, "POST"),
            ("/key/delete", self.delete, "POST"),
            ("/key/info", self.info, "GET"),
            ("/key/list", self.list_keys, "GET"),
            ("/key/block", self.block, "POST"),
            ("/key/unblock", self.unblock, "POST"),
            ("/key/regenerate", self.regenerate, "POST"),
            ("/key/{key}/regenerate", self.regenerate_path, "POST"),
        ]

    def store(self, governance: Governance) -> KeyStore:
        """The keys' store."""
        return governance.stores.keys

    def target(self, record: KeyRecord) -> str:
        """A key is audited and counted under its ``key_id`` (stable across regeneration; the audit log never holds
        a whole token hash); the cache names it by its hash (``ident_of``)."""
        return record.key_id

    # -- lookups and rules ----------------------------------------------------------------------------------------

    def admitted(self, request: Request) -> Caller:
        """Any caller: which keys it may manage is checked per key (``managed``, ``check``)."""
        return caller_of(request)

    def named(self, body: Mapping[str, Any]) -> str:
        """The key (or hash) a payload names."""
        return _named(body.get("key"), "key")

    def parse(self, body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The changes of a payload, with ``duration`` as the ``expires`` it sets."""
        fields, limits = parse_changes(body, _PARSERS)
        if "duration" in body:
            fields["expires"] = expiry(body["duration"], self.m.clock())
        return fields, limits

    async def managed(self, governance: Governance, caller: Caller, named: str) -> KeyRecord:
        """The key named (by key or hash), if the caller may manage it: 403 / 404 otherwise."""
        managed_team(caller)  # a plain key learns nothing, not even whether the key exists
        record = await governance.stores.keys.get(token_hash_of(named))
        if record is None:
            raise NotFoundError(f"key {_label(named)} not found", param="key", code="key_not_found")
        _may_manage(caller, record)
        return record

    async def check(self, governance: Governance, caller: Caller, fields: Mapping[str, Any]) -> None:
        """What a key is set to must exist and be the caller's to set: its user and team exist (404), an admin
        role needs an admin (403), a team admin keeps keys in its team and gives them only its members (403)."""
        team = managed_team(caller)
        if fields.get("role") == "admin" and not caller.admin:
            raise PermissionDeniedError("only an admin may create or grant an admin key", param="role")
        if team is not None and "team_id" in fields and fields["team_id"] != team:
            raise PermissionDeniedError("a team admin key manages the keys of its own team only", param="team_id")
        user_id, team_id = fields.get("user_id"), fields.get("team_id")
        if user_id is not None:
            await existing(governance.stores.users.get, user_id, "user")
        if team_id is not None:
            await existing(governance.stores.teams.get, team_id, "team")
        if team is not None and user_id is not None:
            members = await governance.stores.teams.members(team)
            if all(member.user_id != user_id for member in members):
                raise PermissionDeniedError(f"user {user_id!r} is not a member of team {team!r}", param="user_id")

    # -- handlers ---------------------------------------------------------------------------------------------------

    async def generate(self, request: Request, request_id: str) -> Response:
        """``POST /key/generate``: a new key, shown once in the answer."""
        governance = self.m.governance()
        caller = caller_of(request)
        team = managed_team(caller)
        body = await self.m.payload(request, KEY_FIELDS)
        fields, limits = self.parse(body)
        if team is not None:
            fields.setdefault("team_id", team)
        await self.check(governance, caller, fields)
        key = generate_key() if body.get("key") is None else _custom_key(body["key"], "key")
        stamps = self.stamps(caller)
        record = KeyRecord(
            token_hash=hash_key(key), key_name=key_name(key), limits=Limits(**limits), **stamps, **fields
        )
        await self.create(governance, request, record, "generate")
        return ok(_shown(key, record), request_id)

    async def delete(self, request: Request, request_id: str) -> Response:
        """``POST /key/delete {"keys": [...]}`` (or ``{"key_aliases": [...]}``): every key checked, then deleted."""
        governance = self.m.governance()
        caller = caller_of(request)
        body = await self.m.payload(request, ("keys", "key_aliases"))
        keys, aliases = body.get("keys") or [], body.get("key_aliases") or []
        if not isinstance(keys, list) or not isinstance(aliases, list) or not (keys or aliases):
            raise BadRequestError("send 'keys': [key or hash, ...] or 'key_aliases': [...]", param="keys")
        records = [await self.managed(governance, caller, _named(k, f"keys[{i}]")) for i, k in enumerate(keys)]
        for index, alias in enumerate(aliases):
            found = await governance.stores.keys.get_by_alias(ident(alias, f"key_aliases[{index}]"))
            if found is None:
                raise NotFoundError(f"no key with alias {alias!r}", param="key_aliases", code="key_not_found")
            _may_manage(caller, found)
            records.append(found)
        deleted: list[str] = []
        for record in {record.token_hash: record for record in records}.values():
            before = await governance.stores.keys.delete(record.token_hash)
            await self.audit(governance, request, "delete", before=before, after=None)
            deleted.append(record.token_hash)
        return ok({"deleted_keys": deleted}, request_id)

    async def info(self, request: Request, request_id: str) -> Response:
        """``GET /key/info?key=``: the key with its live spend (any key may read its own: no ``key`` or itself)."""
        governance = self.m.governance()
        caller = caller_of(request)
        named = Query(request, ("key",)).text("key")
        own = caller.principal.key if caller.principal is not None else None
        if named is None and own is None:
            raise BadRequestError("missing required parameter: 'key'", param="key", code="missing_required_parameter")
        if own is not None and (named is None or token_hash_of(named) == own.token_hash):
            record = await governance.stores.keys.get(own.token_hash)
            if record is None:  # deleted since the caller's key was cached
                raise NotFoundError("key not found", param="key", code="key_not_found")
        else:
            assert named is not None
            record = await self.managed(governance, caller, named)
        return ok({"key": record.token_hash, "info": await self.with_spend(governance, record)}, request_id)

    async def list_keys(self, request: Request, request_id: str) -> Response:
        """``GET /key/list?user_id=&team_id=&customer_id=&page=&size=&return_full_object=``: LiteLLM's shape
        (``keys`` holds hashes unless ``return_full_object=true``)."""
        governance = self.m.governance()
        team = managed_team(caller_of(request))
        query = Query(request, ("user_id", "team_id", "customer_id", "page", "size", "return_full_object"))
        team_id = query.ident("team_id")
        if team is not None:
            if team_id not in (None, team):
                raise PermissionDeniedError("a team admin key lists the keys of its own team only", param="team_id")
            team_id = team
        page, size = query.number("page", 1, high=10**9), query.number("size", 10, high=100)
        records, total = await governance.stores.keys.list(
            user_id=query.ident("user_id"),
            team_id=team_id,
            customer_id=query.ident("customer_id"),
            page=page,
            page_size=size,
        )
        full = query.flag("return_full_object")
        return ok(
            {
                "keys": [record.to_api() if full else record.token_hash for record in records],
                "total_count": total,
                "current_page": page,
                "total_pages": -(-total // size),
            },
            request_id,
        )

    async def regenerate(self, request: Request, request_id: str) -> Response:
        """``POST /key/regenerate {"key", "new_key"?, ...fields}``: a new key, shown once; the old one stops working
        at once."""
        body = await self.m.payload(request, _REGENERATE_FIELDS)
        return await self._regenerate(request, request_id, _named(body.get("key"), "key"), body)

    async def regenerate_path(self, request: Request, request_id: str) -> Response:
        """``POST /key/{key}/regenerate`` (LiteLLM's path form; the body is optional)."""
        body = await self.m.payload(request, _REGENERATE_FIELDS - {"key"}, empty_ok=True)
        return await self._regenerate(request, request_id, request.path_params["key"], body)

    async def _regenerate(self, request: Request, request_id: str, named: str, body: Mapping[str, Any]) -> Response:
        governance = self.m.governance()
        caller = caller_of(request)
        current = await self.managed(governance, caller, named)
        fields, limits = self.parse(body)
        await self.check(governance, caller, fields)
        key = generate_key() if body.get("new_key") is None else _custom_key(body["new_key"], "new_key")
        fresh = replace(
            current,
            token_hash=hash_key(key),
            key_name=key_name(key),
            limits=with_limits(current.limits, limits),
            updated_at=self.m.clock(),
            updated_by=caller.name,
            **fields,
        )
        before, after = await governance.stores.keys.regenerate(current.token_hash, fresh)
        await governance.invalidate("key", after.token_hash)
        note = f"replaced by {after.key_name}"
        await self.audit(governance, request, "regenerate", before=before, after=after, note=note)
        return ok(_shown(key, after), request_id)


def _may_manage(caller: Caller, record: KeyRecord) -> None:
    """403 unless the caller may change ``record``: an admin, or the team admin of the key's team (not an admin key)."""
    team = managed_team(caller)
    if team is None:
        return
    if record.team_id != team or record.role == "admin":
        raise PermissionDeniedError("a team admin key manages the keys of its own team only", param="key")


def _shown(key: str, record: KeyRecord) -> dict[str, Any]:
    """LiteLLM's generate answer: the key (the only time it is shown), its hash as ``token`` and ``token_id``."""
    return {"key": key, "token_id": record.token_hash, **record.to_api()}


async def delete_keys_of(
    context: Management,
    governance: Governance,
    request: Request,
    *,
    user_id: str | None = None,
    team_id: str | None = None,
) -> int:
    """Delete every key of a user or a team being deleted (as LiteLLM does: a key must not outlive the budgets it
    was bound by), each audited; how many went."""
    keys = KeyRoutes(context)
    deleted = 0
    while True:
        # Always the first page: the previous one is gone.
        records, _ = await governance.stores.keys.list(user_id=user_id, team_id=team_id, page=1, page_size=1000)
        if not records:
            return deleted
        for record in records:
            before = await governance.stores.keys.delete(record.token_hash)
            owner = f"user {user_id}" if user_id is not None else f"team {team_id}"
            await keys.audit(governance, request, "delete", before=before, after=None, note=f"{owner} deleted")
            deleted += 1

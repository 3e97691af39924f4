"""What the handlers of ``/key/*``, ``/user/*``, ``/team/*`` and ``/customer/*`` share.

``EntityRoutes`` takes the steps every change of a record takes: find it (or 404), stamp a new one, create, update,
block or delete it, and then, through ``Management.changed``, drop the cached copies on every instance and write
the audit row. Each entity's subclass says only what differs: its store, its fields, its checks and its answers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from tollway.proxy.auth import Caller, require_admin
from tollway.proxy.management import (
    Management,
    Parser,
    RouteSpec,
    existing,
    ident,
    ok,
    parse_changes,
    spend_fields,
    with_limits,
)

if TYPE_CHECKING:
    from tollway.governance.records import Limits
    from tollway.governance.service import Governance
    from tollway.storage.entities_base import EntityStore

__all__ = ["EntityRoutes", "ManagedRecord"]


class ManagedRecord(Protocol):
    """What the shared steps read of a record (``KeyRecord``, ``UserRecord``, ``TeamRecord``, ``CustomerRecord``)."""

    @property
    def limits(self) -> Limits:
        """The record's budgets and rate limits."""
        ...

    def to_api(self) -> dict[str, Any]:
        """The record as the API answers it."""
        ...


R = TypeVar("R", bound=ManagedRecord)


class EntityRoutes(ABC, Generic[R]):
    """The handlers of one kind of record; subclasses set the class attributes and ``store``, list ``routes``, and
    override the hooks where their entity differs.

    ``kind`` names the record in messages, audit actions (``"user.update"``), audit targets and counter scopes
    (``"user:<id>"``); ``id_field`` is the record's id field (the store's key). ``fields`` and ``parsers`` are what
    ``update`` accepts and how it reads each field. The hooks: who may call (``admitted``), how a payload names a
    record (``name_field``, ``named``) and which records the caller may change (``managed``), how a payload's changes
    are read (``parse``) and checked (``check``), and which keys go with a deleted record (``delete_keys``).
    """

    kind: ClassVar[str]
    id_field: ClassVar[str]
    fields: ClassVar[frozenset[str]]
    parsers: ClassVar[Mapping[str, Parser]]

    def __init__(self, context: Management) -> None:
        self.m = context

    @abstractmethod
    def routes(self) -> list[RouteSpec]:
        """(path, handler, method) of every route."""
        ...

    @abstractmethod
    def store(self, governance: Governance) -> EntityStore[R]:
        """The store of the records."""
        ...

    # -- naming a record ------------------------------------------------------------------------------------------

    def ident_of(self, record: R) -> str:
        """The record's id in its store (and in the cache of every instance)."""
        value: str = getattr(record, self.id_field)
        return value

    def target(self, record: R) -> str:
        """The id that audit rows and spend counters name the record by (its id, unless a subclass says)."""
        return self.ident_of(record)

    @property
    def name_field(self) -> str:
        """The payload field that names the record to change (its id field)."""
        return self.id_field

    def named(self, body: Mapping[str, Any]) -> str:
        """The id of the record that a payload names."""
        return ident(body.get(self.name_field), self.name_field)

    async def found(self, governance: Governance, ident_: str, param: str | None = None) -> R:
        """The record, or 404 naming ``param`` (default ``{kind}_id``)."""
        return await existing(self.store(governance).get, ident_, self.kind, param=param)

    # -- who may change what --------------------------------------------------------------------------------------

    def admitted(self, request: Request) -> Caller:
        """The caller, if it may use these routes: admins only (403), unless a subclass admits more."""
        return require_admin(request)

    async def managed(self, governance: Governance, caller: Caller, named: str) -> R:
        """The record ``named`` (404), if the caller may change it (a subclass that admits more checks it here)."""
        return await self.found(governance, named)

    def parse(self, body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """A payload's record fields and limit changes (``parse_changes`` with ``parsers``)."""
        return parse_changes(body, self.parsers)

    async def check(self, governance: Governance, caller: Caller, fields: Mapping[str, Any]) -> None:
        """Refuse values the caller may not set (none, unless a subclass says)."""

    # -- the shared steps -----------------------------------------------------------------------------------------

    def stamps(self, caller: Caller) -> dict[str, Any]:
        """The creation stamps of a new record: now, by the caller."""
        now = self.m.clock()
        return {"created_at": now, "updated_at": now, "created_by": caller.name, "updated_by": caller.name}

    async def audit(
        self,
        governance: Governance,
        request: Request,
        verb: str,
        *,
        before: R | None,
        after: R | None,
        note: str | None = None,
    ) -> None:
        """After a committed change (``verb``: ``"new"``, ``"update"``...): invalidate the record, audit it."""
        record = before if before is not None else after
        assert record is not None
        target = (self.kind, self.target(record))
        action = f"{self.kind}.{verb}"
        cached = self.ident_of(record)
        await self.m.changed(governance, request, action, target, before=before, after=after, note=note, cached=cached)

    async def create(self, governance: Governance, request: Request, record: R, verb: str = "new") -> None:
        """Insert a new record (409 when its id or another unique value is taken), audited as ``verb``."""
        await self.store(governance).create(record)
        await self.audit(governance, request, verb, before=None, after=record)

    async def change(
        self,
        governance: Governance,
        request: Request,
        caller: Caller,
        current: R,
        changes: tuple[dict[str, Any], dict[str, Any]],
    ) -> R:
        """Apply parsed ``(fields, limit changes)`` (``parse``) to ``current``; the record after."""
        fields, limits = changes
        ident_ = self.ident_of(current)
        limited = with_limits(current.limits, limits)
        _, after = await self.store(governance).update(ident_, **fields, limits=limited, updated_by=caller.name)
        await self.audit(governance, request, "update", before=current, after=after)
        return after

    async def set_blocked(
        self, governance: Governance, request: Request, caller: Caller, ident_: str, blocked: bool
    ) -> R:
        """Block or unblock a record (refused on every instance within a second); the record after."""
        before, after = await self.store(governance).set_blocked(ident_, blocked, updated_by=caller.name)
        await self.audit(governance, request, "block" if blocked else "unblock", before=before, after=after)
        return after

    async def delete_all(self, governance: Governance, request: Request, ids: list[str], param: str) -> int:
        """Delete every record of ``ids`` (all checked first: one unknown id, 404 naming ``param``, deletes none),
        each with the keys bound to it (``delete_keys``); how many keys went."""
        for ident_ in ids:
            await self.found(governance, ident_, param)
        keys = 0
        for ident_ in ids:
            keys += await self.delete_keys(governance, request, ident_)
            before = await self.store(governance).delete(ident_)
            await self.audit(governance, request, "delete", before=before, after=None)
        return keys

    async def delete_keys(self, governance: Governance, request: Request, ident_: str) -> int:
        """Delete the keys bound to a record being deleted; how many (none, unless a subclass binds keys)."""
        return 0

    async def with_spend(self, governance: Governance, record: R) -> dict[str, Any]:
        """The record as the API answers it, with its live spend (``spend_fields``)."""
        scope = f"{self.kind}:{self.target(record)}"
        return {**record.to_api(), **await spend_fields(governance, scope, record.limits, self.m.clock())}

    # -- the shared handlers --------------------------------------------------------------------------------------

    async def update(self, request: Request, request_id: str) -> Response:
        """``POST /{kind}/update {name_field, ...fields}``: the record after the change."""
        governance = self.m.governance()
        caller = self.admitted(request)
        body = await self.m.payload(request, self.fields)
        current = await self.managed(governance, caller, self.named(body))
        changes = self.parse(body)
        await self.check(governance, caller, changes[0])
        after = await self.change(governance, request, caller, current, changes)
        return ok(after.to_api(), request_id)

    async def block(self, request: Request, request_id: str) -> Response:
        """``POST /{kind}/block {name_field}``: the record after; refused on every instance within a second."""
        return await self._set_blocked(request, request_id, True)

    async def unblock(self, request: Request, request_id: str) -> Response:
        """``POST /{kind}/unblock {name_field}``: the record after."""
        return await self._set_blocked(request, request_id, False)

    async def _set_blocked(self, request: Request, request_id: str, blocked: bool) -> Response:
        governance = self.m.governance()
        caller = self.admitted(request)
        body = await self.m.payload(request, (self.name_field,))
        current = await self.managed(governance, caller, self.named(body))
        after = await self.set_blocked(governance, request, caller, self.ident_of(current), blocked)
        return ok(after.to_api(), request_id)

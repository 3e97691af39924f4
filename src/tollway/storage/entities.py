"""Repositories of the governance entities: keys, users, teams (with members) and customers, over a ``Database``.

Every method is async and returns records (``tollway.governance.records``); SQLAlchemy Core statements, no ORM.
Shared behaviour (create/get/update/delete/set_blocked, pagination, conflicts) is in ``entities_base``:
- ``update(id, **changes) -> (before, after)`` in one transaction; ``delete(id) -> before``.
- a duplicate id or unique value (``key_alias``, ``stripe_customer_id``) raises ``ConflictError`` naming the field;
  updating, blocking or deleting a missing row raises ``RecordNotFoundError``.
- ``list(..., page, page_size) -> (records, total)``: 1-based pages of at most 1000, newest first.

``KeyStore.principal_rows(hash)`` is the key cache's loader: the key with its user, team and customer in one query.
"""

from __future__ import annotations

import builtins
import dataclasses
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, Table, bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError

from tollway.governance.records import (
    CustomerRecord,
    KeyRecord,
    Principal,
    TeamMember,
    TeamRecord,
    UserRecord,
)
from tollway.storage import epoch, schema
from tollway.storage.database import ConflictError, RecordNotFoundError
from tollway.storage.entities_base import (
    EntityStore,
    Row,
    encode_value,
    limits_of,
    limits_values,
    read_utc,
    stamps_of,
    write_utc,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["CustomerStore", "KeyStore", "TeamStore", "UserStore"]

DEFAULT_PAGE_SIZE = 100


def _stamp_values(record: KeyRecord | UserRecord | TeamRecord | CustomerRecord) -> dict[str, Any]:
    return {
        "metadata": dict(record.metadata),
        "created_at": write_utc(record.created_at),
        "updated_at": write_utc(record.updated_at),
        "created_by": record.created_by,
        "updated_by": record.updated_by,
    }


class KeyStore(EntityStore[KeyRecord]):
    """Virtual keys, by token hash."""

    kind = "key"
    table = schema.api_keys
    id_column = "token_hash"
    unique_columns = ("key_alias",)

    def values(self, record: KeyRecord) -> dict[str, Any]:
        """The ``api_keys`` row of a record."""
        plain = (
            "token_hash",
            "key_name",
            "key_id",
            "key_alias",
            "role",
            "user_id",
            "team_id",
            "customer_id",
            "blocked",
        )
        return {
            **{name: getattr(record, name) for name in plain},
            **{name: encode_value(name, getattr(record, name)) for name in ("models", "aliases", "tags")},
            "expires": write_utc(record.expires),
            **limits_values(record.limits),
            **_stamp_values(record),
        }

    def record(self, row: Row) -> KeyRecord:
        """The record of an ``api_keys`` row."""
        return _key(row)

    def not_found(self, ident: str) -> RecordNotFoundError:
        """Name a missing key by the start of its hash only."""
        return RecordNotFoundError(self.kind, ident[:8] + "...")

    def conflict_message(self, column: str, value: Any) -> str:
        """Never repeat a token hash in an error."""
        if column == "token_hash":
            return "a key with this token already exists"
        return super().conflict_message(column, value)

    async def get_by_alias(self, key_alias: str) -> KeyRecord | None:
        """The key with this alias, or None."""
        async with self.database.read() as connection:
            query = select(self.table).where(self.table.c.key_alias == key_alias)
            row = (await connection.execute(query)).mappings().first()
        return None if row is None else self.record(row)

    async def list(
        self,
        *,
        user_id: str | None = None,
        team_id: str | None = None,
        customer_id: str | None = None,
        page: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> tuple[list[KeyRecord], int]:
        """Keys matching every given filter, newest first, and how many match in all."""
        columns = self.table.c
        filters = {columns.user_id: user_id, columns.team_id: team_id, columns.customer_id: customer_id}
        conditions = [column == value for column, value in filters.items() if value is not None]
        return await self.page(conditions, page, page_size)

    async def regenerate(self, old_hash: str, new_record: KeyRecord) -> tuple[KeyRecord, KeyRecord]:
        """Replace a key by ``new_record`` (a new hash) atomically: the old key stops existing in the same commit
        the new one starts. The new key keeps the old one's ``key_id``, so its spend and limits carry over.
        Returns ``(before, after)``; RecordNotFoundError when ``old_hash`` does not exist."""
        async with self.database.write() as connection:
            before = await self._get(connection, old_hash, for_update=True)
            if before is None:
                raise self.not_found(old_hash)
            new_record = dataclasses.replace(new_record, key_id=before.key_id)
            values = self.values(new_record)
            await connection.execute(delete(self.table).where(self.table.c.token_hash == old_hash))
            await self._insert(connection, values)
            await epoch.bump(connection)
        return before, new_record

    async def principal_rows(self, token_hash: str) -> Principal | None:
        """The key with its user, team and customer (None where absent), in one query; None for an unknown key.
        The team is loaded without its members."""
        async with self.database.read() as connection:
            row = (await connection.execute(_PRINCIPAL_QUERY, {"token_hash": token_hash})).mappings().first()
        if row is None:
            return None
        split = {prefix: _prefixed(row, prefix) for prefix, _ in _PRINCIPAL_PARTS}
        return Principal(
            key=_key(split["k"]),
            user=None if split["u"]["user_id"] is None else _user(split["u"]),
            team=None if split["t"]["team_id"] is None else _team(split["t"]),
            customer=None if split["c"]["customer_id"] is None else _customer(split["c"]),
        )


_PRINCIPAL_PARTS = (("k", schema.api_keys), ("u", schema.users), ("t", schema.teams), ("c", schema.customers))


def _principal_query() -> Select[Any]:
    """The key joined to its user, team and customer, every column labelled ``<part>__<name>``, for the key of the
    ``token_hash`` parameter. Built once: building this 60-column statement was about 40 % of the CPU of a key's
    load (2.3-2.5 ms -> 1.3-1.6 ms, bench/RESULTS.md), and a key is loaded again whenever any entity changes."""
    keys, users, teams, customers = (table for _, table in _PRINCIPAL_PARTS)
    joined = (
        keys.outerjoin(users, users.c.user_id == keys.c.user_id)
        .outerjoin(teams, teams.c.team_id == keys.c.team_id)
        .outerjoin(customers, customers.c.customer_id == keys.c.customer_id)
    )
    query = select(*(column.label(f"{p}__{column.name}") for p, table in _PRINCIPAL_PARTS for column in table.c))
    return query.select_from(joined).where(keys.c.token_hash == bindparam("token_hash"))


_PRINCIPAL_QUERY = _principal_query()


def _key(row: Row) -> KeyRecord:
    return KeyRecord(
        token_hash=row["token_hash"],
        key_name=row["key_name"],
        key_id=row["key_id"],
        key_alias=row["key_alias"],
        role=row["role"],
        user_id=row["user_id"],
        team_id=row["team_id"],
        customer_id=row["customer_id"],
        models=tuple(row["models"] or ()),
        aliases=dict(row["aliases"] or {}),
        tags=tuple(row["tags"] or ()),
        blocked=bool(row["blocked"]),
        expires=read_utc(row["expires"]),
        limits=limits_of(row),
        **stamps_of(row),
    )


def _prefixed(row: Row, prefix: str) -> dict[str, Any]:
    start = f"{prefix}__"
    return {name[len(start) :]: value for name, value in row.items() if name.startswith(start)}


class UserStore(EntityStore[UserRecord]):
    """Internal users, by ``user_id``."""

    kind = "user"
    table = schema.users
    id_column = "user_id"

    def values(self, record: UserRecord) -> dict[str, Any]:
        """The ``users`` row of a record."""
        return {
            "user_id": record.user_id,
            "user_email": record.user_email,
            "user_role": record.user_role,
            "models": list(record.models),
            "blocked": record.blocked,
            **limits_values(record.limits),
            **_stamp_values(record),
        }

    def record(self, row: Row) -> UserRecord:
        """The record of a ``users`` row."""
        return _user(row)

    async def list(
        self,
        *,
        user_role: str | None = None,
        team_id: str | None = None,
        page: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> tuple[list[UserRecord], int]:
        """Users (with this role, in this team), newest first, and how many match in all."""
        conditions: list[ColumnElement[bool]] = []
        if user_role is not None:
            conditions.append(self.table.c.user_role == user_role)
        if team_id is not None:
            members = select(schema.team_members.c.user_id).where(schema.team_members.c.team_id == team_id)
            conditions.append(self.table.c.user_id.in_(members))
        return await self.page(conditions, page, page_size)

    async def _delete_dependents(self, connection: AsyncConnection, ident: str) -> None:
        await connection.execute(delete(schema.team_members).where(schema.team_members.c.user_id == ident))


def _user(row: Row) -> UserRecord:
    return UserRecord(
        user_id=row["user_id"],
        user_email=row["user_email"],
        user_role=row["user_role"],
        models=tuple(row["models"] or ()),
        blocked=bool(row["blocked"]),
        limits=limits_of(row),
        **stamps_of(row),
    )


class TeamStore(EntityStore[TeamRecord]):
    """Teams with their members, by ``team_id``."""

    kind = "team"
    table = schema.teams
    id_column = "team_id"

    def values(self, record: TeamRecord) -> dict[str, Any]:
        """The ``teams`` row of a record (members are rows of ``team_members``)."""
        return {
            "team_id": record.team_id,
            "team_alias": record.team_alias,
            "models": list(record.models),
            "blocked": record.blocked,
            **limits_values(record.limits),
            **_stamp_values(record),
        }

    def record(self, row: Row) -> TeamRecord:
        """The record of a ``teams`` row, without members."""
        return _team(row)

    async def create(self, record: TeamRecord) -> TeamRecord:
        """Insert the team and its members in one transaction."""
        async with self.database.write() as connection:
            await self._insert(connection, self.values(record))
            for member in record.members:
                await self._insert_member(connection, record.team_id, member)
            await epoch.bump(connection)
        return record

    async def list(
        self, *, user_id: str | None = None, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE
    ) -> tuple[list[TeamRecord], int]:
        """Teams (that ``user_id`` is a member of), newest first, with members, and how many match in all."""
        conditions: list[ColumnElement[bool]] = []
        if user_id is not None:
            teams_of = select(schema.team_members.c.team_id).where(schema.team_members.c.user_id == user_id)
            conditions.append(self.table.c.team_id.in_(teams_of))
        return await self.page(conditions, page, page_size)

    async def members(self, team_id: str) -> tuple[TeamMember, ...]:
        """The team's members, oldest first (empty for a team without members, or no such team)."""
        async with self.database.read() as connection:
            return await self._members(connection, team_id)

    async def add_member(self, team_id: str, user_id: str, role: str = "user") -> TeamMember:
        """Add a member; RecordNotFoundError without such a team, ConflictError when already a member."""
        member = TeamMember(user_id=user_id, role=role, created_at=self._clock())
        async with self.database.write() as connection:
            if await self._get_row(connection, team_id) is None:
                raise RecordNotFoundError(self.kind, team_id)
            await self._insert_member(connection, team_id, member)
            await epoch.bump(connection)
        return member

    async def remove_member(self, team_id: str, user_id: str) -> TeamMember:
        """Remove a member and return the membership; RecordNotFoundError when not a member."""
        members = schema.team_members
        where = (members.c.team_id == team_id) & (members.c.user_id == user_id)
        async with self.database.write() as connection:
            row = (await connection.execute(select(members).where(where))).mappings().first()
            if row is None:
                raise RecordNotFoundError("team member", f"{team_id}/{user_id}")
            await connection.execute(delete(members).where(where))
            await epoch.bump(connection)
        return _member(row)

    async def _get_row(self, connection: AsyncConnection, team_id: str) -> Any:
        query = select(self.table.c.team_id).where(self.table.c.team_id == team_id)
        if not self.database.is_sqlite:
            query = query.with_for_update()
        return (await connection.execute(query)).first()

    async def _insert_member(self, connection: AsyncConnection, team_id: str, member: TeamMember) -> None:
        values = {
            "team_id": team_id,
            "user_id": member.user_id,
            "role": member.role,
            "created_at": write_utc(member.created_at),
        }
        try:
            await connection.execute(insert(schema.team_members).values(values))
        except IntegrityError as error:
            if self.conflict(error, values) is not None:
                raise ConflictError(
                    f"user {member.user_id!r} is already a member of team {team_id!r}", field="user_id"
                ) from None
            raise

    async def _members(self, connection: AsyncConnection, team_id: str) -> tuple[TeamMember, ...]:
        members = schema.team_members
        query = select(members).where(members.c.team_id == team_id).order_by(members.c.created_at, members.c.user_id)
        return tuple(_member(row) for row in (await connection.execute(query)).mappings())

    async def _complete(self, connection: AsyncConnection, record: TeamRecord) -> TeamRecord:
        return replace(record, members=await self._members(connection, record.team_id))

    async def _complete_many(
        self, connection: AsyncConnection, records: builtins.list[TeamRecord]
    ) -> builtins.list[TeamRecord]:
        # One query for a whole page's members, not one per team.
        if not records:
            return records
        members = schema.team_members
        query = select(members).where(members.c.team_id.in_([record.team_id for record in records]))
        query = query.order_by(members.c.created_at, members.c.user_id)
        by_team: dict[str, list[TeamMember]] = {}
        for row in (await connection.execute(query)).mappings():
            by_team.setdefault(row["team_id"], []).append(_member(row))
        return [replace(record, members=tuple(by_team.get(record.team_id, ()))) for record in records]

    async def _delete_dependents(self, connection: AsyncConnection, ident: str) -> None:
        await connection.execute(delete(schema.team_members).where(schema.team_members.c.team_id == ident))


def _team(row: Row) -> TeamRecord:
    return TeamRecord(
        team_id=row["team_id"],
        team_alias=row["team_alias"],
        models=tuple(row["models"] or ()),
        blocked=bool(row["blocked"]),
        limits=limits_of(row),
        **stamps_of(row),
    )


def _member(row: Row) -> TeamMember:
    created = read_utc(row["created_at"])
    assert created is not None
    return TeamMember(user_id=row["user_id"], role=row["role"], created_at=created)


class CustomerStore(EntityStore[CustomerRecord]):
    """Customers (the end users of the caller's product), by ``customer_id``."""

    kind = "customer"
    table: Table = schema.customers
    id_column = "customer_id"
    unique_columns = ("stripe_customer_id",)

    def values(self, record: CustomerRecord) -> dict[str, Any]:
        """The ``customers`` row of a record."""
        plain = ("customer_id", "alias", "blocked", "plan", "allowed_model_region", "default_model")
        return {
            **{name: getattr(record, name) for name in plain},
            "stripe_customer_id": record.stripe_customer_id,
            **limits_values(record.limits),
            **_stamp_values(record),
        }

    def record(self, row: Row) -> CustomerRecord:
        """The record of a ``customers`` row."""
        return _customer(row)

    async def get_by_stripe_id(self, stripe_customer_id: str) -> CustomerRecord | None:
        """The customer with this Stripe customer id, or None."""
        query = select(self.table).where(self.table.c.stripe_customer_id == stripe_customer_id)
        async with self.database.read() as connection:
            row = (await connection.execute(query)).mappings().first()
        return None if row is None else self.record(row)

    async def list(
        self, *, blocked: bool | None = None, plan: str | None = None, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE
    ) -> tuple[list[CustomerRecord], int]:
        """Customers (blocked or not, on this plan), newest first, and how many match in all."""
        conditions: list[ColumnElement[bool]] = []
        if blocked is not None:
            conditions.append(self.table.c.blocked == blocked)
        if plan is not None:
            conditions.append(self.table.c.plan == plan)
        return await self.page(conditions, page, page_size)


def _customer(row: Row) -> CustomerRecord:
    return CustomerRecord(
        customer_id=row["customer_id"],
        alias=row["alias"],
        blocked=bool(row["blocked"]),
        plan=row["plan"],
        allowed_model_region=row["allowed_model_region"],
        default_model=row["default_model"],
        stripe_customer_id=row["stripe_customer_id"],
        limits=limits_of(row),
        **stamps_of(row),
    )

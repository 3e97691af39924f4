"""What every entity store shares: row <-> record conversion, conflict mapping, and create/get/update/delete/list.

``EntityStore`` is generic over one table and its record type; ``tollway.storage.entities`` defines the four stores
on it. Writes run in ``Database.write()`` transactions; an update reads the row (``FOR UPDATE`` on PostgreSQL),
writes, and reads it again in one transaction, so the ``(before, after)`` pair it returns is exactly what changed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tollway.governance.records import LIMIT_FIELDS, Limits, ModelBudget
from tollway.storage import epoch
from tollway.storage.database import ConflictError, Database, RecordNotFoundError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = [
    "MAX_PAGE_SIZE",
    "Clock",
    "EntityStore",
    "Row",
    "encode_value",
    "limits_of",
    "limits_values",
    "read_utc",
    "stamps_of",
    "write_utc",
]

MAX_PAGE_SIZE = 1000

Clock = Callable[[], datetime]
Row = Mapping[Any, Any]  # a result row (``RowMapping``) or a plain dict of column name -> value
R = TypeVar("R")


def _now() -> datetime:
    return datetime.now(UTC)


def write_utc(moment: datetime | None) -> datetime | None:
    """An aware datetime in UTC, for storage (SQLite keeps no offset, so every stored time must be UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("the store needs aware datetimes (UTC), got a naive one")
    return moment.astimezone(UTC)


def read_utc(moment: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite returns it naive; it was written in UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _read_utc_required(moment: datetime) -> datetime:
    value = read_utc(moment)
    assert value is not None
    return value


def limits_values(limits: Limits) -> dict[str, Any]:
    """The limit columns' values for a row."""
    return {name: encode_value(name, getattr(limits, name)) for name in LIMIT_FIELDS}


def limits_of(row: Row) -> Limits:
    """The Limits of a row (JSON columns hold LiteLLM's shapes; money is exact)."""
    from decimal import Decimal

    budgets = {
        model: ModelBudget(Decimal(str(spec["budget_limit"])), spec.get("time_period"))
        for model, spec in (row["model_max_budget"] or {}).items()
    }
    return Limits(
        max_budget=row["max_budget"],
        soft_budget=row["soft_budget"],
        budget_duration=row["budget_duration"],
        rpm_limit=row["rpm_limit"],
        tpm_limit=row["tpm_limit"],
        max_parallel_requests=row["max_parallel_requests"],
        model_max_budget=budgets,
        model_rpm_limit=dict(row["model_rpm_limit"] or {}),
        model_tpm_limit=dict(row["model_tpm_limit"] or {}),
    )


def encode_value(name: str, value: Any) -> Any:
    """A record field's value as its column stores it (tuples as JSON lists, per-model budgets as LiteLLM's
    ``{"budget_limit": "0.5", "time_period": "1d"}``, times in UTC)."""
    if name == "model_max_budget":
        return {model: budget.to_api() for model, budget in (value or {}).items()}
    if isinstance(value, tuple | list):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, datetime):
        return write_utc(value)
    return value


def stamps_of(row: Row) -> dict[str, Any]:
    """The audit columns every entity has, as record fields."""
    return {
        "metadata": dict(row["metadata"] or {}),
        "created_at": _read_utc_required(row["created_at"]),
        "updated_at": _read_utc_required(row["updated_at"]),
        "created_by": row["created_by"],
        "updated_by": row["updated_by"],
    }


class EntityStore(ABC, Generic[R]):
    """Create, get, update, delete, block and list the rows of one entity table as records of type ``R``.

    Subclasses set ``kind`` (for messages), ``table``, ``id_column`` and ``unique_columns``, and implement
    ``values(record)`` and ``record(row)``.
    """

    kind: str
    table: Table
    id_column: str
    unique_columns: tuple[str, ...] = ()

    def __init__(self, database: Database, *, clock: Clock = _now) -> None:
        self.database = database
        self._clock = clock

    @abstractmethod
    def values(self, record: R) -> dict[str, Any]:
        """The row of a record."""
        ...

    @abstractmethod
    def record(self, row: Row) -> R:
        """The record of a row."""
        ...

    @property
    def _id(self) -> ColumnElement[Any]:
        return self.table.c[self.id_column]

    async def create(self, record: R) -> R:
        """Insert ``record``; ConflictError naming the field when its id (or another unique value) exists."""
        values = self.values(record)
        async with self.database.write() as connection:
            await self._insert(connection, values)
            await epoch.bump(connection)
        return record

    async def get(self, ident: str) -> R | None:
        """The record with this id, or None."""
        async with self.database.read() as connection:
            return await self._get(connection, ident)

    async def update(self, ident: str, **changes: Any) -> tuple[R, R]:
        """Set the given fields (record field names; ``updated_at`` defaults to now) and return ``(before, after)``.

        RecordNotFoundError when there is no such row; ConflictError on a duplicate unique value; ValueError for a
        field the entity does not have (ids and ``created_at`` cannot change).
        """
        values = self.encode_changes(changes)
        async with self.database.write() as connection:
            before = await self._get(connection, ident, for_update=True)
            if before is None:
                raise self.not_found(ident)
            await self._execute(connection, update(self.table).where(self._id == ident).values(values), values)
            await epoch.bump(connection)
            after = await self._get(connection, ident)
        assert after is not None
        return before, after

    async def set_blocked(self, ident: str, blocked: bool, *, updated_by: str | None = None) -> tuple[R, R]:
        """Block or unblock; ``(before, after)``."""
        return await self.update(ident, blocked=blocked, updated_by=updated_by)

    async def delete(self, ident: str) -> R:
        """Delete the row and return what it was; RecordNotFoundError when there is none."""
        async with self.database.write() as connection:
            before = await self._get(connection, ident, for_update=True)
            if before is None:
                raise self.not_found(ident)
            await self._delete_dependents(connection, ident)
            await connection.execute(delete(self.table).where(self._id == ident))
            await epoch.bump(connection)
        return before

    def encode_changes(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Validate field names and convert values to their column form."""
        fixed = {self.id_column, "created_at"}
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "limits" and isinstance(value, Limits):
                values.update(limits_values(value))
            elif name in fixed or name not in self.table.c:
                raise ValueError(f"a {self.kind} has no changeable field {name!r}")
            else:
                values[name] = encode_value(name, value)
        values.setdefault("updated_at", self._clock())
        values["updated_at"] = write_utc(values["updated_at"])
        return values

    async def page(self, conditions: Sequence[ColumnElement[bool]], page: int, page_size: int) -> tuple[list[R], int]:
        """One page (1-based) of the rows matching every condition, newest first, and the total count."""
        if page < 1:
            raise ValueError("page starts at 1")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        query = select(self.table).where(*conditions)
        query = query.order_by(self.table.c.created_at.desc(), self._id).limit(page_size).offset((page - 1) * page_size)
        counting = select(func.count()).select_from(self.table).where(*conditions)
        async with self.database.read() as connection:
            rows = (await connection.execute(query)).mappings().all()
            total = (await connection.execute(counting)).scalar_one()
            records = await self._complete_many(connection, [self.record(row) for row in rows])
        return records, int(total)

    async def _get(self, connection: AsyncConnection, ident: str, *, for_update: bool = False) -> R | None:
        query = select(self.table).where(self._id == ident)
        if for_update and not self.database.is_sqlite:
            query = query.with_for_update()
        row = (await connection.execute(query)).mappings().first()
        return None if row is None else await self._complete(connection, self.record(row))

    async def _complete(self, connection: AsyncConnection, record: R) -> R:
        """Load what a record holds beyond its row (a team's members); nothing by default."""
        return record

    async def _complete_many(self, connection: AsyncConnection, records: list[R]) -> list[R]:
        """``_complete`` for a page of records (a store may do it in one query)."""
        return [await self._complete(connection, record) for record in records]

    async def _delete_dependents(self, connection: AsyncConnection, ident: str) -> None:
        """Delete rows that belong to the entity being deleted (a team's memberships); nothing by default."""

    async def _insert(self, connection: AsyncConnection, values: Mapping[str, Any]) -> None:
        await self._execute(connection, insert(self.table).values(dict(values)), values)

    async def _execute(self, connection: AsyncConnection, statement: Any, values: Mapping[str, Any]) -> None:
        try:
            await connection.execute(statement)
        except IntegrityError as error:
            conflict = self.conflict(error, values)
            if conflict is None:
                raise
            raise conflict from None

    def conflict(self, error: IntegrityError, values: Mapping[str, Any]) -> ConflictError | None:
        """The ConflictError for a unique violation (naming the field), or None for another integrity error."""
        message = str(error.orig)
        if "UNIQUE constraint failed" not in message and "duplicate key value" not in message:
            return None
        table = self.table.name
        for column in (self.id_column, *self.unique_columns):
            names = (f"{table}.{column}", f"uq_{table}_{column}", f"({column})")
            if any(name in message for name in names) or (column == self.id_column and f'"pk_{table}"' in message):
                return ConflictError(self.conflict_message(column, values.get(column)), field=column)
        return ConflictError(f"the {self.kind} conflicts with an existing one", field=self.id_column)

    def not_found(self, ident: str) -> RecordNotFoundError:
        """The error for a missing row."""
        return RecordNotFoundError(self.kind, ident)

    def conflict_message(self, column: str, value: Any) -> str:
        """What a duplicate ``column`` value is called in an error message."""
        return f"a {self.kind} with {column} {value!r} already exists"

"""The audit log: every management action with its actor, time, target and before/after values, secrets redacted.

Append-only by construction: ``AuditLog`` has ``append`` and ``query`` and nothing that updates or deletes a row.
Before/after values pass through ``redact``: token hashes are shortened to their first 8 characters, values of
fields whose names say key, secret, password or token (whole values, nested ones included) are masked, and any
string shaped like a virtual key is masked wherever it appears. ``key_name`` (``"sk-...abcd"``) and ``key_alias``
are kept: they identify without granting.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, func, insert, select

from tollway.storage import schema
from tollway.storage.entities_base import MAX_PAGE_SIZE, read_utc, write_utc

if TYPE_CHECKING:
    from tollway.storage.database import Database

__all__ = ["MASK", "AuditEntry", "AuditLog", "redact"]

MASK = "***"
_HASH_FIELDS = frozenset({"token", "token_hash", "key_hash", "hashed_token"})
_PLAIN_FIELDS = frozenset({"key_name", "key_alias", "key_type", "keys", "key_count", "token_count"})
_SECRET_PARTS = frozenset({"key", "secret", "password", "passwd", "pwd", "token", "credential", "credentials"})
_SECRET_PARTS |= frozenset({"apikey", "secretkey", "accesskey", "privatekey", "authorization", "cookie"})
_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# A virtual key (or a provider key) wherever it appears, but not a display name such as "sk-...abcd".
_HEX_HASH = re.compile(r"[0-9a-f]{32,128}")
_KEY_SHAPED = re.compile(r"\bsk-(?!\.\.\.)[A-Za-z0-9_\-]{8,}")


def _is_secret_name(name: str) -> bool:
    if name in _PLAIN_FIELDS:
        return False
    parts = _WORD.findall(_CAMEL.sub("_", name).lower())
    return any(part in _SECRET_PARTS for part in parts)


def redact(value: Any, *, name: str | None = None) -> Any:
    """A JSON-ready copy of ``value`` with secrets masked and token hashes shortened (recursively)."""
    if name is not None and value is not None:
        if name in _HASH_FIELDS:
            return value[:8] + "..." if isinstance(value, str) and _HEX_HASH.fullmatch(value) else MASK
        if _is_secret_name(name):
            return MASK
    return _redact_value(value, name)


def _redact_value(value: Any, name: str | None) -> Any:
    if isinstance(value, Mapping):
        return {str(key): redact(item, name=str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item, name=name) for item in value]
    if isinstance(value, str):
        return _KEY_SHAPED.sub(MASK, value)
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)  # Decimal and the like: JSON has no exact number type


def _snapshot(value: Any) -> Any:
    """A record (anything with ``to_api()``), a mapping or None, redacted."""
    if value is None:
        return None
    to_api: Callable[[], Any] | None = getattr(value, "to_api", None)
    return redact(to_api() if to_api is not None else value)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit row."""

    id: int
    ts: datetime
    actor: str
    action: str
    target_kind: str
    target_id: str | None
    before: Any
    after: Any
    note: str | None = None

    def to_api(self) -> dict[str, Any]:
        """The JSON form ``/audit/logs`` returns."""
        return {
            "id": self.id,
            "ts": self.ts.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target_kind": self.target_kind,
            "target_id": self.target_id,
            "before": self.before,
            "after": self.after,
            "note": self.note,
        }


class AuditLog:
    """Append and query audit entries (no update, no delete)."""

    def __init__(self, database: Database, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.database = database
        self._clock = clock

    async def append(
        self,
        actor: str,
        action: str,
        target_kind: str,
        target_id: str | None,
        *,
        before: Any = None,
        after: Any = None,
        note: str | None = None,
    ) -> int:
        """Record one action (``before``/``after``: records, mappings or None; redacted here). Returns the row id.

        ``actor`` is "master" or a key's display name; ``action`` e.g. "key.generate"; ``target_kind`` e.g. "key".
        """
        values = {
            "ts": write_utc(self._clock()),
            "actor": actor,
            "action": action,
            "target_kind": target_kind,
            "target_id": target_id,
            "before": _snapshot(before),
            "after": _snapshot(after),
            "note": note,
        }
        table = schema.audit_log
        async with self.database.write() as connection:
            result = await connection.execute(insert(table).values(values))
            # inserted_primary_key, not RETURNING: SQLite before 3.35 has no RETURNING.
            primary_key = result.inserted_primary_key
            assert primary_key is not None
            return int(primary_key[0])

    async def query(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target_kind: str | None = None,
        target_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        page: int = 1,
        page_size: int = 100,
    ) -> tuple[list[AuditEntry], int]:
        """Entries matching every given filter (``start`` inclusive, ``end`` exclusive), newest first, and the total."""
        if page < 1:
            raise ValueError("page starts at 1")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        table = schema.audit_log
        conditions: list[ColumnElement[bool]] = [
            column == value
            for column, value in (
                (table.c.actor, actor),
                (table.c.action, action),
                (table.c.target_kind, target_kind),
                (table.c.target_id, target_id),
            )
            if value is not None
        ]
        if start is not None:
            conditions.append(table.c.ts >= write_utc(start))
        if end is not None:
            conditions.append(table.c.ts < write_utc(end))
        query = select(table).where(*conditions).order_by(table.c.ts.desc(), table.c.id.desc())
        query = query.limit(page_size).offset((page - 1) * page_size)
        counting = select(func.count()).select_from(table).where(*conditions)
        async with self.database.read() as connection:
            rows = (await connection.execute(query)).mappings().all()
            total = (await connection.execute(counting)).scalar_one()
        return [_entry(row) for row in rows], int(total)


def _entry(row: Mapping[Any, Any]) -> AuditEntry:
    ts = read_utc(row["ts"])
    assert ts is not None
    return AuditEntry(
        id=int(row["id"]),
        ts=ts,
        actor=row["actor"],
        action=row["action"],
        target_kind=row["target_kind"],
        target_id=row["target_id"],
        before=row["before"],
        after=row["after"],
        note=row["note"],
    )

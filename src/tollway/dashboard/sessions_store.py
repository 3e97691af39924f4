"""The dashboard's server-side sessions (table ``ui_sessions``): create, read, revoke, prune.

Rows are keyed by the SHA-256 of the session id (``tollway.dashboard.session.session_hash``); the id itself lives only
in the browser's HttpOnly cookie. Every gateway instance reads the same table, so a sign-out on one instance ends the
session on all of them at once.

SQLAlchemy and ``storage.schema`` are imported by the methods, not at import: the app imports this module even when
it runs without a database, and those two are ~16 MB of a worker's memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tollway.storage.database import Database

__all__ = ["SessionRecord", "SessionStore"]


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes: every stored time is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One sign-in. ``method`` is ``"key"`` (the master key or an admin key) or ``"sso"``; ``key_hash`` is the
    SHA-256 of the key signed in with (None for SSO); ``key_id`` the virtual key's stable id (None otherwise)."""

    id_hash: str
    role: str
    name: str
    method: str
    created_at: datetime
    expires_at: datetime
    key_id: str | None = None
    key_hash: str | None = None
    revoked_at: datetime | None = None

    def live(self, now: datetime) -> bool:
        """Neither revoked nor expired at ``now``."""
        return self.revoked_at is None and now < self.expires_at

    def row(self) -> dict[str, Any]:
        """The record as ``ui_sessions`` values."""
        return {
            "id_hash": self.id_hash,
            "role": self.role,
            "name": self.name,
            "method": self.method,
            "key_id": self.key_id,
            "key_hash": self.key_hash,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
        }


def _record(row: Any) -> SessionRecord:
    revoked = row["revoked_at"]
    return SessionRecord(
        id_hash=row["id_hash"],
        role=row["role"],
        name=row["name"],
        method=row["method"],
        created_at=_utc(row["created_at"]),
        expires_at=_utc(row["expires_at"]),
        key_id=row["key_id"],
        key_hash=row["key_hash"],
        revoked_at=None if revoked is None else _utc(revoked),
    )


class SessionStore:
    """``ui_sessions`` on one ``Database``."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def create(self, record: SessionRecord) -> None:
        """Insert a new session."""
        from sqlalchemy import insert

        from tollway.storage.schema import ui_sessions

        async with self._database.write() as connection:
            await connection.execute(insert(ui_sessions).values(**record.row()))

    async def get(self, id_hash: str) -> SessionRecord | None:
        """The session with this id hash (live or not), or None."""
        from sqlalchemy import select

        from tollway.storage.schema import ui_sessions

        async with self._database.read() as connection:
            query = select(ui_sessions).where(ui_sessions.c.id_hash == id_hash)
            row = (await connection.execute(query)).mappings().first()
        return None if row is None else _record(row)

    async def revoke(self, id_hash: str, now: datetime) -> bool:
        """Mark a live session revoked; whether there was one."""
        from sqlalchemy import update

        from tollway.storage.schema import ui_sessions

        statement = (
            update(ui_sessions)
            .where(ui_sessions.c.id_hash == id_hash, ui_sessions.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        async with self._database.write() as connection:
            result = await connection.execute(statement)
        return bool(result.rowcount)

    async def prune(self, now: datetime) -> int:
        """Delete every session that expired before ``now`` (revoked or not); how many went."""
        from sqlalchemy import delete

        from tollway.storage.schema import ui_sessions

        async with self._database.write() as connection:
            result = await connection.execute(delete(ui_sessions).where(ui_sessions.c.expires_at < now))
        return int(result.rowcount)

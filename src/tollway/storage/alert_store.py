"""``AlertStore``: alert rules, the events they raised and each channel's delivery of each.

- Rules are stored as their validated payload (``AlertRule.payload()``: secrets in full, since sending needs them)
  and read back through the same validation, so a stored rule is always a valid one.
- ``claim`` is the dedupe: each alert's event is inserted with ``ON CONFLICT (dedupe_key) DO NOTHING RETURNING id``
  (PostgreSQL and SQLite alike), in dedupe-key order so concurrent claimers lock in one order. Only the caller whose
  insert returned a row sends; the event's deliveries (one per channel, ``pending``) are inserted in the same
  transaction with a lease: until ``lease_until`` no other instance touches them.
- ``reclaim`` hands pending deliveries whose lease ran out (their sender died) to a new sender, one conditional
  update per delivery, so two instances never take the same one.
- ``record_attempt`` counts an attempt on its delivery (status, last error, HTTP status) and sets the event's status
  from its deliveries': ``pending`` while any is, else ``failed`` when any failed, else ``delivered``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, delete, func, insert, select, update

from tollway.economics.alerts import AlertRule, Channel, parse_channel, parse_rule
from tollway.storage import schema
from tollway.storage.database import Database, RecordNotFoundError
from tollway.storage.entities_base import MAX_PAGE_SIZE, read_utc, write_utc

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from tollway.economics.alerts_delivery import Attempt
    from tollway.economics.alerts_eval import Alert

__all__ = ["EVENT_STATUSES", "AlertStore", "Claimed", "new_id"]

EVENT_STATUSES = ("pending", "delivered", "failed", "suppressed")
_RECLAIM_BATCH = 100


def new_id() -> str:
    """A new row id (32 hex digits)."""
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: Any) -> datetime:
    value = read_utc(moment)
    assert value is not None
    return value


@dataclass(frozen=True, slots=True)
class Claimed:
    """An event this caller must send: its id, time, payload, and (delivery id, channel) per channel."""

    event_id: str
    created: datetime
    payload: Mapping[str, Any]
    deliveries: list[tuple[str, Channel]] = field(default_factory=list)


def _rule(row: Mapping[Any, Any]) -> AlertRule:
    payload = {
        "name": row["name"],
        "kind": row["kind"],
        "scope": row["scope"],
        **row["params"],
        "channels": row["channels"],
        "enabled": bool(row["enabled"]),
    }
    rule = parse_rule(payload, rule_id=row["id"], now=_aware(row["created_at"]), smtp_default=True)
    return replace(
        rule, updated_at=_aware(row["updated_at"]), created_by=row["created_by"], updated_by=row["updated_by"]
    )


def _rule_values(rule: AlertRule) -> dict[str, Any]:
    payload = rule.payload()
    return {
        "id": rule.id,
        "name": rule.name,
        "kind": rule.kind,
        "enabled": rule.enabled,
        "scope": payload["scope"],
        "params": rule.params(),
        "channels": payload["channels"],
        "created_at": write_utc(rule.created_at),
        "updated_at": write_utc(rule.updated_at),
        "created_by": rule.created_by,
        "updated_by": rule.updated_by,
    }


def _iso(moment: Any) -> str | None:
    value = read_utc(moment)
    return None if value is None else value.isoformat()


def _delivery_api(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "channel": row["channel_type"],
        "target": row["target"],
        "status": row["status"],
        "attempts": row["attempts"],
        "last_error": row["last_error"],
        "http_status": row["http_status"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
        "delivered_at": _iso(row["delivered_at"]),
    }


def _event_api(row: Mapping[Any, Any], deliveries: list[dict[str, Any]]) -> dict[str, Any]:
    payload = row["payload"] or {}
    return {
        "id": row["id"],
        "rule_id": row["rule_id"],
        "rule_name": row["rule_name"],
        "kind": row["kind"],
        "subject": payload.get("subject") or {"kind": row["subject_kind"], "id": row["subject_id"], "name": None},
        "period": row["period"],
        "threshold": row["threshold"],
        "status": row["status"],
        "title": payload.get("title"),
        "text": payload.get("text"),
        "data": payload.get("data") or {},
        "attempts": sum(delivery["attempts"] for delivery in deliveries),
        "deliveries": deliveries,
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
    }


def _delivery_row(
    delivery_id: str, event_id: str, position: int, channel: Channel, *, now: datetime, lease: float
) -> dict[str, Any]:
    return {
        "id": delivery_id,
        "event_id": event_id,
        "position": position,
        "channel_type": channel.type,
        "target": channel.target()[:2100],
        "channel": channel.stored(reveal=True),
        "status": "pending",
        "attempts": 0,
        "last_error": None,
        "http_status": None,
        "lease_until": write_utc(now + timedelta(seconds=lease)),
        "created_at": write_utc(now),
        "updated_at": write_utc(now),
        "delivered_at": None,
    }


class AlertStore:
    """Alert rules, events and deliveries on one ``Database`` (see the module docstring)."""

    def __init__(self, database: Database, *, clock: Callable[[], datetime] = _now) -> None:
        self.database = database
        self._clock = clock

    # -- rules ------------------------------------------------------------------------------------------------------

    async def create_rule(self, rule: AlertRule) -> AlertRule:
        """Insert a rule (its id is new)."""
        async with self.database.write() as connection:
            await connection.execute(insert(schema.alert_rules).values(_rule_values(rule)))
        return rule

    async def get_rule(self, rule_id: str) -> AlertRule | None:
        """The rule with this id, or None."""
        table = schema.alert_rules
        async with self.database.read() as connection:
            row = (await connection.execute(select(table).where(table.c.id == rule_id))).mappings().first()
        return None if row is None else _rule(row)

    async def rules(
        self, *, kind: str | None = None, enabled: bool | None = None, page: int = 1, page_size: int = 100
    ) -> tuple[list[AlertRule], int]:
        """One page of rules (newest first) and how many match in all."""
        if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page starts at 1; page_size is 1 to {MAX_PAGE_SIZE}")
        table = schema.alert_rules
        conditions: list[ColumnElement[bool]] = []
        if kind is not None:
            conditions.append(table.c.kind == kind)
        if enabled is not None:
            conditions.append(table.c.enabled == enabled)
        query = select(table).where(*conditions).order_by(table.c.created_at.desc(), table.c.id)
        counting = select(func.count()).select_from(table).where(*conditions)
        async with self.database.read() as connection:
            rows = (await connection.execute(query.limit(page_size).offset((page - 1) * page_size))).mappings().all()
            total = (await connection.execute(counting)).scalar_one()
        return [_rule(row) for row in rows], int(total)

    async def enabled_rules(self) -> list[AlertRule]:
        """Every enabled rule, oldest first."""
        table = schema.alert_rules
        query = select(table).where(table.c.enabled.is_(True)).order_by(table.c.created_at, table.c.id)
        async with self.database.read() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_rule(row) for row in rows]

    async def update_rule(self, rule: AlertRule) -> AlertRule:
        """Store a changed rule; RecordNotFoundError when it no longer exists."""
        table = schema.alert_rules
        values = _rule_values(rule)
        del values["id"], values["created_at"], values["created_by"]
        async with self.database.write() as connection:
            result = await connection.execute(update(table).where(table.c.id == rule.id).values(values))
            if result.rowcount != 1:
                raise RecordNotFoundError("alert rule", rule.id)
        return rule

    async def delete_rule(self, rule_id: str) -> AlertRule:
        """Delete a rule (its history stays) and return what it was; RecordNotFoundError when there is none."""
        table = schema.alert_rules
        async with self.database.write() as connection:
            row = (await connection.execute(select(table).where(table.c.id == rule_id))).mappings().first()
            if row is None:
                raise RecordNotFoundError("alert rule", rule_id)
            await connection.execute(delete(table).where(table.c.id == rule_id))
        return _rule(row)

    # -- events and deliveries --------------------------------------------------------------------------------------

    def _insert_event(self) -> Any:
        from sqlalchemy.dialects import postgresql, sqlite

        dialect_insert: Any = sqlite.insert if self.database.is_sqlite else postgresql.insert
        statement = dialect_insert(schema.alert_events).on_conflict_do_nothing(index_elements=["dedupe_key"])
        return statement.returning(schema.alert_events.c.id)

    async def claim(self, alerts: Sequence[tuple[Alert, Sequence[Channel]]], lease: float) -> list[Claimed]:
        """Insert the events of ``alerts`` (each with the channels it goes to) whose dedupe key is new; the ones this
        call inserted and must send (suppressed alerts are recorded, never returned)."""
        now = self._clock()
        claimed: list[Claimed] = []
        ordered = sorted(alerts, key=lambda pair: pair[0].dedupe_key)
        async with self.database.write() as connection:
            for alert, channels in ordered:
                won = await self._claim_one(connection, alert, channels, now, lease)
                if won is not None:
                    claimed.append(won)
        return claimed

    async def _claim_one(
        self, connection: AsyncConnection, alert: Alert, channels: Sequence[Channel], now: datetime, lease: float
    ) -> Claimed | None:
        event_id = new_id()
        payload = alert.payload()
        status = "pending" if alert.deliver and channels else "suppressed"
        values = {
            "id": event_id,
            "dedupe_key": alert.dedupe_key,
            "rule_id": alert.rule_id,
            "rule_name": alert.rule_name,
            "kind": alert.kind,
            "subject_kind": alert.subject_kind,
            "subject_id": alert.subject_id,
            "period": alert.period[:64],
            "threshold": alert.threshold,
            "status": status,
            "payload": payload,
            "created_at": write_utc(now),
            "updated_at": write_utc(now),
        }
        if (await connection.execute(self._insert_event().values(values))).first() is None:
            return None  # another evaluator (or an earlier round) raised this alert
        if status == "suppressed":
            return None
        claimed = Claimed(event_id, now, payload)
        rows = []
        for position, channel in enumerate(channels):
            delivery_id = new_id()
            claimed.deliveries.append((delivery_id, channel))
            rows.append(_delivery_row(delivery_id, event_id, position, channel, now=now, lease=lease))
        await connection.execute(insert(schema.alert_deliveries), rows)
        return claimed

    async def reclaim(self, lease: float) -> list[Claimed]:
        """Pending deliveries whose lease has run out, now leased to this caller, grouped by event."""
        now = self._clock()
        table = schema.alert_deliveries
        stale = (table.c.status == "pending", table.c.lease_until < write_utc(now))
        query = select(table.c.id, table.c.event_id, table.c.channel).where(*stale).limit(_RECLAIM_BATCH)
        taken: dict[str, list[tuple[str, Channel]]] = {}
        async with self.database.read() as connection:  # the common case, nothing stale: no write lock taken
            candidates = (await connection.execute(query)).all()
        if not candidates:
            return []
        async with self.database.write() as connection:
            for delivery_id, event_id, channel in candidates:
                renew = update(table).where(table.c.id == delivery_id, *stale)
                renewed = await connection.execute(renew.values(lease_until=write_utc(now + timedelta(seconds=lease))))
                if renewed.rowcount == 1:
                    taken.setdefault(event_id, []).append((delivery_id, parse_channel(channel)))
            events = schema.alert_events
            rows = await connection.execute(select(events).where(events.c.id.in_(list(taken))))
            return [
                Claimed(row["id"], _aware(row["created_at"]), row["payload"], taken[row["id"]])
                for row in rows.mappings()
            ]

    async def record_attempt(self, delivery_id: str, event_id: str, attempt: Attempt, final: bool) -> None:
        """Count one attempt of a delivery and bring its event's status up to date."""
        now = write_utc(self._clock())
        status = "delivered" if attempt.delivered else "failed" if final else "pending"
        table, events = schema.alert_deliveries, schema.alert_events
        values: dict[str, Any] = {
            "attempts": table.c.attempts + 1,
            "status": status,
            "last_error": attempt.error,
            "http_status": attempt.http_status,
            "updated_at": now,
        }
        if attempt.delivered:
            values["delivered_at"] = now
        async with self.database.write() as connection:
            if not self.database.is_sqlite:
                # Deliveries of one event finish concurrently: lock the event so each recount sees the others'
                # committed statuses (SQLite's write transactions are serial already).
                await connection.execute(select(events.c.id).where(events.c.id == event_id).with_for_update())
            await connection.execute(update(table).where(table.c.id == delivery_id).values(values))
            statuses = set(
                (await connection.execute(select(table.c.status).where(table.c.event_id == event_id))).scalars()
            )
            overall = "pending" if "pending" in statuses else "failed" if "failed" in statuses else "delivered"
            await connection.execute(
                update(events).where(events.c.id == event_id).values(status=overall, updated_at=now)
            )

    async def history(
        self, *, rule_id: str | None = None, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        """Events (newest first) with their deliveries, as the API answers them, and how many match in all."""
        events, deliveries = schema.alert_events, schema.alert_deliveries
        conditions: list[ColumnElement[bool]] = []
        if rule_id is not None:
            conditions.append(events.c.rule_id == rule_id)
        if status is not None:
            conditions.append(events.c.status == status)
        query = select(events).where(*conditions).order_by(events.c.created_at.desc(), events.c.id)
        counting = select(func.count()).select_from(events).where(*conditions)
        async with self.database.read() as connection:
            rows = (await connection.execute(query.limit(limit).offset(offset))).mappings().all()
            total = (await connection.execute(counting)).scalar_one()
            ids = [row["id"] for row in rows]
            by_event: dict[str, list[dict[str, Any]]] = {ident: [] for ident in ids}
            if ids:
                found = select(deliveries).where(deliveries.c.event_id.in_(ids)).order_by(deliveries.c.position)
                for delivery in (await connection.execute(found)).mappings():
                    by_event[delivery["event_id"]].append(_delivery_api(delivery))
        return [_event_api(row, by_event[row["id"]]) for row in rows], int(total)

    async def event(self, event_id: str) -> dict[str, Any] | None:
        """One event with its deliveries, as the API answers it, or None."""
        events, deliveries = schema.alert_events, schema.alert_deliveries
        async with self.database.read() as connection:
            row = (await connection.execute(select(events).where(events.c.id == event_id))).mappings().first()
            if row is None:
                return None
            found = select(deliveries).where(deliveries.c.event_id == event_id).order_by(deliveries.c.position)
            items = [_delivery_api(delivery) for delivery in (await connection.execute(found)).mappings()]
        return _event_api(row, items)

"""Alerts: rules (budget, margin, anomaly), the alerts they raised (unique per dedupe key, so N gateway instances
send each once) and every channel's delivery of each.

Written out (not ``metadata.create_all``) for the same reason as 0001: this revision stays what it was when later
revisions change ``storage.schema``.

Revision ID: 0003_alerts
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_alerts"
down_revision = "0002"
branch_labels = None
depends_on = None


def _stamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    """Create ``alert_rules``, ``alert_events`` and ``alert_deliveries``."""
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        *_stamps(),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.Column("updated_by", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_rules"),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("dedupe_key", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(32), nullable=False),
        sa.Column("rule_name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject_kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(256), nullable=True),
        sa.Column("period", sa.String(64), nullable=False),
        sa.Column("threshold", sa.String(40), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_alert_events"),
        sa.UniqueConstraint("dedupe_key", name="uq_alert_events_dedupe_key"),
    )
    op.create_index("ix_alert_events_rule_created", "alert_events", ["rule_id", "created_at"])
    op.create_index("ix_alert_events_status_created", "alert_events", ["status", "created_at"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("channel_type", sa.String(16), nullable=False),
        sa.Column("target", sa.String(2100), nullable=False),
        sa.Column("channel", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        *_stamps(),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_deliveries"),
        sa.UniqueConstraint("event_id", "position", name="uq_alert_deliveries_event_id_position"),
    )
    op.create_index("ix_alert_deliveries_status_lease", "alert_deliveries", ["status", "lease_until"])


def downgrade() -> None:
    """Drop the three tables (and with them their indexes)."""
    op.drop_table("alert_deliveries")
    op.drop_table("alert_events")
    op.drop_table("alert_rules")

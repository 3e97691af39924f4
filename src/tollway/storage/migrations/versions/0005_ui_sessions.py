"""Dashboard sessions: one row per sign-in to ``/ui`` (the SHA-256 of the cookie's session id, never the id).

Written out (not ``metadata.create_all``) for the same reason as 0001: this revision stays what it was when later
revisions change ``storage.schema``.

Revision ID: 0005_ui_sessions
Revises: 0004_billing_export
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_ui_sessions"
down_revision = "0004_billing_export"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the ``ui_sessions`` table."""
    op.create_table(
        "ui_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("key_hash", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id_hash", name="pk_ui_sessions"),
    )
    op.create_index("ix_ui_sessions_expires_at", "ui_sessions", ["expires_at"])


def downgrade() -> None:
    """Drop the ``ui_sessions`` table (and with it its index)."""
    op.drop_table("ui_sessions")

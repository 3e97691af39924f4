"""Revenue: what each customer paid (manual entries, CSV imports, Stripe invoices and refunds).

Written out (not ``metadata.create_all``) for the same reason as 0001: this revision stays what it was when later
revisions change ``storage.schema``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tollway.storage.money import Money

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the ``revenue`` table."""
    op.create_table(
        "revenue",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(256), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_revenue"),
        sa.UniqueConstraint("source", "external_id", name="uq_revenue_source_external_id"),
    )
    op.create_index("ix_revenue_customer_id", "revenue", ["customer_id"])
    op.create_index("ix_revenue_period", "revenue", ["period_start", "period_end"])


def downgrade() -> None:
    """Drop the ``revenue`` table (and with it its indexes)."""
    op.drop_table("revenue")

"""Billing export: the exporters' cursors, what they did not export, the events settled ahead of a cursor, and on
PostgreSQL ``spend_logs.write_txid``, the inserting transaction's id (the order rows are exported in).

``write_txid`` is added with the constant default 0 first (PostgreSQL stores it once, in the catalog: no rewrite of
a big ``spend_logs``), so the rows already there read 0 and come first in export order (a ``backfill`` exports
them); then the default becomes ``pg_current_xact_id()`` for the rows written from now on. On SQLite the column
stays NULL (the rowid orders rows there) and the partial index is empty.

Written out (not ``metadata.create_all``) for the same reason as 0001: this revision stays what it was when later
revisions change ``storage.schema``.

Revision ID: 0004_billing_export
Revises: 0003_alerts
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_billing_export"
down_revision = "0003_alerts"
branch_labels = None
depends_on = None

NOW_TZ = sa.DateTime(timezone=True)
# xid8 has no cast to bigint; its text form is the 64-bit number (an epoch-extended xid: no wraparound).
TXID_DEFAULT = "(pg_current_xact_id()::text)::bigint"


def upgrade() -> None:
    """Add ``spend_logs.write_txid`` and the export tables."""
    postgres = op.get_bind().dialect.name == "postgresql"
    op.add_column(
        "spend_logs",
        sa.Column("write_txid", sa.BigInteger(), nullable=True, server_default=sa.text("0") if postgres else None),
    )
    if postgres:
        op.alter_column("spend_logs", "write_txid", server_default=sa.text(TXID_DEFAULT))
    op.create_index(
        "ix_spend_logs_write_txid",
        "spend_logs",
        ["write_txid", "id"],
        postgresql_where=sa.text("write_txid IS NOT NULL"),
        sqlite_where=sa.text("write_txid IS NOT NULL"),
    )
    op.create_table(
        "export_cursors",
        sa.Column("exporter", sa.String(32), nullable=False),
        sa.Column("cursor_position", sa.BigInteger(), nullable=False),
        sa.Column("cursor_spend_id", sa.String(32), nullable=False),
        sa.Column("rows_done", sa.BigInteger(), nullable=False),
        sa.Column("events_sent", sa.BigInteger(), nullable=False),
        sa.Column("events_rejected", sa.BigInteger(), nullable=False),
        sa.Column("rows_skipped", sa.BigInteger(), nullable=False),
        sa.Column("rows_unattributed", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_until", NOW_TZ, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", NOW_TZ, nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.Column("updated_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("exporter", name="pk_export_cursors"),
    )
    op.create_table(
        "export_failures",
        sa.Column("exporter", sa.String(32), nullable=False),
        sa.Column("identifier", sa.String(160), nullable=False),
        sa.Column("spend_id", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("customer_id", sa.String(128), nullable=True),
        sa.Column("ts", NOW_TZ, nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("exporter", "identifier", name="pk_export_failures"),
    )
    op.create_index("ix_export_failures_reason", "export_failures", ["exporter", "reason", "created_at"])
    op.create_table(
        "export_sent",
        sa.Column("exporter", sa.String(32), nullable=False),
        sa.Column("identifier", sa.String(160), nullable=False),
        sa.Column("spend_id", sa.String(32), nullable=False),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("exporter", "identifier", name="pk_export_sent"),
    )


def downgrade() -> None:
    """Drop the export tables and ``spend_logs.write_txid``."""
    op.drop_table("export_sent")
    op.drop_table("export_failures")
    op.drop_table("export_cursors")
    op.drop_index("ix_spend_logs_write_txid", table_name="spend_logs")
    op.drop_column("spend_logs", "write_txid")

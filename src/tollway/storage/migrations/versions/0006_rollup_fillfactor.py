"""PostgreSQL: room on each page of the rollup tables for the updates every spend batch makes (``fillfactor``).

Each batch of spend rows updates one ``spend_daily`` row per (day, entity) it touches and one ``spend_counters`` row
per budget counter. With full pages (the default fillfactor, 100) most of those updates moved the new row version
to another page and updated every index; with half of each page free they stay on the page as heap-only tuples.
Measured by the ingestion helper on the daily-rollup statement (10,000-row batches, ``bench/spend_ingest.py``'s
data): 14.7 -> 12.1 µs of PostgreSQL CPU per row, 5,650 -> 21,532 of 21,621 updates kept on their page. SQLite has
no such setting: nothing to do there.

Revision ID: 0006_rollup_fillfactor
Revises: 0005_ui_sessions
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0006_rollup_fillfactor"
down_revision = "0005_ui_sessions"
branch_labels = None
depends_on = None

_TABLES = ("spend_daily", "spend_counters")


def upgrade() -> None:
    """Set ``fillfactor = 50`` on the rollup tables (PostgreSQL; existing pages keep theirs until rewritten)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = 50)")


def downgrade() -> None:
    """Back to PostgreSQL's default fillfactor."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")

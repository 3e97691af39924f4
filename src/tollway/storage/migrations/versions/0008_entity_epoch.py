"""``entity_epoch``: one counter of changes to keys, users, teams and customers (tollway.storage.epoch).

A gateway without Redis learned of another instance's change to a key only by reloading every cached key once a
second: about 1.3-2.5 ms of CPU per key in use, every second, whether anything changed or not. With this counter
each process reads one row a second and reloads its cached records only when it moved.

Revision ID: 0008_entity_epoch
Revises: 0007_partial_entity_indexes
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_entity_epoch"
down_revision = "0007_partial_entity_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """The table and its one row, at 0."""
    table = op.create_table(
        "entity_epoch",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_entity_epoch"),
    )
    op.bulk_insert(table, [{"id": 1, "epoch": 0}])


def downgrade() -> None:
    """Drop it."""
    op.drop_table("entity_epoch")

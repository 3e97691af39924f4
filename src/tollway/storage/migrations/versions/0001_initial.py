"""Initial schema: keys, users, teams (+ members), customers, spend logs, daily rollups, spend counters, audit log.

Written out table by table (not ``metadata.create_all``) so that this revision stays what it was when later
revisions change ``storage.schema``; ``tests/storage/test_store_migrate.py`` checks that the migrated database
matches ``schema.metadata`` on SQLite and PostgreSQL.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tollway.storage.money import Money

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(128)
NOW_TZ = sa.DateTime(timezone=True)


def _limits() -> list[sa.Column[object]]:
    return [
        sa.Column("max_budget", Money(), nullable=True),
        sa.Column("soft_budget", Money(), nullable=True),
        sa.Column("budget_duration", sa.String(16), nullable=True),
        sa.Column("rpm_limit", sa.Integer(), nullable=True),
        sa.Column("tpm_limit", sa.BigInteger(), nullable=True),
        sa.Column("max_parallel_requests", sa.Integer(), nullable=True),
        sa.Column("model_max_budget", sa.JSON(), nullable=False),
        sa.Column("model_rpm_limit", sa.JSON(), nullable=False),
        sa.Column("model_tpm_limit", sa.JSON(), nullable=False),
    ]


def _stamps() -> list[sa.Column[object]]:
    return [
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.Column("updated_at", NOW_TZ, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.Column("updated_by", sa.String(128), nullable=True),
    ]


def _index(table: str, *columns: str, name: str | None = None) -> None:
    op.create_index(name or f"ix_{table}_{'_'.join(columns)}", table, list(columns))


def upgrade() -> None:
    """Create every table."""
    _entities()
    _spend()
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("ts", NOW_TZ, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(256), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    _index("audit_log", "ts")
    _index("audit_log", "target_kind", "target_id", "ts", name="ix_audit_log_target")


def _entities() -> None:
    op.create_table(
        "api_keys",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("key_name", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("key_alias", sa.String(256), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("team_id", ID, nullable=True),
        sa.Column("customer_id", ID, nullable=True),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("expires", NOW_TZ, nullable=True),
        *_limits(),
        *_stamps(),
        sa.PrimaryKeyConstraint("token_hash", name="pk_api_keys"),
        sa.UniqueConstraint("key_alias", name="uq_api_keys_key_alias"),
        sa.UniqueConstraint("key_id", name="uq_api_keys_key_id"),
    )
    for column in ("user_id", "team_id", "customer_id"):
        _index("api_keys", column)
    op.create_table(
        "users",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("user_email", sa.String(320), nullable=True),
        sa.Column("user_role", sa.String(32), nullable=False),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        *_limits(),
        *_stamps(),
        sa.PrimaryKeyConstraint("user_id", name="pk_users"),
    )
    op.create_table(
        "teams",
        sa.Column("team_id", ID, nullable=False),
        sa.Column("team_alias", sa.String(256), nullable=True),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        *_limits(),
        *_stamps(),
        sa.PrimaryKeyConstraint("team_id", name="pk_teams"),
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("team_id", "user_id", name="pk_team_members"),
    )
    _index("team_members", "user_id")
    op.create_table(
        "customers",
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("alias", sa.String(256), nullable=True),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("plan", sa.String(64), nullable=True),
        sa.Column("allowed_model_region", sa.String(16), nullable=True),
        sa.Column("default_model", sa.String(256), nullable=True),
        sa.Column("stripe_customer_id", sa.String(128), nullable=True),
        *_limits(),
        *_stamps(),
        sa.PrimaryKeyConstraint("customer_id", name="pk_customers"),
        sa.UniqueConstraint("stripe_customer_id", name="uq_customers_stripe_customer_id"),
    )


def _spend() -> None:
    op.create_table(
        "spend_logs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("ts", NOW_TZ, nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=True),
        sa.Column("key_name", sa.String(32), nullable=True),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("team_id", ID, nullable=True),
        sa.Column("customer_id", ID, nullable=True),
        sa.Column("feature", sa.String(128), nullable=True),
        sa.Column("model_group", sa.String(256), nullable=True),
        sa.Column("deployment_id", sa.String(256), nullable=True),
        sa.Column("provider", sa.String(64), nullable=True),
        sa.Column("model", sa.String(256), nullable=True),
        sa.Column("call_type", sa.String(16), nullable=False),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost", Money(), nullable=True),
        sa.Column("price_source", sa.String(64), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("ttft_ms", sa.Float(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("error_class", sa.String(64), nullable=True),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_spend_logs"),
    )
    _index("spend_logs", "request_id")
    _index("spend_logs", "ts")
    for entity, column in (("key", "key_hash"), ("user", "user_id"), ("team", "team_id"), ("customer", "customer_id")):
        _index("spend_logs", column, "ts", name=f"ix_spend_logs_{entity}_ts")
    _index("spend_logs", "model_group", "ts", name="ix_spend_logs_model_ts")
    tokens = ("input_tokens", "cached_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")
    op.create_table(
        "spend_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("entity_kind", sa.String(16), nullable=False),
        sa.Column("entity_id", sa.String(256), nullable=False),
        sa.Column("model_group", sa.String(256), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        *[sa.Column(name, sa.BigInteger(), nullable=False) for name in tokens],
        sa.Column("cost", Money(), nullable=False),
        sa.Column("unpriced", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "entity_kind", "entity_id", "model_group", name="pk_spend_daily"),
    )
    _index("spend_daily", "entity_kind", "entity_id", "day", name="ix_spend_daily_entity_day")
    op.create_table(
        "spend_counters",
        sa.Column("scope", sa.String(400), nullable=False),
        sa.Column("period", sa.String(32), nullable=False),
        sa.Column("spent", Money(), nullable=False),
        sa.Column("updated_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("scope", "period", name="pk_spend_counters"),
    )


def downgrade() -> None:
    """Drop every table (and with them their indexes)."""
    for table in (
        "audit_log",
        "spend_counters",
        "spend_daily",
        "spend_logs",
        "customers",
        "team_members",
        "teams",
        "users",
        "api_keys",
    ):
        op.drop_table(table)

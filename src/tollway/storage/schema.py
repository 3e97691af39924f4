"""The store's tables (SQLAlchemy Core). Alembic migrations in ``tollway.storage.migrations`` create exactly these.

Field names follow LiteLLM's where LiteLLM has the concept (``max_budget``, ``budget_duration``, ``rpm_limit``,
``key_alias``, ...), so management API payloads map one to one. Money columns are ``Money`` (exact Decimal).
Times are timezone-aware UTC. JSON columns hold lists/dicts (models, aliases, tags, metadata, per-model limits).

Budgets have no ``spend``/``budget_reset_at`` columns: spend per budget period lives in ``spend_counters``
(scope, period) → spent, written by the spend writer in the same transaction as the spend rows it sums, so it is
exact and a budget "resets" simply by its period label changing (see ``tollway.governance.durations``).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    FetchedValue,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from tollway.storage.money import Money

__all__ = [
    "alert_deliveries",
    "alert_events",
    "alert_rules",
    "api_keys",
    "audit_log",
    "customers",
    "entity_epoch",
    "export_cursors",
    "export_failures",
    "export_sent",
    "metadata",
    "revenue",
    "spend_counters",
    "spend_daily",
    "spend_logs",
    "team_members",
    "teams",
    "ui_sessions",
    "users",
]

# Named constraints, so Alembic migrations can alter them on every database (SQLite included).
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(128)


def _limits() -> list[Column[object]]:
    """Budget and rate-limit columns shared by keys, users, teams and customers (None = no limit)."""
    return [
        Column("max_budget", Money, nullable=True),
        Column("soft_budget", Money, nullable=True),
        Column("budget_duration", String(16), nullable=True),
        Column("rpm_limit", Integer, nullable=True),
        Column("tpm_limit", BigInteger, nullable=True),
        Column("max_parallel_requests", Integer, nullable=True),
        # {"gpt-4o": {"budget_limit": "0.5", "time_period": "1d"}}, {"gpt-4o": 10}: LiteLLM's shapes.
        Column("model_max_budget", JSON, nullable=False, default=dict),
        Column("model_rpm_limit", JSON, nullable=False, default=dict),
        Column("model_tpm_limit", JSON, nullable=False, default=dict),
    ]


def _stamps() -> list[Column[object]]:
    return [
        Column("metadata", JSON, nullable=False, default=dict),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Column("created_by", String(128), nullable=True),
        Column("updated_by", String(128), nullable=True),
    ]


api_keys = Table(
    "api_keys",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 hex of the key; the key itself is never stored
    Column("key_name", String(32), nullable=False),  # "sk-...abcd": what listings and logs show
    # Stable across regeneration (the hash changes): budget and rate counters are scoped by it, so regenerating a
    # key can never reset what it has spent.
    Column("key_id", String(32), nullable=False, unique=True),
    Column("key_alias", String(256), nullable=True, unique=True),
    Column("role", String(16), nullable=False, default="user"),  # "admin" | "team_admin" | "user"
    Column("user_id", ID, nullable=True, index=True),
    Column("team_id", ID, nullable=True, index=True),
    Column("customer_id", ID, nullable=True, index=True),
    Column("models", JSON, nullable=False, default=list),  # allowed model groups; [] = all
    Column("aliases", JSON, nullable=False, default=dict),  # requested name -> model group
    Column("tags", JSON, nullable=False, default=list),
    Column("blocked", Boolean, nullable=False, default=False),
    Column("expires", DateTime(timezone=True), nullable=True),
    *_limits(),
    *_stamps(),
)

users = Table(
    "users",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("user_email", String(320), nullable=True),
    Column("user_role", String(32), nullable=False, default="internal_user"),
    Column("models", JSON, nullable=False, default=list),
    Column("blocked", Boolean, nullable=False, default=False),
    *_limits(),
    *_stamps(),
)

teams = Table(
    "teams",
    metadata,
    Column("team_id", ID, primary_key=True),
    Column("team_alias", String(256), nullable=True),
    Column("models", JSON, nullable=False, default=list),
    Column("blocked", Boolean, nullable=False, default=False),
    *_limits(),
    *_stamps(),
)

team_members = Table(
    "team_members",
    metadata,
    Column("team_id", ID, primary_key=True),
    Column("user_id", ID, primary_key=True, index=True),
    Column("role", String(16), nullable=False, default="user"),  # "admin" | "user"
    Column("created_at", DateTime(timezone=True), nullable=False),
)

customers = Table(
    "customers",
    metadata,
    Column("customer_id", ID, primary_key=True),
    Column("alias", String(256), nullable=True),
    Column("blocked", Boolean, nullable=False, default=False),
    Column("plan", String(64), nullable=True),
    Column("allowed_model_region", String(16), nullable=True),
    Column("default_model", String(256), nullable=True),
    Column("stripe_customer_id", String(128), nullable=True, unique=True),
    *_limits(),
    *_stamps(),
)


def _entity_index(entity: str, column: str) -> Index:
    """spend_logs' (column, ts) index of the rows that have the entity (partial: see migration 0007)."""
    present = text(f"{column} IS NOT NULL")
    return Index(f"ix_spend_logs_{entity}_ts", column, "ts", postgresql_where=present, sqlite_where=present)


spend_logs = Table(
    "spend_logs",
    metadata,
    Column("id", String(32), primary_key=True),  # generated once per event: replays from the spool are idempotent
    Column("request_id", String(128), nullable=False, index=True),
    Column("ts", DateTime(timezone=True), nullable=False, index=True),
    Column("key_hash", String(64), nullable=True),
    Column("key_name", String(32), nullable=True),
    Column("user_id", ID, nullable=True),
    Column("team_id", ID, nullable=True),
    Column("customer_id", ID, nullable=True),
    Column("feature", String(128), nullable=True),
    Column("model_group", String(256), nullable=True),
    Column("deployment_id", String(256), nullable=True),
    Column("provider", String(64), nullable=True),
    Column("model", String(256), nullable=True),
    Column("call_type", String(16), nullable=False),
    Column("stream", Boolean, nullable=False, default=False),
    Column("input_tokens", BigInteger, nullable=False, default=0),
    Column("cached_tokens", BigInteger, nullable=False, default=0),
    Column("cache_write_tokens", BigInteger, nullable=False, default=0),
    Column("output_tokens", BigInteger, nullable=False, default=0),
    Column("reasoning_tokens", BigInteger, nullable=False, default=0),
    Column("cost", Money, nullable=True),  # None = unpriced (never a silent 0)
    Column("price_source", String(64), nullable=True),
    Column("latency_ms", Float, nullable=False, default=0.0),
    Column("ttft_ms", Float, nullable=True),
    Column("status", Integer, nullable=False),
    Column("error_class", String(64), nullable=True),
    Column("cache_hit", Boolean, nullable=False, default=False),
    Column("tags", JSON, nullable=False, default=list),
    Column("metadata", JSON, nullable=False, default=dict),
    # Reports filter by one entity and a time range: one (entity, ts) index each (LiteLLM has none, #35766). Rows
    # without a user, team or customer are left out of that index (migration 0007): no query looks for them there.
    Index("ix_spend_logs_key_ts", "key_hash", "ts"),
    _entity_index("user", "user_id"),
    _entity_index("team", "team_id"),
    _entity_index("customer", "customer_id"),
    Index("ix_spend_logs_model_ts", "model_group", "ts"),
)

# One row per (day, entity kind, entity id, model group): what reports read instead of scanning spend_logs.
# entity_kind: "key" | "user" | "team" | "customer" | "tag" | "feature" | "model" | "all".
spend_daily = Table(
    "spend_daily",
    metadata,
    Column("day", Date, primary_key=True),
    Column("entity_kind", String(16), primary_key=True),
    Column("entity_id", String(256), primary_key=True),
    Column("model_group", String(256), primary_key=True),
    Column("requests", BigInteger, nullable=False, default=0),
    Column("errors", BigInteger, nullable=False, default=0),
    Column("input_tokens", BigInteger, nullable=False, default=0),
    Column("cached_tokens", BigInteger, nullable=False, default=0),
    Column("cache_write_tokens", BigInteger, nullable=False, default=0),
    Column("output_tokens", BigInteger, nullable=False, default=0),
    Column("reasoning_tokens", BigInteger, nullable=False, default=0),
    Column("cost", Money, nullable=False),
    Column("unpriced", BigInteger, nullable=False, default=0),  # requests whose cost is unknown
    Index("ix_spend_daily_entity_day", "entity_kind", "entity_id", "day"),
)

# Spend per budget scope and period ("key:<key_id>", "team:t1", "key:<key_id>:model:gpt-4o"; period label from
# durations.period_of): the persisted side of the budget counters, equal to the sum of the rows it counted.
spend_counters = Table(
    "spend_counters",
    metadata,
    Column("scope", String(400), primary_key=True),
    Column("period", String(32), primary_key=True),
    Column("spent", Money, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One row (id 1): a counter every change to a key, user, team or customer increments in its own transaction
# (tollway.storage.epoch). Each gateway process reads it once per key-cache interval: a change made through any
# instance is seen from that one small query, instead of every cached key being reloaded each interval.
entity_epoch = Table(
    "entity_epoch",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("epoch", BigInteger, nullable=False),
)

# Append-only: the API has no route that updates or deletes an audit row.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("ts", DateTime(timezone=True), nullable=False, index=True),
    Column("actor", String(128), nullable=False),  # "master" or a key name ("sk-...abcd")
    Column("action", String(64), nullable=False),  # "key.generate", "team.update", ...
    Column("target_kind", String(16), nullable=False),
    Column("target_id", String(256), nullable=True),
    Column("before", JSON, nullable=True),  # secrets redacted
    Column("after", JSON, nullable=True),
    Column("note", Text, nullable=True),
    Index("ix_audit_log_target", "target_kind", "target_id", "ts"),
)

# What customers paid (tollway.economics.revenue): one row per invoice, payment or refund. ``amount`` is never
# negative; a refund is its own row with kind "refund" whose amount is subtracted. Periods are inclusive dates.
# (source, external_id) is unique, so re-importing a CSV or re-running a Stripe sync finds the rows it wrote.
revenue = Table(
    "revenue",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("customer_id", ID, nullable=False, index=True),
    Column("kind", String(16), nullable=False, default="revenue"),  # "revenue" | "refund"
    Column("amount", Money, nullable=False),
    Column("currency", String(3), nullable=False),  # ISO 4217, upper case; amounts of two currencies never mix
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("source", String(32), nullable=False),  # "manual" | "csv" | "stripe" | ...
    Column("external_id", String(256), nullable=True),
    Column("metadata", JSON, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(128), nullable=True),
    UniqueConstraint("source", "external_id"),
    Index("ix_revenue_period", "period_start", "period_end"),
)

# Alert rules (tollway.economics.alerts): kind-specific parameters and channels as JSON. Channels hold their secrets
# (webhook secrets, SMTP passwords, Slack URLs) because sending needs them; the API never returns them in full.
alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),  # "budget" | "margin" | "anomaly"
    Column("enabled", Boolean, nullable=False, default=True),
    Column("scope", JSON, nullable=False),  # {"entity": "team", "ids": ["t1"] | null}
    Column("params", JSON, nullable=False),  # thresholds, margin_pct, period_days, factor, min_amount
    Column("channels", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(128), nullable=True),
    Column("updated_by", String(128), nullable=True),
)

# One row per alert raised. ``dedupe_key`` (sha256 of rule, subject, period, threshold) is unique: of N gateway
# instances evaluating at once, the one whose insert wins sends; the others find the row and do nothing.
alert_events = Table(
    "alert_events",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("dedupe_key", String(64), nullable=False, unique=True),
    Column("rule_id", String(32), nullable=False),
    Column("rule_name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),  # "budget" | "margin" | "anomaly" | "test"
    Column("subject_kind", String(16), nullable=False),
    Column("subject_id", String(256), nullable=True),
    Column("period", String(64), nullable=False),
    Column("threshold", String(40), nullable=True),
    Column("status", String(16), nullable=False),  # "pending" | "delivered" | "failed" | "suppressed"
    Column("payload", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_alert_events_rule_created", "rule_id", "created_at"),
    Index("ix_alert_events_status_created", "status", "created_at"),
)

# One row per (event, channel): every attempt updates it. ``lease_until`` is when a pending delivery whose sender
# died may be taken over by another instance, so an alert is never lost.
alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("event_id", String(32), nullable=False),
    Column("position", Integer, nullable=False),  # the channel's index in the rule
    Column("channel_type", String(16), nullable=False),
    Column("target", String(2100), nullable=False),  # redacted: what the history shows
    Column("channel", JSON, nullable=False),  # the channel as it was when the alert fired (secrets included)
    Column("status", String(16), nullable=False),  # "pending" | "delivered" | "failed"
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("http_status", Integer, nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("event_id", "position"),
    Index("ix_alert_deliveries_status_lease", "status", "lease_until"),
)

# Dashboard sign-ins (tollway.dashboard.sessions_store): the cookie carries a random session id, this table only its
# SHA-256, so a copy of the table signs nobody in. The CSRF token is derived from the id (never stored). A session
# made with a key keeps that key's hash: a key blocked, deleted or regenerated (or a changed master key) ends it.
ui_sessions = Table(
    "ui_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("role", String(16), nullable=False),  # "admin"
    Column("name", String(128), nullable=False),  # the audit log's actor: "master", "sk-...abcd", "sso:ann@x.com"
    Column("method", String(8), nullable=False),  # "key" | "sso"
    Column("key_id", String(32), nullable=True),  # the admin virtual key signed in with (None: master key, SSO)
    Column("key_hash", String(64), nullable=True),  # that key's (or the master key's) SHA-256 at sign-in
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

# Billing export (tollway.economics.export_*). spend_logs.write_txid: on PostgreSQL the id of the transaction that
# inserted the row (a column default, pg_current_xact_id()); the exporters read rows in (write_txid, id) order, up to
# the oldest transaction still running, so a row committed late (a slow writer, a spool replay) is never skipped
# (see tollway.storage.export_store). The spend writer never writes it (spend_rollup.LOG_COLUMNS leaves out
# columns marked "generated"); on SQLite it stays NULL and the rowid orders rows instead.
spend_logs.append_column(
    Column("write_txid", BigInteger, nullable=True, server_default=FetchedValue(), info={"generated": True})
)
Index(
    "ix_spend_logs_write_txid",
    spend_logs.c.write_txid,
    spend_logs.c.id,
    postgresql_where=spend_logs.c.write_txid.is_not(None),
    sqlite_where=spend_logs.c.write_txid.is_not(None),
)

# One row per exporter ("stripe", "cloudevents"): the last spend row exported (cursor_position: write_txid on
# PostgreSQL, rowid on SQLite; cursor_spend_id: that row's id, "" before the first), running counts, and the lease
# that lets one gateway instance at a time export.
export_cursors = Table(
    "export_cursors",
    metadata,
    Column("exporter", String(32), primary_key=True),
    Column("cursor_position", BigInteger, nullable=False),
    Column("cursor_spend_id", String(32), nullable=False),
    Column("rows_done", BigInteger, nullable=False, default=0),
    Column("events_sent", BigInteger, nullable=False, default=0),
    Column("events_rejected", BigInteger, nullable=False, default=0),
    Column("rows_skipped", BigInteger, nullable=False, default=0),
    Column("rows_unattributed", BigInteger, nullable=False, default=0),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("last_error_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Rows and events an exporter did not export, with why (reason: unmapped_customer, unpriced, too_old, in_future,
# invalid, rejected). identifier: the event's, or the spend row's id when the whole row was skipped. Recording the
# same one twice keeps the first.
export_failures = Table(
    "export_failures",
    metadata,
    Column("exporter", String(32), primary_key=True),
    Column("identifier", String(160), primary_key=True),
    Column("spend_id", String(32), nullable=False),
    Column("request_id", String(128), nullable=True),
    Column("customer_id", ID, nullable=True),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("status", Integer, nullable=True),  # the receiver's HTTP status, for a rejected event
    Column("detail", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_export_failures_reason", "exporter", "reason", "created_at"),
)

# Events settled (delivered or refused) in rows past the cursor, when an earlier row of their batch could not be
# sent yet: they are not sent again when their rows come round. Deleted once the cursor passes their rows.
export_sent = Table(
    "export_sent",
    metadata,
    Column("exporter", String(32), primary_key=True),
    Column("identifier", String(160), primary_key=True),
    Column("spend_id", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

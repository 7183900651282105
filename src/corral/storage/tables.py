"""Table definitions (SQLAlchemy Core), shared by the stores and the migrations.

Times are stored as timezone-aware UTC. JSON documents use JSONB on PostgreSQL and JSON text on
SQLite. An event's `data` is its complete JSON document as sent to clients, so streams pass it
through without parsing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from corral.types.events import TERMINAL_EVENT_TYPES


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC (SQLite drops the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """Refuse naive times; SQLite stores UTC without a zone."""
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        if value is not None and dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        """Give the zone back."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


JSONDoc: sa.types.TypeEngine[Any] = sa.JSON().with_variant(JSONB(), "postgresql")

metadata: sa.MetaData = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("suspended_at", UTCDateTime(), nullable=True),
    # The operator's overrides of the server's limits (names of `WorkspaceLimits`).
    sa.Column("limits", JSONDoc, nullable=True),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "workspace_id",
        sa.String(40),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("scopes", JSONDoc, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
    # The agents (names or ids) the key may run; null for any.
    sa.Column("agents", JSONDoc, nullable=True),
    sa.Column("created_by", sa.String(40), nullable=True),
    # The hash of the secret a rotation replaced, valid until `previous_expires_at`.
    sa.Column("previous_hash", sa.String(64), nullable=True, index=True),
    sa.Column("previous_expires_at", UTCDateTime(), nullable=True),
    # The key's own request rate per minute, in place of the workspace's per-key rate.
    sa.Column("rate_limit_per_minute", sa.Integer, nullable=True),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    # No foreign key: the record of a change outlives what it changed.
    sa.Column("workspace_id", sa.String(40), nullable=True),
    sa.Column("actor_key_id", sa.String(40), nullable=True),
    sa.Column("actor_name", sa.String(100), nullable=True),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target_id", sa.String(64), nullable=True),
    sa.Column("details", JSONDoc, nullable=False),
    sa.Column("address", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index(None, "workspace_id", "id"),
)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "workspace_id",
        sa.String(40),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # Archived: it starts no new runs or sessions; its open sessions go on.
    sa.Column("archived_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("workspace_id", "name"),
)

agent_versions = sa.Table(
    "agent_versions",
    metadata,
    sa.Column(
        "agent_id",
        sa.String(40),
        sa.ForeignKey("agents.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("spec", JSONDoc, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "workspace_id",
        sa.String(40),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("agent_id", sa.String(40), nullable=True),
    sa.Column("agent_version", sa.Integer, nullable=True),
    sa.Column("spec", JSONDoc, nullable=False),
    sa.Column("metadata", JSONDoc, nullable=False),
    sa.Column("last_seq", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_position", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.Column("api_keys", sa.Text, nullable=True),
    # What all the session's runs together may spend, in US dollars (null: no cap).
    sa.Column("max_spend_usd", sa.Float, nullable=True),
    sa.Column("context_summary", JSONDoc, nullable=True),  # see storage.sessions.keep_summary
    sa.Column("title", sa.String(512), nullable=True),
    # The stored environment the session was opened with; its spec holds a copy of its config.
    sa.Column("environment_id", sa.String(40), nullable=True),
    # Archived sessions have ended too; listings may leave them out.
    sa.Column("archived_at", UTCDateTime(), nullable=True),
    sa.Index(None, "workspace_id", "id"),
)

session_messages = sa.Table(
    "session_messages",
    metadata,
    sa.Column(
        "session_id",
        sa.String(40),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("message", JSONDoc, nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

LEASED_CONDITION = "status IN ('running', 'waiting')"
"""The runs a worker holds: what the concurrency caps count (as the claim writes it)."""

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "workspace_id",
        sa.String(40),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("agent_id", sa.String(40), nullable=True),
    sa.Column("agent_version", sa.Integer, nullable=True),
    sa.Column(
        "session_id",
        sa.String(40),
        sa.ForeignKey("sessions.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("session_position", sa.Integer, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("spec", JSONDoc, nullable=False),
    sa.Column("input", JSONDoc, nullable=False),
    sa.Column("output", sa.Text, nullable=True),
    sa.Column("error", JSONDoc, nullable=True),
    sa.Column("input_tokens", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("output_tokens", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("cost_usd", sa.Float, nullable=False, server_default="0"),
    sa.Column("metadata", JSONDoc, nullable=False),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("request_hash", sa.String(64), nullable=True),
    sa.Column("last_seq", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lease_owner", sa.String(40), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("checkpoint", JSONDoc, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.Column("api_keys", sa.Text, nullable=True),
    # The API key that submitted the run, for usage by key; null for runs from before 0006.
    sa.Column("key_id", sa.String(40), nullable=True),
    # A subagent's lineage: the run whose tool call (`call_id`) started it, and the tree's root.
    sa.Column("parent_run_id", sa.String(40), nullable=True),
    sa.Column("root_run_id", sa.String(40), nullable=True),
    sa.Column("depth", sa.Integer, nullable=False, server_default="0"),
    sa.Column("call_id", sa.String(128), nullable=True),
    # Whether its parent waits for its end (parked until every child it awaits has ended).
    sa.Column("awaited", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("children", sa.Integer, nullable=False, server_default="0"),
    sa.Index(None, "workspace_id", "id"),
    # Usage sums a workspace's runs over a time range, and so do its spend caps.
    sa.Index(None, "workspace_id", "created_at"),
    # An agent's spend caps sum its runs since the start of the day or month.
    sa.Index(None, "agent_id", "created_at"),
    sa.Index(None, "status", "lease_expires_at"),
    sa.Index(None, "session_id", "session_position"),
    sa.Index(None, "lease_owner"),
    sa.Index(None, "workspace_id", "idempotency_key", unique=True),
    # One child per parent's call, however often a crashed parent's turn is resumed.
    sa.Index(None, "parent_run_id", "call_id", unique=True),
    sa.Index(None, "root_run_id", "status"),
    # The claim counts a workspace's (and an agent's) leased runs against its concurrency caps.
    sa.Index(
        "ix_runs_leased",
        "workspace_id",
        "agent_id",
        sqlite_where=sa.text(LEASED_CONDITION),
        postgresql_where=sa.text(LEASED_CONDITION),
    ),
)

deleted_run_costs = sa.Table(
    "deleted_run_costs",
    metadata,
    # What deleted runs had spent: spend caps still count it, so deleting runs never frees spend.
    sa.Column("run_id", sa.String(40), primary_key=True),
    sa.Column(
        "workspace_id",
        sa.String(40),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("agent_id", sa.String(40), nullable=True),
    sa.Column("session_id", sa.String(40), nullable=True),
    # When the run was created: the period its spend counts in.
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("cost_usd", sa.Float, nullable=False),
    sa.Index(None, "workspace_id", "created_at"),
    sa.Index(None, "agent_id", "created_at"),
    sa.Index(None, "session_id"),
)

_terminal = sa.text("type IN (" + ", ".join(f"'{t}'" for t in sorted(TERMINAL_EVENT_TYPES)) + ")")

run_events = sa.Table(
    "run_events",
    metadata,
    sa.Column(
        "run_id",
        sa.String(40),
        sa.ForeignKey("runs.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("session_id", sa.String(40), nullable=True),
    sa.Column("session_seq", sa.Integer, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index(None, "session_id", "session_seq", unique=True),
    # The database itself refuses a second terminal event for a run.
    sa.Index(
        "uq_run_events_terminal",
        "run_id",
        unique=True,
        sqlite_where=_terminal,
        postgresql_where=_terminal,
    ),
)

tool_calls = sa.Table(
    "tool_calls",
    metadata,
    sa.Column(
        "run_id",
        sa.String(40),
        sa.ForeignKey("runs.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("call_id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("input", JSONDoc, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("output", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("deadline_at", UTCDateTime(), nullable=False),
    sa.Column("answered_at", UTCDateTime(), nullable=True),
)

idempotency_records = sa.Table(
    "idempotency_records",
    metadata,
    sa.Column(
        "workspace_id",
        sa.String(40),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("operation", sa.String(100), nullable=False),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("body", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

files = sa.Table(
    "files",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "workspace_id",
        sa.String(40),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("media_type", sa.String(255), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index(None, "workspace_id", "id"),
)

run_outputs = sa.Table(
    "run_outputs",
    metadata,
    sa.Column(
        "run_id",
        sa.String(40),
        sa.ForeignKey("runs.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # 1024 bytes at most (the collector drops longer paths): a PostgreSQL index entry must fit
    # in a third of a page.
    sa.Column("path", sa.String(1024), primary_key=True),
    sa.Column("workspace_id", sa.String(40), nullable=False, index=True),  # the run's, for sums
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

# The vault, approvals, webhooks, routines, environments and skills live in their own modules,
# on the same metadata.
from corral.storage import (  # noqa: E402, F401
    tables_environments,
    tables_routines,
    tables_skills,
    tables_vaults,
    tables_webhooks,
)
from corral.storage.tables_governance import approvals, secret_versions, secrets  # noqa: E402

__all__ = ["approvals", "secret_versions", "secrets"]

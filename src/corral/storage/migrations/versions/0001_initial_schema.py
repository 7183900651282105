"""Initial schema.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import corral.storage.tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", corral.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
        sa.UniqueConstraint("name", name=op.f("uq_workspaces_name")),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", corral.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", corral.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_agents_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_agents_workspace_id_name")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column(
            "scopes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", corral.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", corral.storage.tables.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_api_keys_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index(op.f("ix_api_keys_workspace_id"), "api_keys", ["workspace_id"], unique=False)
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("agent_id", sa.String(length=40), nullable=True),
        sa.Column("agent_version", sa.Integer(), nullable=True),
        sa.Column(
            "spec",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("last_seq", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_position", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", corral.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", corral.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", corral.storage.tables.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_sessions_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
    )
    op.create_index(
        op.f("ix_sessions_workspace_id_id"), "sessions", ["workspace_id", "id"], unique=False
    )
    op.create_table(
        "agent_versions",
        sa.Column("agent_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "spec",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", corral.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_versions_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", "version", name=op.f("pk_agent_versions")),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("agent_id", sa.String(length=40), nullable=True),
        sa.Column("agent_version", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.String(length=40), nullable=True),
        sa.Column("session_position", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column(
            "spec",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "input",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column(
            "error",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("input_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cost_usd", sa.Float(), server_default="0", nullable=False),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("last_seq", sa.Integer(), server_default="0", nullable=False),
        sa.Column("lease_owner", sa.String(length=40), nullable=True),
        sa.Column(
            "lease_expires_at", corral.storage.tables.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "checkpoint",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", corral.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", corral.storage.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", corral.storage.tables.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_runs_session_id_sessions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_runs_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index(op.f("ix_runs_lease_owner"), "runs", ["lease_owner"], unique=False)
    op.create_index(
        op.f("ix_runs_session_id_session_position"),
        "runs",
        ["session_id", "session_position"],
        unique=False,
    )
    op.create_index(
        op.f("ix_runs_status_lease_expires_at"),
        "runs",
        ["status", "lease_expires_at"],
        unique=False,
    )
    op.create_index(op.f("ix_runs_workspace_id_id"), "runs", ["workspace_id", "id"], unique=False)
    op.create_index(
        op.f("ix_runs_workspace_id_idempotency_key"),
        "runs",
        ["workspace_id", "idempotency_key"],
        unique=True,
    )
    op.create_table(
        "session_messages",
        sa.Column("session_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "message",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", corral.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_session_messages_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "position", name=op.f("pk_session_messages")),
    )
    op.create_table(
        "run_events",
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("session_id", sa.String(length=40), nullable=True),
        sa.Column("session_seq", sa.Integer(), nullable=True),
        sa.Column("created_at", corral.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_events_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_run_events")),
    )
    op.create_index(
        op.f("ix_run_events_session_id_session_seq"),
        "run_events",
        ["session_id", "session_seq"],
        unique=True,
    )
    op.create_index(
        "uq_run_events_terminal",
        "run_events",
        ["run_id"],
        unique=True,
        sqlite_where=sa.text(
            "type IN ('run.cancelled', 'run.completed', 'run.failed', 'run.timed_out')"
        ),
        postgresql_where=sa.text(
            "type IN ('run.cancelled', 'run.completed', 'run.failed', 'run.timed_out')"
        ),
    )
    op.create_table(
        "tool_calls",
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("call_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column(
            "input",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", corral.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", corral.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", corral.storage.tables.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_tool_calls_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "call_id", name=op.f("pk_tool_calls")),
    )


def downgrade() -> None:
    op.drop_table("tool_calls")
    op.drop_index(
        "uq_run_events_terminal",
        table_name="run_events",
        sqlite_where=sa.text(
            "type IN ('run.cancelled', 'run.completed', 'run.failed', 'run.timed_out')"
        ),
        postgresql_where=sa.text(
            "type IN ('run.cancelled', 'run.completed', 'run.failed', 'run.timed_out')"
        ),
    )
    op.drop_index(op.f("ix_run_events_session_id_session_seq"), table_name="run_events")
    op.drop_table("run_events")
    op.drop_table("session_messages")
    op.drop_index(op.f("ix_runs_workspace_id_idempotency_key"), table_name="runs")
    op.drop_index(op.f("ix_runs_workspace_id_id"), table_name="runs")
    op.drop_index(op.f("ix_runs_status_lease_expires_at"), table_name="runs")
    op.drop_index(op.f("ix_runs_session_id_session_position"), table_name="runs")
    op.drop_index(op.f("ix_runs_lease_owner"), table_name="runs")
    op.drop_table("runs")
    op.drop_table("agent_versions")
    op.drop_index(op.f("ix_sessions_workspace_id_id"), table_name="sessions")
    op.drop_table("sessions")
    op.drop_index(op.f("ix_api_keys_workspace_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("agents")
    op.drop_table("workspaces")

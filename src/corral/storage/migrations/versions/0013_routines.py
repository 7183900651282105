"""Routines: their triggers, their fires, and the dedupe keys their webhooks have seen.

Webhook deliveries may now carry an event kept in no run's log (a routine's), as a document.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import corral.storage.tables

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_TIME = corral.storage.tables.UTCDateTime(timezone=True)
_JSON = corral.storage.tables.JSONDoc


def upgrade() -> None:
    op.create_table(
        "routines",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=1000), server_default="", nullable=False),
        sa.Column("agent_id", sa.String(length=40), nullable=False),
        sa.Column("agent_version", sa.Integer(), nullable=True),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("session_mode", sa.String(length=16), nullable=False),
        sa.Column("session_id", sa.String(length=40), nullable=True),
        sa.Column("metadata", _JSON, nullable=False),
        sa.Column("catch_up", sa.String(length=8), nullable=False),
        sa.Column("overlap", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("paused_code", sa.String(length=64), nullable=True),
        sa.Column("paused_message", sa.String(length=1000), nullable=True),
        sa.Column("paused_at", _TIME, nullable=True),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("last_fired_at", _TIME, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", _TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_routines_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routines")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_routines_workspace_id_name")),
    )
    op.create_table(
        "routine_triggers",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("routine_id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("config", _JSON, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("token", sa.Text(), nullable=True),
        sa.Column("next_fire_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["routine_id"],
            ["routines.id"],
            name=op.f("fk_routine_triggers_routine_id_routines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routine_triggers")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_routine_triggers_token_hash")),
    )
    op.create_index(op.f("ix_routine_triggers_routine_id"), "routine_triggers", ["routine_id"])
    op.create_index(op.f("ix_routine_triggers_next_fire_at"), "routine_triggers", ["next_fire_at"])
    op.create_table(
        "routine_fires",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("routine_id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("trigger_type", sa.String(length=16), nullable=False),
        sa.Column("trigger_id", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.String(length=2000), nullable=True),
        sa.Column("scheduled_at", _TIME, nullable=True),
        sa.Column("missed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("payload", _JSON, nullable=True),
        sa.Column("headers", _JSON, nullable=True),
        sa.Column("run_id", sa.String(length=40), nullable=True),
        sa.Column("session_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("handled_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["routine_id"],
            ["routines.id"],
            name=op.f("fk_routine_fires_routine_id_routines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routine_fires")),
        sa.UniqueConstraint(
            "trigger_id", "scheduled_at", name=op.f("uq_routine_fires_trigger_id_scheduled_at")
        ),
        sa.UniqueConstraint(
            "routine_id",
            "idempotency_key",
            name=op.f("uq_routine_fires_routine_id_idempotency_key"),
        ),
    )
    op.create_index(
        op.f("ix_routine_fires_routine_id_status"), "routine_fires", ["routine_id", "status"]
    )
    op.create_index(
        op.f("ix_routine_fires_status_routine_id"), "routine_fires", ["status", "routine_id"]
    )
    op.create_table(
        "routine_dedupe",
        sa.Column("trigger_id", sa.String(length=40), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.Column("fire_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["trigger_id"],
            ["routine_triggers.id"],
            name=op.f("fk_routine_dedupe_trigger_id_routine_triggers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trigger_id", "key_hash", name=op.f("pk_routine_dedupe")),
    )

    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.alter_column("run_id", existing_type=sa.String(length=40), nullable=True)
        batch.alter_column("seq", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("document", sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM webhook_deliveries WHERE run_id IS NULL")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("document")
        batch.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("run_id", existing_type=sa.String(length=40), nullable=False)
    op.drop_table("routine_dedupe")
    op.drop_table("routine_fires")
    op.drop_table("routine_triggers")
    op.drop_table("routines")

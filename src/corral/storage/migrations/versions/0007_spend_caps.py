"""Spend caps beyond one run: a session's cap, agents' spend by time, deleted runs' spend.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import corral.storage.tables

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TIME = corral.storage.tables.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("max_spend_usd", sa.Float(), nullable=True))
    op.create_index(
        op.f("ix_runs_agent_id_created_at"), "runs", ["agent_id", "created_at"], unique=False
    )
    op.create_table(
        "deleted_run_costs",
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("agent_id", sa.String(length=40), nullable=True),
        sa.Column("session_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_deleted_run_costs_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_deleted_run_costs")),
    )
    op.create_index(
        op.f("ix_deleted_run_costs_workspace_id_created_at"),
        "deleted_run_costs",
        ["workspace_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_deleted_run_costs_agent_id_created_at"),
        "deleted_run_costs",
        ["agent_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_deleted_run_costs_session_id"),
        "deleted_run_costs",
        ["session_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_deleted_run_costs_session_id"), table_name="deleted_run_costs")
    op.drop_index(op.f("ix_deleted_run_costs_agent_id_created_at"), table_name="deleted_run_costs")
    op.drop_index(
        op.f("ix_deleted_run_costs_workspace_id_created_at"), table_name="deleted_run_costs"
    )
    op.drop_table("deleted_run_costs")
    op.drop_index(op.f("ix_runs_agent_id_created_at"), table_name="runs")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("max_spend_usd")

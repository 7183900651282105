"""Subagents: a run started by another run's tool call knows its parent, its root and depth.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("parent_run_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("root_run_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("depth", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("call_id", sa.String(length=128), nullable=True))
        batch.add_column(
            sa.Column("awaited", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("children", sa.Integer(), server_default="0", nullable=False))
    op.create_index(
        op.f("ix_runs_parent_run_id_call_id"), "runs", ["parent_run_id", "call_id"], unique=True
    )
    op.create_index(op.f("ix_runs_root_run_id_status"), "runs", ["root_run_id", "status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_runs_root_run_id_status"), table_name="runs")
    op.drop_index(op.f("ix_runs_parent_run_id_call_id"), table_name="runs")
    with op.batch_alter_table("runs") as batch:
        for column in ("children", "awaited", "call_id", "depth", "root_run_id", "parent_run_id"):
            batch.drop_column(column)

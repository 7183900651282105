"""Runs remember the API key that submitted them; usage sums runs by time.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("key_id", sa.String(length=40), nullable=True))
        batch.create_index(
            op.f("ix_runs_workspace_id_created_at"), ["workspace_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_index(op.f("ix_runs_workspace_id_created_at"))
        batch.drop_column("key_id")

"""Sealed provider keys on runs and sessions.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("api_keys", sa.Text(), nullable=True))
    op.add_column("sessions", sa.Column("api_keys", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("api_keys")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("api_keys")

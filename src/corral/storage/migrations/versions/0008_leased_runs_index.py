"""An index of the runs workers hold, which the claim counts against the concurrency caps.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_LEASED = "status IN ('running', 'waiting')"


def upgrade() -> None:
    op.create_index(
        "ix_runs_leased",
        "runs",
        ["workspace_id", "agent_id"],
        unique=False,
        sqlite_where=sa.text(_LEASED),
        postgresql_where=sa.text(_LEASED),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_runs_leased",
        table_name="runs",
        sqlite_where=sa.text(_LEASED),
        postgresql_where=sa.text(_LEASED),
    )

"""Run outputs name their workspace, so a workspace's stored bytes are summed without its runs.

Summing through `runs` read every run of the workspace (a tenth of a second at 100,000 runs
on SQLite), at each run's end and each `GET /v1/whoami`.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("run_outputs") as batch:
        batch.add_column(sa.Column("workspace_id", sa.String(length=40), nullable=True))
    op.execute(
        "UPDATE run_outputs SET workspace_id = "
        "(SELECT runs.workspace_id FROM runs WHERE runs.id = run_outputs.run_id)"
    )
    with op.batch_alter_table("run_outputs") as batch:
        batch.alter_column("workspace_id", existing_type=sa.String(length=40), nullable=False)
    op.create_index(op.f("ix_run_outputs_workspace_id"), "run_outputs", ["workspace_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_run_outputs_workspace_id"), table_name="run_outputs")
    with op.batch_alter_table("run_outputs") as batch:
        batch.drop_column("workspace_id")

"""Stored environments; sessions get a title and their environment; agents and sessions archive.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import corral.storage.tables

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_TIME = corral.storage.tables.UTCDateTime(timezone=True)
_JSON = corral.storage.tables.JSONDoc


def upgrade() -> None:
    op.create_table(
        "environments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("metadata", _JSON, nullable=False),
        sa.Column("config", _JSON, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("archived_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_environments_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_environments")),
    )
    op.create_index(op.f("ix_environments_workspace_id_id"), "environments", ["workspace_id", "id"])
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("archived_at", _TIME, nullable=True))
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("title", sa.String(length=512), nullable=True))
        batch.add_column(sa.Column("environment_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("archived_at", _TIME, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("archived_at")
        batch.drop_column("environment_id")
        batch.drop_column("title")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("archived_at")
    op.drop_index(op.f("ix_environments_workspace_id_id"), table_name="environments")
    op.drop_table("environments")

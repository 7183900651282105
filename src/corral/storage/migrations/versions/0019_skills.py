"""Skills kept by name and their versions, each version a skill archive upload.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import corral.storage.tables

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_TIME = corral.storage.tables.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "skills",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("latest_version_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_skills_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skills")),
    )
    op.create_index(op.f("ix_skills_workspace_id_id"), "skills", ["workspace_id", "id"])
    op.create_table(
        "skill_versions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("skill_id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("file_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["skill_id"],
            ["skills.id"],
            name=op.f("fk_skill_versions_skill_id_skills"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skill_versions")),
    )
    op.create_index(op.f("ix_skill_versions_skill_id_id"), "skill_versions", ["skill_id", "id"])
    op.create_index(
        op.f("ix_skill_versions_workspace_id_file_id"),
        "skill_versions",
        ["workspace_id", "file_id"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_skill_versions_workspace_id_file_id"), table_name="skill_versions")
    op.drop_index(op.f("ix_skill_versions_skill_id_id"), table_name="skill_versions")
    op.drop_table("skill_versions")
    op.drop_index(op.f("ix_skills_workspace_id_id"), table_name="skills")
    op.drop_table("skills")

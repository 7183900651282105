"""The tables of skills kept by name and their versions, each version a skill archive upload.

A version names its archive in `files` without a foreign key: the upload stays an ordinary file
of the workspace. Registered on the metadata of `corral.storage.tables`.
"""

from __future__ import annotations

import sqlalchemy as sa

from corral.storage.tables import UTCDateTime, metadata

skills = sa.Table(
    "skills",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "workspace_id",
        sa.String(40),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("display_name", sa.String(255), nullable=False),  # a label: not unique
    sa.Column("name", sa.String(64), nullable=False),  # its SKILL.md's, in every version
    sa.Column("latest_version_id", sa.String(40), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index(None, "workspace_id", "id"),
)

skill_versions = sa.Table(
    "skill_versions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "skill_id",
        sa.String(40),
        sa.ForeignKey("skills.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("workspace_id", sa.String(40), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("file_id", sa.String(40), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index(None, "skill_id", "id"),
    sa.Index(None, "workspace_id", "file_id"),
)

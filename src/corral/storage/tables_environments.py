"""The table of stored environments: named sandbox configurations of a workspace.

A session opened with one copies its config into its own spec, so nothing refers to an
environment by key. Registered on the metadata of `corral.storage.tables`.
"""

from __future__ import annotations

import sqlalchemy as sa

from corral.storage.tables import JSONDoc, UTCDateTime, metadata

environments = sa.Table(
    "environments",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "workspace_id",
        sa.String(40),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.String(256), nullable=False),  # a label: not unique
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("metadata", JSONDoc, nullable=False),
    # An `Environment` as JSON: what the runs of the sessions that use it run in.
    sa.Column("config", JSONDoc, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("archived_at", UTCDateTime(), nullable=True),
    sa.Index(None, "workspace_id", "id"),
)

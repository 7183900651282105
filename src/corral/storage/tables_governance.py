"""The tables that govern runs: the workspace vault's secrets and the approvals of tool calls.

Registered on the metadata of `corral.storage.tables`, which re-exports them.
"""

from __future__ import annotations

import sqlalchemy as sa

from corral.storage.tables import JSONDoc, UTCDateTime, metadata

secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "workspace_id",
        sa.String(40),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("description", sa.String(1000), nullable=True),
    # The current version: the one a reference resolves to.
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index(None, "workspace_id", "name", unique=True),
)

secret_versions = sa.Table(
    "secret_versions",
    metadata,
    sa.Column(
        "secret_id",
        sa.String(40),
        sa.ForeignKey("secrets.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("version", sa.Integer, primary_key=True),
    # The value, encrypted under the server's secret key (never stored in clear).
    sa.Column("sealed", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(40), nullable=True),
)

approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "workspace_id",
        sa.String(40),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("session_id", sa.String(40), nullable=True),
    sa.Column("agent_id", sa.String(40), nullable=True),
    sa.Column("call_id", sa.String(128), nullable=False),
    sa.Column("tool", sa.String(200), nullable=False),
    sa.Column("input", JSONDoc, nullable=False),
    # What asked for it: `rules[0]`, `tools.bash`, `default`.
    sa.Column("policy", sa.String(200), nullable=False),
    # pending, allowed, denied or expired (withdrawn is read off an ended run).
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("decided_input", JSONDoc, nullable=True),
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("decided_by", sa.String(40), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Column("decided_at", UTCDateTime(), nullable=True),
    sa.Index(None, "run_id", "call_id", unique=True),
    # The workspace's inbox: its pending approvals, newest first.
    sa.Index(None, "workspace_id", "status", "id"),
)

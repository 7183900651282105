"""The tables of vaults of credentials, and of the vaults each session uses.

No value is in them: a credential names the workspace secret (`secrets`) that holds its value.
Registered on the metadata of `corral.storage.tables`.
"""

from __future__ import annotations

import sqlalchemy as sa

from corral.storage.tables import JSONDoc, UTCDateTime, metadata

vaults = sa.Table(
    "vaults",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "workspace_id",
        sa.String(40),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("display_name", sa.String(255), nullable=False),
    sa.Column("metadata", JSONDoc, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("archived_at", UTCDateTime(), nullable=True),
    sa.Index(None, "workspace_id", "id"),
)

vault_credentials = sa.Table(
    "vault_credentials",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "vault_id",
        sa.String(40),
        sa.ForeignKey("vaults.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("workspace_id", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),  # a `CredentialKind`
    sa.Column("display_name", sa.String(255), nullable=True),
    sa.Column("metadata", JSONDoc, nullable=False),
    sa.Column("mcp_server_url", sa.String(2048), nullable=True),
    sa.Column("variable", sa.String(128), nullable=True),
    sa.Column("allowed_hosts", JSONDoc, nullable=True),  # null: any host
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    # The workspace secret holding the value (it is gone once the credential is archived).
    sa.Column("secret_name", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("archived_at", UTCDateTime(), nullable=True),
    sa.Index(None, "vault_id", "id"),
)

session_vaults = sa.Table(
    "session_vaults",
    metadata,
    sa.Column(
        "session_id",
        sa.String(40),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer, primary_key=True),
    # Not a foreign key: a session keeps naming a vault deleted since (which then adds nothing).
    sa.Column("vault_id", sa.String(40), nullable=False),
)

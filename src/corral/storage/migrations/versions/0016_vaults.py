"""Vaults of credentials, their credentials, and the vaults each session uses.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import corral.storage.tables

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_TIME = corral.storage.tables.UTCDateTime(timezone=True)
_JSON = corral.storage.tables.JSONDoc


def upgrade() -> None:
    op.create_table(
        "vaults",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("metadata", _JSON, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("archived_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_vaults_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vaults")),
    )
    op.create_index(op.f("ix_vaults_workspace_id_id"), "vaults", ["workspace_id", "id"])
    op.create_table(
        "vault_credentials",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("vault_id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=True),
        sa.Column("metadata", _JSON, nullable=False),
        sa.Column("mcp_server_url", sa.String(length=2048), nullable=True),
        sa.Column("variable", sa.String(length=128), nullable=True),
        sa.Column("allowed_hosts", _JSON, nullable=True),
        sa.Column("expires_at", _TIME, nullable=True),
        sa.Column("secret_name", sa.String(length=128), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("archived_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["vault_id"],
            ["vaults.id"],
            name=op.f("fk_vault_credentials_vault_id_vaults"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_credentials")),
    )
    op.create_index(
        op.f("ix_vault_credentials_vault_id_id"), "vault_credentials", ["vault_id", "id"]
    )
    op.create_table(
        "session_vaults",
        sa.Column("session_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("vault_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_session_vaults_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "position", name=op.f("pk_session_vaults")),
    )


def downgrade() -> None:
    op.drop_table("session_vaults")
    op.drop_index(op.f("ix_vault_credentials_vault_id_id"), table_name="vault_credentials")
    op.drop_table("vault_credentials")
    op.drop_index(op.f("ix_vaults_workspace_id_id"), table_name="vaults")
    op.drop_table("vaults")

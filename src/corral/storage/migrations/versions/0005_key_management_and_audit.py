"""Key management, suspended workspaces, the audit log and the secrets vault.

API keys that expire, rotate and name their agents.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import corral.storage.tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TIME = corral.storage.tables.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(sa.Column("suspended_at", _TIME, nullable=True))
        batch.add_column(sa.Column("limits", corral.storage.tables.JSONDoc, nullable=True))
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("expires_at", _TIME, nullable=True))
        batch.add_column(sa.Column("last_used_at", _TIME, nullable=True))
        batch.add_column(sa.Column("agents", corral.storage.tables.JSONDoc, nullable=True))
        batch.add_column(sa.Column("created_by", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("previous_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("previous_expires_at", _TIME, nullable=True))
        batch.add_column(sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True))
        batch.create_index(op.f("ix_api_keys_previous_hash"), ["previous_hash"], unique=False)
    op.create_table(
        "audit_events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=True),
        sa.Column("actor_key_id", sa.String(length=40), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("details", corral.storage.tables.JSONDoc, nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(
        op.f("ix_audit_events_workspace_id_id"),
        "audit_events",
        ["workspace_id", "id"],
        unique=False,
    )

    op.create_table(
        "secrets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_secrets_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secrets")),
    )
    op.create_index(
        op.f("ix_secrets_workspace_id_name"), "secrets", ["workspace_id", "name"], unique=True
    )
    op.create_table(
        "secret_versions",
        sa.Column("secret_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["secret_id"],
            ["secrets.id"],
            name=op.f("fk_secret_versions_secret_id_secrets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("secret_id", "version", name=op.f("pk_secret_versions")),
    )


def downgrade() -> None:
    op.drop_table("secret_versions")
    op.drop_index(op.f("ix_secrets_workspace_id_name"), table_name="secrets")
    op.drop_table("secrets")
    op.drop_index(op.f("ix_audit_events_workspace_id_id"), table_name="audit_events")
    op.drop_table("audit_events")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index(op.f("ix_api_keys_previous_hash"))
        for column in (
            "rate_limit_per_minute",
            "previous_expires_at",
            "previous_hash",
            "created_by",
            "agents",
            "last_used_at",
            "expires_at",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("limits")
        batch.drop_column("suspended_at")

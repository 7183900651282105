"""VaultStore: a workspace's vaults, their credentials, and the vaults each session uses.

Rows name secrets, never hold them: a credential's value is in the secrets vault.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from corral.storage.tables_vaults import session_vaults, vault_credentials, vaults
from corral.types.vaults import Vault, VaultCredential

__all__ = [
    "archive_credential",
    "archive_vault",
    "credentials_in_use",
    "delete_credential",
    "delete_vault",
    "get_credential",
    "get_vault",
    "insert_credential",
    "insert_vault",
    "list_credentials",
    "list_vaults",
    "set_session_vaults",
    "update_credential",
    "update_vault",
    "vault_ids_of",
]


def _vault(row: Any) -> Vault:
    return Vault.model_validate({k: v for k, v in row.items() if k != "workspace_id"})


def _credential(row: Any) -> VaultCredential:
    return VaultCredential.model_validate({k: v for k, v in row.items() if k != "workspace_id"})


def _of_vault(workspace_id: str, vault_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(vaults.c.id == vault_id, vaults.c.workspace_id == workspace_id)


def insert_vault(conn: sa.Connection, workspace_id: str, vault: Vault) -> None:
    """Store a new vault."""
    conn.execute(vaults.insert().values(workspace_id=workspace_id, **vault.model_dump()))


def get_vault(conn: sa.Connection, workspace_id: str, vault_id: str) -> Vault | None:
    """The vault, or None when it is not the workspace's."""
    row = conn.execute(sa.select(vaults).where(_of_vault(workspace_id, vault_id)))
    found = row.mappings().first()
    return None if found is None else _vault(found)


def list_vaults(
    conn: sa.Connection,
    workspace_id: str,
    *,
    limit: int,
    before_id: str | None,
    include_archived: bool,
) -> list[Vault]:
    """Vaults newest first."""
    query = sa.select(vaults).where(vaults.c.workspace_id == workspace_id)
    if before_id is not None:
        query = query.where(vaults.c.id < before_id)
    if not include_archived:
        query = query.where(vaults.c.archived_at.is_(None))
    rows = conn.execute(query.order_by(vaults.c.id.desc()).limit(limit)).mappings()
    return [_vault(row) for row in rows]


def update_vault(
    conn: sa.Connection, workspace_id: str, vault_id: str, values: dict[str, Any]
) -> None:
    """Change a vault's columns."""
    conn.execute(vaults.update().where(_of_vault(workspace_id, vault_id)).values(**values))


def archive_vault(conn: sa.Connection, workspace_id: str, vault_id: str, now: datetime) -> None:
    """Archive the vault, unless it already is (the first time is kept)."""
    conn.execute(
        vaults.update()
        .where(_of_vault(workspace_id, vault_id), vaults.c.archived_at.is_(None))
        .values(archived_at=now, updated_at=now)
    )


def delete_vault(conn: sa.Connection, workspace_id: str, vault_id: str) -> None:
    """Delete the vault with its credentials (sessions keep naming it)."""
    conn.execute(vaults.delete().where(_of_vault(workspace_id, vault_id)))


def insert_credential(conn: sa.Connection, workspace_id: str, credential: VaultCredential) -> None:
    """Store a new credential."""
    values = credential.model_dump()
    conn.execute(vault_credentials.insert().values(workspace_id=workspace_id, **values))


def get_credential(
    conn: sa.Connection, workspace_id: str, vault_id: str, credential_id: str
) -> VaultCredential | None:
    """The credential, or None when it is not in that vault of the workspace."""
    query = sa.select(vault_credentials).where(
        vault_credentials.c.id == credential_id,
        vault_credentials.c.vault_id == vault_id,
        vault_credentials.c.workspace_id == workspace_id,
    )
    found = conn.execute(query).mappings().first()
    return None if found is None else _credential(found)


def list_credentials(
    conn: sa.Connection,
    workspace_id: str,
    vault_id: str,
    *,
    limit: int | None,
    before_id: str | None = None,
    include_archived: bool,
) -> list[VaultCredential]:
    """A vault's credentials newest first."""
    query = sa.select(vault_credentials).where(
        vault_credentials.c.vault_id == vault_id,
        vault_credentials.c.workspace_id == workspace_id,
    )
    if before_id is not None:
        query = query.where(vault_credentials.c.id < before_id)
    if not include_archived:
        query = query.where(vault_credentials.c.archived_at.is_(None))
    query = query.order_by(vault_credentials.c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return [_credential(row) for row in conn.execute(query).mappings()]


def update_credential(conn: sa.Connection, credential_id: str, values: dict[str, Any]) -> None:
    """Change a credential's columns."""
    conn.execute(
        vault_credentials.update().where(vault_credentials.c.id == credential_id).values(**values)
    )


def archive_credential(conn: sa.Connection, credential_id: str, now: datetime) -> None:
    """Archive the credential, unless it already is."""
    conn.execute(
        vault_credentials.update()
        .where(vault_credentials.c.id == credential_id, vault_credentials.c.archived_at.is_(None))
        .values(archived_at=now, updated_at=now)
    )


def delete_credential(conn: sa.Connection, credential_id: str) -> None:
    """Delete the credential's row."""
    conn.execute(vault_credentials.delete().where(vault_credentials.c.id == credential_id))


def set_session_vaults(conn: sa.Connection, session_id: str, vault_ids: Sequence[str]) -> None:
    """Make `vault_ids`, in this order, the vaults the session uses."""
    conn.execute(session_vaults.delete().where(session_vaults.c.session_id == session_id))
    if vault_ids:
        conn.execute(
            session_vaults.insert(),
            [
                {"session_id": session_id, "position": position, "vault_id": vault_id}
                for position, vault_id in enumerate(vault_ids)
            ],
        )


def vault_ids_of(conn: sa.Connection, session_id: str) -> list[str]:
    """The vaults the session uses, in its order."""
    query = (
        sa.select(session_vaults.c.vault_id)
        .where(session_vaults.c.session_id == session_id)
        .order_by(session_vaults.c.position)
    )
    return [str(vault_id) for vault_id in conn.execute(query).scalars()]


def credentials_in_use(
    conn: sa.Connection, workspace_id: str, vault_ids: Sequence[str]
) -> list[VaultCredential]:
    """The credentials in force of those vaults: the vaults' order, then oldest first.

    An archived vault or credential, or a deleted one, has none.
    """
    if not vault_ids:
        return []
    query = (
        sa.select(vault_credentials)
        .join(vaults, vaults.c.id == vault_credentials.c.vault_id)
        .where(
            vaults.c.workspace_id == workspace_id,
            vaults.c.id.in_(list(vault_ids)),
            vaults.c.archived_at.is_(None),
            vault_credentials.c.archived_at.is_(None),
        )
        .order_by(vault_credentials.c.id)
    )
    found = [_credential(row) for row in conn.execute(query).mappings()]
    order = {vault_id: position for position, vault_id in enumerate(vault_ids)}
    return sorted(found, key=lambda credential: order[credential.vault_id])

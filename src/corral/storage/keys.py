"""Workspaces and their API keys (stored as SHA-256 hashes, never in clear)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from corral.storage.tables import api_keys, workspaces


def insert_workspace(conn: sa.Connection, *, workspace_id: str, name: str, now: datetime) -> None:
    """Create a workspace."""
    conn.execute(workspaces.insert().values(id=workspace_id, name=name, created_at=now))


def workspace_by_name(conn: sa.Connection, name: str) -> sa.RowMapping | None:
    """The workspace with this name, if any."""
    query = sa.select(workspaces).where(workspaces.c.name == name)
    return conn.execute(query).mappings().first()


def insert_key(
    conn: sa.Connection,
    *,
    key_id: str,
    workspace_id: str,
    name: str,
    key_hash: str,
    prefix: str,
    scopes: list[str],
    now: datetime,
) -> None:
    """Store a key by its hash."""
    conn.execute(
        api_keys.insert().values(
            id=key_id,
            workspace_id=workspace_id,
            name=name,
            key_hash=key_hash,
            prefix=prefix,
            scopes=scopes,
            created_at=now,
        )
    )


def find_by_hash(conn: sa.Connection, key_hash: str) -> dict[str, Any] | None:
    """The live key with this hash and its workspace, or None."""
    row = (
        conn.execute(
            sa.select(
                api_keys.c.id,
                api_keys.c.name,
                api_keys.c.scopes,
                api_keys.c.workspace_id,
                workspaces.c.name.label("workspace_name"),
            )
            .join(workspaces, workspaces.c.id == api_keys.c.workspace_id)
            .where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None))
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def count_keys(conn: sa.Connection) -> int:
    """How many keys exist (zero before the first start)."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(api_keys)).scalar_one())

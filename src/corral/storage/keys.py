"""The API keys of workspaces (stored as SHA-256 hashes, never in clear)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from corral.storage.tables import api_keys, workspaces


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A row of `api_keys` as the rest of Corral sees it."""

    id: str
    workspace_id: str
    name: str
    prefix: str
    scopes: list[str]
    agents: list[str] | None
    created_at: datetime
    created_by: str | None
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    rate_limit_per_minute: int | None


@dataclass(frozen=True, slots=True)
class VerifiedKey:
    """A live key found by the hash of a presented secret, with its workspace's name."""

    key: KeyRecord
    workspace_name: str
    workspace_suspended: bool
    workspace_limits: dict[str, float]
    """The operator's overrides of the server's limits for the workspace (rates, spend caps)."""


_KEY_COLUMNS = (
    api_keys.c.id,
    api_keys.c.workspace_id,
    api_keys.c.name,
    api_keys.c.prefix,
    api_keys.c.scopes,
    api_keys.c.agents,
    api_keys.c.created_at,
    api_keys.c.created_by,
    api_keys.c.expires_at,
    api_keys.c.last_used_at,
    api_keys.c.revoked_at,
    api_keys.c.rate_limit_per_minute,
)


def _record(row: Any) -> KeyRecord:
    return KeyRecord(**{column.name: row[column.name] for column in _KEY_COLUMNS})


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
    expires_at: datetime | None = None,
    agents: list[str] | None = None,
    created_by: str | None = None,
    rate_limit_per_minute: int | None = None,
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
            expires_at=expires_at,
            agents=agents,
            created_by=created_by,
            rate_limit_per_minute=rate_limit_per_minute,
        )
    )


def find_by_hash(conn: sa.Connection, key_hash: str, now: datetime) -> VerifiedKey | None:
    """The unrevoked key whose secret has this hash (or had it, while a rotation's grace lasts).

    An expired key is returned too: the caller says why it is refused.
    """
    current = api_keys.c.key_hash == key_hash
    previous = sa.and_(api_keys.c.previous_hash == key_hash, api_keys.c.previous_expires_at > now)
    return _verified(conn, sa.or_(current, previous))


def find_by_id(conn: sa.Connection, key_id: str) -> VerifiedKey | None:
    """The unrevoked key with this id (expired or not), as `find_by_hash` gives it."""
    return _verified(conn, api_keys.c.id == key_id)


def _verified(conn: sa.Connection, which: sa.ColumnElement[bool]) -> VerifiedKey | None:
    row = (
        conn.execute(
            sa.select(
                *_KEY_COLUMNS,
                workspaces.c.name.label("workspace_name"),
                workspaces.c.suspended_at.label("suspended_at"),
                workspaces.c.limits.label("workspace_limits"),
            )
            .join(workspaces, workspaces.c.id == api_keys.c.workspace_id)
            .where(which, api_keys.c.revoked_at.is_(None))
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return VerifiedKey(
        _record(row),
        row["workspace_name"],
        row["suspended_at"] is not None,
        dict(row["workspace_limits"] or {}),
    )


def list_keys(conn: sa.Connection, workspace_id: str) -> list[KeyRecord]:
    """The workspace's keys, revoked ones included, oldest first."""
    query = (
        sa.select(*_KEY_COLUMNS)
        .where(api_keys.c.workspace_id == workspace_id)
        .order_by(api_keys.c.created_at, api_keys.c.id)
    )
    return [_record(row) for row in conn.execute(query).mappings()]


def get_key(conn: sa.Connection, workspace_id: str, key_id: str) -> KeyRecord | None:
    """One key of the workspace."""
    query = sa.select(*_KEY_COLUMNS).where(
        api_keys.c.workspace_id == workspace_id, api_keys.c.id == key_id
    )
    row = conn.execute(query).mappings().first()
    return _record(row) if row else None


def revoke(conn: sa.Connection, workspace_id: str, key_id: str, now: datetime) -> bool:
    """Revoke a live key; False if it is unknown or revoked already."""
    result = conn.execute(
        api_keys.update()
        .where(
            api_keys.c.workspace_id == workspace_id,
            api_keys.c.id == key_id,
            api_keys.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    return result.rowcount == 1


def rotate(
    conn: sa.Connection,
    workspace_id: str,
    key_id: str,
    *,
    key_hash: str,
    prefix: str,
    previous_until: datetime | None,
) -> bool:
    """Give a live key a new secret; the old one works until `previous_until` (if given)."""
    result = conn.execute(
        api_keys.update()
        .where(
            api_keys.c.workspace_id == workspace_id,
            api_keys.c.id == key_id,
            api_keys.c.revoked_at.is_(None),
        )
        .values(
            previous_hash=api_keys.c.key_hash if previous_until is not None else None,
            previous_expires_at=previous_until,
            key_hash=key_hash,
            prefix=prefix,
        )
    )
    return result.rowcount == 1


def touch(conn: sa.Connection, key_id: str, now: datetime) -> None:
    """Record that the key was used."""
    conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(last_used_at=now))


def count_keys(conn: sa.Connection) -> int:
    """How many keys exist (zero before the first start)."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(api_keys)).scalar_one())

"""The secrets vault: named values of a workspace, each version sealed under the server's key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from corral.storage.tables import runs, secret_versions, secrets, sessions


@dataclass(frozen=True, slots=True)
class SecretRecord:
    """A secret's metadata; its value is only ever in `secret_versions`, sealed."""

    id: str
    workspace_id: str
    name: str
    description: str | None
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """One version of a secret, without its value."""

    version: int
    created_at: datetime
    created_by: str | None


def get(conn: sa.Connection, workspace_id: str, name: str) -> SecretRecord | None:
    """The workspace's secret with this name."""
    query = sa.select(secrets).where(secrets.c.workspace_id == workspace_id, secrets.c.name == name)
    row = conn.execute(query).mappings().first()
    return SecretRecord(**row) if row else None


def list_all(conn: sa.Connection, workspace_id: str) -> list[SecretRecord]:
    """The workspace's secrets, by name."""
    query = (
        sa.select(secrets).where(secrets.c.workspace_id == workspace_id).order_by(secrets.c.name)
    )
    return [SecretRecord(**row) for row in conn.execute(query).mappings()]


def versions(conn: sa.Connection, secret_id: str) -> list[VersionRecord]:
    """Every version of a secret, newest first."""
    query = (
        sa.select(
            secret_versions.c.version, secret_versions.c.created_at, secret_versions.c.created_by
        )
        .where(secret_versions.c.secret_id == secret_id)
        .order_by(secret_versions.c.version.desc())
    )
    return [VersionRecord(**row) for row in conn.execute(query).mappings()]


def insert(
    conn: sa.Connection,
    *,
    secret_id: str,
    workspace_id: str,
    name: str,
    description: str | None,
    sealed: str,
    now: datetime,
    created_by: str | None,
) -> None:
    """Create a secret at version 1."""
    conn.execute(
        secrets.insert().values(
            id=secret_id,
            workspace_id=workspace_id,
            name=name,
            description=description,
            version=1,
            created_at=now,
            updated_at=now,
        )
    )
    _add_version(conn, secret_id, 1, sealed, now, created_by)


def add_version(
    conn: sa.Connection,
    record: SecretRecord,
    *,
    sealed: str,
    description: str | None,
    now: datetime,
    created_by: str | None,
) -> int:
    """Make `sealed` the secret's current value; returns its version number."""
    version = record.version + 1
    conn.execute(
        secrets.update()
        .where(secrets.c.id == record.id)
        .values(version=version, updated_at=now, description=description)
    )
    _add_version(conn, record.id, version, sealed, now, created_by)
    return version


def _add_version(
    conn: sa.Connection,
    secret_id: str,
    version: int,
    sealed: str,
    now: datetime,
    created_by: str | None,
) -> None:
    conn.execute(
        secret_versions.insert().values(
            secret_id=secret_id,
            version=version,
            sealed=sealed,
            created_at=now,
            created_by=created_by,
        )
    )


def all_sealed(conn: sa.Connection, workspace_id: str) -> dict[str, str]:
    """Name → sealed current value of every secret of the workspace."""
    query = (
        sa.select(secrets.c.name, secret_versions.c.sealed)
        .join(secrets, secrets.c.id == secret_versions.c.secret_id)
        .where(
            secrets.c.workspace_id == workspace_id,
            secret_versions.c.version == secrets.c.version,
        )
    )
    return {str(row[0]): str(row[1]) for row in conn.execute(query)}


def delete(conn: sa.Connection, secret_id: str) -> None:
    """Delete a secret and all its versions."""
    conn.execute(secrets.delete().where(secrets.c.id == secret_id))


def reseal_all(conn: sa.Connection, reseal: Callable[[str], str]) -> int:
    """Replace every sealed value by `reseal(value)`; returns how many were sealed anew.

    The vault's values, and the provider keys of runs and sessions.
    """
    count = 0
    for table, keys, column in (
        (secret_versions, (secret_versions.c.secret_id, secret_versions.c.version), "sealed"),
        (runs, (runs.c.id,), "api_keys"),
        (sessions, (sessions.c.id,), "api_keys"),
    ):
        sealed_column = table.c[column]
        rows = conn.execute(sa.select(*keys, sealed_column).where(sealed_column.is_not(None)))
        for *identity, value in rows.all():
            match = sa.and_(*(key == part for key, part in zip(keys, identity, strict=True)))
            conn.execute(table.update().where(match).values({column: reseal(value)}))
            count += 1
    return count

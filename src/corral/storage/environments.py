"""EnvironmentStore: a workspace's stored sandbox configurations."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from corral.storage.tables_environments import environments

__all__ = ["EnvironmentRecord", "archive", "delete", "get", "insert", "list_page", "update"]


@dataclass(frozen=True, kw_only=True, slots=True)
class EnvironmentRecord:
    """An environment as stored; `config` is an `Environment` as JSON."""

    id: str
    workspace_id: str
    name: str
    description: str
    metadata: dict[str, str]
    config: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None


def _of(workspace_id: str, environment_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(environments.c.id == environment_id, environments.c.workspace_id == workspace_id)


def insert(conn: sa.Connection, record: EnvironmentRecord) -> None:
    """Store a new environment."""
    conn.execute(environments.insert().values(**asdict(record)))


def get(conn: sa.Connection, workspace_id: str, environment_id: str) -> EnvironmentRecord | None:
    """The environment, or None when it is not in the workspace."""
    row = conn.execute(sa.select(environments).where(_of(workspace_id, environment_id)))
    found = row.mappings().first()
    return None if found is None else EnvironmentRecord(**found)


def list_page(
    conn: sa.Connection,
    workspace_id: str,
    *,
    limit: int,
    before_id: str | None,
    include_archived: bool,
) -> list[EnvironmentRecord]:
    """Environments newest first."""
    query = sa.select(environments).where(environments.c.workspace_id == workspace_id)
    if before_id is not None:
        query = query.where(environments.c.id < before_id)
    if not include_archived:
        query = query.where(environments.c.archived_at.is_(None))
    rows = conn.execute(query.order_by(environments.c.id.desc()).limit(limit)).mappings()
    return [EnvironmentRecord(**row) for row in rows]


def update(
    conn: sa.Connection, workspace_id: str, environment_id: str, values: dict[str, Any]
) -> bool:
    """Change an environment that is not archived; False when there is none such."""
    result = conn.execute(
        environments.update()
        .where(_of(workspace_id, environment_id), environments.c.archived_at.is_(None))
        .values(**values)
    )
    return result.rowcount == 1


def archive(conn: sa.Connection, workspace_id: str, environment_id: str, now: datetime) -> None:
    """Archive the environment, unless it already is (the first time is kept)."""
    conn.execute(
        environments.update()
        .where(_of(workspace_id, environment_id), environments.c.archived_at.is_(None))
        .values(archived_at=now, updated_at=now)
    )


def delete(conn: sa.Connection, workspace_id: str, environment_id: str) -> bool:
    """Delete the environment; False when there is none. Sessions keep their copy of its config."""
    result = conn.execute(environments.delete().where(_of(workspace_id, environment_id)))
    return result.rowcount == 1

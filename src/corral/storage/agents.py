"""AgentStore: agents and their append-only versions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from corral.storage.tables import agent_versions, agents


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentRecord:
    """An agent at one version."""

    id: str
    workspace_id: str
    name: str
    version: int
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None
    """Set once archived: the agent starts no new runs or sessions."""


_COLUMNS = (
    agents.c.id,
    agents.c.workspace_id,
    agents.c.name,
    agent_versions.c.version,
    agent_versions.c.spec,
    agents.c.created_at,
    agents.c.archived_at,
)


def _record(row: sa.RowMapping, updated_at: datetime | None = None) -> AgentRecord:
    values = dict(row)
    values["updated_at"] = updated_at or values.pop("version_created_at")
    return AgentRecord(**values)


def insert(
    conn: sa.Connection,
    *,
    agent_id: str,
    workspace_id: str,
    name: str,
    spec: dict[str, Any],
    now: datetime,
) -> bool:
    """Create an agent at version 1; False when the name is taken in the workspace."""
    taken = conn.execute(
        sa.select(agents.c.id).where(agents.c.workspace_id == workspace_id, agents.c.name == name)
    ).first()
    if taken:
        return False
    conn.execute(
        agents.insert().values(
            id=agent_id,
            workspace_id=workspace_id,
            name=name,
            version=1,
            created_at=now,
            updated_at=now,
        )
    )
    conn.execute(
        agent_versions.insert().values(agent_id=agent_id, version=1, spec=spec, created_at=now)
    )
    return True


def add_version(conn: sa.Connection, agent_id: str, *, spec: dict[str, Any], now: datetime) -> int:
    """Append a version and make it the latest; returns its number."""
    version = conn.execute(
        agents.update()
        .where(agents.c.id == agent_id)
        .values(version=agents.c.version + 1, updated_at=now)
        .returning(agents.c.version)
    ).scalar_one()
    conn.execute(
        agent_versions.insert().values(
            agent_id=agent_id, version=version, spec=spec, created_at=now
        )
    )
    return int(version)


def find(
    conn: sa.Connection, workspace_id: str, id_or_name: str, *, version: int | None = None
) -> AgentRecord | None:
    """The agent by id or name, at `version` (default: the latest)."""
    key = agents.c.id if id_or_name.startswith("agt_") else agents.c.name
    query = (
        sa.select(*_COLUMNS, agent_versions.c.created_at.label("version_created_at"))
        .join(agent_versions, agent_versions.c.agent_id == agents.c.id)
        .where(agents.c.workspace_id == workspace_id, key == id_or_name)
    )
    if version is None:
        query = query.where(agent_versions.c.version == agents.c.version)
    else:
        query = query.where(agent_versions.c.version == version)
    row = conn.execute(query).mappings().first()
    return _record(row) if row else None


def exists(conn: sa.Connection, workspace_id: str, id_or_name: str) -> bool:
    """Whether the agent exists (at any version)."""
    key = agents.c.id if id_or_name.startswith("agt_") else agents.c.name
    query = sa.select(agents.c.id).where(agents.c.workspace_id == workspace_id, key == id_or_name)
    return conn.execute(query).first() is not None


def list_page(
    conn: sa.Connection,
    workspace_id: str,
    *,
    limit: int,
    before_id: str | None = None,
    include_archived: bool = True,
) -> list[AgentRecord]:
    """Agents at their latest version, newest first."""
    query = (
        sa.select(*_COLUMNS, agent_versions.c.created_at.label("version_created_at"))
        .join(agent_versions, agent_versions.c.agent_id == agents.c.id)
        .where(
            agents.c.workspace_id == workspace_id,
            agent_versions.c.version == agents.c.version,
        )
    )
    if before_id is not None:
        query = query.where(agents.c.id < before_id)
    if not include_archived:
        query = query.where(agents.c.archived_at.is_(None))
    rows = conn.execute(query.order_by(agents.c.id.desc()).limit(limit)).mappings()
    return [_record(row) for row in rows]


def archive(conn: sa.Connection, agent_id: str, now: datetime) -> None:
    """Archive the agent, unless it already is (the first time is kept)."""
    conn.execute(
        agents.update()
        .where(agents.c.id == agent_id, agents.c.archived_at.is_(None))
        .values(archived_at=now)
    )


def versions(conn: sa.Connection, agent_id: str) -> list[tuple[int, dict[str, Any], datetime]]:
    """Every version of the agent, newest first."""
    rows = conn.execute(
        sa.select(agent_versions.c.version, agent_versions.c.spec, agent_versions.c.created_at)
        .where(agent_versions.c.agent_id == agent_id)
        .order_by(agent_versions.c.version.desc())
    )
    return [(int(v), spec, created) for v, spec, created in rows]


def delete(conn: sa.Connection, workspace_id: str, agent_id: str) -> bool:
    """Delete the agent and its versions (runs keep the spec they ran with)."""
    conn.execute(agent_versions.delete().where(agent_versions.c.agent_id == agent_id))
    result = conn.execute(
        agents.delete().where(agents.c.id == agent_id, agents.c.workspace_id == workspace_id)
    )
    return result.rowcount == 1

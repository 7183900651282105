"""Workspaces: the tenants of a server, each with its own keys, agents, runs and files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from corral.storage.tables import LEASED_CONDITION, api_keys, runs, workspaces
from corral.types.runs import ACTIVE_STATUSES


@dataclass(frozen=True, slots=True)
class WorkspaceRecord:
    """A row of `workspaces`."""

    id: str
    name: str
    created_at: datetime
    suspended_at: datetime | None
    limits: dict[str, float] | None
    """The operator's overrides (`WorkspaceLimits`): rates are whole numbers, spend caps dollars."""


def insert_workspace(conn: sa.Connection, *, workspace_id: str, name: str, now: datetime) -> None:
    """Create a workspace."""
    conn.execute(workspaces.insert().values(id=workspace_id, name=name, created_at=now))


def workspace_by_name(conn: sa.Connection, name: str) -> sa.RowMapping | None:
    """The workspace with this name, if any."""
    query = sa.select(workspaces).where(workspaces.c.name == name)
    return conn.execute(query).mappings().first()


def get(conn: sa.Connection, id_or_name: str) -> WorkspaceRecord | None:
    """A workspace by id or by name."""
    query = sa.select(workspaces).where(
        sa.or_(workspaces.c.id == id_or_name, workspaces.c.name == id_or_name)
    )
    row = conn.execute(query).mappings().first()
    return WorkspaceRecord(**row) if row else None


def list_all(conn: sa.Connection) -> list[WorkspaceRecord]:
    """Every workspace, oldest first."""
    query = sa.select(workspaces).order_by(workspaces.c.created_at, workspaces.c.id)
    return [WorkspaceRecord(**row) for row in conn.execute(query).mappings()]


def set_suspended(conn: sa.Connection, workspace_id: str, at: datetime | None) -> None:
    """Suspend the workspace (`at`), or resume it (None)."""
    conn.execute(workspaces.update().where(workspaces.c.id == workspace_id).values(suspended_at=at))


def set_limits(conn: sa.Connection, workspace_id: str, limits: dict[str, float] | None) -> None:
    """Replace the operator's overrides of the workspace's limits."""
    conn.execute(workspaces.update().where(workspaces.c.id == workspace_id).values(limits=limits))


def active_runs(conn: sa.Connection, workspace_id: str) -> list[str]:
    """The ids of the workspace's runs that have not ended."""
    query = sa.select(runs.c.id).where(
        runs.c.workspace_id == workspace_id,
        runs.c.status.in_([status.value for status in ACTIVE_STATUSES]),
    )
    return list(conn.execute(query).scalars())


def delete(conn: sa.Connection, workspace_id: str) -> None:
    """Delete the workspace and, through its foreign keys, everything in it."""
    conn.execute(api_keys.delete().where(api_keys.c.workspace_id == workspace_id))
    conn.execute(workspaces.delete().where(workspaces.c.id == workspace_id))


def limits_of(conn: sa.Connection, workspace_id: str) -> dict[str, float]:
    """The operator's overrides of the workspace's limits (empty when it has none)."""
    query = sa.select(workspaces.c.limits).where(workspaces.c.id == workspace_id)
    return dict(conn.execute(query).scalar() or {})


def held_runs(conn: sa.Connection, workspace_id: str) -> int:
    """How many of the workspace's runs workers hold now: what its concurrency cap counts."""
    query = (
        sa.select(sa.func.count())
        .select_from(runs)
        .where(runs.c.workspace_id == workspace_id, sa.text(LEASED_CONDITION))
    )
    return int(conn.execute(query).scalar_one())

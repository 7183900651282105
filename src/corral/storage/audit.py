"""The audit log: who changed a key, a secret, a limit or a workspace, when, and from where.

An entry is written in the transaction of the change it records, so neither exists without
the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from corral.storage.tables import audit_events


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One recorded change."""

    id: str
    workspace_id: str | None
    actor_key_id: str | None
    actor_name: str | None
    action: str
    target_id: str | None
    details: dict[str, Any]
    address: str | None
    created_at: datetime


_INSERT = audit_events.insert()
"""Built once: building an insert costs more than running it, on the path of every decision."""


def insert(conn: sa.Connection, record: AuditRecord) -> None:
    """Record a change."""
    conn.execute(
        _INSERT,
        {
            "id": record.id,
            "workspace_id": record.workspace_id,
            "actor_key_id": record.actor_key_id,
            "actor_name": record.actor_name,
            "action": record.action,
            "target_id": record.target_id,
            "details": record.details,
            "address": record.address,
            "created_at": record.created_at,
        },
    )


def page(
    conn: sa.Connection,
    workspace_id: str,
    *,
    limit: int,
    before_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditRecord]:
    """The workspace's entries, newest first, older than `before_id` when given."""
    query = sa.select(audit_events).where(audit_events.c.workspace_id == workspace_id)
    if before_id is not None:
        query = query.where(audit_events.c.id < before_id)
    if action is not None:
        query = query.where(audit_events.c.action == action)
    if since is not None:
        query = query.where(audit_events.c.created_at >= since)
    if until is not None:
        query = query.where(audit_events.c.created_at < until)
    query = query.order_by(audit_events.c.id.desc()).limit(limit)
    return [AuditRecord(**row) for row in conn.execute(query).mappings()]

"""Recording changes in the audit log, and listing it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from corral.context import ServiceContext
from corral.ids import new_id
from corral.services.context import Principal
from corral.storage import audit as audit_store
from corral.storage.audit import AuditRecord
from corral.storage.database import Connection
from corral.types.audit import AuditEvent
from corral.types.common import Page

MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change, and from where: the key (None for the server itself) and address."""

    principal: Principal | None
    address: str | None = None


def record(
    conn: Connection,
    actor: Actor,
    action: str,
    *,
    workspace_id: str | None,
    target_id: str | None,
    now: datetime,
    details: dict[str, Any] | None = None,
) -> None:
    """Write an entry, in the transaction of the change it records."""
    principal = actor.principal
    audit_store.insert(
        conn,
        AuditRecord(
            id=new_id("aud"),
            workspace_id=workspace_id,
            actor_key_id=principal.key_id if principal else None,
            actor_name=principal.key_name if principal else None,
            action=action,
            target_id=target_id,
            details=details or {},
            address=actor.address,
            created_at=now,
        ),
    )


def _wire(record: AuditRecord) -> AuditEvent:
    return AuditEvent(
        id=record.id,
        action=record.action,
        target_id=record.target_id,
        actor=record.actor_name,
        actor_key_id=record.actor_key_id,
        address=record.address,
        details=record.details,
        created_at=record.created_at,
    )


async def list_events(
    ctx: ServiceContext,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[AuditEvent]:
    """The workspace's audit log, newest first."""
    records = await ctx.database.read(
        audit_store.page,
        principal.workspace_id,
        limit=limit + 1,
        before_id=cursor,
        action=action,
        since=since,
        until=until,
    )
    more = len(records) > limit
    page = [_wire(record) for record in records[:limit]]
    return Page(data=page, next_cursor=page[-1].id if more else None)

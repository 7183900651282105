"""`/v1/audit`: who changed the workspace's keys, secrets, limits or the workspace itself."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from corral.api.deps import Guarded
from corral.api.openapi import KEYED_ERRORS, errors
from corral.api.responses import JSONBody, respond
from corral.services import audit as audit_service
from corral.types.pages import AuditEventPage

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=errors(*KEYED_ERRORS))


@router.get("", response_model=AuditEventPage)
async def list_audit_events(
    call: Guarded,
    limit: Annotated[int, Query(ge=1, le=audit_service.MAX_PAGE)] = 50,
    cursor: str | None = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> JSONBody:
    """Recorded changes, newest first; `since` and `until` bound their time."""
    return respond(
        await audit_service.list_events(
            call.ctx,
            call.principal,
            limit=limit,
            cursor=cursor,
            action=action,
            since=since,
            until=until,
        )
    )

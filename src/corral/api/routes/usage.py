"""`/v1/usage`: tokens, cost and runs of the workspace over a time range."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from corral.api.deps import Guarded
from corral.api.openapi import KEYED_ERRORS, errors
from corral.api.responses import respond_raw
from corral.services import usage as usage_service
from corral.types.usage import UsageGrouping, UsageReport

router = APIRouter(prefix="/v1/usage", tags=["usage"], responses=errors(*KEYED_ERRORS))


@router.get("", response_model=UsageReport)
async def get_usage(
    call: Guarded,
    since: datetime | None = None,
    until: datetime | None = None,
    group_by: Annotated[list[UsageGrouping], Query()] = [],  # noqa: B006 - FastAPI copies defaults
) -> Response:
    """Sums over the runs created in [`since`, `until`) (default: this UTC month), grouped."""
    report = await usage_service.report(
        call.ctx, call.principal, since=since, until=until, group_by=group_by
    )
    # A group carries only the fields it was grouped by.
    return respond_raw((200, report.model_dump_json(exclude_unset=True)))

"""Every other path under `/anthropic`: a 404 in the API's envelope that says what is missing."""

from __future__ import annotations

from fastapi import APIRouter

from corral.api.responses import JSONBody
from corral.compat.anthropic.routes.protocol import ERRORS, ProtocolRoute
from corral.errors import NotFound

router = APIRouter(tags=["anthropic"], route_class=ProtocolRoute, responses=ERRORS)

NOT_YET = ("vaults", "skills", "deployments", "deployment_runs", "threads")
"""Parts of the API this server does not serve yet (see `docs/anthropic.md`)."""


@router.api_route(
    "/anthropic/{path:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def unmapped(path: str) -> JSONBody:
    """A 404 naming the part of the API the path belongs to."""
    parts = path.split("/")
    if any(part in NOT_YET for part in parts):
        part = next(p for p in parts if p in NOT_YET)
        raise NotFound(f"{part} are not available on this Corral server (see docs/anthropic.md)")
    raise NotFound(f"this server's Managed Agents API has no route /{path}")

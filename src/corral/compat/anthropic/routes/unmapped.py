"""Every other path under `/anthropic`: a 404 (or a 405) in the API's envelope.

The 404 names the part of the API a path belongs to when this server does not serve it; a path
that is served, with another method, answers 405 with the `Allow` of its documented routes.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from corral.api.errors import route_methods
from corral.api.responses import JSONBody
from corral.compat.anthropic.routes.protocol import ERRORS, ProtocolRoute, error_response
from corral.errors import NotFound, ServiceError
from corral.types.errors import ErrorCode

router = APIRouter(tags=["anthropic"], route_class=ProtocolRoute, responses=ERRORS)

NOT_YET = ("memory_stores", "dreams", "user_profiles", "tunnels", "work", "resources")
"""Parts of the API this server does not serve (see `docs/anthropic.md`)."""


class MethodNotAllowed(ServiceError):
    """The path is served, not with this method."""

    http_status = 405


@router.api_route(
    "/anthropic/{path:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def unmapped(path: str, request: Request) -> JSONBody:
    """A 405 for a served path's other methods; else a 404 naming what is missing."""
    allowed, _ = route_methods(request)
    if allowed:
        error = MethodNotAllowed(
            f"{request.method} is not allowed on /anthropic/{path}",
            code=ErrorCode.METHOD_NOT_ALLOWED,
        )
        response = error_response(error, request)
        response.headers["Allow"] = ", ".join(sorted(allowed))
        return response
    parts = path.split("/")
    if any(part in NOT_YET for part in parts):
        part = next(p for p in parts if p in NOT_YET)
        raise NotFound(f"{part} are not available on this Corral server (see docs/anthropic.md)")
    raise NotFound(f"this server's Managed Agents API has no route /{path}")

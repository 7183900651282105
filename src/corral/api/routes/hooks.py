"""`POST /v1/hooks/{token}`: where inbound webhooks deliver, with no API key.

The token in the URL finds the trigger; a signature, when the trigger asks for one, proves the
sender. The answer is 202 as soon as the delivery is recorded.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from corral.api.deps import service_context
from corral.api.openapi import BODY_ERRORS, PUBLIC_ERRORS, errors
from corral.api.responses import JSONBody, respond
from corral.errors import (
    InvalidRequest,
    InvalidSignature,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RoutinePaused,
    Unavailable,
)
from corral.services import hooks
from corral.services.limits import Limiter
from corral.types.routines import HookAccepted

router = APIRouter(prefix="/v1/hooks", tags=["routines"])


@router.post(
    "/{token}",
    status_code=202,
    response_model=HookAccepted,
    responses=errors(
        *PUBLIC_ERRORS,
        *BODY_ERRORS,
        InvalidRequest,
        InvalidSignature,
        NotFound,
        RoutinePaused,
        RateLimited,
        Unavailable,
    ),
)
async def deliver(token: str, request: Request) -> JSONBody:
    """Take a delivery for the routine whose webhook trigger has this URL."""
    ctx = service_context(request)
    limit = ctx.settings.hook_max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"a webhook delivery may be at most {limit} bytes")
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLarge(f"a webhook delivery may be at most {limit} bytes")
    limiter: Limiter = request.app.state.limiter
    accepted = await hooks.accept(ctx, limiter, token, body, request.headers)
    return respond(accepted, 202)

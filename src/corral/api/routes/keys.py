"""`/v1/keys`: the workspace's API keys."""

from __future__ import annotations

from fastapi import APIRouter, Request

from corral.api.deps import Call, Guarded
from corral.api.openapi import BODY_ERRORS, KEYED_ERRORS, errors
from corral.api.responses import JSONBody, respond
from corral.errors import Conflict, Forbidden, NotFound
from corral.services import keys as key_service
from corral.services.audit import Actor
from corral.types.common import Page
from corral.types.keys import ApiKey, ApiKeyWithSecret, KeyCreateParams, KeyRotateParams
from corral.types.pages import ApiKeyPage

router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=errors(*KEYED_ERRORS))


def actor(request: Request, call: Call) -> Actor:
    """The caller of a change, for the audit log."""
    return Actor(call.principal, request.client.host if request.client else None)


@router.post(
    "",
    status_code=201,
    response_model=ApiKeyWithSecret,
    # a key grants no more than its creator holds: `forbidden` beside the usual 403s
    responses=errors(*KEYED_ERRORS, *BODY_ERRORS, Forbidden),
)
async def create_key(params: KeyCreateParams, call: Guarded, request: Request) -> JSONBody:
    """Create a key; its `secret` is in this answer only."""
    created = await key_service.create(call.ctx, actor(request, call), call.principal, params)
    return respond(created, 201)


@router.get("", response_model=ApiKeyPage)
async def list_keys(call: Guarded) -> JSONBody:
    """Every key of the workspace, revoked ones included, oldest first."""
    return respond(Page(data=await key_service.list_keys(call.ctx, call.principal)))


@router.get("/{key_id}", response_model=ApiKey, responses=errors(NotFound))
async def get_key(key_id: str, call: Guarded) -> JSONBody:
    """One key (never its secret)."""
    return respond(await key_service.get(call.ctx, call.principal, key_id))


@router.delete("/{key_id}", response_model=ApiKey, responses=errors(NotFound, Conflict))
async def revoke_key(key_id: str, call: Guarded, request: Request) -> JSONBody:
    """Revoke a key: it stops working on every node at once."""
    return respond(await key_service.revoke(call.ctx, actor(request, call), call.principal, key_id))


@router.post(
    "/{key_id}/rotate", response_model=ApiKeyWithSecret, responses=errors(*BODY_ERRORS, NotFound)
)
async def rotate_key(
    key_id: str, call: Guarded, request: Request, params: KeyRotateParams | None = None
) -> JSONBody:
    """Give a key a new secret; the old one keeps working for `grace_s` seconds."""
    rotated = await key_service.rotate(
        call.ctx, actor(request, call), call.principal, key_id, params or KeyRotateParams()
    )
    return respond(rotated)

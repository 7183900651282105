"""`/v1/secrets`: the workspace's vault; values go in and never come out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from corral.api.deps import Guarded
from corral.api.openapi import BODY_ERRORS, KEYED_ERRORS, errors
from corral.api.responses import JSONBody, respond
from corral.api.routes.keys import actor
from corral.errors import Conflict, NotFound
from corral.services import secrets as secret_service
from corral.types.common import Page
from corral.types.pages import SecretPage
from corral.types.secrets import Secret, SecretCreateParams, SecretUpdateParams

router = APIRouter(prefix="/v1/secrets", tags=["secrets"], responses=errors(*KEYED_ERRORS))


@router.post("", status_code=201, response_model=Secret, responses=errors(*BODY_ERRORS, Conflict))
async def create_secret(params: SecretCreateParams, call: Guarded, request: Request) -> JSONBody:
    """Store a secret (version 1); its value is never shown again."""
    created = await secret_service.create(call.ctx, actor(request, call), call.principal, params)
    return respond(created, 201)


@router.get("", response_model=SecretPage)
async def list_secrets(call: Guarded) -> JSONBody:
    """The workspace's secrets, by name, without values."""
    return respond(Page(data=await secret_service.list_secrets(call.ctx, call.principal)))


@router.get("/{name}", response_model=Secret, responses=errors(NotFound))
async def get_secret(name: str, call: Guarded) -> JSONBody:
    """A secret's metadata and its versions."""
    return respond(await secret_service.get(call.ctx, call.principal, name))


@router.put("/{name}", response_model=Secret, responses=errors(*BODY_ERRORS, NotFound))
async def update_secret(
    name: str, params: SecretUpdateParams, call: Guarded, request: Request
) -> JSONBody:
    """Give the secret a new value (a new version)."""
    return respond(
        await secret_service.update(call.ctx, actor(request, call), call.principal, name, params)
    )


@router.delete("/{name}", status_code=204, responses=errors(NotFound))
async def delete_secret(name: str, call: Guarded, request: Request) -> Response:
    """Delete the secret and all its versions."""
    await secret_service.delete(call.ctx, actor(request, call), call.principal, name)
    return Response(status_code=204)

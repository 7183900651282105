"""`/anthropic/v1/vaults`: vaults and their credentials, whose secrets are write-only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from corral.api.openapi import BODY_ERRORS, errors
from corral.api.responses import JSONBody, respond
from corral.api.routes.keys import actor
from corral.compat.anthropic import vaults as service
from corral.compat.anthropic.routes.protocol import (
    ERRORS,
    PREFIX,
    Caller,
    ProtocolRoute,
    api_errors,
)
from corral.compat.anthropic.wire.vaults import (
    CredentialCreate,
    CredentialDeleted,
    CredentialObject,
    CredentialUpdate,
    ManagedCredentialPage,
    ManagedVaultPage,
    VaultCreate,
    VaultDeleted,
    VaultObject,
    VaultUpdate,
)
from corral.errors import Conflict

router = APIRouter(prefix=PREFIX, tags=["anthropic"], route_class=ProtocolRoute, responses=ERRORS)

Limit = Annotated[int, Query(ge=1, le=100)]
_CHANGES = {**api_errors(Conflict), **errors(*BODY_ERRORS)}
_CREDENTIAL = "/vaults/{vault_id}/credentials/{credential_id}"


@router.post("/vaults", response_model=VaultObject, responses=errors(*BODY_ERRORS))
async def create_vault(body: VaultCreate, call: Caller) -> JSONBody:
    """Create an empty vault."""
    return respond(await service.create_vault(call.ctx, call.principal, body))


@router.get("/vaults", response_model=ManagedVaultPage)
async def list_vaults(
    call: Caller, limit: Limit = 20, page: str | None = None, include_archived: bool = False
) -> JSONBody:
    """Vaults, newest first."""
    found = await service.list_vaults(
        call.ctx, call.principal, limit=limit, page=page, include_archived=include_archived
    )
    return respond(found)


@router.get("/vaults/{vault_id}", response_model=VaultObject)
async def retrieve_vault(vault_id: str, call: Caller) -> JSONBody:
    """The vault."""
    return respond(await service.retrieve_vault(call.ctx, call.principal, vault_id))


@router.post("/vaults/{vault_id}", response_model=VaultObject, responses=_CHANGES)
async def update_vault(vault_id: str, body: VaultUpdate, call: Caller) -> JSONBody:
    """Rename the vault or patch its metadata."""
    return respond(await service.update_vault(call.ctx, call.principal, vault_id, body))


@router.post("/vaults/{vault_id}/archive", response_model=VaultObject)
async def archive_vault(vault_id: str, call: Caller, request: Request) -> JSONBody:
    """Archive the vault and its credentials; their secrets are deleted."""
    archived = await service.archive_vault(call.ctx, actor(request, call), call.principal, vault_id)
    return respond(archived)


@router.delete("/vaults/{vault_id}", response_model=VaultDeleted)
async def delete_vault(vault_id: str, call: Caller, request: Request) -> JSONBody:
    """Delete the vault, its credentials and their secrets."""
    deleted = await service.delete_vault(call.ctx, actor(request, call), call.principal, vault_id)
    return respond(deleted)


@router.post("/vaults/{vault_id}/credentials", response_model=CredentialObject, responses=_CHANGES)
async def create_credential(
    vault_id: str, body: CredentialCreate, call: Caller, request: Request
) -> JSONBody:
    """Add a credential to the vault; its secret is stored sealed and never shown."""
    created = await service.create_credential(
        call.ctx, actor(request, call), call.principal, vault_id, body
    )
    return respond(created)


@router.get("/vaults/{vault_id}/credentials", response_model=ManagedCredentialPage)
async def list_credentials(
    vault_id: str,
    call: Caller,
    limit: Limit = 20,
    page: str | None = None,
    include_archived: bool = False,
) -> JSONBody:
    """The vault's credentials, newest first."""
    found = await service.list_credentials(
        call.ctx,
        call.principal,
        vault_id,
        limit=limit,
        page=page,
        include_archived=include_archived,
    )
    return respond(found)


@router.get(_CREDENTIAL, response_model=CredentialObject)
async def retrieve_credential(vault_id: str, credential_id: str, call: Caller) -> JSONBody:
    """The credential, without its secret."""
    found = await service.retrieve_credential(call.ctx, call.principal, vault_id, credential_id)
    return respond(found)


@router.post(_CREDENTIAL, response_model=CredentialObject, responses=_CHANGES)
async def update_credential(
    vault_id: str, credential_id: str, body: CredentialUpdate, call: Caller, request: Request
) -> JSONBody:
    """Change the credential; its type and server URL or variable name stay."""
    updated = await service.update_credential(
        call.ctx, actor(request, call), call.principal, vault_id, credential_id, body
    )
    return respond(updated)


@router.post(f"{_CREDENTIAL}/archive", response_model=CredentialObject)
async def archive_credential(
    vault_id: str, credential_id: str, call: Caller, request: Request
) -> JSONBody:
    """Archive the credential; its secret is deleted."""
    archived = await service.archive_credential(
        call.ctx, actor(request, call), call.principal, vault_id, credential_id
    )
    return respond(archived)


@router.delete(_CREDENTIAL, response_model=CredentialDeleted)
async def delete_credential(
    vault_id: str, credential_id: str, call: Caller, request: Request
) -> JSONBody:
    """Delete the credential and its secret."""
    deleted = await service.delete_credential(
        call.ctx, actor(request, call), call.principal, vault_id, credential_id
    )
    return respond(deleted)


@router.post(f"{_CREDENTIAL}/mcp_oauth_validate", response_model=None)
async def validate_credential(vault_id: str, credential_id: str, call: Caller) -> JSONBody:
    """Not available: answers 400 once the credential is found (see `docs/anthropic.md`)."""
    await service.validate_credential(call.ctx, call.principal, vault_id, credential_id)

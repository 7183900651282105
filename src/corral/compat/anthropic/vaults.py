"""Vaults and credentials of the API as Corral's vaults (`corral.services.vaults`).

A credential's secret goes to the workspace's secrets vault, sealed; answers never carry one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from corral.compat.anthropic.translate import vaults as translate
from corral.compat.anthropic.wire.common import CursorPage
from corral.compat.anthropic.wire.vaults import (
    CredentialCreate,
    CredentialDeleted,
    CredentialObject,
    CredentialUpdate,
    VaultCreate,
    VaultDeleted,
    VaultObject,
    VaultUpdate,
)
from corral.context import ServiceContext
from corral.errors import InvalidRequest, ServiceError
from corral.services import vault_credentials as credential_service
from corral.services import vaults as vault_service
from corral.services.audit import Actor
from corral.services.context import Principal


@contextmanager
def _api_fields() -> Iterator[None]:
    """Errors of Corral's credential fields name the body's fields they come from."""
    try:
        yield
    except ServiceError as error:
        error.field = translate.api_field(error.field)
        raise


async def create_vault(ctx: ServiceContext, principal: Principal, body: VaultCreate) -> VaultObject:
    """Store an empty vault."""
    vault = await vault_service.create(ctx, principal, translate.vault_params(body))
    return translate.vault_view(vault)


async def retrieve_vault(ctx: ServiceContext, principal: Principal, vault_id: str) -> VaultObject:
    """The vault."""
    return translate.vault_view(await vault_service.get(ctx, principal, vault_id))


async def update_vault(
    ctx: ServiceContext, principal: Principal, vault_id: str, body: VaultUpdate
) -> VaultObject:
    """Rename the vault or patch its metadata."""
    current = await vault_service.get(ctx, principal, vault_id)
    params = translate.vault_changes(current, body)
    return translate.vault_view(await vault_service.update(ctx, principal, vault_id, params))


async def list_vaults(
    ctx: ServiceContext,
    principal: Principal,
    *,
    limit: int,
    page: str | None,
    include_archived: bool,
) -> CursorPage[VaultObject]:
    """Vaults, newest first."""
    found, more = await vault_service.list_page(
        ctx, principal, limit=limit, after=page, include_archived=include_archived
    )
    return CursorPage(
        data=[translate.vault_view(v) for v in found],
        next_page=found[-1].id if more and found else None,
    )


async def archive_vault(
    ctx: ServiceContext, actor: Actor, principal: Principal, vault_id: str
) -> VaultObject:
    """Archive the vault and its credentials; their secrets are deleted."""
    return translate.vault_view(await vault_service.archive(ctx, actor, principal, vault_id))


async def delete_vault(
    ctx: ServiceContext, actor: Actor, principal: Principal, vault_id: str
) -> VaultDeleted:
    """Delete the vault, its credentials and their secrets."""
    await vault_service.delete(ctx, actor, principal, vault_id)
    return VaultDeleted(id=vault_id)


async def create_credential(
    ctx: ServiceContext, actor: Actor, principal: Principal, vault_id: str, body: CredentialCreate
) -> CredentialObject:
    """Store a credential in the vault, its secret in the workspace's secrets."""
    params = translate.credential_params(body, ctx.clock())
    with _api_fields():
        created = await credential_service.create(ctx, actor, principal, vault_id, params)
    return translate.credential_view(created)


async def retrieve_credential(
    ctx: ServiceContext, principal: Principal, vault_id: str, credential_id: str
) -> CredentialObject:
    """The credential, without its secret."""
    found = await credential_service.get(ctx, principal, vault_id, credential_id)
    return translate.credential_view(found)


async def update_credential(
    ctx: ServiceContext,
    actor: Actor,
    principal: Principal,
    vault_id: str,
    credential_id: str,
    body: CredentialUpdate,
) -> CredentialObject:
    """Change what the body gives; a new secret is a new version of the workspace secret."""
    current = await credential_service.get(ctx, principal, vault_id, credential_id)
    params = translate.credential_changes(current, body, ctx.clock())
    with _api_fields():
        updated = await credential_service.update(
            ctx, actor, principal, vault_id, credential_id, params
        )
    return translate.credential_view(updated)


async def list_credentials(
    ctx: ServiceContext,
    principal: Principal,
    vault_id: str,
    *,
    limit: int,
    page: str | None,
    include_archived: bool,
) -> CursorPage[CredentialObject]:
    """The vault's credentials, newest first."""
    found, more = await credential_service.list_page(
        ctx, principal, vault_id, limit=limit, after=page, include_archived=include_archived
    )
    return CursorPage(
        data=[translate.credential_view(c) for c in found],
        next_page=found[-1].id if more and found else None,
    )


async def archive_credential(
    ctx: ServiceContext, actor: Actor, principal: Principal, vault_id: str, credential_id: str
) -> CredentialObject:
    """Archive the credential; its secret is deleted."""
    archived = await credential_service.archive(ctx, actor, principal, vault_id, credential_id)
    return translate.credential_view(archived)


async def delete_credential(
    ctx: ServiceContext, actor: Actor, principal: Principal, vault_id: str, credential_id: str
) -> CredentialDeleted:
    """Delete the credential and its secret."""
    await credential_service.delete(ctx, actor, principal, vault_id, credential_id)
    return CredentialDeleted(id=credential_id)


async def validate_credential(
    ctx: ServiceContext, principal: Principal, vault_id: str, credential_id: str
) -> NoReturn:
    """Refuse to probe the credential's MCP server: this server has no validation flow."""
    found = await credential_service.get(ctx, principal, vault_id, credential_id)
    if found.kind != "mcp_oauth":
        raise InvalidRequest(f"credential {credential_id} is {found.kind}, not mcp_oauth")
    raise InvalidRequest(
        "validating a credential against its MCP server is not available on this server; "
        "a session's MCP calls fail with the server's answer when a token is refused"
    )
